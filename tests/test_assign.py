"""Assignment: equals GeoPandas sjoin(intersects) point for point; datums; files; bad input; platforms; site."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner
from shapely.geometry import box

from app.assign import ZoneIndex, assign_file, build_index, to_lonlat_wgs84
from app.cli import main
from app.crs import GK120, to_metres
from app.datum import wgs84_to_bd09, wgs84_to_gcj02
from app.errors import InputError


@pytest.fixture(scope="module")
def index():
    return build_index()


def sample(index, n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    x0, y0, x1, y1 = index.zones.total_bounds
    rng = np.random.default_rng(seed)
    lon, lat = rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)
    # add points exactly on zone outlines (vertices), where a shared edge makes two zones hold the point
    verts = np.concatenate([shapely.get_coordinates(g.boundary)[::50] for g in index.zones.geometry])
    return np.r_[lon, verts[:, 0]], np.r_[lat, verts[:, 1]]


def pairs_from_paths(paths) -> set[tuple[int, str]]:
    return {(i, z) for i, p in enumerate(paths) if p for z in str(p).split(";")}


def test_equals_sjoin_point_for_point(index):
    lon, lat = sample(index, 200_000)
    got = pairs_from_paths(index.assign(lon, lat, nearest=False).frame()["zone_path"].astype(str))
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326)
    zones = index.zones.reset_index()[["id", "geometry"]]
    j = gpd.sjoin(pts, zones, predicate="intersects")
    assert got == set(zip(j.index, j["id"], strict=True))
    assert len(got) > 1000


def test_levels_and_corridor(index):
    lon, lat = sample(index, 50_000)
    f = index.assign(lon, lat).frame()
    inside = f[f["zone_id"].astype(str) != ""]
    for zid, path, corridor in (
        inside[["zone_id", "zone_path", "corridor"]].astype(str).itertuples(index=False)
    ):
        parts = path.split(";")
        assert zid in parts and corridor == parts[0]  # outermost first: the corridor root
    assert (f.loc[f["zone_id"].astype(str) != "", "distance_m"] == 0).all()


def test_shared_edges_get_a_deterministic_answer():
    zones = gpd.GeoDataFrame(
        {"id": ["c", "a", "b"], "parent_id": ["", "c", "c"], "corridor": "c",
         "method": ["union of children", "boundary", "boundary"]},
        geometry=[box(120, 30, 120.2, 30.1), box(120, 30, 120.1, 30.1), box(120.1, 30, 120.2, 30.1)], crs=4326,
    )  # fmt: skip
    idx = ZoneIndex(zones)
    lon, lat = np.array([120.1, 120.1, 120.05]), np.array([30.05, 30.0, 30.05])
    for _ in range(3):
        f = idx.assign(lon, lat).frame().astype(str)
        assert list(f["zone_path"]) == ["c;a;b", "c;a;b", "c;a"]
        assert list(f["zone_id"]) == ["a", "a", "a"]  # equal depth and area: the lower id


def test_nearest_zone_and_distance(index):
    lon, lat = sample(index, 3000, seed=3)
    f = index.assign(lon[:3000], lat[:3000]).frame()
    out = f[f["zone_id"].astype(str) == ""].head(200)
    for i, r in out.iterrows():
        p = to_metres(shapely.Point(lon[i], lat[i]))
        exact = {z: to_metres(index.zones.geometry[z]).distance(p) for z in index.atoms}
        best = min(exact, key=exact.get)
        assert r["distance_m"] == pytest.approx(exact[best], abs=0.2)
        assert exact[str(r["nearest_zone_id"])] == pytest.approx(exact[best], abs=0.2)


@pytest.mark.parametrize("datum", ["gcj02", "bd09", "EPSG:4549", "EPSG:3857", "cgcs2000"])
def test_input_datums(index, datum):
    lon, lat = sample(index, 2000, seed=5)
    lon, lat = lon[:2000], lat[:2000]
    if datum == "gcj02":
        x, y = wgs84_to_gcj02(lon, lat)
    elif datum == "bd09":
        x, y = wgs84_to_bd09(lon, lat)
    elif datum.startswith("EPSG"):
        from app.crs import WGS84, transformer

        x, y = transformer(WGS84, datum).transform(lon, lat)
    else:
        x, y = lon, lat
    wlon, wlat = to_lonlat_wgs84(np.asarray(x), np.asarray(y), datum)
    assert np.abs(wlon - lon).max() < 1e-7 and np.abs(wlat - lat).max() < 1e-7


def test_bad_datum_name():
    with pytest.raises(InputError, match="wgs84, cgcs2000, gcj02, bd09"):
        to_lonlat_wgs84(np.zeros(1), np.zeros(1), "mars")


@pytest.fixture(scope="module")
def csv_points(tmp_path_factory, index):
    lon, lat = sample(index, 3000, seed=11)
    df = pd.DataFrame({"name": [f"p{i}" for i in range(len(lon))], "经度": lon.round(7).astype(str),
                       "纬度": lat.round(7).astype(str)})  # fmt: skip
    df.loc[1, "经度"] = "abc"
    df.loc[2, "纬度"] = ""
    df.loc[3, "纬度"] = "95"
    path = tmp_path_factory.mktemp("pts") / "pts.csv"
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("ext", ["csv", "geojson", "geojsonl", "parquet", "gpkg"])
def test_files_keep_every_row_and_column(index, csv_points, tmp_path, ext):
    out = tmp_path / f"out.{ext}"
    stats = assign_file(index, csv_points, out, chunk=1000)
    assert stats.invalid == 3 and stats.rows == stats.in_zone + stats.outside + stats.invalid
    if ext == "csv":
        df = pd.read_csv(out, dtype=str, keep_default_na=False)
    elif ext == "geojsonl":
        df = pd.DataFrame(
            [json.loads(line)["properties"] for line in out.read_text(encoding="utf-8").splitlines()]
        )
    elif ext == "parquet":
        df = pd.read_parquet(out)
    else:
        df = gpd.read_file(out)
    assert len(df) == stats.rows and list(df["name"])[:5] == ["p0", "p1", "p2", "p3", "p4"]
    assert {"name", "经度", "纬度", "zone_id", "zone_path", "corridor", "county_adcode", "distance_m",
            "nearest_zone_id", "assign_error"} <= set(df.columns)  # fmt: skip
    errors = df["assign_error"].fillna("").astype(str).tolist()
    assert (
        errors[1] == errors[2] == "missing or non-numeric coordinate"
        and errors[3] == "coordinate out of range"
    )
    # the same answers whatever the format: those of the in-memory assignment
    src = pd.read_csv(csv_points, dtype=str, keep_default_na=False)
    lon = pd.to_numeric(src["经度"], errors="coerce").to_numpy()
    lat = pd.to_numeric(src["纬度"], errors="coerce").to_numpy()
    ok = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lat) <= 90)
    expected = index.assign(lon[ok], lat[ok]).frame()["zone_id"].astype(str).tolist()
    assert df["zone_id"].fillna("").astype(str)[ok].tolist() == expected


def test_file_errors(index, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="empty"):
        assign_file(index, empty, tmp_path / "o.csv")
    nocols = tmp_path / "nocols.csv"
    nocols.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"no longitude column.*the file has a, b"):
        assign_file(index, nocols, tmp_path / "o.csv")
    with pytest.raises(InputError, match="unknown point file type"):
        assign_file(index, nocols, tmp_path / "o.xyz")
    res = CliRunner().invoke(main, ["assign", str(nocols), "-o", str(tmp_path / "o.csv"), "--crs", "mars"])
    assert res.exit_code == 2 and "unknown CRS" in res.output and "Traceback" not in res.output


def test_platform_catalog(catalog):
    from app.platforms import load_platforms

    plats = load_platforms(catalog=catalog)
    assert len(plats) >= 200
    by_name = {p.name: p for p in plats}
    hc = by_name["浙江省高端化学品技术创新中心"]
    assert hc.declared_zone == "qz-zhihui" and [c.zone for c in hc.conflicts] == ["qz-zhizao"]
    assert all(p.location is None or p.location.source for p in plats)
    assert sum(p.declared_zone is not None for p in plats) >= 100


def test_platforms_check_and_site(index, catalog):
    from app.platforms import check_platforms, load_platforms
    from app.site import site_report

    rows = check_platforms(load_platforms(catalog=catalog), index, catalog)
    assert {r.status for r in rows} <= {
        "agrees",
        "differs",
        "uncertain",
        "outside",
        "no location",
        "no declared zone",
    }
    zid = "qz-changshan-xindu"
    c = index.zones.geometry[zid].representative_point()
    rep = site_report(index, c.x, c.y, k=3)
    assert zid in [z["id"] for z in rep["zones"]] and rep["county_adcode"] == "330822"
    assert (
        len(rep["platforms"]) == 3 and rep["platforms"][0]["distance_m"] <= rep["platforms"][-1]["distance_m"]
    )


def test_metric_crs_is_gk120(index):
    assert index._metric.crs.to_string() == GK120
