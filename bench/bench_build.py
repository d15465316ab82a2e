"""Time a full catalog build, stage by stage (catalog, gazetteer, polygons, table, outputs), over several runs."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from app.build import build_catalog, to_frame, write_outputs
from app.catalog import load_catalog
from app.counties import counties
from app.gazetteer import Gazetteer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    stages: dict[str, list[float]] = {}

    def timed(name: str, fn):
        t = time.perf_counter()
        out = fn()
        stages.setdefault(name, []).append(time.perf_counter() - t)
        return out

    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            if run == 0:
                timed("county boundaries (first load, cached after)", counties)
            cat = timed("load + validate catalog", load_catalog)
            gaz = timed("load gazetteer", Gazetteer.load)
            built = timed("build polygons", lambda: build_catalog(cat, gaz))  # noqa: B023
            zones = timed("areas + table", lambda: to_frame(cat, built))  # noqa: B023
            timed("write gpkg + geojson", lambda: write_outputs(zones, Path(tmp)))  # noqa: B023
    print(f"full catalog build: {len(zones)} zones, {len(gaz)} gazetteer features, {args.runs} runs")
    print(f"{'stage':<46}{'median s':>10}{'min s':>10}")
    total = 0.0
    for name, ts in stages.items():
        med = statistics.median(ts)
        total += med if "first load" not in name else 0
        print(f"{name:<46}{med:>10.3f}{min(ts):>10.3f}")
    print(f"{'total (warm)':<46}{total:>10.3f}")


if __name__ == "__main__":
    main()
