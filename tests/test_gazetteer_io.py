"""Reading user gazetteer layers: vector formats, CRS handling, name fields, broken files and OSM PBF."""

from __future__ import annotations

import logging
import math
import os

import geopandas as gpd
import pandas as pd
import pytest
from pyproj import Transformer
from shapely.geometry import LineString, Point, Polygon

from app.errors import InputError
from app.features import KINDS
from app.gazetteer_io import COLUMNS, SUPPORTED, GazetteerError, read_layer

LINE = LineString([(120.60, 30.00), (120.65, 30.01)])
RIVER = LineString([(120.60, 30.02), (120.70, 30.03)])


def _roads(**extra) -> gpd.GeoDataFrame:
    data = {"name": ["鉴湖 大道", "北塘河", None, "G320国道"], "ref": [None, None, "X1", "G320"]}
    data.update(extra)
    geoms = [LINE, RIVER, LINE, LineString([(120.5, 30.1), (120.6, 30.1)])]
    return gpd.GeoDataFrame(data, geometry=geoms, crs="EPSG:4326")


def test_geojson_schema_and_values(tmp_path, caplog):
    path = tmp_path / "roads.geojson"
    _roads(adcode=[330602, 330602, 330602, 330603]).to_file(path, engine="pyogrio")
    with caplog.at_level(logging.WARNING, logger="app.gazetteer_io"):
        g = read_layer(path)
    assert tuple(g.columns) == COLUMNS
    assert g.crs.to_epsg() == 4326
    assert g["name"].tolist() == ["鉴湖大道", "北塘河", "G320国道"]  # clean_name; the unnamed row dropped
    assert g["kind"].tolist() == ["road", "river", "national_road"]
    assert g["aliases"].tolist() == [[], [], ["G320"]]
    assert g["county_adcode"].tolist() == ["330602", "330602", "330603"]
    assert set(g["source"]) == {"roads.geojson"}
    assert all(math.isnan(a) for a in g["accuracy_m"])
    assert set(g["note"]) == {""}
    assert "1 of 4 features with an empty name" in caplog.text


def test_source_accuracy_and_aliases(tmp_path):
    path = tmp_path / "roads.geojson"
    _roads(
        **{"name:en": ["Jianhu Avenue", None, None, None], "alt_name": ["镜湖大道;鉴湖路", None, None, None]}
    ).to_file(path, engine="pyogrio")
    g = read_layer(path, source="county survey 2024", accuracy_m=15)
    assert g["aliases"].iloc[0] == ["Jianhu Avenue", "镜湖大道", "鉴湖路"]
    assert g["aliases"].iloc[2] == ["G320"]
    assert set(g["source"]) == {"county survey 2024"}
    assert set(g["accuracy_m"]) == {15.0}
    assert g["county_adcode"].tolist() == ["", "", ""]


def test_kind_field_and_name_field(tmp_path):
    path = tmp_path / "things.gpkg"
    gpd.GeoDataFrame(
        {"label": ["衢江", "某某"], "type": ["river", "not-a-kind"], "other": ["x", "y"]},
        geometry=[RIVER, Point(120.6, 30.0)],
        crs="EPSG:4326",
    ).to_file(path, engine="pyogrio")
    g = read_layer(path, name_field="label", kind_field="type")
    assert g["name"].tolist() == ["衢江", "某某"]
    assert g["kind"].tolist() == ["river", "other"]  # an unknown kind falls back to kind_of(name)
    with pytest.raises(GazetteerError, match="no kind field 'kind_x'"):
        read_layer(path, name_field="label", kind_field="kind_x")
    with pytest.raises(GazetteerError, match=r"no field 'nope'.*label"):
        read_layer(path, name_field="nope")


def test_missing_name_field_lists_columns(tmp_path):
    path = tmp_path / "noname.geojson"
    gpd.GeoDataFrame({"foo": ["a"], "bar": [1]}, geometry=[LINE], crs="EPSG:4326").to_file(
        path, engine="pyogrio"
    )
    with pytest.raises(GazetteerError) as e:
        read_layer(path)
    msg = str(e.value)
    assert "noname.geojson" in msg and "foo" in msg and "bar" in msg and "--name-field" in msg
    assert isinstance(e.value, InputError)
    assert read_layer(path, name_field="foo")["name"].tolist() == ["a"]


def test_geopackage_two_layers(tmp_path):
    path = tmp_path / "two.gpkg"
    _roads().to_file(path, layer="roads", engine="pyogrio")
    gpd.GeoDataFrame({"name": ["衢江"]}, geometry=[RIVER], crs="EPSG:4326").to_file(
        path, layer="rivers", engine="pyogrio"
    )
    with pytest.raises(GazetteerError, match=r"2 layers \(.*roads.*\); pass --layer") as e:
        read_layer(path)
    assert "rivers" in str(e.value)
    g = read_layer(path, layer="rivers")
    assert g["name"].tolist() == ["衢江"] and g["kind"].tolist() == ["river"]
    assert len(read_layer(path, layer="roads")) == 3
    with pytest.raises(GazetteerError, match="no layer 'lakes'"):
        read_layer(path, layer="lakes")


def test_shapefile_chinese_field_and_cpg(tmp_path):
    path = tmp_path / "道路.shp"
    gpd.GeoDataFrame(
        {"名称": ["鉴湖大道", "杭长高铁"], "ADCODE": ["330602", "330602"]},
        geometry=[LINE, RIVER],
        crs="EPSG:4326",
    ).to_file(path, engine="pyogrio", encoding="UTF-8")
    assert (tmp_path / "道路.cpg").is_file()
    g = read_layer(path)
    assert g["name"].tolist() == ["鉴湖大道", "杭长高铁"]
    assert g["kind"].tolist() == ["road", "high_speed_rail"]
    assert g["county_adcode"].tolist() == ["330602", "330602"]
    assert set(g["source"]) == {"道路.shp"}


def test_projected_crs_is_reprojected(tmp_path):
    to_4549 = Transformer.from_crs("EPSG:4326", "EPSG:4549", always_xy=True)
    x, y = to_4549.transform(120.5, 30.0)
    assert x > 1000  # metres, not degrees
    path = tmp_path / "proj.gpkg"
    gpd.GeoDataFrame(
        {"name": ["某路"]}, geometry=[LineString([(x, y), (x + 1000, y)])], crs="EPSG:4549"
    ).to_file(path, engine="pyogrio")
    g = read_layer(path)
    assert g.crs.to_epsg() == 4326
    lon, lat = g.geometry.iloc[0].coords[0]
    assert lon == pytest.approx(120.5, abs=1e-7) and lat == pytest.approx(30.0, abs=1e-7)


@pytest.mark.filterwarnings("ignore:'crs' was not provided:UserWarning")
def test_missing_crs(tmp_path, caplog):
    to_4549 = Transformer.from_crs("EPSG:4326", "EPSG:4549", always_xy=True)
    x, y = to_4549.transform(120.5, 30.0)
    projected = tmp_path / "projected.shp"
    gpd.GeoDataFrame({"name": ["某路"]}, geometry=[Point(x, y)]).to_file(projected, engine="pyogrio")
    assert not (tmp_path / "projected.prj").exists()
    with pytest.raises(GazetteerError, match=r"no CRS.*look projected.*--crs") as e:
        read_layer(projected)
    assert "projected.shp" in str(e.value) and f"x {x:.0f}.." in str(e.value)
    g = read_layer(projected, assume_crs="EPSG:4549")
    assert g.geometry.iloc[0].x == pytest.approx(120.5, abs=1e-7)

    lonlat = tmp_path / "lonlat.shp"
    gpd.GeoDataFrame({"name": ["某路"]}, geometry=[Point(120.5, 30.0)]).to_file(lonlat, engine="pyogrio")
    with caplog.at_level(logging.WARNING, logger="app.gazetteer_io"):
        g = read_layer(lonlat)
    assert g.geometry.iloc[0].x == 120.5 and "assuming EPSG:4326" in caplog.text
    with pytest.raises(GazetteerError, match="not a CRS"):
        read_layer(lonlat, assume_crs="EPSG:99999999")


def test_wrong_geographic_crs(tmp_path):
    path = tmp_path / "wrong.gpkg"
    gpd.GeoDataFrame({"name": ["某路"]}, geometry=[Point(40_500_000, 3_320_000)], crs="EPSG:4326").to_file(
        path, engine="pyogrio"
    )
    with pytest.raises(GazetteerError, match=r"declares the geographic CRS.*declared CRS is wrong"):
        read_layer(path)


def test_geometry_cleanup(tmp_path):
    bowtie = Polygon([(120, 30), (120.1, 30.1), (120.1, 30), (120, 30.1), (120, 30)])
    assert not bowtie.is_valid
    path = tmp_path / "geoms.gpkg"
    gpd.GeoDataFrame(
        {"name": ["某公园", "某山", "空的"]}, geometry=[bowtie, Point(120.2, 30.2), None], crs="EPSG:4326"
    ).to_file(path, engine="pyogrio")
    g = read_layer(path)
    assert g["name"].tolist() == ["某公园", "某山"]
    assert g.geometry.iloc[0].is_valid and g.geometry.iloc[0].geom_type in ("Polygon", "MultiPolygon")
    assert g.geometry.iloc[0].area == pytest.approx(0.005, rel=1e-6)


def test_empty_layers(tmp_path):
    empty = tmp_path / "empty.gpkg"
    gpd.GeoDataFrame({"name": pd.Series([], dtype=str)}, geometry=gpd.GeoSeries([], crs=4326)).to_file(
        empty, engine="pyogrio"
    )
    with pytest.raises(GazetteerError, match=r"empty\.gpkg: .* is empty"):
        read_layer(empty)
    unnamed = tmp_path / "unnamed.geojson"
    gpd.GeoDataFrame({"name": [None, " "]}, geometry=[LINE, RIVER], crs=4326).to_file(
        unnamed, engine="pyogrio"
    )
    with pytest.raises(GazetteerError, match="none of the 2 features has a name"):
        read_layer(unnamed)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(GazetteerError, match="not found"):
        read_layer(tmp_path / "absent.gpkg")
    junk = tmp_path / "junk.gpkg"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(GazetteerError, match=r"junk\.gpkg: cannot read"):
        read_layer(junk)
    good = tmp_path / "good.geojson"
    _roads().to_file(good, engine="pyogrio")
    truncated = tmp_path / "truncated.geojson"
    truncated.write_bytes(good.read_bytes()[:150])
    with pytest.raises(GazetteerError, match=r"truncated\.geojson: cannot read"):
        read_layer(truncated)
    pbf = tmp_path / "junk.osm.pbf"
    pbf.write_bytes(os.urandom(4096))
    with pytest.raises(GazetteerError, match=r"junk\.osm\.pbf: cannot read the file as OSM PBF"):
        read_layer(pbf)


def test_supported_suffixes():
    assert {".gpkg", ".geojson", ".shp", ".osm.pbf", ".pbf", ".fgb", ".zip", ".json"} == set(SUPPORTED)


def test_osm_pbf_test_extract():
    pyrosm = pytest.importorskip("pyrosm")
    g = read_layer(pyrosm.get_data("test_pbf"))
    assert tuple(g.columns) == COLUMNS
    assert g.crs.to_epsg() == 4326
    assert len(g) > 50 and (g["name"] != "").all()
    assert set(g["kind"]) <= set(KINDS) and "road" in set(g["kind"])
    assert set(g.geom_type) <= {"LineString", "MultiLineString", "Polygon", "MultiPolygon", "Point"}
    row = g[g["name"] == "Hurukselantie"].iloc[0]
    assert row["kind"] == "road" and "357" in row["aliases"]
    assert set(g["source"]) == {"test.osm.pbf"}
    minx, miny, maxx, maxy = g.total_bounds
    assert 20 < minx < maxx < 32 and 59 < miny < maxy < 71  # Finland


def test_osm_pbf_layer_choice():
    pyrosm = pytest.importorskip("pyrosm")
    path = pyrosm.get_data("test_pbf")
    assert len(read_layer(path, layer="highways")) > 50
    with pytest.raises(GazetteerError, match="highways, railways, waterways"):
        read_layer(path, layer="buildings")


def test_osm_pbf_helsinki():
    pyrosm = pytest.importorskip("pyrosm")
    g = read_layer(pyrosm.get_data("helsinki_pbf"))
    roads = g[g["kind"].isin(["road", "expressway"])]
    assert len(roads) >= 500
    assert "Mannerheimintie" in set(roads["name"])
    assert g.crs.to_epsg() == 4326
