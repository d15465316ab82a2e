"""Document extraction on the five seed documents recovers every 四至 clause of the catalog."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from app.catalog import CorridorFile
from app.cli import main
from app.extract import extract_document, paragraphs
from app.parser import parse
from tests.conftest import seed_path


def signature(text: str) -> tuple:
    res = parse(text)
    return tuple(
        (side, tuple(f.name for f in feats)) for p in res.parts for side, feats in p.sides().items() if feats
    )


def draft_of(key: str) -> dict:
    p = seed_path(key)
    return extract_document(p.read_text(encoding="utf-8"), file_name=p.name)


@pytest.mark.parametrize("key", ["quzhou", "shaoxing", "hangzhou"])
def test_recovers_every_catalog_clause(catalog, key):
    draft = draft_of(key)
    found = {
        signature(b["text"])
        for z in draft["zones"]
        for b in [z.get("boundary"), *(z.get("boundary_variants") or [])]
        if b
    }
    corridor = {"quzhou": "quzhou", "shaoxing": "shaoxing", "hangzhou": "hangzhou"}[key]
    expected = [(z.id, b.text) for z in catalog if catalog.corridor_of[z.id] == corridor
                for b in [z.boundary, *z.boundary_variants] if b]  # fmt: skip
    assert len(expected) == {"quzhou": 11, "shaoxing": 13, "hangzhou": 15}[key]
    missing = [zid for zid, text in expected if signature(text) not in found]
    assert missing == []


def test_quzhou_draft_names_areas_and_hierarchy():
    zones = {z["name"]: z for z in draft_of("quzhou")["zones"]}
    assert zones["智慧片区"]["area"]["km2"] == 11.95
    assert zones["核心区"]["area"]["km2"] == 80.6
    ids = {z["id"]: z["name"] for z in draft_of("quzhou")["zones"]}
    assert ids[zones["智慧片区"]["parent"]] == "核心区"
    assert ids[zones["龙游科创城片区一"]["parent"]] == "龙游科创城"
    assert zones["糖醇产业园"]["area"]["km2"] == 0.21 and zones["糖醇产业园"]["boundary"] is None


def test_documents_without_boundaries():
    jd = draft_of("jindong")
    assert not any(z.get("boundary") for z in jd["zones"])
    assert [z["area"]["km2"] for z in jd["zones"] if z.get("area")] == [160]
    assert jd["sources"][0]["number"] == "金东发改规划〔2021〕18号"
    news = draft_of("news")
    assert not any(z.get("boundary") for z in news["zones"])


@pytest.mark.parametrize("key", ["quzhou", "news", "shaoxing", "jindong", "hangzhou"])
def test_drafts_are_valid_catalog_files(key, tmp_path):
    p = seed_path(key)
    out = tmp_path / "draft.yaml"
    res = CliRunner().invoke(main, ["extract", str(p), "-o", str(out)])
    assert res.exit_code == 0, res.output
    CorridorFile.model_validate(yaml.safe_load(out.read_text(encoding="utf-8")))


def test_paragraphs_rejoin_wrapped_lines():
    text = "一、规划范围\n\n核心区将上一轮大走廊规划范围统一整合优化，四至：\n\n东起浙江大学玉泉校区，以西湖区紫荆花路为界，南至西湖区留\n\n和路南侧山脊线。\n"
    paras = paragraphs(text)
    assert [p.heading for p in paras] == ["规划范围", "规划范围"]
    assert (
        paras[1].text.endswith("南至西湖区留和路南侧山脊线。")
        and paras[1].line_at(len(paras[1].text) - 3) == 7
    )
