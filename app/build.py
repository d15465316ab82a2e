"""Catalog build: every zone's polygon from its 四至 (or its children), with grade, method and areas."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from app.builder import BuiltPart, build_part
from app.catalog import Catalog, Zone
from app.crs import WGS84, geodesic_area_km2, to_lonlat, to_metres
from app.features import Feature
from app.gazetteer import Gazetteer
from app.parser import parse

GRADE_ORDER = {"A": 0, "B": 1, "C": 2, "none": 3}


@dataclass
class ZoneBuild:
    zone_id: str
    geometry: BaseGeometry | None  # EPSG:4549 metres
    grade: str
    method: str  # boundary | union of children | none
    unresolved: list[str] = field(default_factory=list)
    closures: list[str] = field(default_factory=list)
    sources: set[str] = field(default_factory=set)
    accuracy_m: float | None = None


class CatalogBuilder:
    """Builds zones in dependency order: sibling references (西至转塘单元) after the sibling, unions last."""

    def __init__(self, catalog: Catalog, gazetteer: Gazetteer):
        self.catalog = catalog
        self.gazetteer = gazetteer
        self.built: dict[str, ZoneBuild] = {}
        self._county_m: dict[str, BaseGeometry] = {}

    # ---- resolution
    def _zone_ref(self, zone: Zone, f: Feature) -> BaseGeometry | None:
        corridor = self.catalog.corridor_of[zone.id]
        for z in self.catalog:
            if self.catalog.corridor_of[z.id] != corridor or z.id == zone.id:
                continue
            if f.name in (z.name, *z.aliases):
                b = self.built.get(z.id)
                return b.geometry if b is not None else None
        return None

    def _refs_pending(self, zone: Zone) -> bool:
        """True while a sibling this zone's 四至 names is not built yet."""
        assert zone.boundary is not None
        corridor = self.catalog.corridor_of[zone.id]
        names = {
            z.name: z.id
            for z in self.catalog
            if self.catalog.corridor_of[z.id] == corridor and z.id != zone.id
        }
        for f in parse(zone.boundary.text).features():
            if f.name in names and names[f.name] not in self.built:
                return True
        return False

    def county_polygon(self, zone: Zone) -> BaseGeometry | None:
        from app.counties import counties

        codes = [c.adcode for c in zone.counties]
        if not codes:
            return None
        key = ",".join(sorted(codes))
        if key not in self._county_m:
            df = counties()
            sel = df[df["adcode"].isin(codes)]
            self._county_m[key] = to_metres(sel.geometry.union_all()) if len(sel) else None
        return self._county_m[key]

    def _clip_for(self, zone: Zone) -> tuple[BaseGeometry | None, str]:
        parent = self.catalog[zone.parent] if zone.parent else None
        if parent is not None and parent.boundary is not None:
            pb = self.built.get(parent.id)
            if pb is not None and pb.geometry is not None and pb.method == "boundary":
                return pb.geometry, f"parent ({parent.name})"
        cp = self.county_polygon(zone)
        return (cp, "county") if cp is not None else (None, "")

    # ---- building
    def build_boundary(self, zone: Zone) -> ZoneBuild:
        assert zone.boundary is not None
        res = parse(zone.boundary.text)
        codes = {c.adcode for c in zone.counties}
        sources: set[str] = set()
        accuracy: list[float] = []

        def resolve(f: Feature, near: BaseGeometry | None) -> BaseGeometry | None:
            if f.kind == "zone_ref" or f.name in {z.name for z in self.catalog}:
                g = self._zone_ref(zone, f)
                if g is not None:
                    sources.add("catalog")
                    return g
            m = self.gazetteer.resolve(f, counties=codes or None, near=near)
            if m is None:
                return None
            sources.update(m.sources)
            if m.accuracy_m == m.accuracy_m:  # not NaN
                accuracy.append(m.accuracy_m)
            return m.geometry

        clip, clip_name = self._clip_for(zone)
        parts: list[BuiltPart] = []
        with_sides = [p for p in res.parts if p.clauses]
        for p in with_sides:
            area = p.area or (res.area if len(with_sides) == 1 else None)
            stated = (
                area.km2 * 1e6
                if area
                else (zone.area.km2 * 1e6 if zone.area and len(with_sides) == 1 else None)
            )
            parts.append(build_part(p.sides(), resolve, stated_m2=stated, clip=clip, clip_name=clip_name))
        geoms = [b.geometry for b in parts if b.geometry is not None and not b.geometry.is_empty]
        grade = max((b.grade for b in parts), key=GRADE_ORDER.__getitem__) if parts else "none"
        if len(geoms) < len(parts):
            grade = "none" if not geoms else max(grade, "B", key=GRADE_ORDER.__getitem__)
        return ZoneBuild(
            zone.id, unary_union(geoms) if geoms else None, grade if geoms else "none", "boundary",
            [u for b in parts for u in b.unresolved], [c for b in parts for c in b.closures], sources,
            max(accuracy) if accuracy else None,
        )  # fmt: skip

    def build_union(self, zone: Zone) -> ZoneBuild:
        kids = [self.built[c] for c in self.catalog.children[zone.id] if c in self.built]
        geoms = [k.geometry for k in kids if k.geometry is not None]
        if not geoms:
            return ZoneBuild(zone.id, None, "none", "none")
        grade = max((k.grade for k in kids if k.geometry is not None), key=GRADE_ORDER.__getitem__)
        acc = [k.accuracy_m for k in kids if k.accuracy_m is not None]
        return ZoneBuild(
            zone.id, unary_union(geoms), grade, "union of children",
            sources=set().union(*(k.sources for k in kids)), accuracy_m=max(acc) if acc else None,
        )  # fmt: skip

    def build(self, keep: dict[str, ZoneBuild] | None = None) -> dict[str, ZoneBuild]:
        """Every zone, or with `keep` (earlier builds of unaffected zones) only the zones not in it."""
        self.built = dict(keep or {})
        own = [
            z for z in self.catalog
            if z.boundary is not None and z.geometry_from == "boundary" and z.id not in self.built
        ]  # fmt: skip
        pending = list(own)
        while pending:
            progress = False
            for z in list(pending):
                if self._refs_pending(z) and len(pending) > 1:
                    continue
                parent = self.catalog[z.parent] if z.parent else None
                if parent is not None and parent in pending:
                    continue  # the parent's polygon closes this zone's open sides: build it first
                self.built[z.id] = self.build_boundary(z)
                pending.remove(z)
                progress = True
            if not progress:  # a cycle of references: build the rest without them
                z = pending.pop(0)
                self.built[z.id] = self.build_boundary(z)
        for zid in self._post_order():
            z = self.catalog[zid]
            if zid not in self.built:
                self.built[zid] = self.build_union(z)
        return self.built

    def _post_order(self) -> list[str]:
        out: list[str] = []

        def visit(zid: str) -> None:
            for c in self.catalog.children[zid]:
                visit(c)
            out.append(zid)

        for z in self.catalog:
            if z.parent is None:
                visit(z.id)
        return out


def build_catalog(catalog: Catalog, gazetteer: Gazetteer) -> dict[str, ZoneBuild]:
    return CatalogBuilder(catalog, gazetteer).build()


def to_frame(catalog: Catalog, built: dict[str, ZoneBuild]) -> gpd.GeoDataFrame:
    """One row per zone, EPSG:4326, with the fields of the zones layer."""
    rows = []
    for z in catalog:
        b = built.get(z.id) or ZoneBuild(z.id, None, "none", "none")
        geom = to_lonlat(b.geometry) if b.geometry is not None else None
        area = b.geometry.area / 1e6 if b.geometry is not None else None
        geo = geodesic_area_km2(geom) if geom is not None else None
        stated = z.area.km2 if z.area else None
        doc = catalog.document(z.id, z.boundary.source.doc) if z.boundary else None
        rows.append(
            {
                "id": z.id,
                "name": z.name,
                "level": z.level,
                "parent_id": z.parent or "",
                "corridor": catalog.corridor_of[z.id],
                "county_adcode": ",".join(c.adcode for c in z.counties),
                "stated_area_km2": stated,
                "area_km2": round(area, 4) if area is not None else None,
                "area_geodesic_km2": round(geo, 4) if geo is not None else None,
                "ratio": round(area / stated, 3) if area is not None and stated else None,
                "grade": b.grade,
                "method": b.method,
                "unresolved": "; ".join(b.unresolved),
                "closures": "; ".join(b.closures),
                "geometry_sources": ", ".join(sorted(b.sources)),
                "accuracy_m": b.accuracy_m,
                "boundary_text": z.boundary.text if z.boundary else "",
                "source": (
                    f"{doc.number or doc.title} {z.boundary.source.section}" if doc and z.boundary else ""
                ),
                "geometry": geom,
            }
        )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=WGS84)


def from_frame(zones: gpd.GeoDataFrame) -> dict[str, ZoneBuild]:
    """The per-zone builds behind a zones layer (the inverse of `to_frame`), e.g. as read back from storage."""
    out = {}
    for r in zones.itertuples(index=False):
        geom = r.geometry if r.geometry is not None and not r.geometry.is_empty else None

        def split(v: object, sep: str) -> list[str]:
            return [x for x in str(v or "").split(sep) if x]

        out[r.id] = ZoneBuild(
            r.id, to_metres(geom) if geom is not None else None, r.grade, r.method, split(r.unresolved, "; "),
            split(r.closures, "; "), set(split(r.geometry_sources, ", ")),
            None if r.accuracy_m is None or r.accuracy_m != r.accuracy_m else float(r.accuracy_m),
        )  # fmt: skip
    return out


@dataclass
class BuildResult:
    catalog: Catalog
    built: dict[str, ZoneBuild]
    zones: gpd.GeoDataFrame
    seconds: float


def run_build(
    catalog: Catalog | None = None, gazetteer: Gazetteer | None = None, keep: dict[str, ZoneBuild] | None = None
) -> BuildResult:
    """Load what is not given (project catalog, default gazetteer), build every zone (or those not in `keep`)."""
    import time

    from app.catalog import load_catalog

    t0 = time.perf_counter()
    catalog = catalog or load_catalog()
    gazetteer = gazetteer or Gazetteer.load()
    built = CatalogBuilder(catalog, gazetteer).build(keep)
    return BuildResult(catalog, built, to_frame(catalog, built), time.perf_counter() - t0)


def write_outputs(zones: gpd.GeoDataFrame, out_dir: Path) -> list[Path]:
    """DIR/zones.gpkg (layer zones) and DIR/zones.geojson, EPSG:4326, written whole or not at all."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, driver in (("zones.gpkg", "GPKG"), ("zones.geojson", "GeoJSON")):
        final = out_dir / name
        tmp = out_dir / f".tmp-{name}"
        tmp.unlink(missing_ok=True)
        kw = {"layer": "zones"} if driver == "GPKG" else {}
        zones.to_file(tmp, driver=driver, engine="pyogrio", **kw)
        tmp.replace(final)
        paths.append(final)
    return paths


__all__ = ["BuildResult", "ZoneBuild", "build_catalog", "from_frame", "run_build", "to_frame", "write_outputs"]
