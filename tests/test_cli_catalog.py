"""The storage commands end to end on an embedded store: db, build, edit, history, runs, assign --table."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from app.cli import main


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("CORRIDOR_DATABASE_URL", str(tmp_path / "cli.gpkg"))
    monkeypatch.setenv("CORRIDOR_ACTOR", "tester")
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> str:
        res = runner.invoke(main, list(args))
        assert res.exit_code == code, (args, res.output, res.exception)
        return res.output

    return invoke


def test_init_build_edit_history(run, tmp_path):
    assert "schema ready" in run("db", "init")
    out = run("build", "--out", str(tmp_path / "exports"), "-m", "first")
    assert "built 92 zones" in out and "run 1" in out and (tmp_path / "exports" / "zones.gpkg").is_file()
    spec = json.loads(run("edit", "show", "zone", "qz-zhizao"))
    assert spec["version"] == 1
    out = run("edit", "zone", "qz-zhizao", "--area", "规划面积20平方公里", "--expect-version", "1", "-m", "revision")
    assert "run 2" in out and "qz-zhizao" in out and "km²" in out
    stale = run("edit", "zone", "qz-zhizao", "--area", "规划面积21平方公里", "--expect-version", "1", code=2)
    assert "error:" in stale and "version 2, not 1" in stale
    history = run("history", "qz-zhizao", "--map", str(tmp_path / "h.html"))
    lines = [x for x in history.splitlines() if x.startswith("run")]
    assert len(lines) == 2 and "import" in lines[0] and "edit" in lines[1] and "tester" in lines[1]
    assert "revision" in lines[1] and (tmp_path / "h.html").stat().st_size > 1000
    rows = json.loads(run("history", "qz-zhizao", "--json"))
    assert rows[1]["area_delta_km2"] == pytest.approx(rows[1]["area_after_km2"] - rows[1]["area_before_km2"], abs=1e-3)
    assert "edit" in run("runs").splitlines()[0]
    assert "catalog version" in run("db", "status")
    refused = run("build", "--out", str(tmp_path / "exports"), code=2)
    assert "would undo edits" in refused and "zone qz-zhizao" in refused
    assert "run 3" in run("db", "rebuild", "-m", "builder changed")


def test_feature_and_platform_edits(run, tmp_path):
    run("build", "--out", str(tmp_path / "exports"))
    geom = tmp_path / "road.geojson"
    geom.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
                    "geometry": {"type": "LineString", "coordinates": [[118.85, 28.95], [118.9, 28.96]]}}]}))  # fmt: skip
    out = run("edit", "feature", "survey-1", "--create", "--name", "测量路", "--kind", "road", "--geometry",
              str(geom), "--accuracy-m", "5")  # fmt: skip
    assert "run 2" in out
    assert json.loads(run("edit", "show", "feature", "survey-1"))["body"]["source"] == "edit by tester"
    out = run("edit", "platform", "qz-zju-quzhou-institute", "--lon", "118.87", "--lat", "28.94", "--datum", "gcj02",
              "--precision-m", "100")  # fmt: skip
    assert "run 3" in out
    assert "a location needs" in run("edit", "platform", "qz-zju-quzhou-institute", "--lon", "118", code=2)
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json")
    assert "not JSON" in run("edit", "feature", "survey-1", "--geometry", str(bad), code=2)
    assert "no feature 'nope'" in run("edit", "feature", "nope", "--name", "x", code=2)


def test_assign_table_needs_postgis(run):
    out = run("assign", "--table", "pts", code=2)
    assert "PostGIS" in out
    assert "give a POINTS file or --table" in run("assign", code=2)
