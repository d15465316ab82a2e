"""Storage timings on both backends: import (full build + commit), snapshot load, one zone edit, full rebuild;
and assignment of a point table in PostGIS: in SQL (`corridor assign --table`) against reading the points out
and running the in-memory engine.

    python3 bench/bench_storage.py [--pg postgresql://…] [--repeat 3] [--points 1000000]

Without --pg a throwaway PostgreSQL + PostGIS cluster is started on loopback (Debian packages), and removed after.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import edits
from app.storage import open_storage


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run(url: str, repeat: int) -> dict[str, float]:
    db = open_storage(url)
    db.init()
    edits.import_files(db, actor="bench", force=True)  # warm caches (gazetteer, counties)
    out = {"import (build 92 zones + commit)": timed(lambda: edits.import_files(db, actor="bench", force=True), repeat)}
    out["load snapshot"] = timed(db.load, repeat)
    out["version check"] = timed(db.version, max(repeat, 20))
    areas = iter(f"规划面积{20 + i}平方公里" for i in range(1000))
    out["edit one zone (rebuild 3 zones + commit)"] = timed(
        lambda: edits.edit(db, edits.Edit("zone", "qz-zhizao", {"area": next(areas)}), actor="bench"), repeat
    )
    out["rebuild all from stored sources"] = timed(lambda: edits.rebuild(db, actor="bench"), repeat)
    db.close()
    return out


def bench_table_assign(url: str, n: int) -> list[tuple[str, float]]:
    """N random points over the three built corridors, as a PostGIS table; both ways of assigning them."""
    import psycopg
    import shapely

    from app.sql_assign import assign_table

    db = open_storage(f"{url}?schema=bench_storage")
    store = db.load().store()
    x0, y0, x1, y1 = store.zones.total_bounds
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_points")
        conn.execute(
            "CREATE TABLE bench_points AS SELECT i AS pid, ST_SetSRID(ST_MakePoint("
            f"{x0} + random() * {x1 - x0}, {y0} + random() * {y1 - y0}), 4326)::geometry(Point, 4326) AS geom "
            f"FROM generate_series(1, {n}) i"
        )
        conn.execute("ANALYZE bench_points")
    t0 = time.perf_counter()
    stats = assign_table(db, "bench_points", id_column="pid")
    sql_s = time.perf_counter() - t0
    index = store.zone_index()
    t0 = time.perf_counter()
    with psycopg.connect(url) as conn:
        wkb = [r[0] for r in conn.execute("SELECT ST_AsBinary(geom) FROM bench_points ORDER BY pid")]
    pts = shapely.from_wkb(wkb)
    fetch_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ans = index.assign(shapely.get_x(pts), shapely.get_y(pts), nearest=False)
    engine_s = time.perf_counter() - t0
    assert stats.in_zone == int((ans.answer > 0).sum()), (stats.in_zone, int((ans.answer > 0).sum()))
    db.close()
    return [
        (f"assign {n:,} points in SQL (corridor assign --table)", sql_s),
        (f"read {n:,} points out of PostGIS", fetch_s),
        ("assign them with the in-memory engine", engine_s),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pg", default=None, help="PostGIS URL (default: start a throwaway cluster)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--points", type=int, default=1_000_000, help="points in the table-assignment run (0: skip)")
    args = ap.parse_args()
    cluster = None
    if args.pg is None:
        from app.storage import cluster as pg

        if pg.unavailable():
            sys.exit(f"no PostGIS: {pg.unavailable()}; give --pg URL")
        cluster = pg.start()
        args.pg = cluster.url
    try:
        with tempfile.TemporaryDirectory() as tmp:
            results = {
                "embedded (GeoPackage)": run(str(Path(tmp) / "bench.gpkg"), args.repeat),
                "PostGIS": run(f"{args.pg}?schema=bench_storage", args.repeat),
            }
        table = bench_table_assign(args.pg, args.points) if args.points else []
    finally:
        if cluster is not None:
            cluster.stop()
    names = list(results)
    print(f"| step (median of {args.repeat}) | " + " | ".join(names) + " | PostGIS / embedded |")
    print("|---|" + "---:|" * (len(names) + 1))
    for step in results[names[0]]:
        a, b = results[names[0]][step], results[names[1]][step]
        print(f"| {step} | {a * 1000:,.2f} ms | {b * 1000:,.2f} ms | {b / a:.2f} |")
    if table:
        print("\n| PostGIS point table | seconds |\n|---|---:|")
        for step, sec in table:
            print(f"| {step} | {sec:.2f} |")
        sql_s, fetch_s, engine_s = (sec for _, sec in table)
        print(f"\nSQL / (read out + engine): {sql_s / (fetch_s + engine_s):.2f}")


if __name__ == "__main__":
    main()
