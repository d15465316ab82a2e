"""How zones moved between two catalog versions: area deltas, the area that changed hands, centroid shift."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from app.crs import to_metres

COMPARED = ("grade", "method", "boundary_text", "stated_area_km2", "parent_id")


def _num(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def _same(a: Any, b: Any) -> bool:
    if (a is None or (isinstance(a, float) and pd.isna(a))) and (b is None or (isinstance(b, float) and pd.isna(b))):
        return True
    return a == b


def same_shape(a: shapely.Geometry, b: shapely.Geometry, tol: float = 1e-9) -> bool:
    """Equal to within `tol` degrees, whatever the vertex order (a union rebuilt from the same parts may differ)."""
    if a.equals_exact(b, tolerance=tol):
        return True
    return bool(shapely.hausdorff_distance(a, b) < tol)


def zone_deltas(before: gpd.GeoDataFrame | None, after: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """One record per zone that is new, gone, or changed in geometry or in what describes it."""
    old = {r["id"]: r for r in before.to_dict("records")} if before is not None else {}
    new = {r["id"]: r for r in after.to_dict("records")}
    out = []
    for zid in [*new, *(z for z in old if z not in new)]:
        a, b = old.get(zid), new.get(zid)
        ga, gb = (a or {}).get("geometry"), (b or {}).get("geometry")
        same_geom = (ga is None and gb is None) or (ga is not None and gb is not None and same_shape(ga, gb))
        if a is not None and b is not None and same_geom and all(_same(a[c], b[c]) for c in COMPARED):
            continue
        ma = to_metres(ga) if ga is not None else None
        mb = to_metres(gb) if gb is not None else None
        area_a = _num(a["area_km2"]) if a else None
        area_b = _num(b["area_km2"]) if b else None
        if ma is not None and mb is not None:
            changed = ma.symmetric_difference(mb).area / 1e6
            shift = ma.centroid.distance(mb.centroid)
        else:
            only = ma if ma is not None else mb
            changed = only.area / 1e6 if only is not None else None
            shift = None
        out.append(
            {
                "zone_id": zid,
                "change": "added" if a is None else "removed" if b is None else "changed",
                "area_before_km2": area_a,
                "area_after_km2": area_b,
                "area_delta_km2": round((area_b or 0.0) - (area_a or 0.0), 4)
                if area_a is not None or area_b is not None
                else None,
                "changed_km2": round(changed, 4) if changed is not None else None,
                "centroid_shift_m": round(shift, 1) if shift is not None else None,
                "grade_before": a["grade"] if a else None,
                "grade_after": b["grade"] if b else None,
                "boundary_before": (a["boundary_text"] or None) if a else None,
                "boundary_after": (b["boundary_text"] or None) if b else None,
                "geom": gb,
            }
        )
    return out
