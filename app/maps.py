"""Folium maps of the zone catalog: zones by level and grade, platforms, county lines."""

from __future__ import annotations

import math
from html import escape
from pathlib import Path

import folium
import numpy as np
import shapely
from branca.element import MacroElement
from folium.plugins import Fullscreen, MarkerCluster, MeasureControl
from folium.template import Template
from shapely.geometry import box, mapping

from app.datum import transform_geometry, wgs84_to_gcj02
from app.errors import InputError
from app.store import Store

__all__ = ["AMAP_TILES", "GRADE_DASH", "LEVEL_COLORS", "LEVEL_WEIGHTS", "save_map", "zone_map"]

# One colour per zone level, in the order of the hierarchy (largest kinds first).
LEVEL_COLORS: dict[str, str] = {
    "corridor": "#6a3d9a",
    "core_zone": "#e31a1c",
    "linkage_zone": "#ff7f00",
    "wing": "#b8860b",
    "science_city": "#1f78b4",
    "tech_city": "#33a02c",
    "area": "#00a3b4",
    "coordination_area": "#8c564b",
    "unit": "#e7298a",
    "town": "#7a8b00",
    "park": "#d95f02",
    "base": "#1b1b8f",
    "place": "#555555",
}
OTHER_COLOR = "#808080"

# Stroke width per level: the larger kinds are drawn wider and first, so that where a parent shares an edge
# with its parts (a corridor is the union of its zones) its colour still shows as a band beside theirs.
LEVEL_WEIGHTS: dict[str, float] = {
    "corridor": 8,
    "core_zone": 6,
    "linkage_zone": 6,
    "wing": 5,
    "science_city": 4.5,
    "tech_city": 4.5,
    "area": 3.5,
    "coordination_area": 2.5,
}
DEFAULT_WEIGHT = 2.0

# Line style per quality grade: A solid, B dashed, C dotted; (dash, gap) in multiples of the line width.
GRADE_DASH: dict[str, tuple[float, float] | None] = {"A": None, "B": (4, 3), "C": (0.01, 2.5)}
GRADE_WORDS = {"A": "solid", "B": "dashed", "C": "dotted"}

AMAP_TILES = (
    "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
)
AMAP_ATTR = "© 高德地图 (GCJ-02)"

COORD_DECIMALS = 6  # about 0.1 m: far below the accuracy of any zone


def _color(level: str) -> str:
    return LEVEL_COLORS.get(level, OTHER_COLOR)


def _weight(level: str) -> float:
    return LEVEL_WEIGHTS.get(level, DEFAULT_WEIGHT)


def _dash(grade: str, weight: float) -> str | None:
    """Leaflet's dashArray for a grade at a line width (None: solid)."""
    pattern = GRADE_DASH.get(grade)
    if pattern is None:
        return None
    return " ".join(f"{round(p * weight, 2):g}" for p in pattern)


def _fill_opacity(level: str) -> float:
    if level == "corridor":
        return 0.04
    if level in ("core_zone", "linkage_zone", "wing"):
        return 0.08
    return 0.18


def _text(value: object) -> str:
    """A cell as display text: '' for None/NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _esc(text: str) -> str:
    """HTML-escape, and keep the text inert inside the JS template literals folium writes it into."""
    return escape(text).replace("`", "&#96;").replace("$", "&#36;")


def _km2(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{float(value):,.2f} km²"


def _rounded(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geom, lambda c: np.round(c, COORD_DECIMALS))


class _Geo:
    """Turns WGS-84 geometry into what the map draws: GCJ-02 under an Amap base, rounded either way."""

    def __init__(self, gcj02: bool) -> None:
        self.gcj02 = gcj02

    def __call__(self, geom: shapely.Geometry) -> shapely.Geometry:
        if self.gcj02:
            geom = transform_geometry(geom, wgs84_to_gcj02)
        return _rounded(geom)


def _zone_tooltip(z: dict) -> str:
    ratio = z.get("ratio")
    ratio_txt = "" if ratio is None or math.isnan(ratio) else f" (ratio {ratio:.2f})"
    return (
        f"<b>{_esc(_text(z['name']))}</b> <code>{_esc(_text(z['id']))}</code><br>"
        f"{_esc(_text(z['level']))} · grade {_esc(_text(z['grade']))}<br>"
        f"stated {_km2(z.get('stated_area_km2'))} · computed {_km2(z.get('area_km2'))}{ratio_txt}"
    )


def _zone_popup(z: dict) -> str:
    def row(label: str, value: str) -> str:
        return f"<tr><th style='text-align:left;vertical-align:top;padding-right:6px'>{label}</th><td>{value}</td></tr>"

    ratio = z.get("ratio")
    ratio_txt = "—" if ratio is None or math.isnan(ratio) else f"{ratio:.3f}"
    unresolved = [u for u in _text(z.get("unresolved")).split("; ") if u]
    closures = [c for c in _text(z.get("closures")).split("; ") if c]
    boundary = _text(z.get("boundary_text"))
    rows = [
        row("level", _esc(_text(z["level"]))),
        row("grade", f"{_esc(_text(z['grade']))} ({_esc(_text(z.get('method')))})"),
        row("stated", _km2(z.get("stated_area_km2"))),
        row("computed", f"{_km2(z.get('area_km2'))} (geodesic {_km2(z.get('area_geodesic_km2'))})"),
        row("ratio", ratio_txt),
        row("counties", _esc(_text(z.get("county_adcode")))),
        row("source", _esc(_text(z.get("source"))) or "—"),
        row("unresolved", "<br>".join(_esc(u) for u in unresolved) or "none"),
        row("closures", "<br>".join(_esc(c) for c in closures) or "none"),
    ]
    four = (
        f"<div style='margin:4px 0;padding:4px;background:#f6f6f6;white-space:pre-wrap'>{_esc(boundary)}</div>"
        if boundary
        else "<div style='margin:4px 0;color:#888'>no 四至 in the text (built from its parts)</div>"
    )
    return (
        f"<div style='font-size:12px;max-width:440px'>"
        f"<b style='font-size:13px'>{_esc(_text(z['name']))}</b> <code>{_esc(_text(z['id']))}</code>"
        f"<div style='margin-top:4px;color:#555'>四至 (verbatim)</div>{four}"
        f"<table>{''.join(rows)}</table></div>"
    )


def _platform_popup(p: dict) -> str:
    conflicts = _text(p.get("conflicts")).replace(";", ", ")
    precision = p.get("precision_m")
    prec_txt = "unknown" if precision is None or math.isnan(precision) else f"± {precision:,.0f} m"
    return (
        f"<div style='font-size:12px'><b>{_esc(_text(p['name']))}</b> <code>{_esc(_text(p['id']))}</code><br>"
        f"kind: {_esc(_text(p.get('kind')))}<br>"
        f"declared zone: {_esc(_text(p.get('declared_zone')) or '—')}<br>"
        f"location: {_esc(_text(p.get('location_source')) or '—')}, precision {prec_txt} "
        f"(the circle drawn while this popup is open)<br>"
        f"conflicts: {_esc(conflicts or 'none')}</div>"
    )


_LEGEND_TEMPLATE = Template(
    """
    {% macro header(this, kwargs) %}
    <style>
      .zone-legend { background: rgba(255,255,255,0.92); padding: 4px 8px; border-radius: 4px;
        box-shadow: 0 1px 4px rgba(0,0,0,0.35); font: 11px/1.35 sans-serif; max-height: 45vh;
        overflow-y: auto; }
      .zone-legend summary { font-weight: bold; cursor: pointer; }
      .zone-legend .sw { display: inline-block; width: 14px; height: 10px; margin-right: 5px;
        vertical-align: middle; border: 2px solid; }
      .zone-legend svg { vertical-align: middle; margin-right: 5px; }
      .zone-legend .sec { margin-top: 4px; font-weight: bold; color: #444; }
    </style>
    {% endmacro %}
    {% macro script(this, kwargs) %}
    (function () {
        var legend = L.control({position: "bottomleft"});
        legend.onAdd = function () {
            var div = L.DomUtil.create("div", "zone-legend");
            div.innerHTML = {{ this.legend_html|tojson }};
            L.DomEvent.disableClickPropagation(div);
            L.DomEvent.disableScrollPropagation(div);
            return div;
        };
        legend.addTo({{ this._parent.get_name() }});
    })();
    {% endmacro %}
    """
)


class _Legend(MacroElement):
    """A collapsible legend control: level colours, grade line styles, platforms and county lines."""

    _template = _LEGEND_TEMPLATE

    def __init__(self, title: str, levels: list[tuple[str, int]], grades: list[str], platforms: int) -> None:
        super().__init__()
        self._name = "ZoneLegend"
        parts = [f"<details open><summary>{_esc(title)}</summary>", "<div class='sec'>Zone level</div>"]
        for level, n in levels:
            c = _color(level)
            parts.append(
                f"<div><span class='sw' style='border-color:{c};background:{c}55'></span>"
                f"{_esc(level)} ({n})</div>"
            )
        parts.append("<div class='sec'>Grade (line style)</div>")
        for g in grades:
            dash = _dash(g, 2.5)
            dash_attr = f" stroke-dasharray='{dash}'" if dash else ""
            parts.append(
                "<div><svg width='34' height='8'><line x1='1' y1='4' x2='33' y2='4' stroke='#333' "
                f"stroke-width='2.5' stroke-linecap='round'{dash_attr}/></svg>"
                f"{g}: {GRADE_WORDS.get(g, '')}</div>"
            )
        parts.append("<div class='sec'>Other</div>")
        parts.append(
            "<div><svg width='34' height='8'><line x1='1' y1='4' x2='33' y2='4' stroke='#777' "
            "stroke-width='1.5' stroke-dasharray='6 4'/></svg>county line</div>"
        )
        parts.append(f"<div>● platforms ({platforms}, clustered)</div></details>")
        self.legend_html = "".join(parts)


_ORDER_TEMPLATE = Template(
    """
    {% macro script(this, kwargs) %}
    (function () {
        var map = {{ this._parent.get_name() }};
        // Zone layers from the largest to the smallest: each is brought to the front in turn, so
        // small zones end on top and stay clickable, also after a layer is switched off and on.
        var zones = [{% for name in this.layer_names %}{{ name }}{% if not loop.last %}, {% endif %}{% endfor %}];
        function order() {
            zones.forEach(function (layer) { if (map.hasLayer(layer)) { layer.bringToFront(); } });
        }
        map.on("overlayadd", order);
        order();
        // A platform's location precision, drawn while its popup is open.
        var circle = null;
        map.on("popupopen", function (e) {
            var src = e.popup._source;
            if (src && src.options && src.options.precision_m) {
                circle = L.circle(src.getLatLng(), {radius: src.options.precision_m, color: "#222",
                    weight: 1, dashArray: "4 3", fillOpacity: 0.08, interactive: false}).addTo(map);
            }
        });
        map.on("popupclose", function () { if (circle) { map.removeLayer(circle); circle = null; } });
    })();
    {% endmacro %}
    """
)


class _ZoneOrder(MacroElement):
    _template = _ORDER_TEMPLATE

    def __init__(self, layer_names: list[str]) -> None:
        super().__init__()
        self._name = "ZoneOrder"
        self.layer_names = layer_names


def _valid_corridors(store: Store) -> list[str]:
    return sorted({c for c in store.zones["corridor"].dropna() if c})


def zone_map(store: Store, corridor: str | None = None, *, gcj02_base: bool = False) -> folium.Map:
    """The zone catalog (or one corridor of it) as an interactive Leaflet map.

    With `gcj02_base` an Amap base layer is added and made the visible one; every geometry (zones,
    platforms, county lines) is then shifted from WGS-84 to GCJ-02 so that it lines up with Amap.
    """
    zones = store.zones[store.zones.geometry.notna() & ~store.zones.geometry.is_empty]
    if corridor is not None:
        valid = _valid_corridors(store)
        if corridor not in valid:
            raise InputError(
                f"unknown corridor {corridor!r}; valid corridor ids (with built zones): {', '.join(valid)}"
            )
        zones = zones[zones["corridor"] == corridor]
    if zones.empty:
        raise InputError("no zone with a geometry to draw")
    zones = zones.sort_values(["area_km2", "id"], ascending=[False, True], na_position="last")
    geo = _Geo(gcj02_base)

    # Area of interest: the selected zones plus a margin (county lines and platforms are cut to it).
    minx, miny, maxx, maxy = zones.total_bounds
    mx = max((maxx - minx) * 0.1, 0.03)
    my = max((maxy - miny) * 0.1, 0.03)
    aoi = box(minx - mx, miny - my, maxx + mx, maxy + my)

    m = folium.Map(tiles=None, control_scale=True, zoom_snap=0.25)
    osm_name = "OpenStreetMap (WGS-84)"
    if gcj02_base:
        osm_name = "OpenStreetMap (WGS-84; overlays here are in GCJ-02, ~0.5 km off)"
    folium.TileLayer("OpenStreetMap", name=osm_name, show=not gcj02_base).add_to(m)
    if gcj02_base:
        folium.TileLayer(
            tiles=AMAP_TILES,
            attr=AMAP_ATTR,
            name="高德地图 Amap (GCJ-02: all overlays shifted to GCJ-02 to line up)",
            subdomains="1234",
            max_zoom=18,
            show=True,
        ).add_to(m)

    # County lines: each shared border once, dashed grey, below the zones and not clickable.
    folium.map.CustomPane("counties", z_index=350, pointer_events=False).add_to(m)
    counties = store.counties[store.counties.intersects(aoi)]
    if not counties.empty:
        clipped = shapely.intersection(counties.boundary.values, aoi)
        # ~20 m simplification: the lines are a backdrop, and this halves the page.
        lines = shapely.line_merge(shapely.union_all(clipped)).simplify(0.0002)
        if not lines.is_empty:
            folium.GeoJson(
                {"type": "Feature", "properties": {"layer": "counties"}, "geometry": mapping(geo(lines))},
                name=f"County lines ({len(counties)})",
                style_function=lambda _f: {
                    "color": "#777777",
                    "weight": 1.5,
                    "dashArray": "6 4",
                    "fill": False,
                },
                pane="counties",
                interactive=False,
            ).add_to(m)

    # Zones: a layer per level, one GeoJSON layer per zone (all its parts), largest first.
    levels = [lv for lv in LEVEL_COLORS if lv in set(zones["level"])]
    levels += sorted(set(zones["level"]) - set(levels))
    groups: dict[str, folium.FeatureGroup] = {}
    for level in levels:
        n = int((zones["level"] == level).sum())
        label = f"<span style='color:{_color(level)}'>■</span> zones: {_esc(level)} ({n})"
        groups[level] = folium.FeatureGroup(name=label, show=True).add_to(m)
    zone_layers: list[str] = []
    for z in zones.to_dict("records"):
        level = _text(z["level"])
        color = _color(level)
        weight = _weight(level)
        style = {
            "color": color,
            "weight": weight,
            "opacity": 0.9,
            "fillColor": color,
            "fillOpacity": _fill_opacity(level),
            "dashArray": _dash(_text(z["grade"]), weight),
            "lineCap": "round",
            "lineJoin": "round",
        }
        feature = {
            "type": "Feature",
            "id": z["id"],
            "properties": {"zone_id": z["id"], "name": z["name"], "level": level, "grade": z["grade"]},
            "geometry": mapping(geo(z["geometry"])),
        }
        layer = folium.GeoJson(
            feature,
            style_function=lambda _f, s=style: s,
            highlight_function=lambda _f, s=style: {"weight": s["weight"] + 2, "fillOpacity": 0.35},
            tooltip=folium.Tooltip(_zone_tooltip(z), sticky=True),
            popup=folium.Popup(_zone_popup(z), max_width=460),
            control=False,
        )
        layer.add_to(groups[level])
        zone_layers.append(layer.get_name())

    # Platforms: clustered markers; in a corridor map those of the corridor and any located in its area.
    plats = store.platforms[store.platforms.geometry.notna()]
    if corridor is not None:
        inside = plats.geometry.within(aoi)
        plats = plats[(plats["corridor"] == corridor) | ((plats["corridor"].fillna("") == "") & inside)]
    cluster = MarkerCluster(name=f"Platforms ({len(plats)})", show=True, options={"maxClusterRadius": 40})
    cluster.add_to(m)
    for p in plats.to_dict("records"):
        pt = geo(p["geometry"])
        precision = p.get("precision_m")
        options = {}
        if precision is not None and not math.isnan(precision):
            options["precision_m"] = float(precision)
        folium.Marker(
            location=[pt.y, pt.x],
            tooltip=(
                f"<b>{_esc(_text(p['name']))}</b><br>{_esc(_text(p.get('kind')))}"
                f" · declared zone: {_esc(_text(p.get('declared_zone')) or '—')}"
            ),
            popup=folium.Popup(_platform_popup(p), max_width=360),
            **options,
        ).add_to(cluster)

    _ZoneOrder(zone_layers).add_to(m)
    title = f"Zones: {corridor}" if corridor else "Zones: all corridors"
    if gcj02_base:
        title += " (GCJ-02)"
    grades = list(GRADE_DASH)
    level_counts = [(lv, int((zones["level"] == lv).sum())) for lv in levels]
    _Legend(f"{title} — {len(zones)} zones", level_counts, grades, len(plats)).add_to(m)
    Fullscreen(position="topleft").add_to(m)
    MeasureControl(position="topleft", primary_length_unit="kilometers", primary_area_unit="hectares").add_to(
        m
    )
    folium.LayerControl(position="topright", collapsed=True).add_to(m)

    bx0, by0, bx1, by1 = geo(box(*zones.total_bounds)).bounds
    m.fit_bounds([[by0, bx0], [by1, bx1]], padding=(10, 10))
    return m


def save_map(store: Store, path: str | Path, corridor: str | None = None, gcj02_base: bool = False) -> Path:
    """Write the map as one self-contained HTML file (data embedded; only Leaflet and tiles come from the web)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    zone_map(store, corridor, gcj02_base=gcj02_base).save(str(out))
    return out


HISTORY_COLORS = ["#9e9e9e", "#ff9800", "#2196f3", "#9c27b0", "#009688", "#e91e63"]


def history_map(zone_id: str, versions: list[dict], name: str = "") -> folium.Map:
    """How one zone moved: its polygon at each build that changed it, oldest grey and dashed, newest solid red.

    `versions` are the rows of `Database.history` (geometry in `geom`, the run in `run`).
    """
    drawn = [v for v in versions if v.get("geom") is not None and not v["geom"].is_empty]
    if not drawn:
        raise InputError(f"zone {zone_id!r} has no polygon in its history")
    m = folium.Map(tiles=None, control_scale=True, zoom_snap=0.25)
    folium.TileLayer("OpenStreetMap", name="OpenStreetMap (WGS-84)").add_to(m)
    for i, v in enumerate(drawn):
        newest = i == len(drawn) - 1
        color = "#d32f2f" if newest else HISTORY_COLORS[i % len(HISTORY_COLORS)]
        run = v["run"]
        area = _km2(v.get("area_after_km2"))
        delta = v.get("area_delta_km2")
        label = (
            f"run {run['id']} · {_esc(_text(run['action']))} by {_esc(_text(run['actor']))} · "
            f"{_esc(_text(run['finished_at']))[:16]}<br>{area} km²"
            + (f" ({delta:+.2f})" if delta is not None and i > 0 else "")
            + (f"<br>{_esc(_text(run.get('message')))}" if run.get("message") else "")
        )
        style = {"color": color, "weight": 3 if newest else 2, "fillColor": color,
                 "fillOpacity": 0.15 if newest else 0.03, "dashArray": None if newest else "6 4"}  # fmt: skip
        layer_name = f"<span style='color:{color}'>■</span> run {run['id']} ({_esc(_text(run['action']))}, {area})"
        folium.GeoJson(
            {"type": "Feature", "properties": {"run": run["id"]}, "geometry": mapping(_rounded(v["geom"]))},
            name=layer_name,
            style_function=lambda _f, s=style: s,
            tooltip=folium.Tooltip(label, sticky=True),
        ).add_to(m)
    folium.LayerControl(position="topright", collapsed=False).add_to(m)
    title = (
        f"<div class='zone-history-title' style='position:fixed;top:12px;left:56px;z-index:1000;background:#fff;"
        f"padding:6px 10px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);font:13px sans-serif'>"
        f"<b>{_esc(name or zone_id)}</b> ({_esc(zone_id)}): {len(drawn)} versions<br>"
        f"newest solid red, earlier dashed; hover for who, when, why</div>"
    )
    m.get_root().html.add_child(folium.Element(title))
    x0, y0, x1, y1 = shapely.union_all([v["geom"] for v in drawn]).bounds
    m.fit_bounds([[y0, x0], [y1, x1]], padding=(10, 10))
    return m
