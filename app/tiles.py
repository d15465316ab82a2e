"""Mapbox vector tiles of the catalog (layers zones and platforms), simplified by zoom, cached by content version."""

from __future__ import annotations

import gzip
import hashlib
import math
import operator
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import mapbox_vector_tile
import numpy as np
import pandas as pd
import shapely
from mapbox_vector_tile.encoder import on_invalid_geometry_make_valid
from shapely.geometry.base import BaseGeometry

from app.crs import WEB_MERCATOR, WGS84
from app.errors import InputError

# Half the width of the EPSG:3857 square world (metres), and the latitude where it ends.
ORIGIN = 20037508.342789244
MAX_LAT = 85.0511287798066
MAX_ZOOM = 22

EXTENT = 4096  # MVT units across a tile; one unit is the "tile pixel" below
BUFFER = 64  # tile pixels (units) kept around each tile, so strokes and labels join across edges
CACHE_TILES = 4096

# Properties each layer carries, in order (empty or missing values are left out of a feature).
LAYER_FIELDS: dict[str, tuple[str, ...]] = {
    "zones": ("id", "name", "level", "corridor", "grade", "area_km2", "stated_area_km2"),
    "platforms": ("id", "name", "kind", "declared_zone"),
}
LAYER_DESCRIPTIONS = {
    "zones": "Corridor zones (corridor, core and linkage zones, areas, units, parks) as polygons",
    "platforms": "Innovation platforms (universities, laboratories, enterprises, enclaves) as points",
}
TILEJSON_MINZOOM = 0
TILEJSON_MAXZOOM = 18
ATTRIBUTION = (
    "Corridor zone catalog. Zone geometry is sketched from the planning texts' 四至 boundary "
    "descriptions and county lines; it is approximate, not surveyed."
)


def _tile_index(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise InputError(f"tile {name} must be an integer, not {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise InputError(f"tile {name} must be an integer, not {value!r}") from None


def _check_tile(z: Any, x: Any, y: Any) -> tuple[int, int, int]:
    z = _tile_index(z, "z")
    if not 0 <= z <= MAX_ZOOM:
        raise InputError(f"tile zoom {z} is out of range: z must be 0..{MAX_ZOOM}")
    x, y = _tile_index(x, "x"), _tile_index(y, "y")
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        raise InputError(f"tile {z}/{x}/{y} is out of range: at zoom {z}, x and y must be 0..{n - 1}")
    return z, x, y


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """(minx, miny, maxx, maxy) of XYZ tile z/x/y in EPSG:3857 metres (y counts down from the north edge)."""
    z, x, y = _check_tile(z, x, y)
    size = 2 * ORIGIN / (1 << z)
    minx = -ORIGIN + x * size
    maxy = ORIGIN - y * size
    return (minx, maxy - size, minx + size, maxy)


def tile_pixel(z: int) -> float:
    """Width in EPSG:3857 metres of one tile pixel (one of the 4096 MVT units across a tile) at zoom z."""
    return 2 * ORIGIN / (1 << z) / EXTENT


def gzip_bytes(data: bytes) -> bytes:
    """Gzip `data` deterministically (mtime 0, no file name), so equal tiles give equal bytes."""
    return gzip.compress(data, compresslevel=6, mtime=0)


def _strong_etag(data: bytes) -> str:
    return f'"{hashlib.sha256(data).hexdigest()}"'


class TileCache:
    """A thread-safe LRU of rendered tiles keyed by (version, z, x, y); values are (tile bytes, ETag)."""

    def __init__(self, maxsize: int = CACHE_TILES) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[tuple[str, int, int, int], tuple[bytes, str]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, int, int, int]) -> tuple[bytes, str] | None:
        with self._lock:
            value = self._data.get(key)
            if value is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: tuple[str, int, int, int], value: tuple[bytes, str]) -> None:
        if self.maxsize <= 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def retain(self, version: str) -> None:
        """Drop every tile whose version is not `version`."""
        with self._lock:
            for key in [k for k in self._data if k[0] != version]:
                del self._data[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def info(self) -> dict[str, int]:
        with self._lock:
            return {
                "hits": self.hits,
                "misses": self.misses,
                "size": len(self._data),
                "maxsize": self.maxsize,
            }


@dataclass
class _Layer:
    """One layer in EPSG:3857: full-resolution geometries, their STRtree, feature properties."""

    name: str
    geoms: np.ndarray
    tree: shapely.STRtree
    properties: list[dict[str, Any]]
    polygonal: bool
    _by_zoom: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def at_zoom(self, z: int) -> np.ndarray:
        """Geometries simplified for zoom z (computed once per zoom); None where a polygon is under 1 px²."""
        cached = self._by_zoom.get(z)
        if cached is not None:
            return cached
        with self._lock:
            if z not in self._by_zoom:
                self._by_zoom[z] = _simplify(self.geoms, tile_pixel(z)) if self.polygonal else self.geoms
            return self._by_zoom[z]


@dataclass
class _Snapshot:
    version: str
    layers: dict[str, _Layer]


def _simplify(geoms: np.ndarray, tol: float) -> np.ndarray:
    simplified = shapely.simplify(geoms, tol, preserve_topology=True)
    out = np.empty(len(geoms), dtype=object)
    min_area = tol * tol
    for i, g in enumerate(simplified):
        polys = _polygons(g)
        parts = [p for p in polys if p.area >= min_area]
        if not parts and sum(p.area for p in polys) >= min_area:
            # Parts each under a pixel that together cover one: keep the largest, so the feature stays visible.
            parts = [max(polys, key=lambda p: p.area)]
        out[i] = None if not parts else parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)
    return out


def _polygons(g: BaseGeometry | None) -> list[shapely.Polygon]:
    if g is None or g.is_empty:
        return []
    return [p for p in shapely.get_parts(g) if isinstance(p, shapely.Polygon) and not p.is_empty]


def _py(value: Any) -> str | int | float | bool | None:
    """A property value as the Python scalar MVT can hold; None for missing values."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool | int):
        return value
    return str(value)


def _to_mercator(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    if gdf.crs is None:
        gdf = gdf.set_crs(WGS84)
    if gdf.crs.is_geographic:
        gdf = gdf.to_crs(WGS84)
        gdf = gdf.set_geometry(gdf.geometry.clip_by_rect(-180.0, -MAX_LAT, 180.0, MAX_LAT))
        gdf = gdf[~gdf.geometry.is_empty]
    gdf = gdf.to_crs(WEB_MERCATOR)
    finite = np.isfinite(shapely.get_coordinates(gdf.geometry.values)).all(axis=1)
    if not finite.all():  # pragma: no cover - only for data outside the Mercator world
        counts = shapely.get_num_coordinates(gdf.geometry.values)
        ok = np.add.reduceat(finite, np.r_[0, np.cumsum(counts)[:-1]]) == counts
        gdf = gdf[ok]
    return gdf.reset_index(drop=True)


def _build_layer(name: str, gdf: gpd.GeoDataFrame | None) -> _Layer:
    fields = LAYER_FIELDS[name]
    if gdf is None or len(gdf) == 0:
        geoms = np.empty(0, dtype=object)
        return _Layer(name, geoms, shapely.STRtree(geoms), [], polygonal=name == "zones")
    merc = _to_mercator(gdf)
    geoms = np.asarray(merc.geometry.values, dtype=object)
    cols = [c for c in fields if c in merc.columns]
    props = []
    for row in merc[cols].itertuples(index=False, name=None):
        props.append({k: v for k, v in zip(cols, map(_py, row), strict=True) if v is not None})
    polygonal = bool(len(geoms)) and bool(np.isin(shapely.get_type_id(geoms), [3, 6]).all())
    return _Layer(name, geoms, shapely.STRtree(geoms), props, polygonal=polygonal)


def _snapshot(source: Any, version: str | None) -> _Snapshot:
    from app.store import Store, content_version

    if isinstance(source, Store):
        frames = {name: getattr(source, name) for name in LAYER_FIELDS}
        version = version or source.version
    elif isinstance(source, Mapping):
        frames = {name: source.get(name) for name in LAYER_FIELDS}
        if not version:
            version = content_version({k: v for k, v in frames.items() if v is not None})
    else:
        raise TypeError(
            f"TileRenderer needs a Store or a mapping of layer name → GeoDataFrame, not {source!r}"
        )
    return _Snapshot(str(version), {name: _build_layer(name, frames[name]) for name in LAYER_FIELDS})


def _clip_polygonal(g: BaseGeometry, window: BaseGeometry, unit: float) -> BaseGeometry | None:
    """Clip to the buffered tile and snap to the tile's pixel grid, keeping a valid (multi)polygon."""
    clipped = _polygons(shapely.intersection(g, window))
    if not clipped:
        return None
    piece = clipped[0] if len(clipped) == 1 else shapely.MultiPolygon(clipped)
    # The grid of 3857 multiples of `unit` is the tile's own MVT grid: tile edges sit on multiples of it.
    parts = _polygons(shapely.set_precision(piece, unit))
    if not parts:
        if piece.area < unit * unit and not window.contains(g):
            return None
        # A feature of at least one pixel (see _simplify) that collapsed on the grid keeps the pixel it sits in.
        p = shapely.get_coordinates(piece.representative_point())[0]
        x0, y0 = math.floor(p[0] / unit) * unit, math.floor(p[1] / unit) * unit
        return shapely.box(x0, y0, x0 + unit, y0 + unit)
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


class TileRenderer:
    """Renders MVT tiles of a Store's zones and platforms, with an LRU of tiles keyed by content version.

    Build it from a Store (its `version` keys the cache; a changed version is noticed on the next call) or
    from a mapping {"zones": gdf, "platforms": gdf} (any CRS, EPSG:4326 if unset) plus a version string.
    Other layers in the mapping are ignored.
    """

    def __init__(
        self,
        source: Any,
        version: str | None = None,
        *,
        cache: TileCache | None = None,
        cache_size: int = CACHE_TILES,
    ) -> None:
        self.cache = cache if cache is not None else TileCache(cache_size)
        self._swap_lock = threading.Lock()
        self._store = source if _is_store(source) else None
        self._snap = _snapshot(source, version)

    @property
    def version(self) -> str:
        return self._current().version

    def update(self, source: Any, version: str | None = None) -> bool:
        """Take new content; returns True if the version changed (tiles of other versions are dropped)."""
        with self._swap_lock:
            self._store = source if _is_store(source) else None
            new_version = version or (source.version if _is_store(source) else None)
            if new_version is not None and new_version == self._snap.version:
                return False
            snap = _snapshot(source, new_version)
            if snap.version == self._snap.version:
                return False
            self._snap = snap
        self.cache.retain(snap.version)
        return True

    def invalidate(self) -> None:
        """Forget every cached tile."""
        self.cache.clear()

    def cache_info(self) -> dict[str, int]:
        return self.cache.info()

    def render(self, z: int, x: int, y: int) -> bytes:
        """The MVT bytes of tile z/x/y (a valid tile with two empty layers where nothing lies)."""
        return self._tile(z, x, y)[0]

    def etag(self, z: int, x: int, y: int) -> str:
        """Strong ETag of tile z/x/y: the quoted sha256 hex digest of its uncompressed bytes."""
        return self._tile(z, x, y)[1]

    def _current(self) -> _Snapshot:
        store = self._store
        if store is not None and store.version != self._snap.version:
            self.update(store)
        return self._snap

    def _tile(self, z: int, x: int, y: int) -> tuple[bytes, str]:
        z, x, y = _check_tile(z, x, y)
        snap = self._current()
        key = (snap.version, z, x, y)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        data = _encode(snap, z, x, y)
        value = (data, _strong_etag(data))
        if snap is self._snap:  # content swapped meanwhile: do not store a tile of the old version
            self.cache.put(key, value)
        return value


def _is_store(source: Any) -> bool:
    from app.store import Store

    return isinstance(source, Store)


def _encode(snap: _Snapshot, z: int, x: int, y: int) -> bytes:
    bounds = tile_bounds(z, x, y)
    unit = tile_pixel(z)
    pad = BUFFER * unit
    window = shapely.box(bounds[0] - pad, bounds[1] - pad, bounds[2] + pad, bounds[3] + pad)
    layers = []
    for name, layer in snap.layers.items():
        features = []
        if len(layer.geoms):
            simplified = layer.at_zoom(z)
            for i in np.sort(layer.tree.query(window, predicate="intersects")):
                g = simplified[i]
                if g is None:
                    continue
                geom = _clip_polygonal(g, window, unit) if layer.polygonal else g
                if geom is None or geom.is_empty or not geom.intersects(window):
                    continue
                features.append({"geometry": geom, "properties": layer.properties[i], "id": int(i) + 1})
        layers.append({"name": name, "features": features})
    return mapbox_vector_tile.encode(
        layers,
        default_options={
            "quantize_bounds": bounds,
            "extents": EXTENT,
            "y_coord_down": False,
            "on_invalid_geometry": on_invalid_geometry_make_valid,
        },
    )


def _field_type(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "Boolean"
    if pd.api.types.is_numeric_dtype(series):
        return "Number"
    return "String"


def tilejson(base_url: str, store: Any) -> dict[str, Any]:
    """TileJSON 3.0.0 describing the tiles served under `base_url` for a Store (or a mapping of layers)."""
    frames = {
        name: (getattr(store, name, None) if _is_store(store) else store.get(name)) for name in LAYER_FIELDS
    }
    vector_layers = []
    for name, fields in LAYER_FIELDS.items():
        gdf = frames[name]
        types = {f: _field_type(gdf[f]) if gdf is not None and f in gdf.columns else "String" for f in fields}
        vector_layers.append(
            {
                "id": name,
                "description": LAYER_DESCRIPTIONS[name],
                "fields": types,
                "minzoom": TILEJSON_MINZOOM,
                "maxzoom": TILEJSON_MAXZOOM,
            }
        )
    lonlat = {n: _lonlat(g) for n, g in frames.items() if g is not None and len(g)}
    boxes = [g.total_bounds for g in lonlat.values() if len(g)]
    if boxes:
        arr = np.array(boxes)
        bounds = [
            float(arr[:, 0].min()),
            float(arr[:, 1].min()),
            float(arr[:, 2].max()),
            float(arr[:, 3].max()),
        ]
    else:
        bounds = [-180.0, -MAX_LAT, 180.0, MAX_LAT]
    # Centre on the zones (the platforms reach out to enclaves far away), at a zoom showing a corridor.
    focus = lonlat["zones"].total_bounds if "zones" in lonlat and len(lonlat["zones"]) else bounds
    center = [round((focus[0] + focus[2]) / 2, 6), round((focus[1] + focus[3]) / 2, 6), 8]
    return {
        "tilejson": "3.0.0",
        "name": "corridor zones and platforms",
        "description": "Zones of China's science-and-innovation corridors and their platforms",
        "attribution": ATTRIBUTION,
        "scheme": "xyz",
        "tiles": [f"{base_url.rstrip('/')}/tiles/{{z}}/{{x}}/{{y}}.mvt"],
        "minzoom": TILEJSON_MINZOOM,
        "maxzoom": TILEJSON_MAXZOOM,
        "bounds": [round(v, 6) for v in bounds],
        "center": center,
        "vector_layers": vector_layers,
    }


def _lonlat(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    if gdf.crs is None:
        return gdf
    return gdf.to_crs(WGS84)
