"""Storage timings on both backends: import (full build + commit), snapshot load, one zone edit, full rebuild.

    python3 bench/bench_storage.py [--pg postgresql://…] [--repeat 3]

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pg", default=None, help="PostGIS URL (default: start a throwaway cluster)")
    ap.add_argument("--repeat", type=int, default=3)
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
    finally:
        if cluster is not None:
            cluster.stop()
    names = list(results)
    print(f"| step (median of {args.repeat}) | " + " | ".join(names) + " | PostGIS / embedded |")
    print("|---|" + "---:|" * (len(names) + 1))
    for step in results[names[0]]:
        a, b = results[names[0]][step], results[names[1]][step]
        print(f"| {step} | {a * 1000:,.2f} ms | {b * 1000:,.2f} ms | {b / a:.2f} |")


if __name__ == "__main__":
    main()
