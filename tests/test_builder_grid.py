"""A synthetic street grid with exactly known blocks: the builder must reproduce them (IoU ≥ 0.99)."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Polygon, box, shape

from app.crs import GK120, WGS84, to_lonlat, to_metres
from app.gazetteer import Gazetteer
from app.single import build_text

X0, Y0, DX, DY = 500_000.0, 3_340_000.0, 1000.0, 800.0  # EPSG:4549 metres, near Hangzhou
EW = ["一路", "二路", "三路", "四路", "五路"]  # south to north
NS = ["甲街", "乙街", "丙街", "丁街", "戊街"]  # west to east


def x(i: int) -> float:
    return X0 + i * DX


def y(j: int) -> float:
    return Y0 + j * DY


def block(i: int, j: int, di: int = 1, dj: int = 1) -> Polygon:
    return box(x(i), y(j), x(i + di), y(j + dj))


@pytest.fixture(scope="module")
def grid() -> Gazetteer:
    rows = []
    for j, name in enumerate(EW):
        rows.append((name, "road", LineString([(x(0) - 600, y(j)), (x(4) + 600, y(j))])))
    for i, name in enumerate(NS):
        rows.append((name, "road", LineString([(x(i), y(0) - 600), (x(i), y(4) + 600)])))
    # a diagonal street from the NE corner of block (1..3, 2) down to the SW: 东南至斜街
    rows.append(("斜街", "road", LineString([(x(3) + 300, y(3) + 240), (x(1) - 300, y(1) - 240)])))
    # a street that ends at 二路: a chain through it can only run one way
    rows.append(("辛街", "road", LineString([(x(3), y(0) - 600), (x(3), y(1))])))
    df = gpd.GeoDataFrame(
        {
            "name": [r[0] for r in rows], "aliases": [[] for _ in rows], "kind": [r[1] for r in rows],
            "county_adcode": "", "source": "test", "accuracy_m": 0.0, "note": "",
            "geometry": [to_lonlat(r[2]) for r in rows],
        },
        crs=WGS84,
    )  # fmt: skip
    return Gazetteer(df, metric_crs=GK120)


def iou(a, b) -> float:
    return a.intersection(b).area / a.union(b).area


def built(gaz: Gazetteer, text: str) -> list[dict]:
    fc = build_text(text, gaz)
    return fc["features"]


def geom_m(feature: dict):
    return to_metres(shape(feature["geometry"]))


@pytest.mark.parametrize(("i", "j"), [(0, 0), (1, 2), (3, 3), (2, 1)])
def test_blocks_are_reproduced(grid, i, j):
    text = f"东至{NS[i + 1]}，南至{EW[j]}，西至{NS[i]}，北至{EW[j + 1]}"
    (f,) = built(grid, text)
    assert f["properties"]["grade"] == "A"
    assert iou(geom_m(f), block(i, j)) >= 0.99


def test_any_order_and_verbs(grid):
    (f,) = built(grid, "北临三路、西自乙街、南至二路，东起丁街")
    assert iou(geom_m(f), block(1, 1, 2, 1)) >= 0.99


def test_chain_on_one_side(grid):
    # an L-shaped zone: the east side steps from 丙街 (north part) along 二路 to 辛街 (south of 二路 only)
    (f,) = built(grid, "东至丙街—二路—辛街，南至一路，西至乙街，北至三路")
    expected = block(1, 0, 2, 1).union(block(1, 1, 1, 1))
    assert iou(geom_m(f), expected) >= 0.99


def test_missing_side_closed_by_stated_area(grid):
    area_km2 = DX * DY / 1e6
    (f,) = built(grid, f"东至丁街，南至二路，北至三路，规划面积 {area_km2} 平方公里")
    p = f["properties"]
    assert p["grade"] == "B" and any("stated area" in c for c in p["closures"])
    assert iou(geom_m(f), block(2, 1)) >= 0.99


def test_diagonal_side(grid):
    (f,) = built(grid, "东南至斜街，西至乙街，北至四路")
    triangle = Polygon([(x(1), y(3)), (x(3), y(3)), (x(1), y(1))])
    assert iou(geom_m(f), triangle) >= 0.99


def test_multi_part(grid):
    fs = built(
        grid, "片区一东至乙街，南至一路，西至甲街，北至二路；片区二东至戊街，南至三路，西至丁街，北至四路"
    )
    assert [f["properties"]["part"] for f in fs] == ["片区一", "片区二"]
    assert iou(geom_m(fs[0]), block(0, 0)) >= 0.99 and iou(geom_m(fs[1]), block(3, 2)) >= 0.99


def test_same_feature_offset(grid):
    (f,) = built(grid, "东至丙街，南至二路，西至甲街以东1000米，北至三路")
    assert iou(geom_m(f), block(1, 1)) >= 0.99


def test_unresolved_names_are_reported_not_guessed(grid):
    (f,) = built(grid, "东至丙街，南至二路，西至不存在路，北至三路")
    assert f["properties"]["unresolved"] == ["west:不存在路"]
    assert f["properties"]["grade"] == "B"


def test_areas_planar_and_geodesic_agree(grid):
    (f,) = built(grid, "东至丁街，南至一路，西至甲街，北至四路")
    p = f["properties"]
    assert p["area_km2"] == pytest.approx(3 * 3 * DX * DY / 1e6, rel=1e-3)
    assert p["area_geodesic_km2"] == pytest.approx(p["area_km2"], rel=0.005)
