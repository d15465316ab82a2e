"""Site check for planners: which zones hold a point, how far it is from their edges, what platforms are near."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from app.assign import ZoneIndex, to_lonlat_wgs84, valid_lonlat
from app.crs import GK120, WGS84, transformer
from app.errors import InputError


def site_report(
    index: ZoneIndex, lon: float, lat: float, *, crs: str = "wgs84", k: int = 5,
    platforms: gpd.GeoDataFrame | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Zones holding the point, distance to their edges, county, nearest zone, and the k nearest platforms
    (the catalog's located platforms, or the WGS-84 points given)."""
    wlon, wlat = to_lonlat_wgs84(np.array([lon]), np.array([lat]), crs)
    if not valid_lonlat(wlon, wlat)[0]:
        raise InputError(f"coordinate out of range: {lon}, {lat} ({crs})")
    a = pd.Series(index.assign(wlon, wlat).record(0))
    x, y = transformer(WGS84, GK120).transform(wlon[0], wlat[0])
    here = shapely.Point(x, y)
    zones = []
    for zid in [z for z in str(a.zone_path).split(";") if z]:
        geom = index._zone_metric(zid)
        zones.append({"id": zid, "name": str(index.zones.loc[zid, "name"]),
                      "level": str(index.zones.loc[zid, "level"]),
                      "distance_to_edge_m": round(float(geom.boundary.distance(here)), 1)})  # fmt: skip
    nearest = None
    if not zones and a.nearest_zone_id:
        zid = str(a.nearest_zone_id)
        nearest = {"id": zid, "name": str(index.zones.loc[zid, "name"]), "distance_m": float(a.distance_m)}
    if platforms is None:
        from app.platforms import load_platforms
        from app.store import platforms_frame

        platforms = platforms_frame(load_platforms(), {})
    plats = []
    if len(platforms):
        px, py = transformer(WGS84, GK120).transform(
            platforms.geometry.x.to_numpy(), platforms.geometry.y.to_numpy()
        )
        dist = np.hypot(px - x, py - y)
        for i in np.argsort(dist)[:k]:
            p = platforms.iloc[int(i)]
            plats.append({"id": p["id"], "name": p["name"], "kind": p["kind"], "declared_zone": p["declared_zone"],
                          "distance_m": round(float(dist[i]), 1), "precision_m": float(p["precision_m"])})  # fmt: skip
    plats.sort(key=lambda r: r["distance_m"])
    return {
        "lon": float(wlon[0]), "lat": float(wlat[0]), "input_crs": crs,
        "zone_id": str(a.zone_id), "county_adcode": str(a.county_adcode), "zones": zones,
        "nearest_zone": nearest, "platforms": plats[:k],
    }  # fmt: skip
