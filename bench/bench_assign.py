"""Time point-in-zone assignment: our grid engine against GeoPandas sjoin, shapely STRtree, DuckDB and PostGIS."""

from __future__ import annotations

import argparse
import atexit
import json
import os
import pickle
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

SJOIN = "sjoin"
ENGINES: dict[str, str] = {
    "ours-zones": "ours: ZoneIndex zones only",
    "ours-full": "ours: build_index (zones+counties)",
    "ours-nearest": "ours: full + nearest",
    SJOIN: "GeoPandas sjoin",
    "strtree": "shapely STRtree",
    "duckdb": "DuckDB spatial",
    "postgis": "PostGIS",
}
SETUP_NOTES: dict[str, str] = {
    "ours-zones": "ZoneIndex(zones, counties=None) build",
    "ours-full": "build_index() build (zones + counties)",
    "ours-nearest": "build_index() build (zones + counties)",
    SJOIN: "points GeoDataFrame creation",
    "strtree": "shapely.points array creation",
    "duckdb": "LOAD spatial + tables from numpy / WKB",
    "postgis": "COPY points + zones, geometry column, GiST indexes, ANALYZE",
}
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_ENV = "CORRIDOR_BENCH_PG"
PG_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "shared_buffers": "2GB",
    "work_mem": "256MB",
    "maintenance_work_mem": "1GB",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}
PG_HELP = f"""\
PostGIS is timed only with --pg DSN, ${PG_ENV}=DSN, or --start-postgres. A throwaway cluster on loopback:

  apt-get update && apt-get install -y postgresql-15 postgresql-15-postgis-3
  pip install "psycopg[binary]"
  D=$(mktemp -d /tmp/corridor-pg-XXXXXX) && chown postgres: "$D"
  runuser -u postgres -- {PG_BIN}/initdb -D "$D" -U postgres --auth=trust -E UTF8 --no-sync
  runuser -u postgres -- {PG_BIN}/pg_ctl -D "$D" -l "$D/log" -w start \\
      -o "-p 55432 -k $D {" ".join(f"-c {k}={v}" for k, v in PG_SETTINGS.items())}"
  python bench/bench_assign.py --pg postgresql://postgres@127.0.0.1:55432/postgres
  runuser -u postgres -- {PG_BIN}/pg_ctl -D "$D" -m fast stop && rm -rf "$D"

(--start-postgres does the initdb/start/stop itself on a free port; run as root it uses runuser.)
The script runs CREATE EXTENSION IF NOT EXISTS postgis and works in its own schema, dropped afterwards.

Each engine runs in a fresh subprocess (this script with --only ENGINE --size N), so "peak RSS" is that
process's ru_maxrss: imports, zones, points, setup and the timed call. For PostGIS it is the server
backend's VmHWM (shared buffers it touched included; parallel workers not counted). "seconds" is the best of
--repeat runs of the timed call, "1st run s" the first of them; "setup" is timed once and is not in "seconds".
"""


# ---------------------------------------------------------------- shared helpers


def make_points(
    bounds: tuple[float, float, float, float], n: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """n uniformly random lon/lat points over the bounds, the same for every engine."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(bounds[0], bounds[2], n)
    lat = rng.uniform(bounds[1], bounds[3], n)
    return lon, lat


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def encode_pairs(point: np.ndarray, zone: np.ndarray, n_zones: int) -> np.ndarray:
    """(point index, zone code) pairs as sorted distinct int64 codes."""
    return np.unique(np.asarray(point, np.int64) * n_zones + np.asarray(zone, np.int64))


def zone_codes(ids: np.ndarray, zone_ids: list[str]) -> np.ndarray:
    pos = {z: i for i, z in enumerate(zone_ids)}
    return np.array([pos[str(z)] for z in ids], np.int64)


def write_zone_files(directory: Path) -> tuple[Path, Path, int]:
    """The catalog build's zones: the full table (our engine) and (ids, WKB, bounds) of rows with geometry."""
    import shapely

    from app.build import run_build

    zones = run_build().zones
    full = directory / "zones_full.pkl"
    with full.open("wb") as f:
        pickle.dump(zones, f)
    geo = zones[zones.geometry.notna()]
    peers = directory / "zones_wkb.pkl"
    with peers.open("wb") as f:
        pickle.dump(
            {
                "ids": [str(i) for i in geo["id"]],
                "wkb": list(shapely.to_wkb(geo.geometry.to_numpy())),
                "bounds": tuple(float(b) for b in geo.total_bounds),
            },
            f,
        )
    return full, peers, len(geo)


def timed_runs(repeat: int, fn: Callable[[], Any]) -> tuple[dict[str, float], Any]:
    """Run fn `repeat` times: {"seconds": best, "first": first run} and the last result."""
    times, out = [], None
    for _ in range(max(repeat, 1)):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return {"seconds": min(times), "first": times[0]}, out


# ---------------------------------------------------------------- engines (each run in its own process)


def run_ours(
    mode: str, zones_full: Path, lon: np.ndarray, lat: np.ndarray, zone_ids: list[str], repeat: int
) -> dict[str, Any]:
    from app.assign import ZoneIndex, build_index

    with zones_full.open("rb") as f:
        zones = pickle.load(f)
    t = time.perf_counter()
    idx = (
        ZoneIndex(zones, counties=None) if mode == "ours-zones" else build_index(SimpleNamespace(zones=zones))
    )
    setup = time.perf_counter() - t
    nearest = mode == "ours-nearest"
    timing, res = timed_runs(repeat, lambda: idx.assign(lon, lat, nearest=nearest))

    def pairs() -> np.ndarray:
        path = res.frame()["zone_path"]
        cats, codes = list(path.cat.categories), path.cat.codes.to_numpy()
        point, zone = [], []
        for c, label in enumerate(cats):
            if not label:
                continue
            members = np.flatnonzero(codes == c)
            for z in label.split(";"):
                point.append(members)
                zone.append(np.full(len(members), zone_ids.index(z)))
        if not point:
            return np.zeros(0, np.int64)
        return encode_pairs(np.concatenate(point), np.concatenate(zone), len(zone_ids))

    return {**timing, "setup": setup, "pairs": pairs}


def run_sjoin(
    geoms: np.ndarray, lon: np.ndarray, lat: np.ndarray, zone_ids: list[str], repeat: int
) -> dict[str, Any]:
    import geopandas as gpd

    zones = gpd.GeoDataFrame({"id": zone_ids}, geometry=geoms, crs="EPSG:4326")
    t = time.perf_counter()
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    setup = time.perf_counter() - t
    timing, joined = timed_runs(
        repeat, lambda: gpd.sjoin(points, zones[["id", "geometry"]], predicate="intersects")
    )
    return {
        **timing,
        "setup": setup,
        "pairs": lambda: encode_pairs(
            joined.index.to_numpy(), zone_codes(joined["id"].to_numpy(), zone_ids), len(zone_ids)
        ),
    }


def run_strtree(
    geoms: np.ndarray, lon: np.ndarray, lat: np.ndarray, zone_ids: list[str], repeat: int
) -> dict[str, Any]:
    import shapely
    from shapely import STRtree

    t = time.perf_counter()
    points = shapely.points(lon, lat)
    setup = time.perf_counter() - t

    def query() -> np.ndarray:
        tree = STRtree(geoms)
        return tree.query(points, predicate="intersects")

    timing, hits = timed_runs(repeat, query)
    return {
        **timing,
        "setup": setup,
        "pairs": lambda: encode_pairs(hits[0], hits[1], len(zone_ids)),
    }


def spatial_extension() -> Path:
    import duckdb_extension_spatial

    root = Path(duckdb_extension_spatial.__file__).parent
    found = sorted(root.rglob("*.duckdb_extension"))
    if not found:
        raise SystemExit(f"no .duckdb_extension file under {root}")
    return found[0]


def run_duckdb(
    wkb: list[bytes], lon: np.ndarray, lat: np.ndarray, zone_ids: list[str], repeat: int
) -> dict[str, Any]:
    import duckdb
    import pandas as pd

    t = time.perf_counter()
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{spatial_extension()}'")
    con.register("pts_in", pd.DataFrame({"i": np.arange(len(lon), dtype=np.int64), "lon": lon, "lat": lat}))
    con.execute("CREATE TABLE pts AS SELECT i, lon, lat FROM pts_in")
    con.unregister("pts_in")
    con.register("zones_in", pd.DataFrame({"id": zone_ids, "wkb": wkb}))
    con.execute("CREATE TABLE zones AS SELECT id, ST_GeomFromWKB(wkb) AS geom FROM zones_in")
    con.unregister("zones_in")
    setup = time.perf_counter() - t
    # DuckDB plans this as its SPATIAL_JOIN operator (an R-tree built on the fly over the smaller side);
    # an RTREE index on zones.geom is not used for joins, and a stored point column is no faster.
    sql = "SELECT p.i, z.id FROM pts p JOIN zones z ON ST_Intersects(z.geom, ST_Point(p.lon, p.lat))"
    plan = con.execute("EXPLAIN " + sql).fetchall()[0][1]
    timing, out = timed_runs(repeat, lambda: con.execute(sql).fetchnumpy())
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    return {
        **timing,
        "setup": setup,
        "note": f"{threads} threads, {'SPATIAL_JOIN' if 'SPATIAL_JOIN' in plan else 'no SPATIAL_JOIN'}",
        "pairs": lambda: encode_pairs(out["i"], zone_codes(out["id"], zone_ids), len(zone_ids)),
    }


def copy_binary_points(cur: Any, lon: np.ndarray, lat: np.ndarray, chunk: int = 1_000_000) -> None:
    """Stream (i, lon, lat) rows into table raw with COPY … (FORMAT binary)."""
    row = np.dtype(
        [
            ("n", ">i2"),
            ("l1", ">i4"),
            ("i", ">i8"),
            ("l2", ">i4"),
            ("lon", ">f8"),
            ("l3", ">i4"),
            ("lat", ">f8"),
        ]
    )
    with cur.copy("COPY raw (i, lon, lat) FROM STDIN (FORMAT binary)") as cp:
        cp.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0))
        for a in range(0, len(lon), chunk):
            b = min(a + chunk, len(lon))
            rows = np.empty(b - a, row)
            rows["n"], rows["l1"], rows["l2"], rows["l3"] = 3, 8, 8, 8
            rows["i"], rows["lon"], rows["lat"] = np.arange(a, b), lon[a:b], lat[a:b]
            cp.write(rows.tobytes())
        cp.write(struct.pack(">h", -1))


def run_postgis(
    dsn: str, wkb: list[bytes], lon: np.ndarray, lat: np.ndarray, zone_ids: list[str], repeat: int
) -> dict[str, Any]:
    import psycopg

    con = psycopg.connect(dsn, autocommit=True)
    cur = con.cursor()
    backend = cur.execute("SELECT pg_backend_pid()").fetchone()[0]
    t = time.perf_counter()
    cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    cur.execute("DROP SCHEMA IF EXISTS corridor_bench CASCADE")
    cur.execute("CREATE SCHEMA corridor_bench")
    cur.execute("SET search_path = corridor_bench, public")
    cur.execute("CREATE UNLOGGED TABLE raw (i bigint, lon float8, lat float8)")
    copy_binary_points(cur, lon, lat)
    cur.execute(
        "CREATE UNLOGGED TABLE pts AS SELECT i, ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geometry(Point, 4326)"
        " AS geom FROM raw"
    )
    cur.execute("DROP TABLE raw")
    cur.execute("CREATE UNLOGGED TABLE zones (id text PRIMARY KEY, geom geometry(Geometry, 4326))")
    cur.executemany(
        "INSERT INTO zones (id, geom) VALUES (%s, ST_SetSRID(ST_GeomFromWKB(%s), 4326))",
        list(zip(zone_ids, wkb, strict=True)),
    )
    cur.execute("CREATE INDEX pts_geom ON pts USING gist (geom)")
    cur.execute("CREATE INDEX zones_geom ON zones USING gist (geom)")
    cur.execute("ANALYZE pts")
    cur.execute("ANALYZE zones")
    setup = time.perf_counter() - t
    join = "SELECT p.i, z.id FROM pts p JOIN zones z ON ST_Intersects(z.geom, p.geom)"
    plan = "\n".join(r[0] for r in cur.execute("EXPLAIN " + join).fetchall())

    def query() -> None:
        cur.execute("DROP TABLE IF EXISTS pairs")
        cur.execute("CREATE TEMP TABLE pairs AS " + join)

    timing, _ = timed_runs(repeat, query)
    workers = "parallel" if "Gather" in plan else "serial"
    scan = "GiST on pts" if "pts_geom" in plan else ("GiST on zones" if "zones_geom" in plan else "no GiST")

    def pairs() -> np.ndarray:
        rows = cur.execute("SELECT i, id FROM pairs").fetchall()
        cur.execute("DROP SCHEMA corridor_bench CASCADE")
        if not rows:
            return np.zeros(0, np.int64)
        i, z = zip(*rows, strict=True)
        return encode_pairs(np.array(i), zone_codes(np.array(z), zone_ids), len(zone_ids))

    def server_rss() -> float | None:
        try:
            for line in Path(f"/proc/{backend}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    return {
        **timing,
        "setup": setup,
        "note": f"{workers} plan, {scan}; result into a temp table",
        "pairs": pairs,
        "rss_override": server_rss,
        "cleanup": lambda: (cur.execute("DROP SCHEMA IF EXISTS corridor_bench CASCADE"), con.close()),
    }


def run_child(args: argparse.Namespace) -> dict[str, Any]:
    """One engine at one size in this process; returns timings, peak RSS and optionally writes the pairs."""
    tmp = None
    if args.zones_full is None or args.zones_wkb is None:
        tmp = Path(tempfile.mkdtemp(prefix="bench-assign-", dir="/tmp"))
        args.zones_full, args.zones_wkb, _ = write_zone_files(tmp)
    with Path(args.zones_wkb).open("rb") as f:
        peers = pickle.load(f)
    zone_ids: list[str] = peers["ids"]
    lon, lat = make_points(peers["bounds"], args.size, args.seed)
    repeat = args.repeat or (3 if args.size <= 1_000_000 else 2)
    name = args.only
    if name.startswith("ours-"):
        res = run_ours(name, Path(args.zones_full), lon, lat, zone_ids, repeat)
    elif name in (SJOIN, "strtree"):
        import shapely

        geoms = shapely.from_wkb(peers["wkb"])
        res = (run_sjoin if name == SJOIN else run_strtree)(geoms, lon, lat, zone_ids, repeat)
    elif name == "duckdb":
        res = run_duckdb(peers["wkb"], lon, lat, zone_ids, repeat)
    elif name == "postgis":
        res = run_postgis(args.pg_dsn, peers["wkb"], lon, lat, zone_ids, repeat)
    else:
        raise SystemExit(f"unknown engine {name!r}; one of {', '.join(ENGINES)}")
    rss = peak_rss_mb()
    rss_note = ""
    if "rss_override" in res:
        server = res["rss_override"]()
        rss_note = f"server backend; client {rss:.0f} MB" if server is not None else "client only"
        rss = server if server is not None else rss
    pairs = res["pairs"]()
    if args.pairs:
        np.save(args.pairs, pairs)
    if "cleanup" in res:
        res["cleanup"]()
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "engine": name,
        "size": args.size,
        "seconds": res["seconds"],
        "first": res["first"],
        "setup": res["setup"],
        "rss_mb": rss,
        "rss_note": rss_note,
        "note": res.get("note", ""),
        "repeat": repeat,
        "pairs": len(pairs),
    }


# ---------------------------------------------------------------- PostgreSQL cluster for --start-postgres


def start_postgres(bin_dir: Path) -> str:
    """A throwaway cluster (app.storage.cluster) tuned for the benchmark; stopped and removed at exit."""
    from app.storage import cluster

    if cluster.unavailable():
        raise SystemExit(f"--start-postgres: {cluster.unavailable()}")
    c = cluster.start({k: v for k, v in PG_SETTINGS.items() if k != "listen_addresses"})
    atexit.register(c.stop)
    print(f"PostgreSQL started: data {c.data}, port {c.port} (stopped and removed at exit)")
    return c.url


# ---------------------------------------------------------------- driver


def parse_skip(items: list[str]) -> set[tuple[str, int | None]]:
    """--skip ENGINE (every size) or ENGINE@SIZE."""
    out: set[tuple[str, int | None]] = set()
    for item in items:
        name, _, size = item.partition("@")
        if name not in ENGINES:
            raise SystemExit(f"--skip {item}: unknown engine; one of {', '.join(ENGINES)}")
        out.add((name, int(size) if size else None))
    return out


def spawn(
    args: argparse.Namespace, name: str, size: int, zones_full: Path, zones_wkb: Path, pairs: Path | None
) -> dict[str, Any]:
    """Run one engine in a fresh interpreter (this script with --only) and read back its JSON result."""
    result = zones_wkb.parent / f"result-{name}-{size}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--only", name, "--size", str(size),
           "--seed", str(args.seed), "--zones-full", str(zones_full), "--zones-wkb", str(zones_wkb),
           "--result", str(result)]  # fmt: skip
    if args.repeat:
        cmd += ["--repeat", str(args.repeat)]
    if pairs is not None:
        cmd += ["--pairs", str(pairs)]
    if name == "postgis":
        cmd += ["--pg", args.pg_dsn]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                        os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    print(f"  {size:>12,} {name:<14}", end="", flush=True)
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, timeout=args.timeout, capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        print(f" timeout after {args.timeout:.0f} s")
        return {"engine": name, "size": size, "status": f"timeout (>{args.timeout:.0f} s)"}
    if proc.returncode != 0 or not result.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
        print(f" failed: {tail[0]}")
        return {"engine": name, "size": size, "status": f"failed: {tail[0][:60]}"}
    out = json.loads(result.read_text())
    print(
        f" {out['seconds']:8.3f} s  (1st {out['first']:.3f} s, setup {out['setup']:.2f} s, wall {time.perf_counter() - t:.0f} s)"
    )
    return out


def fmt_rate(n: int, s: float) -> str:
    r = n / s
    return f"{r / 1e6:.2f} M" if r >= 1e6 else f"{r / 1e3:.0f} k"


def table_rows(size: int, results: list[dict[str, Any]]) -> list[list[str]]:
    base = next((r["seconds"] for r in results if r["engine"] == SJOIN and "seconds" in r), None)
    rows = []
    for r in results:
        label = ENGINES[r["engine"]]
        if "seconds" not in r:
            rows.append([label, r["status"], "", "", "", "", ""])
            continue
        ratio = f"{r['seconds'] / base:.3f}" if base else "n/a"
        rss = f"{r['rss_mb']:,.0f}" + (" (server)" if r.get("rss_note") else "")
        rows.append(
            [
                label,
                f"{r['seconds']:.3f}",
                f"{r['first']:.3f}",
                fmt_rate(size, r["seconds"]),
                ratio,
                rss,
                f"{r['setup']:.2f}",
            ]
        )
    return rows


HEADER = ["engine", "seconds", "1st run s", "points/s", "÷ sjoin", "peak RSS MB", "setup s"]


def text_table(size: int, rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADER)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    head = line(HEADER)
    return [f"{size:,} points".center(len(head)), head, "-" * len(head), *(line(r) for r in rows)]


def markdown_table(size: int, rows: list[list[str]]) -> list[str]:
    out = [f"**{size:,} points**", "", "| " + " | ".join(HEADER) + " |", "|" + "---|" + "---:|" * 6]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return [*out, ""]


def side_by_side(blocks: list[list[str]], gap: int = 4) -> list[str]:
    widths = [max(len(x) for x in b) for b in blocks]
    height = max(len(b) for b in blocks)
    return [
        (" " * gap)
        .join((b[i] if i < len(b) else "").ljust(w) for b, w in zip(blocks, widths, strict=True))
        .rstrip()
        for i in range(height)
    ]


def check_pairs(files: dict[str, Path], zones_wkb: Path, size: int, seed: int, reference: str) -> bool:
    with zones_wkb.open("rb") as f:
        peers = pickle.load(f)
    ids, nz = peers["ids"], len(peers["ids"])
    lon, lat = make_points(peers["bounds"], size, seed)
    ref = np.load(files[reference])
    ok = True
    print(
        f"\ncorrectness at {size:,} points: (point, zone) pairs vs {ENGINES[reference]} ({len(ref):,} pairs)"
    )
    for name, path in files.items():
        if name == reference:
            continue
        got = np.load(path)
        missing, extra = np.setdiff1d(ref, got), np.setdiff1d(got, ref)
        if not len(missing) and not len(extra):
            print(f"  {ENGINES[name]:<38} agree ({len(got):,} pairs)")
            continue
        ok = False
        print(f"  {ENGINES[name]:<38} DIFFER: {len(missing)} missing, {len(extra)} extra")
        for kind, codes in (("missing", missing), ("extra", extra)):
            for c in codes[:5]:
                p, z = divmod(int(c), nz)
                print(f"    {kind}: point {p} ({lon[p]:.9f}, {lat[p]:.9f}) zone {ids[z]}")
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, epilog=PG_HELP, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument(
        "--repeat",
        type=int,
        default=0,
        help="timed runs per engine, best kept (default 3 up to 1M points, else 2)",
    )
    ap.add_argument("--engines", nargs="+", default=list(ENGINES), choices=list(ENGINES))
    ap.add_argument("--skip", nargs="*", default=[], metavar="ENGINE[@SIZE]", help="leave an engine out")
    ap.add_argument(
        "--nearest-sizes", type=int, nargs="*", default=[1_000_000], help="sizes for ours-nearest"
    )
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per engine run before it is killed")
    ap.add_argument(
        "--no-check", action="store_true", help="skip the pair-set comparison at the smallest size"
    )
    ap.add_argument("--pg", dest="pg_dsn", default=os.environ.get(PG_ENV), help=f"PostGIS DSN (or ${PG_ENV})")
    ap.add_argument(
        "--start-postgres", action="store_true", help="initdb + start a throwaway cluster for the run"
    )
    ap.add_argument("--pg-bin", type=Path, default=PG_BIN)
    ap.add_argument("--only", metavar="ENGINE", help="run one engine in this process (with --size) and exit")
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--zones-full", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--zones-wkb", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--pairs", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.only:
        out = run_child(args)
        if args.result:
            args.result.write_text(json.dumps(out))
        print(json.dumps(out))
        return

    if args.start_postgres and not args.pg_dsn:
        args.pg_dsn = start_postgres(args.pg_bin)
    skip = parse_skip(args.skip)
    sizes = sorted(set(args.sizes))
    work = Path(tempfile.mkdtemp(prefix="bench-assign-", dir="/tmp"))
    atexit.register(shutil.rmtree, work, True)
    t = time.perf_counter()
    zones_full, zones_wkb, n_zones = write_zone_files(work)
    print(f"zones: {n_zones} with geometry (catalog build {time.perf_counter() - t:.1f} s); sizes {sizes}; "
          f"seed {args.seed}; {os.cpu_count()} CPUs")  # fmt: skip
    if "postgis" in args.engines and not args.pg_dsn:
        print("PostGIS: skipped (no DSN)")

    check_size = None if args.no_check else sizes[0]
    pair_files: dict[str, Path] = {}
    results: dict[int, list[dict[str, Any]]] = {}
    for size in sizes:
        results[size] = []
        for name in args.engines:
            if name == "ours-nearest" and size not in args.nearest_sizes:
                continue
            if name == "postgis" and not args.pg_dsn:
                results[size].append({"engine": name, "size": size, "status": "skipped (no DSN)"})
                continue
            if (name, None) in skip or (name, size) in skip:
                results[size].append({"engine": name, "size": size, "status": "skipped (--skip)"})
                continue
            pairs = work / f"pairs-{name}.npy" if size == check_size else None
            res = spawn(args, name, size, zones_full, zones_wkb, pairs)
            results[size].append(res)
            if pairs is not None and pairs.exists():
                pair_files[name] = pairs

    agreed = None
    if check_size is not None and pair_files:
        reference = next(
            (e for e in ("ours-full", "ours-zones", SJOIN) if e in pair_files), next(iter(pair_files))
        )
        agreed = check_pairs(pair_files, zones_wkb, check_size, args.seed, reference)
        print("all engines agree" if agreed else "engines DIFFER (see above)")

    rows = {size: table_rows(size, results[size]) for size in sizes}
    print()
    print("\n".join(side_by_side([text_table(size, rows[size]) for size in sizes])))
    notes = [
        "seconds: best of the timed runs (3 up to 1M points, else 2, unless --repeat); 1st run s: the first "
        "of them (fresh process memory); ÷ sjoin: seconds / GeoPandas sjoin seconds (lower is faster).",
        "setup (not in seconds): " + "; ".join(f"{ENGINES[e]}: {SETUP_NOTES[e]}" for e in args.engines) + ".",
        "peak RSS: ru_maxrss of a fresh process per engine and size (imports, zones, points, setup, timed run).",
    ]
    for size in sizes:
        for r in results[size]:
            if r.get("note"):
                notes.append(f"{ENGINES[r['engine']]} at {size:,}: {r['note']}.")
            if r.get("rss_note"):
                notes.append(f"{ENGINES[r['engine']]} at {size:,}: peak RSS is the {r['rss_note']}.")
    if agreed is not None:
        notes.append(f"Pair sets at {check_size:,} points: {'all engines agree' if agreed else 'DIFFER'}.")
    print("\n" + "\n".join(notes))
    print("\nMarkdown:\n")
    for size in sizes:
        print("\n".join(markdown_table(size, rows[size])))
    print("\n".join(f"- {n}" for n in notes))


if __name__ == "__main__":
    main()
