"""The built catalog as layers (zones, platforms, boundary features, counties), with a version for caches."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd

from app.crs import WGS84

if TYPE_CHECKING:
    from app.sources import Sources

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
    sources: Any = field(default=None, repr=False)  # the Sources the layers were built from
    versions: dict = field(default_factory=dict, repr=False)  # stored object versions: kind → id → version

    def __post_init__(self) -> None:
        if not self.version:
            self.version = content_version(self.layers())

    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        return {name: getattr(self, name) for name in LAYERS}

    @classmethod
    def build(cls, catalog_dir: Path | None = None) -> Store:
        """Build the catalog from the repository's files (boundaries/ and geodata/), in memory."""
        from app.sources import Sources

        return cls.from_sources(Sources.from_files(catalog_dir))

    @classmethod
    def from_sources(
        cls, sources: Sources, keep: dict | None = None, version: str = "", counties: gpd.GeoDataFrame | None = None
    ) -> Store:
        """Build every zone of `sources` (or, with `keep`, the earlier builds of unaffected zones, the rest)."""
        from app.build import run_build

        gazetteer = sources.gazetteer()
        res = run_build(sources.catalog, gazetteer, keep=keep)
        return cls.from_result(sources, res, version=version, counties=counties)

    @classmethod
    def from_result(
        cls, sources: Sources, res: Any, version: str = "", counties: gpd.GeoDataFrame | None = None
    ) -> Store:
        """The layers of a build result; `counties` defaults to the package's county divisions."""
        zones = res.zones[res.zones.geometry.notna()].reset_index(drop=True)
        plats = platforms_frame(sources.platforms, sources.catalog.corridor_of)
        feats = sources.features.assign(
            aliases=sources.features["aliases"].map(lambda a: ";".join(a) if isinstance(a, list) else a)
        )
        if counties is None:
            from app.counties import counties as package_counties

            counties = package_counties()[["adcode", "name", "city", "geometry"]].rename(columns={"adcode": "id"})
        return cls(zones=zones, platforms=plats, features=feats, counties=counties, version=version, result=res,
                   sources=sources)  # fmt: skip

    def zone_index(self) -> Any:
        """The assignment index of these zones and counties (app.assign.ZoneIndex)."""
        from app.assign import ZoneIndex

        return ZoneIndex(self.zones, self.counties.rename(columns={"id": "adcode"}))

    @cached_property
    def gazetteer(self) -> Any:
        """The gazetteer of the sources (with county lines), built on first use: only /parse needs it."""
        from app.gazetteer import Gazetteer

        return self.sources.gazetteer() if self.sources is not None else Gazetteer.load()


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
