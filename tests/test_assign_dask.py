"""assign_dask gives assign_file's output: same rows, same order, same values, same counts."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

try:  # the dataframe part of dask needs pandas and pyarrow, not only dask itself
    import dask.dataframe  # noqa: F401
    import distributed  # noqa: F401

    MISSING = ""
except ImportError as e:
    MISSING = str(e)

pytestmark = pytest.mark.skipif(
    bool(MISSING),
    reason=f"assign_dask needs dask[dataframe] and distributed ({MISSING}); "
    "pip install 'dask[dataframe]' distributed dask-geopandas",
)

N = 20_000
# rows assign_file cannot assign, and the reason it gives
BAD = {
    5: ("abc", "30.0", "missing or non-numeric coordinate"),
    7: ("120.0", "", "missing or non-numeric coordinate"),
    9: ("500", "30.0", "coordinate out of range"),
    11: ("120.0", "-95", "coordinate out of range"),
    13: ("", "", "missing or non-numeric coordinate"),
}


@pytest.fixture(scope="module")
def built():
    from app.build import run_build

    return run_build()


@pytest.fixture(scope="module")
def index(built):
    from app.assign import build_index

    return build_index(built)


@pytest.fixture(scope="module")
def points(built, tmp_path_factory):
    """20,000 random points over the zones' bounds (CSV and GeoParquet), a few of them unassignable."""
    import geopandas as gpd

    x0, y0, x1, y1 = built.zones.total_bounds
    rng = np.random.default_rng(20240601)
    lon = rng.uniform(x0, x1, N).round(6).astype(str).astype(object)
    lat = rng.uniform(y0, y1, N).round(6).astype(str).astype(object)
    for i, (x, y, _) in BAD.items():
        lon[i], lat[i] = x, y
    names = [f"point {i}" if i % 97 else f"point, {i}" for i in range(N)]  # some need quoting in CSV
    frame = pd.DataFrame({"id": np.arange(N).astype(str), "name": names, "lon": lon, "lat": lat})
    d = tmp_path_factory.mktemp("assign_dask")
    frame.to_csv(d / "points.csv", index=False)
    x, y = pd.to_numeric(frame["lon"], errors="coerce"), pd.to_numeric(frame["lat"], errors="coerce")
    geo = gpd.GeoDataFrame(
        {"id": np.arange(N), "name": names}, geometry=gpd.points_from_xy(x, y), crs="EPSG:4326"
    )
    # no geometry at all; and (NaN NaN), stored as POINT EMPTY, which assign_file (points_io) cannot read
    # back (GEOSException from shapely.get_x): it is left out here and tested on assign_dask alone
    geo.loc[[3, 13], "geometry"] = None
    geo.to_parquet(d / "points.parquet")
    return d


@pytest.fixture(scope="module")
def scheduler():
    """One small cluster for the format tests, addressed like a remote one (its worker keeps its index).

    Its worker starts building the index at once, in the background, while this process builds its own.
    """
    from distributed import Client, LocalCluster

    from app.assign_dask import _zone_index

    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                           scheduler_kwargs={"dashboard_address": ":0"},
                           silence_logs=logging.ERROR)  # fmt: skip
    client = Client(cluster, set_as_default=False)
    warm = client.submit(_zone_index, pure=False)
    yield cluster.scheduler_address
    del warm
    client.close()
    cluster.close()


def test_csv_on_a_local_cluster_matches_assign_file(scheduler, index, points):  # scheduler: warms up early
    from app.assign import OUTPUT_COLUMNS, assign_file
    from app.assign_dask import assign_dask

    src = points / "points.csv"
    ref = assign_file(index, src, points / "ref.csv")
    # scheduler=None: a LocalCluster of two processes, started and closed by the call
    got = assign_dask(src, points / "dask.csv", npartitions=4)
    assert got == ref
    assert ref.rows == N and ref.invalid == len(BAD) and ref.in_zone > 0 and ref.outside > 0
    a = pd.read_csv(points / "ref.csv", dtype=str, keep_default_na=False)
    b = pd.read_csv(points / "dask.csv", dtype=str, keep_default_na=False)
    assert list(b.columns) == ["id", "name", "lon", "lat", *OUTPUT_COLUMNS, "assign_error"]
    assert b["id"].tolist() == [str(i) for i in range(N)]  # input order kept across partitions, no sorting
    pd.testing.assert_frame_equal(a, b)
    assert (points / "ref.csv").read_bytes() == (points / "dask.csv").read_bytes()
    for i, (_, _, reason) in BAD.items():
        assert b.at[i, "assign_error"] == reason
        assert b.loc[i, OUTPUT_COLUMNS].tolist() == [""] * len(OUTPUT_COLUMNS)


@pytest.mark.parametrize("out", ["parquet", "parquet/", "gpkg"])
def test_geoparquet_matches_assign_file(index, points, scheduler, out):
    import geopandas as gpd
    import pyarrow.parquet as pq

    from app.assign import assign_file
    from app.assign_dask import assign_dask

    src = points / "points.parquet"
    ext = out.rstrip("/")
    ref = assign_file(index, src, points / f"ref-geo.{ext}")
    dst = points / f"dask-geo-{len(out)}.{ext}"
    # "…parquet/": a directory of part files
    got = assign_dask(src, f"{dst}/" if out.endswith("/") else dst, scheduler=scheduler, npartitions=3)
    assert got == ref
    assert ref.rows == N and ref.invalid == len(BAD) + 1 and ref.in_zone > 0
    if ext == "parquet":
        a, b = pq.read_table(points / f"ref-geo.{ext}"), pq.read_table(dst)
        if out.endswith("/"):
            assert sorted(p.name for p in dst.iterdir()) == [f"part.{i:05d}.parquet" for i in range(3)]
        assert b.column_names == a.column_names
        pd.testing.assert_frame_equal(a.to_pandas(), b.to_pandas())
        assert b.column("id").to_pylist() == list(range(N))
        errors = b.column("assign_error").to_pylist()
    else:
        a, b = gpd.read_file(points / f"ref-geo.{ext}"), gpd.read_file(dst)
        pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b))
        errors = b["assign_error"].tolist()
    assert [i for i, e in enumerate(errors) if e] == sorted([3, *BAD])
    assert errors[3] == "missing or non-numeric coordinate"
    assert all(errors[i] == reason for i, (_, _, reason) in BAD.items())


def test_empty_points_in_geoparquet_are_flagged(points, scheduler):
    import geopandas as gpd
    import shapely

    from app.assign_dask import assign_dask

    geoms = [
        shapely.Point(120.2, 30.2),
        shapely.Point(np.nan, np.nan),
        shapely.Point(),
        None,
        shapely.Point(190, 0),
    ]
    gpd.GeoDataFrame({"id": range(5)}, geometry=geoms, crs="EPSG:4326").to_parquet(points / "empty.parquet")
    got = assign_dask(points / "empty.parquet", points / "empty.csv", scheduler=scheduler)
    out = pd.read_csv(points / "empty.csv", dtype=str, keep_default_na=False)
    missing = "missing or non-numeric coordinate"
    assert out["assign_error"].tolist() == ["", missing, missing, missing, "coordinate out of range"]
    assert (got.rows, got.invalid) == (5, 4)


def test_bad_arguments_fail_before_any_cluster(points):
    from app.assign_dask import assign_dask
    from app.errors import InputError

    with pytest.raises(InputError, match="no column 'nope'"):
        assign_dask(points / "points.csv", points / "x.csv", lon="nope")
    with pytest.raises(InputError, match="unknown CRS"):
        assign_dask(points / "points.csv", points / "x.csv", crs="nowhere")
    with pytest.raises(InputError, match="unknown point file type"):
        assign_dask(points / "points.csv", points / "x.xlsx")
