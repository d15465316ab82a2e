"""What a build reads: the zone catalog, the gazetteer's own features and the platforms, from files or storage."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import geopandas as gpd
import pandas as pd

from app.catalog import Catalog, load_catalog
from app.crs import GK120, WGS84
from app.gazetteer import COLUMNS, Gazetteer, county_features
from app.platforms import Platform, load_platforms


@dataclass(frozen=True)
class Sources:
    """The inputs of one catalog version. `features` excludes county lines (they come with the package data)."""

    catalog: Catalog
    features: gpd.GeoDataFrame  # gazetteer COLUMNS, aliases as lists, unique ids
    platforms: list[Platform]

    @classmethod
    def from_files(cls, catalog_dir: Path | str | None = None) -> Sources:
        """boundaries/*.yaml, geodata/gazetteer (sketches and imported layers), geodata/platforms."""
        catalog = load_catalog(catalog_dir)
        gaz = Gazetteer.load(counties=False)
        return cls(catalog, gaz.features, load_platforms(catalog=catalog))

    def gazetteer(self) -> Gazetteer:
        table = pd.concat([self.features[COLUMNS], county_features()[COLUMNS]], ignore_index=True)
        return Gazetteer(gpd.GeoDataFrame(table, geometry="geometry", crs=WGS84), metric_crs=GK120)

    # ---- edits return new Sources; the catalog objects are immutable
    def with_features(self, features: gpd.GeoDataFrame) -> Sources:
        return replace(self, features=features.reset_index(drop=True))

    def with_platform(self, platform: Platform) -> Sources:
        return replace(self, platforms=[platform if p.id == platform.id else p for p in self.platforms])
