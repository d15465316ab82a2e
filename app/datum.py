"""Chinese map datums: GCJ-02 and BD-09 to and from WGS-84, vectorized."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

from app.errors import InputError

__all__ = [
    "DATUMS",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "out_of_china",
    "to_wgs84",
    "transform_geometry",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

# Krasovsky 1940 ellipsoid, as used by the published GCJ-02 algorithm.
_A = 6378245.0
_EE = 0.00669342162296594323
# Baidu's constant for the BD-09 rotation/scaling.
_X_PI = np.pi * 3000.0 / 180.0

# Iterative inverses stop when no coordinate moves by more than this (degrees), or after _MAX_ITER rounds.
_TOL = 1e-10
_MAX_ITER = 30

DATUMS = ("wgs84", "cgcs2000", "gcj02", "bd09")

Coord = float | NDArray[np.float64]
LonLatFunc = Callable[[ArrayLike, ArrayLike], tuple[Coord, Coord]]
G = TypeVar("G", bound=shapely.Geometry)


def _as_arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64], bool]:
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    scalar = x.ndim == 0 and y.ndim == 0
    x, y = np.broadcast_arrays(x, y)
    return x.copy(), y.copy(), scalar


def _out(x: NDArray[np.float64], y: NDArray[np.float64], scalar: bool) -> tuple[Coord, Coord]:
    if scalar:
        return float(x), float(y)
    return x, y


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """True where a point lies outside the rough box in which GCJ-02 offsets are applied."""
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    return (x < 72.004) | (x > 137.8347) | (y < 0.8293) | (y > 55.8271)


def _gcj_delta(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
    """GCJ-02 minus WGS-84 (degrees) at WGS-84 point (x, y), ignoring the out-of-China box."""
    u = x - 105.0
    v = y - 35.0
    sqrt_abs_u = np.sqrt(np.abs(u))
    # Shared high-frequency term in longitude.
    wiggle = (20.0 * np.sin(6.0 * np.pi * u) + 20.0 * np.sin(2.0 * np.pi * u)) * (2.0 / 3.0)

    d_lat = -100.0 + 2.0 * u + 3.0 * v + 0.2 * v * v + 0.1 * u * v + 0.2 * sqrt_abs_u
    d_lat += wiggle
    d_lat += (20.0 * np.sin(np.pi * v) + 40.0 * np.sin(np.pi * v / 3.0)) * (2.0 / 3.0)
    d_lat += (160.0 * np.sin(np.pi * v / 12.0) + 320.0 * np.sin(np.pi * v / 30.0)) * (2.0 / 3.0)

    d_lon = 300.0 + u + 2.0 * v + 0.1 * u * u + 0.1 * u * v + 0.1 * sqrt_abs_u
    d_lon += wiggle
    d_lon += (20.0 * np.sin(np.pi * u) + 40.0 * np.sin(np.pi * u / 3.0)) * (2.0 / 3.0)
    d_lon += (150.0 * np.sin(np.pi * u / 12.0) + 300.0 * np.sin(np.pi * u / 30.0)) * (2.0 / 3.0)

    # The polynomials are in metres on the Krasovsky ellipsoid; turn them into degrees.
    phi = np.radians(y)
    w = 1.0 - _EE * np.sin(phi) ** 2
    sqrt_w = np.sqrt(w)
    meridian_radius = _A * (1.0 - _EE) / (w * sqrt_w)
    parallel_radius = _A / sqrt_w * np.cos(phi)
    return np.degrees(d_lon / parallel_radius), np.degrees(d_lat / meridian_radius)


def _gcj_forward(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
    dx, dy = _gcj_delta(x, y)
    return x + dx, y + dy


def _bd_forward(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
    r = np.hypot(x, y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return r * np.cos(theta) + 0.0065, r * np.sin(theta) + 0.006


def _bd_approx_inverse(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
    """Baidu's published one-step BD-09 → GCJ-02 (good to a few cm); the starting guess for iteration."""
    x = x - 0.0065
    y = y - 0.006
    r = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return r * np.cos(theta), r * np.sin(theta)


def _invert(
    forward: Callable[[NDArray[np.float64], NDArray[np.float64]], tuple[NDArray[np.float64], ...]],
    tx: NDArray[np.float64],
    ty: NDArray[np.float64],
    x: NDArray[np.float64],
    y: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Solve forward(x, y) = (tx, ty) by fixed-point iteration from the guess (x, y).

    Both transforms are the identity plus a slowly varying offset (Jacobian of the offset ≪ 1), so the
    update x ← x − (forward(x) − target) converges linearly and fast: 3–5 rounds to 1e-10 degrees.
    """
    for _ in range(_MAX_ITER):
        fx, fy = forward(x, y)
        ex = fx - tx
        ey = fy - ty
        x = x - ex
        y = y - ey
        change = np.fmax(np.abs(ex), np.abs(ey))  # fmax ignores NaN from NaN input
        if not np.any(change >= _TOL):
            break
    return x, y


def _in_china(lon: ArrayLike, lat: ArrayLike, func: Callable) -> tuple[Coord, Coord]:
    """Apply a (lon, lat) → (lon, lat) array function to the points inside China; others are unchanged."""
    x, y, scalar = _as_arrays(lon, lat)
    inside = ~out_of_china(x, y)
    x[inside], y[inside] = func(x[inside], y[inside])
    return _out(x, y, scalar)


def _gcj_inverse(tx: np.ndarray, ty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dx, dy = _gcj_delta(tx, ty)
    return _invert(_gcj_forward, tx, ty, tx - dx, ty - dy)


def _bd_inverse(tx: np.ndarray, ty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _invert(_bd_forward, tx, ty, *_bd_approx_inverse(tx, ty))


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Coord, Coord]:
    """WGS-84 → GCJ-02 ("Mars" coordinates of Amap, Tencent, Google China). Outside China: unchanged."""
    return _in_china(lon, lat, _gcj_forward)


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Coord, Coord]:
    """GCJ-02 → WGS-84, exact inverse of `wgs84_to_gcj02` to < 1e-10 degrees. Outside China: unchanged."""
    return _in_china(lon, lat, _gcj_inverse)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Coord, Coord]:
    """GCJ-02 → BD-09 (Baidu). Outside China: unchanged."""
    return _in_china(lon, lat, _bd_forward)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Coord, Coord]:
    """BD-09 → GCJ-02, exact inverse of `gcj02_to_bd09` to < 1e-10 degrees. Outside China: unchanged."""
    return _in_china(lon, lat, _bd_inverse)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Coord, Coord]:
    """WGS-84 → BD-09, via GCJ-02. Outside China: unchanged."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Coord, Coord]:
    """BD-09 → WGS-84, via GCJ-02. Outside China: unchanged."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def _identity(lon: ArrayLike, lat: ArrayLike) -> tuple[Coord, Coord]:
    x, y, scalar = _as_arrays(lon, lat)
    return _out(x, y, scalar)


# CGCS2000 and WGS-84 (G-series realizations) agree to well under a metre; treated as the same datum.
_TO_WGS84: dict[str, LonLatFunc] = {
    "wgs84": _identity,
    "cgcs2000": _identity,
    "gcj02": gcj02_to_wgs84,
    "bd09": bd09_to_wgs84,
}
_FROM_WGS84: dict[str, LonLatFunc] = {
    "wgs84": _identity,
    "cgcs2000": _identity,
    "gcj02": wgs84_to_gcj02,
    "bd09": wgs84_to_bd09,
}


def _lookup(table: dict[str, LonLatFunc], datum: str) -> LonLatFunc:
    key = datum.strip().lower() if isinstance(datum, str) else None
    if key not in table:
        raise InputError(f"unknown datum {datum!r}; expected one of: {', '.join(DATUMS)}")
    return table[key]


def to_wgs84(lon: ArrayLike, lat: ArrayLike, datum: str) -> tuple[Coord, Coord]:
    """Convert lon/lat in `datum` (wgs84, cgcs2000, gcj02, bd09; any case) to WGS-84."""
    return _lookup(_TO_WGS84, datum)(lon, lat)


def from_wgs84(lon: ArrayLike, lat: ArrayLike, datum: str) -> tuple[Coord, Coord]:
    """Convert WGS-84 lon/lat to `datum` (wgs84, cgcs2000, gcj02, bd09; any case)."""
    return _lookup(_FROM_WGS84, datum)(lon, lat)


def transform_geometry(geom: G, func: LonLatFunc) -> G:
    """Apply a vectorized (lon, lat) → (lon, lat) function to every vertex of a shapely geometry (2D)."""

    def _apply(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        if coords.shape[0] == 0:
            return coords
        x, y = func(coords[:, 0], coords[:, 1])
        return np.column_stack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])

    return shapely.transform(geom, _apply)
