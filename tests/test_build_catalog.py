"""The whole catalog builds: every zone with a 四至 gets a polygon graded A or B; outputs, report and checks."""

from __future__ import annotations

import geopandas as gpd
import pytest
from click.testing import CliRunner

from app.build import run_build
from app.cli import main
from app.report import report_table
from app.spatial_checks import containment, county_checks, overlaps

FIELDS = ["id", "name", "level", "parent_id", "corridor", "county_adcode", "stated_area_km2", "area_km2",
          "area_geodesic_km2", "grade", "unresolved", "source"]  # fmt: skip


@pytest.fixture(scope="module")
def result():
    return run_build()


def test_every_zone_with_a_boundary_is_graded_a_or_b(result):
    z = result.zones
    own = [zid for zid in z["id"] if result.catalog[zid].boundary is not None]
    per_corridor = z[z["id"].isin(own)].groupby("corridor").size().to_dict()
    assert per_corridor == {"quzhou": 11, "shaoxing": 12, "hangzhou": 15}
    grades = z.set_index("id").loc[own, "grade"]
    assert set(grades) <= {"A", "B"}, grades[~grades.isin(["A", "B"])].to_dict()


def test_parents_are_unions_of_children(result):
    z = result.zones.set_index("id")
    for zid in ["quzhou", "qz-core", "qz-longyou", "shaoxing", "sx-caoejiang", "hz-linkage"]:
        assert z.loc[zid, "method"] == "union of children" and z.loc[zid, "geometry"] is not None
    kids = [c for c in result.catalog.children["shaoxing"] if result.catalog[c].level == "tech_city"]
    assert len(kids) == 6  # the Shaoxing corridor is the union of its six 科技城, checked against 188 km²
    assert z.loc["shaoxing", "stated_area_km2"] == 188


def test_planar_and_geodesic_areas_agree(result):
    z = result.zones.dropna(subset=["area_km2"])
    rel = (z["area_km2"] - z["area_geodesic_km2"]).abs() / z["area_geodesic_km2"]
    assert rel.max() < 0.005


def test_zones_without_geometry_say_so(result):
    z = result.zones.set_index("id")
    assert z.loc["qz-kaihua-sugar-alcohol", "grade"] == "none"
    assert z.loc["jinyi", "grade"] == "none"


def test_unresolved_features_are_listed(result):
    z = result.zones.set_index("id")
    assert "规划铁路" in z.loc["qz-jiangshan-south", "unresolved"]
    assert "closed by" in z.loc["qz-jiangshan-south", "closures"]


def test_outputs(tmp_path):
    res = CliRunner().invoke(main, ["build", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    gpkg = gpd.read_file(tmp_path / "zones.gpkg", layer="zones")
    assert gpkg.crs.to_epsg() == 4326 and set(FIELDS) <= set(gpkg.columns)
    gj = gpd.read_file(tmp_path / "zones.geojson")
    assert len(gj) == len(gpkg) == 92


def test_checks(result):
    rows = containment(result.catalog, result.built)
    assert all(0 <= r.share_outside <= 1 for r in rows)
    counties = {c.zone_id: c for c in county_checks(result.catalog, result.built)}
    assert counties["qz-changshan-xindu"].computed.split(",")[0] == "330822"  # 常山县
    for o in overlaps(result.catalog, result.built):
        assert o.shared_km2 > 0 and o.a != o.b


@pytest.mark.parametrize("fmt", ["md", "csv"])
def test_report_formats(fmt):
    res = CliRunner().invoke(main, ["report", "--format", fmt])
    assert res.exit_code == 0, res.output
    assert "qz-zhihui" in res.output and "智慧片区" in res.output


def test_report_xlsx(tmp_path, result):
    out = tmp_path / "r.xlsx"
    res = CliRunner().invoke(main, ["report", "--format", "xlsx", "-o", str(out)])
    assert res.exit_code == 0, res.output
    import pandas as pd

    df = pd.read_excel(out)
    assert len(df) == 92 and "stated km²" in df.columns
    table = report_table(result.zones, county_checks(result.catalog, result.built))
    assert list(table.columns) == list(df.columns)


def test_import_takes_precedence_over_sketches(tmp_path):
    from shapely.geometry import LineString

    from app.gazetteer import Gazetteer

    layer = tmp_path / "roads.geojson"
    gpd.GeoDataFrame({"name": ["白云大道"]}, geometry=[LineString([(118.85, 28.95), (118.86, 28.96)])],
                     crs=4326).to_file(layer)  # fmt: skip
    into = tmp_path / "imported"
    res = CliRunner().invoke(
        main, ["gazetteer", "import", str(layer), "--into", str(into), "--accuracy", "5"]
    )
    assert res.exit_code == 0, res.output
    from app.gazetteer import DEFAULT_DIR

    gaz = Gazetteer.load([*sorted(DEFAULT_DIR.glob("*.geojson")), into / "roads.geojson"], counties=False)
    from app.parser import parse

    f = parse("东至白云大道").parts[0].sides()["east"][0]
    m = gaz.resolve(f)
    assert m is not None and m.sources == ["roads.geojson"] and m.accuracy_m == 5


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"\x00\x01garbage", "cannot read"), (b'{"type": "FeatureCollection", "features": []}', "empty")],
)
def test_bad_gazetteer_files_give_clear_errors(tmp_path, content, message):
    bad = tmp_path / "bad.geojson"
    bad.write_bytes(content)
    res = CliRunner().invoke(main, ["build-zone", "--gazetteer", str(bad), "--text", "东至甲路，西至乙路"])
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output
