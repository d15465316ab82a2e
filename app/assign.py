"""Assign points to zones at every level at once: deepest zone, all containing zones, corridor, county, distance."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from app.crs import GK120, WGS84, transformer
from app.datum import to_wgs84
from app.errors import InputError
from app.grid_index import GridIndex, unique_rows

DATUMS = ("wgs84", "cgcs2000", "gcj02", "bd09")
SAMPLE_M = 25.0
NEAR_M = 500.0
OUTPUT_COLUMNS = ["zone_id", "zone_path", "corridor", "county_adcode", "distance_m", "nearest_zone_id"]


def to_lonlat_wgs84(x: np.ndarray, y: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Input coordinates in a datum (wgs84, cgcs2000, gcj02, bd09) or any EPSG CRS → WGS-84 lon/lat."""
    name = crs.strip().lower()
    if name in DATUMS:
        lon, lat = to_wgs84(np.asarray(x, float), np.asarray(y, float), name)
        return np.asarray(lon, float), np.asarray(lat, float)
    try:
        t = transformer(crs, WGS84)
    except Exception as e:
        raise InputError(f"unknown CRS {crs!r}: use wgs84, cgcs2000, gcj02, bd09 or EPSG:n ({e})") from e
    lon, lat = t.transform(np.asarray(x, float), np.asarray(y, float))
    return np.asarray(lon, float), np.asarray(lat, float)


@dataclass
class Assignment:
    """Per-point answers as integer codes into small tables (fast for millions of points)."""

    answer: np.ndarray  # int32 code into `answers` (zone_id, zone_path, corridor); 0 = in no zone
    answers: list[tuple[str, str, str]]
    county: np.ndarray | None  # int32 code into `counties`; 0 = none (None: no county index)
    counties: list[str]
    distance_m: np.ndarray | None  # None: not asked for (all 0 inside zones)
    nearest: np.ndarray | None  # int32 code into `zone_ids`; -1 = none (None: not asked for)
    zone_ids: list[str]

    def __len__(self) -> int:
        return len(self.answer)

    def column(self, name: str) -> pd.Categorical | np.ndarray:
        n = len(self.answer)
        if name == "distance_m":
            return self.distance_m if self.distance_m is not None else np.zeros(n)
        if name == "county_adcode":
            codes = self.county if self.county is not None else np.zeros(n, np.int32)
            return pd.Categorical.from_codes(codes, categories=_unique_labels(self.counties))
        if name == "nearest_zone_id":
            cats = ["", *self.zone_ids]
            codes = self.nearest + 1 if self.nearest is not None else np.zeros(n, np.int32)
            return pd.Categorical.from_codes(codes, categories=_unique_labels(cats))
        k = {"zone_id": 0, "zone_path": 1, "corridor": 2}[name]
        labels = [a[k] for a in self.answers]
        uniq = sorted(set(labels))
        pos = {v: i for i, v in enumerate(uniq)}
        remap = np.array([pos[v] for v in labels], np.int32)
        return pd.Categorical.from_codes(remap[self.answer], categories=uniq)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({c: self.column(c) for c in OUTPUT_COLUMNS})

    def record(self, i: int) -> dict[str, str | float]:
        """One point's answers as plain values (no DataFrame: cheap for a single point)."""
        zone_id, path, corridor = self.answers[self.answer[i]]
        near = int(self.nearest[i]) if self.nearest is not None else -1
        return {
            "zone_id": zone_id,
            "zone_path": path,
            "corridor": corridor,
            "county_adcode": self.counties[self.county[i]] if self.county is not None else "",
            "distance_m": float(self.distance_m[i]) if self.distance_m is not None else 0.0,
            "nearest_zone_id": self.zone_ids[near] if near >= 0 else "",
        }


def _unique_labels(labels: list[str]) -> list[str]:
    if len(set(labels)) != len(labels):
        raise ValueError("duplicate labels")
    return labels


def build_index(result=None) -> ZoneIndex:
    """The zone index of a catalog build (the project catalog and default gazetteer unless given)."""
    from app.build import run_build
    from app.counties import counties

    result = result or run_build()
    return ZoneIndex(result.zones, counties())


def _lowest_bit(masks: np.ndarray) -> np.ndarray:
    """Index of the lowest set bit of each (n, words) bitmask row, or -1 for an empty row."""
    out = np.full(len(masks), -1, np.int64)
    for w in range(masks.shape[1] - 1, -1, -1):
        m = masks[:, w]
        nz = m != 0
        low = (m & (~m + np.uint64(1)))[nz]
        out[nz] = w * 64 + np.log2(low.astype(np.float64)).astype(np.int64)
    return out


class ZoneIndex:
    """Built zones (id, parent_id, corridor, method, geometry in EPSG:4326) and counties, ready for points.

    Zones with a polygon of their own are indexed; a zone that is the union of its children contains a point when
    one of its children does. The deepest containing zone is the one furthest down the hierarchy (then the
    smaller, then the lower id), so a point on a shared edge gets the same answer every time.
    """

    def __init__(
        self, zones: gpd.GeoDataFrame, counties: gpd.GeoDataFrame | None = None, cell: float | None = None
    ):
        z = zones[zones.geometry.notna() & ~zones.geometry.is_empty].copy()
        self.zones = z.set_index("id")
        self.parent = {r.id: (r.parent_id or None) for r in zones.itertuples()}
        self.children: dict[str, list[str]] = {}
        for zid, p in self.parent.items():
            if p:
                self.children.setdefault(p, []).append(zid)
        method = (
            self.zones["method"] if "method" in self.zones else pd.Series("boundary", index=self.zones.index)
        )
        self.atoms = [zid for zid in self.zones.index if method[zid] != "union of children"]
        self.unions = [zid for zid in self.zones.index if method[zid] == "union of children"]
        self.grid = GridIndex([self.zones.geometry[a] for a in self.atoms], cell=cell)
        self.depth = {zid: self._depth(zid) for zid in self.zones.index}
        self.area = self.zones.to_crs(GK120).area.to_dict()
        self.corridor = self.zones["corridor"].to_dict() if "corridor" in self.zones else {}
        self.counties = counties
        self.county_grid = None
        self._county_everywhere: GridIndex | None = None
        if counties is not None and len(counties):
            # counties on the zones' grid (the common case), all of them only for points elsewhere
            self.county_grid = GridIndex(
                list(counties.geometry), cell=self.grid.cell, extent=self.grid.extent
            )
        self._metric = self.zones.loc[self.atoms].to_crs(GK120)
        samples = [
            shapely.get_coordinates(shapely.segmentize(g.boundary, SAMPLE_M)) for g in self._metric.geometry
        ]
        self._sample_zone = (
            np.concatenate([np.full(len(c), i) for i, c in enumerate(samples)]) if samples else None
        )
        self._kdtree = (
            cKDTree(np.concatenate(samples), balanced_tree=False, compact_nodes=False) if samples else None
        )
        self._decoded: dict[bytes, tuple[str, str, str]] = {}
        self._metric_all: dict[str, object] = {}
        self.answers: list[tuple[str, str, str]] = [("", "", "")]
        self._codes: dict[bytes, int] = {np.zeros(self.grid.words, np.uint64).tobytes(): 0}
        self._full_code = np.array([self._answer_code(m) for m in self.grid.full_sets], np.int32)
        self._county_labels = (
            ["", *self.counties["adcode"].astype(str)] if self.county_grid is not None else [""]
        )

    def _depth(self, zid: str) -> int:
        d, p = 0, self.parent.get(zid)
        while p:
            d, p = d + 1, self.parent.get(p)
        return d

    def _containing(self, atoms: set[str]) -> list[str]:
        """All zones containing a point that lies in exactly these atoms (unions contain what a child contains)."""
        inside = set(atoms)
        changed = True
        while changed:
            changed = False
            for u in self.unions:
                if u not in inside and any(c in inside for c in self.children.get(u, [])):
                    inside.add(u)
                    changed = True
        return sorted(inside, key=lambda z: (self.depth[z], z))

    def _decode(self, mask: np.ndarray) -> tuple[str, str, str]:
        key = mask.tobytes()
        if key not in self._decoded:
            atoms = set()
            for w, word in enumerate(mask):
                v = int(word)
                while v:
                    low = v & -v
                    atoms.add(self.atoms[w * 64 + low.bit_length() - 1])
                    v ^= low
            path = self._containing(atoms)
            deepest = (
                max(path, key=lambda z: (self.depth[z], -self.area[z], [-ord(c) for c in z])) if path else ""
            )
            self._decoded[key] = (deepest, ";".join(path), self.corridor.get(deepest, "") if deepest else "")
        return self._decoded[key]

    @staticmethod
    def _counties_of(grid: GridIndex, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        county, edge = grid.lookup(lon, lat, (_lowest_bit(grid.full_sets) + 1).astype(np.int32))
        hit = np.flatnonzero(edge)
        if len(hit):
            full = grid.lookup(lon[hit], lat[hit], np.arange(len(grid.full_sets), dtype=np.int32))[0]
            county[hit] = _lowest_bit(grid.refine(lon[hit], lat[hit], full, edge[hit])) + 1
        return county

    def _answer_code(self, mask: np.ndarray) -> int:
        key = mask.tobytes()
        code = self._codes.get(key)
        if code is None:
            code = self._codes[key] = len(self.answers)
            self.answers.append(self._decode(mask))
        return code

    def assign(self, lon: np.ndarray, lat: np.ndarray, *, nearest: bool = True) -> Assignment:
        """Answers for WGS-84 lon/lat arrays; every answer equals sjoin(predicate='intersects') membership."""
        lon = np.asarray(lon, float)
        lat = np.asarray(lat, float)
        full_ids = np.arange(len(self.grid.full_sets), dtype=np.int32)
        answer, edge = self.grid.lookup(lon, lat, self._full_code)
        hit = np.flatnonzero(edge)
        if len(hit):
            full = self.grid.lookup(lon[hit], lat[hit], full_ids)[0]
            masks = self.grid.refine(lon[hit], lat[hit], full, edge[hit])
            uniq, inverse = unique_rows(masks)
            answer[hit] = np.array([self._answer_code(m) for m in uniq], np.int32)[inverse]
        county = None
        if self.county_grid is not None:
            county = self._counties_of(self.county_grid, lon, lat)
            elsewhere = np.flatnonzero(~self.county_grid.covers(lon, lat))
            if len(elsewhere):
                if self._county_everywhere is None:
                    self._county_everywhere = GridIndex(list(self.counties.geometry))
                county[elsewhere] = self._counties_of(self._county_everywhere, lon[elsewhere], lat[elsewhere])
        distance = nearest_code = None
        if nearest and self._kdtree is not None:
            distance = np.zeros(len(lon))
            nearest_code = np.full(len(lon), -1, np.int32)
            outside = np.flatnonzero(answer == 0)
            if len(outside):
                distance[outside], nearest_code[outside] = self.nearest(lon[outside], lat[outside])
        return Assignment(answer, list(self.answers), county, self._county_labels, distance, nearest_code,
                          list(self._metric.index))  # fmt: skip

    def distance_to(self, zone_id: str, lon: float, lat: float) -> float | None:
        """Metres from a point to one zone's polygon (0 inside), or None when the zone has no polygon."""
        if zone_id not in self.zones.index:
            return None
        x, y = transformer(WGS84, GK120).transform(lon, lat)
        geom = self._zone_metric(zone_id)
        return float(shapely.distance(geom, shapely.points(x, y)))

    def _zone_metric(self, zone_id: str):
        if zone_id not in self._metric_all:
            from app.crs import to_metres

            self._metric_all[zone_id] = to_metres(self.zones.geometry[zone_id])
        return self._metric_all[zone_id]

    def nearest(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest zone with a polygon of its own (code into its ids) and the distance in metres (EPSG:4549).

        Boundaries are sampled every SAMPLE_M metres: beyond NEAR_M the sampled distance is within
        SAMPLE_M²/(8·NEAR_M) of the true one (0.16 m); nearer points get the exact GEOS distance.
        """
        x, y = transformer(WGS84, GK120).transform(lon, lat)
        dist = np.full(len(x), np.nan)
        ids = np.full(len(x), -1, np.int32)
        ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
        d, k = self._kdtree.query(np.column_stack([x[ok], y[ok]]), workers=-1 if len(ok) > 20_000 else 1)
        zone = self._sample_zone[k]
        close = d < NEAR_M
        if close.any():
            sel = ok[close]
            geoms = self._metric.geometry.to_numpy()[zone[close]]
            d[close] = shapely.distance(geoms, shapely.points(x[sel], y[sel]))
        dist[ok] = np.round(d, 2)
        ids[ok] = zone
        return dist, ids


@dataclass
class FileStats:
    rows: int = 0
    in_zone: int = 0
    outside: int = 0
    invalid: int = 0


def valid_lonlat(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90)


def assign_chunk(
    index: ZoneIndex, frame: pd.DataFrame, x: np.ndarray, y: np.ndarray, crs: str
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """One chunk of input rows → (rows with the zone columns and assign_error, WGS-84 lon, lat, valid mask)."""
    given_ok = np.isfinite(x) & np.isfinite(y)
    src_crs = frame.attrs.get("crs") or crs
    wlon, wlat = to_lonlat_wgs84(np.where(given_ok, x, 0.0), np.where(given_ok, y, 0.0), src_crs)
    ok = given_ok & valid_lonlat(wlon, wlat)
    out = frame.copy()
    for c in OUTPUT_COLUMNS:
        out[c] = "" if c != "distance_m" else np.nan
    if ok.any():
        res = index.assign(wlon[ok], wlat[ok]).frame()
        for c in OUTPUT_COLUMNS:
            col = out[c].to_numpy(dtype=object if c != "distance_m" else float, copy=True)
            col[ok] = res[c].to_numpy() if c == "distance_m" else res[c].astype(str).to_numpy()
            out[c] = col
    out["assign_error"] = np.where(~given_ok, "missing or non-numeric coordinate",
                                   np.where(~ok, "coordinate out of range", ""))  # fmt: skip
    return out, wlon, wlat, ok


def assign_file(
    index: ZoneIndex, src, dst, *, lon: str | None = None, lat: str | None = None, crs: str = "wgs84",
    chunk: int | None = None, progress: bool = False,
) -> FileStats:  # fmt: skip
    """Stream a point file through the index; every input row comes out with the zone columns added.

    Rows whose coordinates are missing, not numbers or out of range keep their place, with empty zone columns
    and the reason in `assign_error`.
    """
    from pathlib import Path

    from app.points_io import CHUNK, PointWriter, read_points

    stats = FileStats()
    writer = PointWriter(Path(dst))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(unit=" rows", unit_scale=True, desc="assign", file=__import__("sys").stderr)
    try:
        for ch in read_points(Path(src), lon=lon, lat=lat, chunk=chunk or CHUNK):
            out, wlon, wlat, ok = assign_chunk(index, ch.frame, ch.x, ch.y, crs)
            n = len(ok)
            writer.write(out, np.where(ok, wlon, np.nan), np.where(ok, wlat, np.nan))
            stats.rows += n
            stats.invalid += int((~ok).sum())
            inside = int((out["zone_id"][ok] != "").sum())
            stats.in_zone += inside
            stats.outside += int(ok.sum()) - inside
            if bar is not None:
                bar.update(n)
    finally:
        writer.close()
        if bar is not None:
            bar.close()
    return stats
