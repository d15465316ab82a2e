"""Build one zone from free 四至 text against a given gazetteer (the `build-zone` command and the API preview)."""

from __future__ import annotations

from typing import Any

from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from app.builder import build_part
from app.crs import geodesic_area_km2, to_lonlat
from app.features import Feature
from app.gazetteer import Gazetteer
from app.parser import parse


def build_text(text: str, gazetteer: Gazetteer) -> dict[str, Any]:
    """GeoJSON FeatureCollection (EPSG:4326), one Feature per part, with grade and unresolved names."""
    res = parse(text)

    def resolve(f: Feature, near: BaseGeometry | None) -> BaseGeometry | None:
        m = gazetteer.resolve(f, near=near)
        return m.geometry if m else None

    features = []
    with_sides = [p for p in res.parts if p.clauses]
    for i, p in enumerate(with_sides):
        area = p.area or (res.area if len(with_sides) == 1 else None)
        built = build_part(p.sides(), resolve, stated_m2=area.km2 * 1e6 if area else None)
        geom = to_lonlat(built.geometry, gazetteer.metric_crs) if built.geometry is not None else None
        features.append(
            {
                "type": "Feature",
                "id": i,
                "geometry": mapping(geom) if geom is not None else None,
                "properties": {
                    "part": p.name or res.zone,
                    "grade": built.grade,
                    "stated_area_km2": area.km2 if area else None,
                    "area_km2": round(built.geometry.area / 1e6, 6) if built.geometry is not None else None,
                    "area_geodesic_km2": round(geodesic_area_km2(geom), 6) if geom is not None else None,
                    "unresolved": built.unresolved,
                    "closures": built.closures,
                    "sides": built.sides,
                },
            }
        )
    return {"type": "FeatureCollection", "features": features, "zone": res.zone, "reason": res.reason}
