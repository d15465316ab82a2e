"""Every 四至 clause of the seed documents parses to exactly the features the seed notes list (tests/data)."""

from __future__ import annotations

import pytest
import yaml

from app.parser import parse
from tests.conftest import DATA

ENTRIES = yaml.safe_load((DATA / "seed_clauses.yaml").read_text(encoding="utf-8"))


def _got(feature: dict) -> list:
    q = {k: v for k, v in feature["qualifiers"].items() if k != "note"}
    return [feature["name"], feature["kind"], q] if q else [feature["name"], feature["kind"]]


def _expected(item: list) -> tuple[list, list]:
    if len(item) == 3:
        q = dict(item[2])
        aliases = q.pop("aliases", [])
        return ([item[0], item[1], q] if q else [item[0], item[1]]), aliases
    return list(item), []


def test_table_covers_every_seed_clause():
    parts = [p for e in ENTRIES for p in e["parts"]]
    with_sides = [p for p in parts if p.get("sides")]
    assert len(with_sides) == 11 + 13 + 15  # Quzhou, Shaoxing, Hangzhou clauses in the seed notes


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["id"] for e in ENTRIES])
def test_seed_clause(entry):
    r = parse(entry["text"]).to_dict()
    assert r["zone"] == entry.get("zone")
    assert r["area_km2"] == entry.get("area_km2")
    assert [p["name"] for p in r["parts"]] == [p.get("name") for p in entry["parts"]]
    for got, exp in zip(r["parts"], entry["parts"], strict=True):
        assert got["area_km2"] == exp.get("area_km2"), got["name"]
        exp_sides = exp.get("sides") or {}
        present = {k for k, v in got["sides"].items() if v}
        assert present == set(exp_sides), f"{got['name']}: sides {present} vs {set(exp_sides)}"
        for side, items in exp_sides.items():
            feats = got["sides"][side]
            assert [_got(f) for f in feats] == [_expected(i)[0] for i in items], f"{got['name']} {side}"
            for f, item in zip(feats, items, strict=True):
                assert set(_expected(item)[1]) <= set(f["aliases"]), f["name"]
        assert got["other"] == (exp.get("other") or [])


def test_feature_text_is_verbatim():
    """Each feature's `text` is a substring of the input (separators and direction verbs removed)."""
    for entry in ENTRIES:
        r = parse(entry["text"]).to_dict()
        for p in r["parts"]:
            for feats in p["sides"].values():
                for f in feats:
                    assert f["text"] and f["text"] in entry["text"], f["text"]
