"""The consistency report on the real catalog."""

from __future__ import annotations

from click.testing import CliRunner

from app.check import check, rounding_tolerance
from app.cli import main


def test_rounding_tolerance():
    assert rounding_tolerance([80.6, 11.95, 68.69]) == 0.05 + 0.005 + 0.005


def test_area_rows(catalog):
    rows = {r.zone_id: r for r in check(catalog).areas}
    core = rows["qz-core"]
    assert (core.stated_km2, core.children_sum_km2, core.status) == (80.6, 80.64, "consistent")
    assert rows["qz-jiangshan"].children_sum_km2 == 29.55 and rows["qz-jiangshan"].status == "consistent"
    assert rows["shaoxing"].children_sum_km2 == 188
    assert rows["hz-linkage"].children_sum_km2 == 643.38  # 156 + 84.44 + 110.8 + 183.14 + 109
    assert rows["hz-xihu-coord"].status.startswith("incomplete")
    assert "sx-jinghu" not in rows  # its bases lie within it; they do not divide it


def test_conflicts_and_missing(catalog):
    r = check(catalog)
    conflicts = {(c.zone_id, c.what) for c in r.conflicts}
    assert ("hz-gaoxin", "area") in conflicts
    assert ("sx-didanghu-cbd", "boundary") in conflicts
    missing = {b.zone_id: b.missing_sides for b in r.boundaries}
    assert missing["qz-longyou-3"] == ["west"]
    assert missing["sx-shengming-jiankang"] == ["west"]
    assert missing["hz-fuchunwan"] == []  # 东南至 covers east and south
    without = {w["zone_id"]: w["how"] for w in r.without_boundary}
    assert without["qz-kaihua-sugar-alcohol"].startswith("area only")
    assert without["sx-caoejiang"] == "union of children"


def test_cli_check_prints_the_table():
    res = CliRunner().invoke(main, ["check"])
    assert res.exit_code == 0, res.output
    line = next(x for x in res.output.splitlines() if x.startswith("qz-core"))
    assert "80.6" in line and "80.64" in line and "consistent" in line
