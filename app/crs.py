"""Coordinate systems: WGS-84 storage, CGCS2000 3-degree Gauss-Krüger CM 120°E for metres and areas, geodesic areas."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Geod, Transformer
from shapely.geometry.base import BaseGeometry

WGS84 = "EPSG:4326"
CGCS2000 = "EPSG:4490"
GK120 = "EPSG:4549"  # CGCS2000 / 3-degree Gauss-Kruger CM 120E: metres, covers all four corridors
WEB_MERCATOR = "EPSG:3857"
GEOD = Geod(ellps="GRS80")  # the CGCS2000 ellipsoid (differs from GRS80 in the 11th digit of f)


@lru_cache(maxsize=32)
def transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(CRS.from_user_input(src), CRS.from_user_input(dst), always_xy=True)


def reproject(geom: BaseGeometry, src: str, dst: str) -> BaseGeometry:
    if src == dst or geom is None or geom.is_empty:
        return geom
    t = transformer(src, dst)
    return shapely.transform(geom, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def metric_crs_for(lon: float, lat: float) -> str:
    """EPSG:4549 where it is valid (within about 3° of 120°E in China), else the point's UTM zone."""
    if 117.0 <= lon <= 123.0 and 18.0 <= lat <= 54.0:
        return GK120
    zone = int((lon + 180) // 6) + 1
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


def to_metres(geom: BaseGeometry, crs: str = GK120) -> BaseGeometry:
    """WGS-84 lon/lat → metres (EPSG:4549 unless another metric CRS is given)."""
    return reproject(geom, WGS84, crs)


def to_lonlat(geom: BaseGeometry, crs: str = GK120) -> BaseGeometry:
    """Metres (EPSG:4549 unless another metric CRS is given) → WGS-84 lon/lat."""
    return reproject(geom, crs, WGS84)


def planar_area_km2(geom_lonlat: BaseGeometry) -> float:
    """Area in km² in CGCS2000 3-degree GK CM 120°E (EPSG:4549)."""
    return to_metres(geom_lonlat).area / 1e6


def geodesic_area_km2(geom_lonlat: BaseGeometry) -> float:
    """Area in km² on the ellipsoid (pyproj.Geod), independent of any projection."""
    if geom_lonlat is None or geom_lonlat.is_empty:
        return 0.0
    area, _ = GEOD.geometry_area_perimeter(geom_lonlat)
    return abs(area) / 1e6
