"""Exact point-in-polygon for many polygons at once, answered from a grid wherever a cell is not on a boundary.

Each cell of a regular lon/lat grid holds two small ids into tables of polygon sets: the polygons that contain
the whole cell, and the polygons whose boundary passes through it. A point in a cell without boundaries is
answered by two array lookups; only points in boundary cells get an exact GEOS test (`intersects_xy`, so a point
on an edge belongs to every polygon that edge bounds, as with GeoPandas `sjoin(predicate="intersects")`).

Boundary cells are found by sampling every boundary at half a cell and marking the 3×3 neighbourhood of each
sample, which covers every cell a boundary segment can touch; each connected run of other cells lies wholly
inside or wholly outside a polygon, so one exact test per run classifies it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import shapely
from scipy import ndimage
from shapely.geometry.base import BaseGeometry

MAX_CELLS = 8_000_000
BLOCK_BITS = 4
BLOCK = 1 << BLOCK_BITS  # 16 × 16 cells: a uniform block is one entry of a table small enough for the cache
FINE_FLAG = np.uint32(1 << 31)
SERIAL_BELOW = 20_000  # points; below this one thread is faster than starting the parallel loop

try:  # one fused, parallel pass over the points; NumPy below does the same in several passes
    import numba

    def _lookup(
        x, y, x0, y0, inv, nx, ny, coarse, nbx, fine, table, out, edge
    ):  # pragma: no cover - compiled
        for i in numba.prange(x.shape[0]):
            xi, yi = x[i], y[i]
            if not (np.isfinite(xi) and np.isfinite(yi)):
                out[i] = table[0]
                edge[i] = 0
                continue
            c = np.int64(min(max((xi - x0) * inv, 0.0), nx - 1.0))
            r = np.int64(min(max((yi - y0) * inv, 0.0), ny - 1.0))
            v = coarse[(r >> BLOCK_BITS) * nbx + (c >> BLOCK_BITS)]
            if v & FINE_FLAG:
                v = fine[(v ^ FINE_FLAG) * BLOCK * BLOCK + (r & (BLOCK - 1)) * BLOCK + (c & (BLOCK - 1))]
            out[i] = table[v >> 16]
            edge[i] = v & 0xFFFF

    _lookup_kernel = numba.njit(parallel=True, cache=True, nogil=True)(_lookup)
    _lookup_serial = numba.njit(cache=True, nogil=True)(
        _lookup
    )  # a parallel launch costs more than a few points

except ImportError:  # pragma: no cover - numba is a dependency; this keeps the index usable without it
    _lookup_kernel = None


class GridIndex:
    def __init__(
        self,
        geoms: Sequence[BaseGeometry],
        cell: float | None = None,
        extent: tuple[float, float, float, float] | None = None,
    ):
        self.geoms = [shapely.make_valid(g) for g in geoms]
        for g in self.geoms:
            shapely.prepare(g)
        self.n = len(self.geoms)
        self.words = max(1, (self.n + 63) // 64)
        bounds = np.array([g.bounds for g in self.geoms]) if self.n else np.zeros((1, 4))
        x0, y0 = bounds[:, 0].min(), bounds[:, 1].min()
        x1, y1 = bounds[:, 2].max(), bounds[:, 3].max()
        if extent is not None:  # cover only this window; callers handle points outside it (`covers`)
            x0, y0, x1, y1 = extent
        self.extent = (x0, y0, x1, y1)
        if cell is None:
            cell = max((x1 - x0) * (y1 - y0) / MAX_CELLS, 1e-12) ** 0.5
        self.cell = float(cell)
        self.x0, self.y0 = x0 - self.cell, y0 - self.cell
        self.nx = int(np.ceil((x1 - self.x0) / self.cell)) + 2
        self.ny = int(np.ceil((y1 - self.y0) / self.cell)) + 2
        full = np.zeros((self.ny, self.nx, self.words), np.uint64)
        edge = np.zeros((self.ny, self.nx, self.words), np.uint64)
        for i, g in enumerate(self.geoms):
            self._rasterize(i, g, full, edge)
        self.full_id, self.full_sets = _intern(full)
        self.edge_id, self.edge_sets = _intern(edge)
        if len(self.full_sets) >= 65536 or len(self.edge_sets) >= 65536:
            raise ValueError("too many distinct polygon sets for the packed grid")
        # one 32-bit word per cell: full-set id in the high half, edge-set id in the low half
        packed2d = self.full_id.astype(np.uint32) << 16 | self.edge_id.astype(np.uint32)
        self.packed = packed2d.ravel()
        self.coarse, self.fine, self.nbx = _two_level(packed2d)
        self.edge_members = [_bits(m) for m in self.edge_sets]

    def _cells(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.floor((y - self.y0) / self.cell).astype(np.int64),
            np.floor((x - self.x0) / self.cell).astype(np.int64),
        )

    def _rasterize(self, i: int, g: BaseGeometry, full: np.ndarray, edge: np.ndarray) -> None:
        word, bit = divmod(i, 64)
        flag = np.uint64(1) << np.uint64(bit)
        xmin, ymin, xmax, ymax = g.bounds
        r0, c0 = self._cells(np.array([xmin]), np.array([ymin]))
        r1, c1 = self._cells(np.array([xmax]), np.array([ymax]))
        r0, c0 = max(int(r0[0]) - 1, 0), max(int(c0[0]) - 1, 0)
        r1, c1 = min(int(r1[0]) + 2, self.ny), min(int(c1[0]) + 2, self.nx)
        if r1 <= r0 or c1 <= c0:  # wholly outside the grid's window
            return
        local = np.zeros((r1 - r0, c1 - c0), bool)
        pts = shapely.get_coordinates(shapely.segmentize(shapely.boundary(g), self.cell / 2))
        if len(pts):
            rr, cc = self._cells(pts[:, 0], pts[:, 1])
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    r, c = rr + dr - r0, cc + dc - c0
                    ok = (r >= 0) & (r < local.shape[0]) & (c >= 0) & (c < local.shape[1])
                    local[r[ok], c[ok]] = True
        edge[r0:r1, c0:c1, word][local] |= flag
        labels, count = ndimage.label(~local)
        if count == 0:
            return
        # one cell centre per run of boundary-free cells decides the whole run
        idx = ndimage.minimum_position(np.ones_like(labels), labels, index=np.arange(1, count + 1))
        rows = np.array([p[0] for p in idx]) + r0
        cols = np.array([p[1] for p in idx]) + c0
        inside = shapely.intersects_xy(
            g, self.x0 + (cols + 0.5) * self.cell, self.y0 + (rows + 0.5) * self.cell
        )
        inside_runs = np.flatnonzero(inside) + 1
        if len(inside_runs):
            full[r0:r1, c0:c1, word][np.isin(labels, inside_runs)] |= flag

    def covers(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        x0, y0, x1, y1 = self.extent
        return (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)

    def locate(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(full-set id, edge-set id) of each point's cell; points off the grid or not finite get (0, 0).

        The grid has an empty margin of one cell, so points beyond it are clipped into margin cells.
        """
        x = np.asarray(x, float)
        y = np.asarray(y, float)
        finite = np.isfinite(x.sum()) and np.isfinite(y.sum())  # one cheap pass when there is no NaN or inf
        if not finite:
            bad = ~(np.isfinite(x) & np.isfinite(y))
            x, y = np.where(bad, self.x0, x), np.where(bad, self.y0, y)
        fx = (x - self.x0) * (1.0 / self.cell)
        fy = (y - self.y0) * (1.0 / self.cell)
        np.clip(fx, 0, self.nx - 1, out=fx)
        np.clip(fy, 0, self.ny - 1, out=fy)
        flat = fy.astype(np.int64)
        flat *= self.nx
        flat += fx.astype(np.int64)
        packed = self.packed[flat]
        full, edge = packed >> 16, packed & 0xFFFF
        if not finite:
            full[bad] = 0
            edge[bad] = 0
        return full, edge

    def lookup(self, x: np.ndarray, y: np.ndarray, table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(table[full-set id], edge-set id) for each point, in one pass: `table` maps full sets to answers."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        y = np.ascontiguousarray(y, dtype=np.float64)
        if _lookup_kernel is None:
            full, edge = self.locate(x, y)
            return table[full], edge
        out = np.empty(len(x), table.dtype)
        edge = np.empty(len(x), np.uint32)
        kernel = _lookup_kernel if len(x) >= SERIAL_BELOW else _lookup_serial
        kernel(x, y, self.x0, self.y0, 1.0 / self.cell, self.nx, self.ny, self.coarse, self.nbx, self.fine,
               table, out, edge)  # fmt: skip
        return out, edge

    def refine(self, x: np.ndarray, y: np.ndarray, full: np.ndarray, edge: np.ndarray) -> np.ndarray:
        """Exact bitmasks (n, words) for points whose cells a boundary crosses (edge id ≠ 0)."""
        out = self.full_sets[full].copy()
        order = np.argsort(edge, kind="stable")
        ids = edge[order]
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        for a, b in zip(starts, np.r_[starts[1:], len(ids)], strict=True):
            group = order[a:b]
            for member in self.edge_members[ids[a]]:
                inside = shapely.intersects_xy(self.geoms[member], x[group], y[group])
                word, bit = divmod(member, 64)
                out[group[inside], word] |= np.uint64(1) << np.uint64(bit)
        return out

    def query(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """For each point, the set of polygons it intersects, as a bitmask array of shape (n, words)."""
        x = np.asarray(x, float)
        y = np.asarray(y, float)
        full, edge = self.locate(x, y)
        out = self.full_sets[full]
        hit = np.flatnonzero(edge)
        if len(hit):
            out[hit] = self.refine(x[hit], y[hit], full[hit], edge[hit])
        return out


def _two_level(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Blocks of BLOCK × BLOCK cells: a block whose cells are all alike is stored once in the coarse table;
    others are flagged there with the index of their cells in the fine table."""
    ny, nx = packed.shape
    nby, nbx = -(-ny // BLOCK), -(-nx // BLOCK)
    pad = np.zeros((nby * BLOCK, nbx * BLOCK), np.uint32)
    pad[:ny, :nx] = packed
    blocks = pad.reshape(nby, BLOCK, nbx, BLOCK).swapaxes(1, 2).reshape(nby * nbx, BLOCK * BLOCK)
    uniform = (blocks == blocks[:, :1]).all(axis=1)
    coarse = blocks[:, 0].copy()
    mixed = np.flatnonzero(~uniform)
    coarse[mixed] = FINE_FLAG | np.arange(len(mixed), dtype=np.uint32)
    return coarse, np.ascontiguousarray(blocks[mixed]).ravel(), nbx


def _intern(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cell bitmasks → (id per cell, table of distinct masks); id 0 is the empty set."""
    flat = grid.reshape(-1, grid.shape[-1])
    nonzero = np.flatnonzero(flat.any(axis=1))
    uniq, inverse = unique_rows(flat[nonzero])
    table = np.vstack([np.zeros((1, flat.shape[1]), flat.dtype), uniq])
    dtype = np.uint16 if len(table) < 65536 else np.uint32
    ids = np.zeros(len(flat), dtype)
    ids[nonzero] = inverse + 1
    return ids.reshape(grid.shape[:2]), table


def unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a (n, words) uint64 array and the index of each row's distinct value (hash-based)."""
    codes = np.zeros(len(rows), np.int64)
    for w in range(rows.shape[1]):
        word_codes, _ = pd.factorize(rows[:, w])
        codes, _ = pd.factorize(codes * (int(word_codes.max()) + 1 if len(word_codes) else 1) + word_codes)
    first = np.zeros(int(codes.max()) + 1 if len(codes) else 0, np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    return rows[first], codes


def _bits(mask: np.ndarray) -> list[int]:
    out = []
    for w, word in enumerate(mask):
        v = int(word)
        while v:
            low = v & -v
            out.append(w * 64 + low.bit_length() - 1)
            v ^= low
    return out
