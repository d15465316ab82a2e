"""GCJ-02 / BD-09 / WGS-84 conversions: published values, exact round trips, edge cases."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pyproj import Geod

from app.datum import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    out_of_china,
    to_wgs84,
    transform_geometry,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from app.errors import InputError

GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def china_points() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20240501)
    n = 10_000
    return rng.uniform(73.5, 134.8, n), rng.uniform(18.0, 53.5, n)


# Published test vectors of the standard algorithm (wandergis/coordtransform, googollee/eviltransform).
@pytest.mark.parametrize(
    ("wgs", "gcj"),
    [
        ((116.404, 39.915), (116.41024449916938, 39.91640428150164)),  # Beijing, near Tiananmen
        ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),  # Shanghai
        ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),  # Shenzhen
    ],
)
def test_wgs84_to_gcj02_matches_published_values(wgs, gcj):
    lon, lat = wgs84_to_gcj02(*wgs)
    assert lon == pytest.approx(gcj[0], abs=1e-9)
    assert lat == pytest.approx(gcj[1], abs=1e-9)
    back = gcj02_to_wgs84(*gcj)
    assert back == pytest.approx(wgs, abs=1e-9)


def test_gcj02_to_bd09_matches_published_value():
    lon, lat = gcj02_to_bd09(116.404, 39.915)
    assert lon == pytest.approx(116.41036949371029, abs=1e-9)
    assert lat == pytest.approx(39.92133699351021, abs=1e-9)


def test_gcj_offset_in_zhejiang_is_a_few_hundred_metres():
    # Hangzhou (West Lake) and a spread of Zhejiang towns: GCJ-02 sits roughly 0.0046° east and 0.0024° south.
    lon = np.array([120.15, 120.21, 118.87, 121.55, 120.70, 120.58, 119.65, 122.10])
    lat = np.array([30.25, 30.21, 28.94, 29.87, 28.00, 30.00, 29.08, 30.02])
    glon, glat = wgs84_to_gcj02(lon, lat)
    dlon, dlat = glon - lon, glat - lat
    assert dlon[0] == pytest.approx(0.0046, abs=0.0003)
    assert dlat[0] == pytest.approx(-0.0024, abs=0.0003)
    _, _, dist = GEOD.inv(lon, lat, glon, glat)
    assert np.all((dist > 300) & (dist < 700)), dist


def test_round_trip_wgs_gcj_wgs(china_points):
    lon, lat = china_points
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert np.all(np.hypot(glon - lon, glat - lat) > 1e-4)  # really moved
    blon, blat = gcj02_to_wgs84(glon, glat)
    assert np.max(np.abs(blon - lon)) < 1e-8
    assert np.max(np.abs(blat - lat)) < 1e-8


def test_round_trip_wgs_bd_wgs(china_points):
    lon, lat = china_points
    blon, blat = wgs84_to_bd09(lon, lat)
    wlon, wlat = bd09_to_wgs84(blon, blat)
    assert np.max(np.abs(wlon - lon)) < 1e-8
    assert np.max(np.abs(wlat - lat)) < 1e-8


def test_round_trip_gcj_bd_gcj(china_points):
    lon, lat = china_points
    glon, glat = bd09_to_gcj02(*gcj02_to_bd09(lon, lat))
    assert np.max(np.abs(glon - lon)) < 1e-8
    assert np.max(np.abs(glat - lat)) < 1e-8


def test_points_outside_china_are_unchanged():
    lon = np.array([2.35, -74.0, 139.69, 100.0, 150.0, 71.0])
    lat = np.array([48.85, 40.7, 35.69, 60.0, 30.0, 40.0])
    assert out_of_china(lon, lat).all()
    for func in (wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02, wgs84_to_bd09, bd09_to_wgs84):
        x, y = func(lon, lat)
        np.testing.assert_array_equal(x, lon)
        np.testing.assert_array_equal(y, lat)
    assert not out_of_china(120.15, 30.25)


def test_mixed_inside_and_outside():
    lon = np.array([120.15, 2.35])
    lat = np.array([30.25, 48.85])
    x, y = wgs84_to_gcj02(lon, lat)
    assert x[0] != lon[0] and y[0] != lat[0]
    assert (x[1], y[1]) == (lon[1], lat[1])


def test_scalar_input_gives_floats():
    for func in (wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02, wgs84_to_bd09, bd09_to_wgs84):
        x, y = func(120.15, 30.25)
        assert type(x) is float and type(y) is float
    x, y = to_wgs84(120.15, 30.25, "wgs84")
    assert (x, y) == (120.15, 30.25) and type(x) is float


def test_array_shape_is_kept_and_input_not_modified():
    lon = np.full((3, 4), 120.15)
    lat = np.full((3, 4), 30.25)
    x, y = wgs84_to_gcj02(lon, lat)
    assert x.shape == (3, 4) and y.shape == (3, 4)
    assert np.all(lon == 120.15) and np.all(lat == 30.25)
    x, y = gcj02_to_wgs84([120.15, 120.16], [30.25, 30.26])
    assert isinstance(x, np.ndarray) and x.shape == (2,)


def test_datum_dispatch_is_case_insensitive():
    lon, lat = 120.15, 30.25
    assert to_wgs84(lon, lat, "GCJ02") == gcj02_to_wgs84(lon, lat)
    assert to_wgs84(lon, lat, "Bd09") == bd09_to_wgs84(lon, lat)
    assert from_wgs84(lon, lat, "gcj02") == wgs84_to_gcj02(lon, lat)
    assert from_wgs84(lon, lat, "BD09") == wgs84_to_bd09(lon, lat)
    assert to_wgs84(lon, lat, "CGCS2000") == (lon, lat)
    assert from_wgs84(lon, lat, "cgcs2000") == (lon, lat)


@pytest.mark.parametrize("datum", ["gcj-03", "", "mars", "epsg:4326"])
def test_bad_datum_name_raises_input_error(datum):
    with pytest.raises(InputError, match="wgs84, cgcs2000, gcj02, bd09"):
        to_wgs84(120.0, 30.0, datum)
    with pytest.raises(InputError):
        from_wgs84(120.0, 30.0, datum)


def test_transform_geometry_keeps_polygon_valid():
    ring = [(120.10, 30.20), (120.20, 30.20), (120.20, 30.30), (120.15, 30.26), (120.10, 30.30)]
    hole = [(120.17, 30.22), (120.18, 30.22), (120.18, 30.23), (120.17, 30.23)]
    poly = shapely.Polygon(ring, [hole])
    assert poly.is_valid
    out = transform_geometry(poly, gcj02_to_wgs84)
    assert isinstance(out, shapely.Polygon) and out.is_valid
    assert len(out.interiors) == 1
    assert out.area == pytest.approx(poly.area, rel=1e-2)  # the offset field stretches areas by ~0.2 %
    dx = out.centroid.x - poly.centroid.x
    dy = out.centroid.y - poly.centroid.y
    assert dx == pytest.approx(-0.0046, abs=0.0003) and dy == pytest.approx(0.0024, abs=0.0003)
    back = transform_geometry(out, wgs84_to_gcj02)
    assert shapely.equals_exact(back, poly, tolerance=1e-8)


def test_transform_geometry_handles_collections_and_empty():
    coll = shapely.GeometryCollection(
        [shapely.Point(120.15, 30.25), shapely.LineString([(120.1, 30.2), (120.2, 30.3)])]
    )
    out = transform_geometry(coll, wgs84_to_gcj02)
    assert out.geom_type == "GeometryCollection" and len(out.geoms) == 2
    assert out.geoms[0].x == pytest.approx(wgs84_to_gcj02(120.15, 30.25)[0])
    assert transform_geometry(shapely.Polygon(), wgs84_to_gcj02).is_empty
