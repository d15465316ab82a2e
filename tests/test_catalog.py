"""The zone catalog: schema validation, completeness against the seed notes, verbatim clauses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from app.catalog import CorridorFile, load_catalog, load_file
from app.errors import CatalogError
from app.parser import parse
from tests.conftest import ROOT, seed_path

DOC_SEED = {
    "qz-plan": "quzhou",
    "qz-news": "news",
    "sx-plan": "shaoxing",
    "hz-plan": "hangzhou",
    "jd-plan": "jindong",
}


def with_boundary(catalog, corridor):
    return [z for z in catalog if catalog.corridor_of[z.id] == corridor and z.boundary is not None]


def test_four_corridors(catalog):
    assert sorted(catalog.corridors) == ["hangzhou", "jinyi", "quzhou", "shaoxing"]


def test_quzhou_has_twelve_leaves_eleven_with_boundary(catalog):
    leaves = [z for z in catalog.leaves() if catalog.corridor_of[z.id] == "quzhou"]
    assert len(leaves) == 12
    assert len(with_boundary(catalog, "quzhou")) == 11
    assert catalog["qz-kaihua-sugar-alcohol"].boundary is None
    assert catalog["qz-kaihua-sugar-alcohol"].area.km2 == 0.21


def test_shaoxing_thirteen_clauses_over_twelve_areas(catalog):
    zones = with_boundary(catalog, "shaoxing")
    assert len(zones) == 12
    assert sum(1 + len(z.boundary_variants) for z in zones) == 13


def test_hangzhou_fifteen_clauses(catalog):
    assert len(with_boundary(catalog, "hangzhou")) == 15


def test_jindong_has_no_boundary_and_one_area(catalog):
    zones = [z for z in catalog if catalog.corridor_of[z.id] == "jinyi"]
    assert not any(z.boundary for z in zones)
    assert [z.area.km2 for z in zones if z.area] == [160]


def test_every_zone_has_sources_and_stated_areas_parse(catalog):
    for z in catalog:
        if z.area:
            assert z.area.source.doc in DOC_SEED and z.area.km2 > 0
        if z.boundary:
            res = parse(z.boundary.text)
            assert res.parts and any(p.clauses for p in res.parts), z.id


def test_areas_in_mu_and_approximate_markers(catalog):
    cbd = catalog["sx-didanghu-cbd"]
    assert cbd.area.raw == "占地面积约1800亩" and cbd.area.km2 == pytest.approx(1.2) and cbd.area.approximate
    assert not catalog["qz-zhihui"].area.approximate


@pytest.mark.parametrize("corridor", ["quzhou", "shaoxing", "hangzhou"])
def test_boundary_clauses_are_verbatim_in_the_seed(catalog, corridor):
    seed = seed_path(corridor).read_text(encoding="utf-8")
    flat = re.sub(r"\n", "", seed)
    for z in with_boundary(catalog, corridor):
        for b in [z.boundary, *z.boundary_variants]:
            assert b.text in flat, f"{z.id}: clause not found verbatim in the seed"
            assert b.source.line is not None


def test_area_words_are_verbatim_in_the_seed(catalog):
    for z in catalog:
        for a in [z.area, *z.area_variants]:
            if a is None:
                continue
            key = DOC_SEED[a.source.doc]
            flat = re.sub(r"\n", "", seed_path(key).read_text(encoding="utf-8"))
            assert a.raw in flat, f"{z.id}: {a.raw!r} not in the seed"


def _base() -> dict:
    return yaml.safe_load((ROOT / "boundaries" / "quzhou.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["zones"].append(dict(d["zones"][1])), "duplicate zone ids"),
        (lambda d: d["zones"][1].update(parent="nowhere"), "parent 'nowhere'"),
        (lambda d: d["zones"][1].update(id="Core Zone"), "ASCII slug"),
        (lambda d: d["zones"][1]["area"].update(km2=99.0), "does not match raw"),
        (lambda d: d["zones"][1].update(level="galaxy"), "level"),
        (
            lambda d: d["zones"][1].update(counties=[{"adcode": "33", "name": "x", "basis": "stated"}]),
            "6 digits",
        ),
        (lambda d: d["zones"][1]["area"]["source"].update(doc="nope"), "source doc 'nope'"),
        (lambda d: d["zones"][1].update(colour="red"), "Extra inputs"),
    ],
)
def test_schema_rejects_bad_files(tmp_path, mutate, message):
    data = _base()
    mutate(data)
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CatalogError, match=message):
        load_file(p)


def test_unreadable_and_empty_catalogs(tmp_path):
    with pytest.raises(CatalogError, match="no catalog files"):
        load_catalog(tmp_path)
    (tmp_path / "x.yaml").write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="mapping"):
        load_catalog(tmp_path)
    (tmp_path / "x.yaml").write_text("a: [unclosed\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path)


def test_files_validate_one_by_one():
    for p in sorted(Path(ROOT / "boundaries").glob("*.yaml")):
        assert isinstance(load_file(p), CorridorFile)
