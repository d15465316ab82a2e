"""Read user gazetteer layers (GeoPackage, GeoJSON, Shapefile, OSM PBF) into the gazetteer schema."""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from app.errors import InputError
from app.features import KINDS, clean_name, kind_of, route_code

log = logging.getLogger(__name__)

SUPPORTED = (".gpkg", ".geojson", ".json", ".shp", ".zip", ".pbf", ".osm.pbf", ".fgb")
COLUMNS = ("name", "aliases", "kind", "county_adcode", "source", "accuracy_m", "note", "geometry")

NAME_FIELDS = ("name:zh", "name_zh", "NAME_ZH", "name", "NAME", "名称", "名字", "mc")
ALIAS_FIELDS = (
    "aliases", "alias", "别名", "name:en", "alt_name", "old_name", "official_name", "short_name", "ref",
)  # fmt: skip
ADCODE_FIELDS = ("adcode", "county_adcode", "ADCODE")
KIND_FIELD = "kind"  # used when kind_field is not given and the layer has it (e.g. a gazetteer file)
PBF_LAYERS = ("highways", "railways", "waterways")

_KEEP_TYPES = (0, 1, 3, 5, 6)  # Point, LineString, Polygon, MultiLineString, MultiPolygon (shapely type ids)
_ROAD_KINDS = ("expressway", "national_road", "provincial_road", "county_road", "township_road")
_HIGHWAY_ROADS = {
    "trunk", "primary", "secondary", "tertiary", "unclassified", "residential", "living_street", "service",
    "road", "pedestrian", "track", "busway", "footway", "path", "cycleway", "bridleway", "steps", "corridor",
    "escape", "raceway", "construction", "proposed",
}  # fmt: skip
_RAIL_TRACKS = {
    "rail", "light_rail", "subway", "tram", "narrow_gauge", "monorail", "funicular", "preserved", "miniature",
    "disused", "abandoned", "construction", "proposed",
}  # fmt: skip
_RAIL_STATIONS = {"station", "halt"}
_WATER_KINDS = {"river": "river", "stream": "river", "tidal_channel": "river", "canal": "canal"}
_LIST_SPLIT = re.compile(r"[;；]")


class GazetteerError(InputError):
    """A gazetteer layer that cannot be imported; the message names the file and what to do."""


def read_layer(
    path: str | Path,
    *,
    name_field: str | None = None,
    layer: str | None = None,
    kind_field: str | None = None,
    source: str | None = None,
    accuracy_m: float | None = None,
    assume_crs: str | None = None,
) -> gpd.GeoDataFrame:
    """One row per named feature of the layer, in the gazetteer schema (COLUMNS), EPSG:4326.

    Vector files are read with pyogrio, ``.pbf`` files with pyrosm (highways, railways, waterways; ``layer``
    may pick one of PBF_LAYERS). Raises GazetteerError with a one-line message naming the file.
    """
    p = Path(path)
    if not p.exists():
        raise GazetteerError(f"{p}: file not found")
    if assume_crs is not None:
        _parse_crs(assume_crs, p)  # a bad --crs is an error even when the layer declares its own CRS
    if _is_pbf(p):
        gdf = _read_pbf(p, name_field=name_field, layer=layer)
    else:
        gdf = _read_vector(p, name_field=name_field, layer=layer, kind_field=kind_field)
    gdf = _clean_geometries(gdf, p)
    gdf = _to_wgs84(gdf, p, assume_crs)
    out = gpd.GeoDataFrame(
        {
            "name": gdf["name"].to_numpy(dtype=object),
            "aliases": gdf["aliases"].to_numpy(dtype=object),
            "kind": gdf["kind"].to_numpy(dtype=object),
            "county_adcode": gdf["county_adcode"].to_numpy(dtype=object),
            "source": source or p.name,
            "accuracy_m": float(accuracy_m) if accuracy_m is not None else math.nan,
            "note": "",
        },
        geometry=gdf.geometry.to_numpy(),
        crs="EPSG:4326",
    )
    return out[list(COLUMNS)]


# --- vector files (pyogrio) -------------------------------------------------------------------------------


def _reader_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [pyogrio.errors.DataSourceError, RuntimeError, OSError, ValueError]
    try:  # fiona is not a dependency; catch its errors if a caller's GDAL stack routes through it
        import fiona.errors  # type: ignore[import-not-found]

        errors.append(fiona.errors.FionaError)
    except ImportError:
        pass
    return tuple(errors)


def _read_vector(p: Path, *, name_field: str | None, layer: str | None, kind_field: str | None) -> Any:
    errors = _reader_errors()
    try:
        layers = [str(row[0]) for row in pyogrio.list_layers(p)]
    except errors as e:
        raise GazetteerError(f"{p}: cannot read the file as a vector layer ({_reason(e)})") from e
    if not layers:
        raise GazetteerError(f"{p}: the file contains no layers")
    if layer is None and len(layers) > 1:
        raise GazetteerError(f"{p}: the file has {len(layers)} layers ({', '.join(layers)}); pass --layer")
    if layer is not None and layer not in layers:
        raise GazetteerError(f"{p}: no layer {layer!r}; the file has {', '.join(layers)}")
    try:
        gdf = gpd.read_file(p, engine="pyogrio", layer=layer or layers[0])
    except errors as e:
        raise GazetteerError(f"{p}: cannot read layer {layer or layers[0]!r} ({_reason(e)})") from e
    if not isinstance(gdf, gpd.GeoDataFrame) or "geometry" not in gdf:
        raise GazetteerError(f"{p}: layer {layer or layers[0]!r} has no geometry column")
    if len(gdf) == 0:
        raise GazetteerError(f"{p}: layer {layer or layers[0]!r} is empty (no features)")

    columns = [c for c in gdf.columns if c != gdf.geometry.name]
    field = _pick_field(columns, name_field, NAME_FIELDS)
    if field is None:
        if name_field is not None:
            raise GazetteerError(f"{p}: no field {name_field!r}; the layer has {_listing(columns)}")
        raise GazetteerError(
            f"{p}: no name field (looked for {', '.join(NAME_FIELDS)}); the layer has {_listing(columns)}; "
            "pass --name-field"
        )
    kfield = None
    if kind_field is not None:
        kfield = _pick_field(columns, kind_field, ())
        if kfield is None:
            raise GazetteerError(f"{p}: no kind field {kind_field!r}; the layer has {_listing(columns)}")
    elif KIND_FIELD in columns:
        kfield = KIND_FIELD

    gdf, names = _drop_unnamed(gdf, [_clean(v) for v in gdf[field]], p)
    alias_fields = list(
        dict.fromkeys(c for c in (*NAME_FIELDS, *ALIAS_FIELDS) if c in columns and c != field)
    )
    alias_values = [gdf[c].tolist() for c in alias_fields]
    aliases = [_aliases(name, values) for name, *values in zip(names, *alias_values, strict=True)]

    tag_fields = [
        c for c in ("highway", "railway", "waterway", "fclass", "highspeed", "usage") if c in columns
    ]
    tag_rows = gdf[tag_fields].to_dict("records") if tag_fields else [{} for _ in names]
    refs = gdf["ref"].tolist() if "ref" in columns else [None] * len(names)
    given = gdf[kfield].tolist() if kfield else [None] * len(names)
    kinds, unknown = [], 0
    for name, ref, tags, k in zip(names, refs, tag_rows, given, strict=True):
        k = _clean(k)
        if k in KINDS:
            kinds.append(k)
            continue
        unknown += bool(k)
        kinds.append(_guess_kind(name, {**tags, "ref": ref}))
    if unknown:
        log.warning(
            "%s: %d features have a kind not in the gazetteer kinds; guessed from the name", p, unknown
        )
    adcode = _pick_field(columns, None, ADCODE_FIELDS)
    return gpd.GeoDataFrame(
        {
            "name": names,
            "aliases": aliases,
            "kind": kinds,
            "county_adcode": [_adcode(v) for v in gdf[adcode]] if adcode else [""] * len(names),
        },
        geometry=gdf.geometry.to_numpy(),
        crs=gdf.crs,
    )


def _pick_field(columns: list[str], wanted: str | None, candidates: Iterable[str]) -> str | None:
    """The wanted column (exact, else case-insensitive), or the first candidate the layer has."""
    lower = {c.lower(): c for c in reversed(columns)}
    for c in [wanted] if wanted is not None else candidates:
        if c in columns:
            return c
    for c in [wanted] if wanted is not None else candidates:
        if c.lower() in lower:
            return lower[c.lower()]
    return None


# --- OSM PBF (pyrosm) -------------------------------------------------------------------------------------


def _is_pbf(p: Path) -> bool:
    return p.name.lower().endswith(".pbf")


def _read_pbf(p: Path, *, name_field: str | None, layer: str | None) -> Any:
    if layer is not None and layer not in PBF_LAYERS:
        raise GazetteerError(f"{p}: no layer {layer!r} in an OSM PBF; choose one of {', '.join(PBF_LAYERS)}")
    wanted = [layer] if layer else list(PBF_LAYERS)
    try:
        import pyrosm

        osm = pyrosm.OSM(str(p))
        frames = {}
        if "highways" in wanted:
            frames["highway"] = osm.get_network(network_type="all")
        if "railways" in wanted:
            frames["railway"] = osm.get_data_by_custom_criteria(custom_filter={"railway": True})
        if "waterways" in wanted:
            frames["waterway"] = osm.get_data_by_custom_criteria(custom_filter={"waterway": True})
    except ImportError as e:
        raise GazetteerError(f"{p}: reading OSM PBF files needs pyrosm (pip install pyrosm)") from e
    except Exception as e:  # pyrosm raises its own PBFException, but also protobuf/zlib/struct errors
        raise GazetteerError(f"{p}: cannot read the file as OSM PBF ({_reason(e)})") from e

    names_keys = (name_field,) if name_field else ("name:zh", "name:zh-Hans", "name")
    rows: list[dict[str, Any]] = []
    unnamed = 0
    for key, frame in frames.items():
        if frame is None or len(frame) == 0 or key not in frame:
            continue
        if frame.crs is not None and not CRS.from_user_input(frame.crs).equals(CRS.from_epsg(4326)):
            frame = frame.to_crs(4326)
        columns = [c for c in frame.columns if c not in ("geometry", "tags")]
        tag_list = frame["tags"].tolist() if "tags" in frame else [None] * len(frame)
        records = frame[columns].to_dict("records")
        for rec, raw, geom in zip(records, tag_list, frame.geometry.to_numpy(), strict=True):
            tags = _tags(raw)
            tags.update({k: v for k, v in rec.items() if not _blank(v)})
            value = tags.get(key)
            if key == "railway" and value not in _RAIL_TRACKS | _RAIL_STATIONS | {"high_speed"}:
                continue  # switches, signals, crossings, platforms
            name = next((n for k in names_keys if (n := _clean(tags.get(k)))), "")
            if not name:
                unnamed += 1
                continue
            others = [tags.get(k) for k in ("name", "alt_name", "old_name", "official_name", "short_name")]
            aliases = _aliases(name, [*others, tags.get("loc_name"), tags.get("name:en"), tags.get("ref")])
            kind = _guess_kind(name, {key: value, **{k: tags.get(k) for k in ("highspeed", "usage", "ref")}})
            rows.append(
                {"name": name, "aliases": aliases, "kind": kind, "county_adcode": "", "geometry": geom}
            )
    if unnamed:
        log.warning("%s: dropped %d OSM features without a name", p, unnamed)
    if not rows:
        raise GazetteerError(
            f"{p}: no {', '.join(wanted)} with a name ({' / '.join(names_keys)}) in the file"
        )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")


def _tags(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return dict(raw)
    if isinstance(raw, str) and raw:
        try:
            tags = json.loads(raw)
        except json.JSONDecodeError:
            return {}
        return tags if isinstance(tags, dict) else {}
    return {}


# --- kinds, names, aliases --------------------------------------------------------------------------------


def _guess_kind(name: str, tags: dict[str, Any]) -> str:
    """Kind from OSM-style tags (highway/railway/waterway, or Geofabrik's fclass), else from the name."""
    by_name = kind_of(name)
    refs = [r for r in _split(tags.get("ref")) if r]
    highway, railway, waterway = (_clean(tags.get(k)) for k in ("highway", "railway", "waterway"))
    fclass = _clean(tags.get("fclass"))
    if fclass and not (highway or railway or waterway):
        if fclass.startswith("motorway") or fclass.removesuffix("_link") in _HIGHWAY_ROADS:
            highway = fclass
        elif fclass.startswith("track"):
            highway = "track"
        elif fclass in _RAIL_TRACKS or fclass in _RAIL_STATIONS:
            railway = fclass
        elif fclass in _WATER_KINDS:
            waterway = fclass
    if highway:
        if highway.startswith("motorway"):
            return "expressway"
        if highway.removesuffix("_link") in _HIGHWAY_ROADS:
            if by_name in _ROAD_KINDS:
                return by_name
            for r in refs:
                rc = route_code(r)
                if rc and rc[1] in _ROAD_KINDS and rc[1] != "expressway":
                    return rc[1]
            return "road"
    if railway:
        if railway == "high_speed" or _clean(tags.get("highspeed")) == "yes" or by_name == "high_speed_rail":
            return "high_speed_rail" if railway not in _RAIL_STATIONS else "landmark"
        if railway in _RAIL_TRACKS:
            return "railway"
        if railway in _RAIL_STATIONS:
            return "landmark"
    if waterway:
        if waterway in _WATER_KINDS:
            return _WATER_KINDS[waterway]
        return by_name if by_name != "other" else "water"
    if by_name == "other":
        for r in refs:
            rc = route_code(r)
            if rc:
                return rc[1]
    return by_name


def _blank(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, (list, tuple, dict, np.ndarray)):
        return len(v) == 0
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _clean(v: Any) -> str:
    if _blank(v):
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return clean_name(str(v))


def _split(v: Any) -> list[str]:
    """An alias value: a list, a JSON array, or text with ';'-separated alternatives (OSM style)."""
    if _blank(v):
        return []
    if isinstance(v, (list, tuple, np.ndarray)):
        return [s for x in v for s in _split(x)]
    if isinstance(v, str) and v.lstrip().startswith("["):
        try:
            items = json.loads(v)
        except json.JSONDecodeError:
            items = None
        if isinstance(items, list):
            return [s for x in items for s in _split(x)]
    if isinstance(v, str):
        return [_clean(s) for s in _LIST_SPLIT.split(v)]
    return [_clean(v)]


def _aliases(name: str, values: Iterable[Any]) -> list[str]:
    out: list[str] = []
    for v in values:
        for a in _split(v):
            if a and a != name and a not in out:
                out.append(a)
    return out


def _adcode(v: Any) -> str:
    s = _clean(v)
    return s[:-2] if re.fullmatch(r"\d+\.0", s) else s


def _drop_unnamed(gdf: Any, names: list[str], p: Path) -> tuple[Any, list[str]]:
    keep = np.array([bool(n) for n in names], dtype=bool)
    dropped = int((~keep).sum())
    if dropped == len(names):
        raise GazetteerError(f"{p}: none of the {len(names)} features has a name")
    if dropped:
        log.warning("%s: dropped %d of %d features with an empty name", p, dropped, len(names))
    return gdf[keep].reset_index(drop=True), [n for n in names if n]


# --- geometry and CRS -------------------------------------------------------------------------------------


def _clean_geometries(gdf: Any, p: Path) -> Any:
    """2-D Point/LineString/Polygon (and Multi) geometries; invalid polygons made valid; empty ones dropped."""
    geoms = np.asarray(gdf.geometry.to_numpy(), dtype=object)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    geoms = np.where(missing, None, geoms)
    geoms = shapely.force_2d(geoms)
    types = shapely.get_type_id(geoms)
    polygonal = np.isin(types, (3, 6))
    bad = polygonal & ~shapely.is_valid(geoms)
    if bad.any():
        geoms[bad] = [_polygonal(shapely.make_valid(g)) for g in geoms[bad]]
        log.warning("%s: repaired %d invalid polygons", p, int(bad.sum()))
    types = shapely.get_type_id(geoms)
    keep = np.isin(types, _KEEP_TYPES) & ~shapely.is_empty(geoms)
    unsupported = int((~keep & ~missing).sum())
    if missing.any():
        log.warning("%s: dropped %d features with an empty geometry", p, int(missing.sum()))
    if unsupported:
        log.warning("%s: dropped %d features whose geometry is not a point, line or polygon", p, unsupported)
    if not keep.any():
        raise GazetteerError(f"{p}: no named feature has a point, line or polygon geometry")
    out = gdf[keep].copy()
    out = out.set_geometry(gpd.GeoSeries(geoms[keep], index=out.index, crs=gdf.crs))
    return out.reset_index(drop=True)


def _polygonal(g: Any) -> Any:
    """The polygon parts of make_valid's output (which may add collapsed lines or points)."""
    if g is None or g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [q for part in shapely.get_parts(g) for q in shapely.get_parts(part) if q.geom_type == "Polygon"]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def _bounds_ok(b: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(b)) and b[0] >= -180 and b[2] <= 180 and b[1] >= -90 and b[3] <= 90)


def _bounds_text(b: np.ndarray) -> str:
    def fmt(v: float) -> str:
        return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.6f}".rstrip("0").rstrip(".")

    return f"x {fmt(b[0])}..{fmt(b[2])}, y {fmt(b[1])}..{fmt(b[3])}"


def _parse_crs(value: str, p: Path) -> CRS:
    try:
        return CRS.from_user_input(value)
    except CRSError as e:
        raise GazetteerError(f"{p}: --crs {value!r} is not a CRS pyproj understands ({_reason(e)})") from e


def _to_wgs84(gdf: Any, p: Path, assume_crs: str | None) -> Any:
    b = gdf.total_bounds
    crs = gdf.crs
    if crs is None:
        if assume_crs:
            gdf = gdf.set_crs(_parse_crs(assume_crs, p))
        elif _bounds_ok(b):
            log.warning("%s: the layer has no CRS; its coordinates look like lon/lat, assuming EPSG:4326", p)
            gdf = gdf.set_crs("EPSG:4326")
        else:
            raise GazetteerError(
                f"{p}: the layer has no CRS and its coordinates look projected ({_bounds_text(b)}); "
                "pass --crs with the layer's CRS (e.g. --crs EPSG:4549)"
            )
    elif crs.is_geographic and not _bounds_ok(b):
        if not assume_crs:
            raise GazetteerError(
                f"{p}: the layer declares the geographic CRS {crs.name!r} but its coordinates ({_bounds_text(b)}) "
                "are outside lon -180..180 / lat -90..90, so the declared CRS is wrong; pass --crs with the real one"
            )
        log.warning("%s: the declared CRS %r does not fit the coordinates; using %s", p, crs.name, assume_crs)
        gdf = gdf.set_crs(_parse_crs(assume_crs, p), allow_override=True)
    elif assume_crs:
        log.warning("%s: the layer declares its CRS (%s); ignoring --crs %s", p, crs.name, assume_crs)
    try:
        out = gdf.to_crs("EPSG:4326")
    except (CRSError, ValueError, RuntimeError) as e:
        raise GazetteerError(
            f"{p}: cannot reproject from {gdf.crs.name!r} to EPSG:4326 ({_reason(e)})"
        ) from e
    ob = out.total_bounds
    if not _bounds_ok(ob):
        raise GazetteerError(
            f"{p}: reprojecting from {gdf.crs.name!r} gives coordinates outside lon/lat range "
            f"({_bounds_text(ob)}); the CRS is probably wrong; pass --crs with the real one"
        )
    return out


def _reason(e: BaseException) -> str:
    text = " ".join(str(e).split()).split("; It might help to specify the correct driver")[0]
    text = text or type(e).__name__
    if isinstance(e, UnicodeDecodeError):
        text += "; the text is not UTF-8 (for a Shapefile, add a .cpg file naming the encoding, e.g. GBK)"
    return text if len(text) <= 300 else text[:297] + "..."


def _listing(columns: list[str]) -> str:
    return "columns " + ", ".join(map(str, columns)) if columns else "no attribute columns"
