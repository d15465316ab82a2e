"""Whole-document extraction: every zone, stated area, 四至 clause and hierarchy word → a draft catalog file."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from app.areas import find_areas
from app.features import clean_name
from app.parser import _NAME_RE, find_clauses, parse
from app.text import MAX_DOCUMENT_BYTES, check_text, fold

TERMINAL = ("。", "！", "？", "；", "”", "」", "）")
_CAPTION = re.compile(r"^(?:附图|附表|图|表)\s*[\d一二三四五六七八九十]")
_FOOTNOTE = re.compile(r"^[1-9](?=[\u4e00-\u9fff])(?=.{0,30}(?:[：:]|[东南西北]至|面积))")
GENERIC_NAMES = re.compile(
    r"^(?:发展统筹区|发展核心区|核心区|联动发展区|联动区|北片区?|南片区?|东片区?|西片区?|中片区?|片区[一二三四五六七八九十\d]+)$"
)
_HEADING_MARK = re.compile(
    r"^\s*(?:第[一二三四五六七八九十]+[章节部分]|[一二三四五六七八九十]+[、.．]|[（(][一二三四五六七八九十\d]+[)）]|\d+[.、．]\s*|#+\s*)"
)
_DOC_NUMBER = re.compile(r"[\u4e00-\u9fff]{1,10}〔\d{4}〕\d+号")
_DATE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")
_TITLE = re.compile(r"《([^》]{4,40}规划[^》]{0,10})》")
_MEMBERS = re.compile(r"(?P<parent>[^，。；：、\s]{2,20}?)(?:包括|分为|包含)(?P<list>[^，。；：]+)")
_COUNT_TAIL = re.compile(r"(?:[两二三四五六七八九十\d]+个(?:片区|园区|区块|单元|片|城)|等)$")

LEVEL_SUFFIXES: list[tuple[str, str]] = [
    ("发展统筹区", "coordination_area"), ("发展核心区", "coordination_area"), ("核心建设区", "core_zone"),
    ("联动发展区", "linkage_zone"), ("联动区", "linkage_zone"), ("大走廊", "corridor"), ("走廊", "corridor"),
    ("廊道", "corridor"), ("核心区", "core_zone"), ("科创城", "science_city"), ("科技城", "tech_city"),
    ("芯城", "tech_city"), ("片区", "area"), ("区块", "area"), ("区域", "area"), ("单元", "unit"),
    ("小镇", "town"), ("茶镇", "town"), ("产业园", "park"), ("科技园", "park"), ("园区", "park"), ("园", "park"),
    ("基地", "base"), ("CBD", "base"), ("集群", "park"), ("新城", "area"), ("片", "area"),
]  # fmt: skip


@dataclass
class Paragraph:
    text: str
    line: int  # first line in the document (1-based)
    offsets: list[tuple[int, int]]  # (offset in text, document line)
    heading: str | None
    cells: bool = False
    context: str | None = None  # the nearest heading that names a zone
    is_heading: bool = False

    def line_at(self, pos: int) -> int:
        line = self.line
        for off, ln in self.offsets:
            if off > pos:
                break
            line = ln
        return line


@dataclass
class Draft:
    name: str
    level: str
    level_zh: str | None
    area: dict[str, Any] | None = None
    area_variants: list[dict[str, Any]] = field(default_factory=list)
    boundary: dict[str, Any] | None = None
    boundary_variants: list[dict[str, Any]] = field(default_factory=list)
    parent_name: str | None = None
    aliases: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def level_of(name: str) -> tuple[str, str | None]:
    name = re.sub(r"(?:[一二三四五六七八九十\d]+|（[^）]*）)$", "", name)
    for suffix, level in LEVEL_SUFFIXES:
        if name.endswith(suffix):
            return level, suffix
    return "place", None


def paragraphs(text: str) -> list[Paragraph]:
    """Rejoin PDF-wrapped lines into paragraphs; headings and table rows stay on their own."""
    out: list[Paragraph] = []
    heading: str | None = None
    context: str | None = None
    cur: Paragraph | None = None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        s = line.strip()
        if not s or re.fullmatch(r"\d{1,3}", s):
            continue
        ends = cur is None or cur.cells or cur.is_heading or cur.text.endswith(TERMINAL)
        is_cells = "\t" in line
        short = len(s) <= 30 and not re.search(r"[，。；]", s)
        marked = short and bool(_HEADING_MARK.match(s)) and not _FOOTNOTE.match(s)
        if _FOOTNOTE.match(s) and not is_cells:
            cur = Paragraph(s, n, [(0, n)], heading, context=context)
            out.append(cur)
        elif is_cells or marked or (ends and short and not find_areas(s)):
            if not is_cells and not _CAPTION.match(s):
                heading = _HEADING_MARK.sub("", s).strip() or s
                context = _heading_name(heading) or context
            cur = Paragraph(line if is_cells else s, n, [(0, n)], heading, cells=is_cells, context=context,
                            is_heading=not is_cells)  # fmt: skip
            out.append(cur)
        elif ends:
            cur = Paragraph(s, n, [(0, n)], heading, context=context)
            out.append(cur)
        else:
            cur.offsets.append((len(cur.text), n))
            cur.text += s
    return out


def _sentences(text: str) -> list[tuple[int, int]]:
    out, start, depth = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "（"
        depth -= ch == "）" and depth > 0
        if ch == "。" and depth == 0:
            out.append((start, i + 1))
            start = i + 1
    if text[start:].strip():
        out.append((start, len(text)))
    return out


def _has_boundary(sentence: str) -> bool:
    return any(c.strong and c.form in ("direction", "adjacent") for c in find_clauses(fold(sentence)))


def _named_area_sentence(sentence: str) -> bool:
    first = re.split(r"[，：]", sentence, maxsplit=1)[0]
    return bool(find_areas(sentence)) and bool(_NAME_RE.match(clean_name(re.sub(r"^\d+", "", first))))


def passages(p: Paragraph) -> list[tuple[int, int]]:
    """Spans of the paragraph that hold 四至 descriptions, with the name/area sentences around them."""
    if p.cells:
        cells = p.text.split("\t")
        for i, cell in enumerate(cells):
            if _has_boundary(cell):
                start = len("\t".join(cells[:i])) + (1 if i else 0)
                return [(start, start + len(cell))]
        return []
    sents = _sentences(p.text)
    flags = [_has_boundary(p.text[a:b]) for a, b in sents]
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(sents):
        if not flags[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(sents) and (
            flags[j + 1] or _named_area_sentence(p.text[sents[j + 1][0] : sents[j + 1][1]])
        ):
            j += 1
        a = sents[i][0]
        if i > 0 and not flags[i - 1]:
            prev = p.text[sents[i - 1][0] : sents[i - 1][1]]
            if len(prev) <= 30 or (find_areas(prev) and re.search(r"包括|包含|分为", prev)):
                a = sents[i - 1][0]
        spans.append((a, sents[j][1]))
        i = j + 1
    return spans


def _heading_name(heading: str | None) -> str | None:
    if not heading:
        return None
    h = re.sub(r"^.*?[：:]", "", clean_name(heading))
    m = _NAME_RE.match(h)
    return m["name"] if m and level_of(m["name"])[0] != "place" else None


def qualified(name: str, context: str | None) -> str:
    """'发展统筹区' under 杭州高新区片区 → '杭州高新区片区发展统筹区'; other names stay as they are."""
    if context and GENERIC_NAMES.match(name) and not name.startswith(context):
        return context + name
    return name


def extract_document(
    text: str, *, file_name: str = "plan.txt", corridor_id: str | None = None
) -> dict[str, Any]:
    """Read a plan document; return a draft catalog (the boundaries/ format) with every zone found."""
    check_text(text, limit=MAX_DOCUMENT_BYTES, what=file_name)
    doc_id = "plan"
    meta = _metadata(text)
    paras = paragraphs(text)
    drafts: dict[str, Draft] = {}
    used: dict[int, list[tuple[int, int]]] = {}
    used_areas: dict[int, set[int]] = {}

    def add(name: str, **kw: Any) -> Draft:
        key = clean_name(name)
        if key not in drafts:
            level, level_zh = level_of(key)
            drafts[key] = Draft(key, level, level_zh)
        d = drafts[key]
        area, boundary = kw.get("area"), kw.get("boundary")
        if area:
            if d.area is None:
                d.area = area
            elif area["raw"] != d.area["raw"] or area["source"] != d.area["source"]:
                d.area_variants.append(area)
        if boundary:
            if d.boundary is None:
                d.boundary = boundary
            elif boundary["text"] != d.boundary["text"]:
                d.boundary_variants.append(boundary)
        if kw.get("parent") and not d.parent_name and clean_name(kw["parent"]) != key:
            d.parent_name = clean_name(kw["parent"])
        for al in kw.get("aliases", []):
            if al not in d.aliases and al != key:
                d.aliases.append(al)
        return d

    for p in paras:
        for a, b in passages(p):
            used.setdefault(id(p), []).append((a, b))
            consumed = used_areas.setdefault(id(p), set())
            _read_passage(p, a, b, doc_id, add, consumed)
    for p in paras:
        _read_statements(p, used_areas.get(id(p), set()), doc_id, add, drafts)
    return _to_catalog(drafts, meta, file_name, doc_id, corridor_id)


def _src(p: Paragraph, pos: int, doc_id: str) -> dict[str, Any]:
    return {"doc": doc_id, "section": p.heading or "", "line": p.line_at(pos)}


def _read_passage(p: Paragraph, a: int, b: int, doc_id: str, add: Any, consumed: set[int]) -> None:
    passage = p.text[a:b]
    prefix = ""
    if p.cells:  # table row: the zone's name is in an earlier cell
        cells = [c.strip() for c in p.text[:a].split("\t") if c.strip()]
        named = [c for c in cells if not c.isdigit() and _NAME_RE.match(clean_name(c))]
        prefix = (named[0] if named else "") + "："
    res = parse(prefix + passage)
    shift = a - len(prefix)
    from app.text import fold as _fold
    from app.text import join_lines

    f = _fold(join_lines(prefix + passage))
    multi = len(res.parts) > 1
    parent = qualified(res.zone, p.context) if res.zone else (p.context if multi else None)
    for area in [res.area, *(pt.area for pt in res.parts)]:
        if area is not None:
            consumed.add(shift + area.start)
    if multi and parent:
        area = res.area
        add(parent, area=_area(area, p, shift, doc_id) if area else None)
    for part in res.parts:
        name = qualified(part.name, parent) if multi and part.name else (res.zone or part.name or p.context)
        if not name:
            continue
        name = qualified(name, p.context) if not multi else name
        boundary = None
        if part.clauses:
            c0, c1 = part.clauses[0], part.clauses[-1]
            boundary = {
                "text": f.source(c0.start, c1.end).strip("，、 "),
                "source": _src(p, shift + c0.start, doc_id),
            }
        area = part.area if (multi or part.area) else res.area
        located = re.sub(r"^.*?(?=[^，]*$)", "", part.located) if part.located else None
        add(
            name,
            area=_area(area, p, shift, doc_id) if area else None,
            boundary=boundary,
            parent=parent if multi else (located if located and _NAME_RE.match(located) else None),
            aliases=part.aliases,
        )


def _area(area: Any, p: Paragraph, shift: int, doc_id: str) -> dict[str, Any]:
    return {"raw": area.raw, "km2": area.km2, "source": _src(p, max(0, shift + area.start), doc_id)}


def _read_statements(p: Paragraph, consumed: set[int], doc_id: str, add: Any, drafts: dict) -> None:
    """Areas and hierarchy words outside 四至 clauses: '核心区包括智慧片区、智造片区，规划面积 80.6 平方公里'."""
    text = p.text
    for sa, sb in _sentences(text):
        sentence = text[sa:sb]
        members = _MEMBERS.search(sentence)
        parent = None
        if members and _NAME_RE.match(clean_name(members["parent"])):
            parent = _NAME_RE.match(clean_name(members["parent"]))["name"]  # type: ignore[index]
            kids = re.split(r"[、和及与]", _COUNT_TAIL.sub("", clean_name(members["list"])))
            for k in kids:
                k = _COUNT_TAIL.sub("", k)
                if k in drafts and drafts[k].parent_name is None and k != parent:
                    drafts[k].parent_name = parent
        for area in find_areas(sentence):
            if sa + area.start in consumed:
                continue
            before = sentence[: area.start]
            phrase = re.split(r"[，；：]", before)[-1]
            name_src = re.sub(
                r"(?:总|规划|占地)?面积(?:约为|约|为)?$|约$", "", clean_name(re.sub(r"^\d+", "", phrase))
            )
            name_src = re.sub(r"^(?:包括|包含|其中|含|以及|及)", "", name_src)
            m = _NAME_RE.match(name_src)
            name = m["name"] if m else None
            if (
                name is None
                and parent
                and not re.sub(r"[\s，]", "", phrase).replace("规划面积", "").replace("面积", "")
            ):
                name = parent
            if name is None and p.cells:
                cells = [c.strip() for c in text.split("\t") if c.strip() and not c.strip().isdigit()]
                name = next((c for c in cells if _NAME_RE.match(clean_name(c))), None)
            if name and level_of(clean_name(name))[0] != "place":
                add(qualified(clean_name(name), p.context), area=_area(area, p, sa, doc_id))


def _metadata(text: str) -> dict[str, Any]:
    head = text[:5000]
    number = _DOC_NUMBER.search(head)
    date = _DATE.search(head)
    title = _TITLE.search(text[:20000])
    if title is None:
        line = next((ln.strip() for ln in text.splitlines() if "规划" in ln and len(ln.strip()) < 40), None)
        title_text = line
    else:
        title_text = title.group(1)
    title_text = re.sub(r"\s+", "", title_text) if title_text else None
    return {
        "number": number.group(0) if number else None,
        "issued": f"{date[1]}-{int(date[2]):02d}-{int(date[3]):02d}" if date else None,
        "title": title_text,
    }


def slug(name: str) -> str:
    try:
        from pypinyin import lazy_pinyin

        s = "".join(lazy_pinyin(name))
    except ImportError:  # pragma: no cover - pypinyin is a dependency
        s = ""
    s = re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")[:40].strip("-")
    return s or "zone"


def _to_catalog(
    drafts: dict[str, Draft], meta: dict, file_name: str, doc_id: str, root_id: str | None
) -> dict:
    title = meta["title"] or file_name
    root_name = re.sub(r"(?:发展)?(?:“十[一二三四五]五”)?(?:发展)?规划$", "", title) or title
    root_id = root_id or (slug(re.sub(r"\.[^.]+$", "", file_name)) or "plan")
    ids: dict[str, str] = {}
    for key in drafts:
        base, n = f"{root_id}-{slug(key)}", 2
        zid = base
        while zid in ids.values():
            zid, n = f"{base}-{n}", n + 1
        ids[key] = zid
    zones: list[dict[str, Any]] = [
        {"id": root_id, "name": root_name, "aliases": [], "level": "corridor", "level_zh": None, "parent": None,
         "notes": ["Draft root made from the document title; check the name and add the corridor's area."]}
    ]  # fmt: skip
    if root_name in drafts:  # the document states the corridor's own area or 四至: that zone is the root
        d = drafts.pop(root_name)
        zones[0].update(area=d.area, area_variants=d.area_variants, boundary=d.boundary,
                        boundary_variants=d.boundary_variants)  # fmt: skip
        ids[root_name] = root_id
    for key, d in drafts.items():
        parent = ids.get(d.parent_name or "", root_id)
        if parent == ids[key]:
            parent = root_id
        z: dict[str, Any] = {
            "id": ids[key], "name": d.name, "aliases": d.aliases, "level": d.level, "level_zh": d.level_zh,
            "parent": parent, "area": d.area, "area_variants": d.area_variants, "boundary": d.boundary,
            "boundary_variants": d.boundary_variants,
            "notes": ["Extracted automatically; check the parent, level and county against the document."],
        }  # fmt: skip
        zones.append(z)
    _break_cycles(zones, root_id)
    return {
        "schema": "corridor-catalog/1",
        "corridor": root_id,
        "sources": [
            {
                "id": doc_id,
                "title": title,
                "number": meta["number"],
                "issued": meta["issued"],
                "file": file_name,
            }
        ],
        "zones": zones,
        "notes": ["Draft written by `corridor extract`; review before use."],
    }


def _break_cycles(zones: list[dict[str, Any]], root_id: str) -> None:
    parent = {z["id"]: z["parent"] for z in zones}
    for z in zones:
        seen, node = set(), z["id"]
        while node is not None and node not in seen:
            seen.add(node)
            node = parent.get(node)
        if node is not None:  # a cycle through `node`: hang this zone on the root
            z["parent"] = root_id if z["id"] != root_id else None
            parent[z["id"]] = z["parent"]


def to_yaml(draft: dict[str, Any]) -> str:
    return yaml.safe_dump(draft, allow_unicode=True, sort_keys=False, width=200)
