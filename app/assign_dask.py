"""Assignment on Dask partitions, for registers that do not fit one machine."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import threading
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from app.assign import FileStats, ZoneIndex, assign_chunk, build_index, to_lonlat_wgs84
from app.errors import InputError
from app.points_io import (
    CHUNK,
    LAT_NAMES,
    LON_NAMES,
    PointWriter,
    _from_geo,
    _numbers,
    _pick,
    file_format,
    parse_feature_line,
)

# WGS-84 lon/lat of each row (NaN where not assignable), carried to the writers that need a geometry
_LON, _LAT = "__assign_lon__", "__assign_lat__"
# coordinates as given, for GeoJSON-sequence partitions (their properties become the other columns)
_X, _Y = "__assign_x__", "__assign_y__"
TEXT_BLOCK = 64 * 2**20  # bytes per partition of a GeoJSON sequence when npartitions is not given

_INDEX: ZoneIndex | None = None
_INDEX_LOCK = threading.Lock()


def _zone_index() -> ZoneIndex:
    """The ZoneIndex of this worker process, built on first use and kept for every later partition."""
    global _INDEX
    if _INDEX is None:
        with _INDEX_LOCK:
            if _INDEX is None:
                _INDEX = build_index()
    return _INDEX


def assign_dask(
    src, dst, *, lon: str | None = None, lat: str | None = None, crs: str = "wgs84",
    scheduler: str | None = None, npartitions: int | None = None,
) -> FileStats:  # fmt: skip
    """`assign_file` on a Dask cluster: same columns, row order and `assign_error` rows, same counts.

    `scheduler` is a distributed scheduler address; without it a two-process LocalCluster lives for this call.
    Workers read `src` and (for CSV and Parquet-directory output) write `dst` themselves, so with a remote
    scheduler both paths must be on a file system the workers share, and the workers need this package.
    Output follows dst's extension: CSV (one file), Parquet (one GeoParquet file, or a directory of
    part.N.parquet files when dst ends with "/" or is a directory), GeoJSON, GeoJSON sequence, GeoPackage.
    Single-file outputs other than CSV are written here, partition after partition in order, with a bounded
    number of partitions in flight; no step holds the whole dataset in one frame.
    """
    src_path = Path(src).expanduser().resolve()
    as_dir = str(dst).endswith(("/", os.sep)) or Path(dst).is_dir()
    dst_path = Path(dst).expanduser().resolve()
    out_fmt = file_format(dst_path)
    if as_dir and out_fmt != "parquet":
        raise InputError(f"{dst_path.name}: only Parquet output can be a directory")
    in_fmt = file_format(src_path)
    to_lonlat_wgs84(np.zeros(1), np.zeros(1), crs)  # a wrong CRS fails before a cluster starts
    if npartitions is not None and npartitions < 1:
        raise InputError(f"npartitions must be at least 1, not {npartitions}")
    _check_source(src_path, in_fmt)

    import dask

    try:
        # the graph is built here, before any cluster: a wrong column name fails at once; columns keep the
        # dtypes read_points gives them (no conversion to pyarrow strings), so typed outputs match too
        with dask.config.set({"dataframe.convert-string": False}):
            ddf, kind, gcol = _read(src_path, in_fmt, lon, lat, npartitions)
            keep_lonlat = out_fmt != "csv"
            args = (kind, src_path.name, lon, lat, gcol, crs, keep_lonlat)
            meta = _assign_partition(ddf._meta, *args)
            mapped = ddf.map_partitions(_assign_partition, *args, meta=meta, enforce_metadata=False,
                                        transform_divisions=False, align_dataframes=False)  # fmt: skip
            parts = mapped.to_delayed()
        client, cluster = _connect(scheduler)
        try:
            if out_fmt == "csv":
                stats = _write_csv(client, parts, meta, dst_path)
            elif as_dir:
                stats = _write_parquet_dir(client, parts, dst_path)
            else:
                stats = _write_streamed(client, parts, dst_path)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        if in_fmt != "csv":
            raise
        raise InputError(f"{src_path.name}: cannot read as CSV: {e}") from e
    if stats.rows == 0 and in_fmt != "csv":  # a CSV with a header and no rows gives a header, as assign_file
        if dst_path.is_file():
            dst_path.unlink()
        raise InputError(f"{src_path.name}: no rows")
    return stats


def _connect(scheduler: str | None):
    """A client of the given scheduler, or of a two-process LocalCluster started for this call."""
    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler, set_as_default=False), None
    # no dashboard; the scheduler's small HTTP server (health, metrics) on any free port
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                           scheduler_kwargs={"dashboard_address": ":0"},
                           silence_logs=logging.ERROR)  # fmt: skip
    try:
        return Client(cluster, set_as_default=False), cluster
    except BaseException:
        cluster.close()
        raise


def _check_source(path: Path, fmt: str) -> None:
    if fmt == "parquet" and path.is_dir():
        return
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise InputError(f"{path.name}: the file is empty")


def _read(path: Path, fmt: str, lon: str | None, lat: str | None, npartitions: int | None):
    """The input as a dask DataFrame, the kind of its partitions, and the GeoParquet geometry column."""
    import dask.dataframe as dd

    if fmt == "csv":
        sep = "\t" if path.suffix.lower() == ".tsv" else ","
        blocksize: Any = "default"
        if npartitions:
            blocksize = max(1, math.ceil(path.stat().st_size / npartitions))
        ddf = dd.read_csv(str(path), sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig",
                          blocksize=blocksize)  # fmt: skip
        _pick(list(ddf.columns), lon, LON_NAMES, "longitude", path)
        _pick(list(ddf.columns), lat, LAT_NAMES, "latitude", path)
        return ddf, "csv", None
    if fmt == "parquet":
        import pyarrow.dataset as pads

        try:
            meta = pads.dataset(str(path), format="parquet").schema.metadata or {}
            ddf = dd.read_parquet(str(path), index=False)
        except Exception as e:
            raise InputError(f"{path.name}: cannot read as Parquet: {e}") from e
        geo = json.loads(meta[b"geo"]) if b"geo" in meta else None
        gcol = geo["primary_column"] if geo else None
        if not (gcol and gcol in ddf.columns and not (lon or lat)):
            _pick(list(ddf.columns), lon, LON_NAMES, "longitude", path)
            _pick(list(ddf.columns), lat, LAT_NAMES, "latitude", path)
        if npartitions and npartitions != ddf.npartitions:
            ddf = ddf.repartition(npartitions=npartitions)
        return ddf, "parquet", gcol
    if fmt == "geojsonseq":
        return _read_geojsonseq(path, npartitions), "geojsonseq", None
    import dask_geopandas
    import pyogrio

    try:
        total = int(pyogrio.read_info(path).get("features") or 0)
    except Exception as e:
        raise InputError(f"{path.name}: cannot read: {e}") from e
    if total == 0:
        raise InputError(f"{path.name}: no rows")
    if npartitions:
        ddf = dask_geopandas.read_file(str(path), npartitions=min(npartitions, total))
    else:
        ddf = dask_geopandas.read_file(str(path), chunksize=CHUNK)
    if lon or lat:
        _pick(list(ddf.columns), lon, LON_NAMES, "longitude", path)
        _pick(list(ddf.columns), lat, LAT_NAMES, "latitude", path)
    return ddf, "geo", None


def _read_geojsonseq(path: Path, npartitions: int | None):
    """GeoJSON sequence as line blocks, each parsed exactly like read_points does."""
    import dask.bag as db
    import dask.dataframe as dd
    from dask import delayed

    size = path.stat().st_size
    blocksize = max(1, math.ceil(size / npartitions)) if npartitions else TEXT_BLOCK
    lines = db.read_text(str(path), blocksize=blocksize, encoding="utf-8")
    frames = [delayed(_geojsonseq_frame)(b, path.name) for b in lines.to_delayed()]
    first: list[str] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                first.append(line)
                break
    meta = _geojsonseq_frame(first, path.name).head(0)
    return dd.from_delayed(frames, meta=meta, verify_meta=False)


def _geojsonseq_frame(lines: list[str], name: str) -> pd.DataFrame:
    buf: list[dict[str, Any]] = []
    xs: list[float] = []
    ys: list[float] = []
    for line in lines:
        if not line.strip():
            continue
        props, px, py = parse_feature_line(line, name)
        buf.append(props)
        xs.append(px)
        ys.append(py)
    frame = pd.DataFrame(buf)
    frame[_X] = np.array(xs, float)
    frame[_Y] = np.array(ys, float)
    return frame


def _coordinates(df: pd.DataFrame, kind: str, name: str, lon: str | None, lat: str | None,
                 gcol: str | None) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:  # fmt: skip
    """A partition as read_points would give it: every input column, and the coordinates as given."""
    path = Path(name)
    if kind == "geo":
        ch = _from_geo(df, path, lon, lat)
        return ch.frame, ch.x, ch.y
    if kind == "geojsonseq":
        frame = df.copy()
        return frame, frame.pop(_X).to_numpy(float), frame.pop(_Y).to_numpy(float)
    if kind == "parquet" and gcol and gcol in df.columns and not (lon or lat):
        import shapely

        frame = df.copy()
        pts = shapely.from_wkb(frame.pop(gcol).to_numpy())
        # GEOS cannot give x/y of an empty point (what a NaN point becomes in WKB): those rows have none
        x, y = np.full(len(pts), np.nan), np.full(len(pts), np.nan)
        has = ~shapely.is_empty(pts) & (shapely.get_type_id(pts) >= 0)
        x[has], y[has] = shapely.get_x(pts[has]), shapely.get_y(pts[has])
        return frame, x, y
    cols = list(df.columns)
    return (df, _numbers(df[_pick(cols, lon, LON_NAMES, "longitude", path)]),
            _numbers(df[_pick(cols, lat, LAT_NAMES, "latitude", path)]))  # fmt: skip


def _assign_partition(df: pd.DataFrame, kind: str, name: str, lon: str | None, lat: str | None,
                      gcol: str | None, crs: str, keep_lonlat: bool) -> pd.DataFrame:  # fmt: skip
    """One partition through the worker's index, row for row as assign_file treats a chunk."""
    frame, x, y = _coordinates(df, kind, name, lon, lat, gcol)
    out, wlon, wlat, ok = assign_chunk(_zone_index(), frame, x, y, crs)
    if keep_lonlat:
        out[_LON] = np.where(ok, wlon, np.nan)
        out[_LAT] = np.where(ok, wlat, np.nan)
    return out.reset_index(drop=True)


def _stats(out: pd.DataFrame) -> FileStats:
    err = out["assign_error"].to_numpy(dtype=object) != ""
    inside = int(((out["zone_id"].to_numpy(dtype=object) != "") & ~err).sum())
    invalid = int(err.sum())
    return FileStats(len(out), inside, len(out) - invalid - inside, invalid)


def _total(stats: list[FileStats]) -> FileStats:
    t = FileStats()
    for s in stats:
        t.rows += s.rows
        t.in_zone += s.in_zone
        t.outside += s.outside
        t.invalid += s.invalid
    return t


def _write_csv(client, parts: list, meta: pd.DataFrame, dst: Path) -> FileStats:
    """One CSV written by the workers in partition order (dask's single-file chain), counted on the way."""
    import dask.dataframe as dd
    from dask import delayed

    tmp = dst.with_name(f".tmp-dask-{dst.name}")
    tmp.unlink(missing_ok=True)
    # the writer and the counts share the partitions' keys, so every partition is assigned once
    writes = dd.from_delayed(parts, meta=meta, verify_meta=False).to_csv(
        str(tmp), single_file=True, index=False, compute=False
    )
    total = delayed(_total)([delayed(_stats)(p) for p in parts])
    try:
        stats = client.gather(client.compute([*writes, total]))[-1]
        tmp.replace(dst)
    finally:
        tmp.unlink(missing_ok=True)
    return stats


def _write_part(out: pd.DataFrame, path: str) -> FileStats:
    writer = PointWriter(Path(path))
    try:
        writer.write(out.drop(columns=[_LON, _LAT]), out[_LON].to_numpy(float), out[_LAT].to_numpy(float))
    finally:
        writer.close()
    return _stats(out)


def _write_parquet_dir(client, parts: list, dst: Path) -> FileStats:
    """A directory of GeoParquet files part.00000.parquet… in row order, each written by a worker."""
    from dask import delayed

    if dst.is_file() or (dst.is_dir() and any(not p.name.startswith("part.") for p in dst.iterdir())):
        raise InputError(f"{dst}: not a directory of earlier part.N.parquet output; not overwriting it")
    tmp = dst.with_name(f".tmp-dask-{dst.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    width = max(5, len(str(len(parts) - 1)))
    writes = [delayed(_write_part)(p, str(tmp / f"part.{i:0{width}d}.parquet")) for i, p in enumerate(parts)]
    try:
        stats = _total(client.gather(client.compute(writes)))
        if dst.exists():
            shutil.rmtree(dst)
        tmp.rename(dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return stats


def _write_streamed(client, parts: list, dst: Path) -> FileStats:
    """One file written here with PointWriter, partitions arriving in order, a few computing ahead."""
    window = max(2, 2 * sum(client.nthreads().values()))
    staged = dst.with_name(f".dask-{dst.name}")  # PointWriter renames its own temporary file to this
    staged.unlink(missing_ok=True)
    writer = PointWriter(staged)
    stats: list[FileStats] = []
    pending: deque = deque()
    todo = iter(parts)
    try:
        for p in todo:
            pending.append(client.compute(p))
            if len(pending) >= window:
                break
        while pending:
            out = pending.popleft().result()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append(client.compute(nxt))
            writer.write(out.drop(columns=[_LON, _LAT]), out[_LON].to_numpy(float), out[_LAT].to_numpy(float))
            stats.append(_stats(out))
            del out
    except BaseException:
        for f in pending:
            f.cancel()
        writer.close()
        staged.unlink(missing_ok=True)
        raise
    writer.close()
    if staged.exists():  # nothing is written for an input without rows
        staged.replace(dst)
    return _total(stats)
