"""Point files in and out, in chunks: CSV, GeoJSON, GeoParquet/Parquet, GeoPackage; bad rows kept and flagged."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from app.errors import InputError

LON_NAMES = ("lon", "lng", "longitude", "x", "经度", "long")
LAT_NAMES = ("lat", "latitude", "y", "纬度")
CHUNK = 500_000


@dataclass
class Chunk:
    frame: pd.DataFrame  # every input column, as read
    x: np.ndarray  # coordinates as given (input CRS)
    y: np.ndarray


def file_format(path: Path) -> str:
    name = path.name.lower()
    for ext, fmt in ((".csv", "csv"), (".txt", "csv"), (".tsv", "csv"), (".geojson", "geojson"), (".json", "geojson"),
                     (".geojsonl", "geojsonseq"), (".geojsons", "geojsonseq"), (".parquet", "parquet"),
                     (".geoparquet", "parquet"), (".gpkg", "gpkg")):  # fmt: skip
        if name.endswith(ext):
            return fmt
    raise InputError(
        f"{path.name}: unknown point file type; use .csv, .geojson, .geojsonl, .parquet or .gpkg"
    )


def _pick(columns: list[str], wanted: str | None, names: tuple[str, ...], what: str, path: Path) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise InputError(
                f"{path.name}: no column {wanted!r} for {what}; the file has {', '.join(columns)}"
            )
        return wanted
    lower = {c.lower(): c for c in columns}
    for n in names:
        if n in lower:
            return lower[n]
    raise InputError(
        f"{path.name}: no {what} column (looked for {', '.join(names)}); the file has {', '.join(columns)}; "
        f"pass --{'lon' if what == 'longitude' else 'lat'} COLUMN"
    )


def _numbers(s: pd.Series) -> np.ndarray:
    return pd.to_numeric(s, errors="coerce").to_numpy(float)


def read_points(
    path: Path, *, lon: str | None = None, lat: str | None = None, chunk: int = CHUNK
) -> Iterator[Chunk]:
    """Yield the file in chunks of at most `chunk` rows; memory stays flat whatever the file's size."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise InputError(f"{path.name}: the file is empty")
    fmt = file_format(path)
    yielded = False
    if fmt == "csv":
        sep = "\t" if path.suffix.lower() == ".tsv" else ","
        try:
            reader = pd.read_csv(path, sep=sep, chunksize=chunk, dtype=str, keep_default_na=False,
                                 encoding="utf-8-sig")  # fmt: skip
            for df in reader:
                cx = _pick(list(df.columns), lon, LON_NAMES, "longitude", path)
                cy = _pick(list(df.columns), lat, LAT_NAMES, "latitude", path)
                yielded = True
                yield Chunk(df, _numbers(df[cx]), _numbers(df[cy]))
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
            raise InputError(f"{path.name}: cannot read as CSV: {e}") from e
    elif fmt == "geojsonseq":
        buf: list[dict[str, Any]] = []
        xs: list[float] = []
        ys: list[float] = []
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                props, px, py = parse_feature_line(line, f"{path.name}: line {n}")
                buf.append(props)
                xs.append(px)
                ys.append(py)
                if len(buf) >= chunk:
                    yielded = True
                    yield Chunk(pd.DataFrame(buf), np.array(xs, float), np.array(ys, float))
                    buf, xs, ys = [], [], []
        if buf:
            yielded = True
            yield Chunk(pd.DataFrame(buf), np.array(xs, float), np.array(ys, float))
    elif fmt == "parquet":
        yield from _read_parquet(path, lon, lat, chunk)
        yielded = True
    else:  # geojson, gpkg: GDAL, chunked by feature ranges
        import pyogrio

        try:
            info = pyogrio.read_info(path)
        except Exception as e:
            raise InputError(f"{path.name}: cannot read: {e}") from e
        total = int(info.get("features") or 0)
        for start in range(0, total, chunk):
            gdf = pyogrio.read_dataframe(path, skip_features=start, max_features=chunk)
            yielded = True
            yield _from_geo(gdf, path, lon, lat)
    if not yielded:
        raise InputError(f"{path.name}: no rows")


def parse_feature_line(line: str, where: str) -> tuple[dict[str, Any], float, float]:
    """One GeoJSONSeq line → (properties, x, y); a feature without a point geometry gets NaN coordinates."""
    try:
        feat = json.loads(line)
        props, (px, py) = feat.get("properties") or {}, _point_xy(feat)
    except (json.JSONDecodeError, AttributeError, TypeError) as e:
        raise InputError(f"{where} is not a GeoJSON Feature: {e}") from e
    return props, px, py


def _point_xy(feat: dict[str, Any]) -> tuple[float, float]:
    g = feat.get("geometry")
    if not g or g.get("type") != "Point":
        return (math.nan, math.nan)
    c = g.get("coordinates") or [math.nan, math.nan]
    return (float(c[0]), float(c[1]))


def _from_geo(gdf, path: Path, lon: str | None, lat: str | None) -> Chunk:
    frame = (
        pd.DataFrame(gdf.drop(columns=gdf.geometry.name)) if gdf.geometry is not None else pd.DataFrame(gdf)
    )
    if lon or lat:
        return Chunk(frame, _numbers(frame[_pick(list(frame.columns), lon, LON_NAMES, "longitude", path)]),
                     _numbers(frame[_pick(list(frame.columns), lat, LAT_NAMES, "latitude", path)]))  # fmt: skip
    geom = gdf.geometry
    is_point = (geom.geom_type == "Point").to_numpy()
    x = np.where(is_point, geom.x.where(is_point), np.nan) if len(geom) else np.array([])
    y = np.where(is_point, geom.y.where(is_point), np.nan) if len(geom) else np.array([])
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
        frame.attrs["crs"] = gdf.crs.to_string()
    return Chunk(frame, np.asarray(x, float), np.asarray(y, float))


def _read_parquet(path: Path, lon: str | None, lat: str | None, chunk: int) -> Iterator[Chunk]:
    import pyarrow.parquet as pq
    import shapely

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:
        raise InputError(f"{path.name}: cannot read as Parquet: {e}") from e
    meta = pf.schema_arrow.metadata or {}
    geo = json.loads(meta[b"geo"]) if b"geo" in meta else None
    gcol = geo["primary_column"] if geo else None
    for batch in pf.iter_batches(batch_size=chunk):
        df = batch.to_pandas()
        if gcol and gcol in df.columns and not (lon or lat):
            pts = shapely.from_wkb(df.pop(gcol).to_numpy(), on_invalid="ignore")
            ok = ~(shapely.is_missing(pts) | shapely.is_empty(pts)) & (shapely.get_type_id(pts) == 0)
            x = np.full(len(pts), np.nan)
            y = np.full(len(pts), np.nan)
            x[ok], y[ok] = shapely.get_x(pts[ok]), shapely.get_y(pts[ok])
            yield Chunk(df, x, y)
        else:
            cols = list(df.columns)
            yield Chunk(df, _numbers(df[_pick(cols, lon, LON_NAMES, "longitude", path)]),
                        _numbers(df[_pick(cols, lat, LAT_NAMES, "latitude", path)]))  # fmt: skip


class PointWriter:
    """Write chunks to the output file as they come; the format follows the file's extension."""

    def __init__(self, path: Path):
        self.path = path
        self.fmt = file_format(path)
        self.tmp = path.with_name(f".tmp-{path.name}")
        self.tmp.unlink(missing_ok=True)
        self._first = True
        self._parquet = None
        self._fh = None

    def write(self, frame: pd.DataFrame, lon: np.ndarray, lat: np.ndarray) -> None:
        if self.fmt == "csv":
            frame.to_csv(self.tmp, mode="w" if self._first else "a", header=self._first, index=False)
        elif self.fmt in ("geojson", "geojsonseq"):
            self._write_geojson(frame, lon, lat)
        elif self.fmt == "parquet":
            self._write_parquet(frame, lon, lat)
        else:
            import geopandas as gpd

            finite = np.isfinite(lon) & np.isfinite(lat)
            geom = np.full(len(lon), None, object)
            geom[finite] = gpd.points_from_xy(lon[finite], lat[finite])
            gdf = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geom, crs="EPSG:4326"), crs="EPSG:4326")
            gdf.to_file(self.tmp, layer="points", driver="GPKG", engine="pyogrio", append=not self._first)
        self._first = False

    def _write_geojson(self, frame: pd.DataFrame, lon: np.ndarray, lat: np.ndarray) -> None:
        seq = self.fmt == "geojsonseq"
        if self._fh is None:
            self._fh = self.tmp.open("w", encoding="utf-8")
            if not seq:
                self._fh.write('{"type": "FeatureCollection", "features": [\n')
        records = frame.astype(object).where(frame.notna(), None).to_dict("records")
        for i, (props, x, y) in enumerate(zip(records, lon, lat, strict=True)):
            geom = {"type": "Point", "coordinates": [x, y]} if np.isfinite(x) and np.isfinite(y) else None
            feat = json.dumps({"type": "Feature", "geometry": geom, "properties": props}, ensure_ascii=False,
                              default=_json_default)  # fmt: skip
            if not seq and not (self._first and i == 0):
                self._fh.write(",\n")
            self._fh.write(feat + ("\n" if seq else ""))

    def _write_parquet(self, frame: pd.DataFrame, lon: np.ndarray, lat: np.ndarray) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq
        import shapely

        table = pa.Table.from_pandas(frame.astype({c: str for c in frame.columns if frame[c].dtype == object}),
                                     preserve_index=False)  # fmt: skip
        finite = np.isfinite(lon) & np.isfinite(lat)
        wkb = np.full(len(lon), None, object)
        wkb[finite] = shapely.to_wkb(shapely.points(lon[finite], lat[finite]))
        table = table.append_column("geometry", pa.array(wkb, pa.binary()))
        if self._parquet is None:
            geo = {"version": "1.0.0", "primary_column": "geometry",
                   "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"], "crs": None}}}  # fmt: skip
            schema = table.schema.with_metadata(
                {**(table.schema.metadata or {}), b"geo": json.dumps(geo).encode()}
            )
            self._parquet = pq.ParquetWriter(self.tmp, schema)
        self._parquet.write_table(table.cast(self._parquet.schema))

    def close(self) -> None:
        if self._fh is not None:
            if self.fmt == "geojson":
                self._fh.write("\n]}\n")
            self._fh.close()
        if self._parquet is not None:
            self._parquet.close()
        if self.tmp.exists():
            self.tmp.replace(self.path)


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if not np.isfinite(o) else float(o)
    return str(o)
