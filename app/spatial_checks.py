"""Geometric checks of a built catalog: containment in parents and counties, and overlaps between zones."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import geopandas as gpd
from shapely import STRtree
from shapely.geometry.base import BaseGeometry

from app.build import ZoneBuild
from app.catalog import Catalog
from app.counties import counties
from app.crs import to_metres

MIN_SHARE = 0.005  # overlaps smaller than 0.5 % of both zones are slivers from sketch accuracy, not findings


@dataclass
class Containment:
    zone_id: str
    container_id: str  # a zone id, or a county adcode
    kind: str  # parent | county
    share_outside: float


@dataclass
class CountyCheck:
    zone_id: str
    stated: str  # adcodes the catalog gives, comma-joined
    computed: str  # adcodes holding at least 5 % of the polygon, largest first
    share_outside_stated: float | None


@dataclass
class Overlap:
    a: str
    b: str
    shared_km2: float
    share_of_a: float
    share_of_b: float
    siblings: bool


def _geoms(built: dict[str, ZoneBuild]) -> dict[str, BaseGeometry]:
    return {k: b.geometry for k, b in built.items() if b.geometry is not None and not b.geometry.is_empty}


def containment(catalog: Catalog, built: dict[str, ZoneBuild]) -> list[Containment]:
    g = _geoms(built)
    out = []
    for zid, geom in g.items():
        parent = catalog[zid].parent
        # a parent that is the union of its children contains them by construction
        if parent is not None and parent in g and built[parent].method == "boundary":
            outside = geom.difference(g[parent]).area / geom.area
            out.append(Containment(zid, parent, "parent", round(outside, 4)))
    return out


def county_checks(catalog: Catalog, built: dict[str, ZoneBuild]) -> list[CountyCheck]:
    c = counties()
    cm = gpd.GeoSeries([to_metres(x) for x in c.geometry], index=c["adcode"])
    tree = STRtree(list(cm.values))
    out = []
    for zid, geom in _geoms(built).items():
        shares = []
        for i in tree.query(geom):
            inter = geom.intersection(cm.iloc[i]).area / geom.area
            if inter >= 0.05:
                shares.append((inter, cm.index[i]))
        computed = ",".join(code for _, code in sorted(shares, reverse=True))
        stated = [x.adcode for x in catalog[zid].counties]
        share = None
        if stated:
            union = cm.loc[[s for s in stated if s in cm.index]].union_all()
            share = round(geom.difference(union).area / geom.area, 4)
        out.append(CountyCheck(zid, ",".join(stated), computed, share))
    return out


def overlaps(catalog: Catalog, built: dict[str, ZoneBuild]) -> list[Overlap]:
    g = _geoms(built)
    ids = list(g)
    tree = STRtree([g[i] for i in ids])
    related = {zid: {zid, *catalog.ancestors(zid)} for zid in ids}
    out = []
    for i, a in enumerate(ids):
        for j in tree.query(g[a]):
            b = ids[j]
            if j <= i or a in related[b] or b in related[a]:
                continue
            shared = g[a].intersection(g[b]).area
            sa, sb = shared / g[a].area, shared / g[b].area
            if max(sa, sb) < MIN_SHARE:
                continue
            out.append(
                Overlap(
                    a,
                    b,
                    round(shared / 1e6, 4),
                    round(sa, 4),
                    round(sb, 4),
                    catalog[a].parent == catalog[b].parent,
                )
            )
    return sorted(out, key=lambda o: -o.shared_km2)


def as_dicts(rows: list) -> list[dict]:
    return [asdict(r) for r in rows]
