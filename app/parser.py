"""四至 parser: boundary text → zone name, areas, parts, and the features bounding each side."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field, replace
from typing import Any

from app.areas import StatedArea, find_areas
from app.features import DIRECTIONS, Feature, clean_name, kind_of, make_feature
from app.text import Folded, check_text, fold, join_lines

CARDINAL = ("east", "south", "west", "north")
OPPOSITE = {
    "east": "west", "west": "east", "north": "south", "south": "north",
    "southeast": "northwest", "northwest": "southeast", "southwest": "northeast", "northeast": "southwest",
}  # fmt: skip
CHINESE_DIRECTION = {v: k for k, v in DIRECTIONS.items()}

_DIR = r"(?:东南|西南|东北|西北|东|南|西|北)"
STRONG_VERBS = "至起自到抵止"
WEAK_VERBS = "临邻靠"
CLAUSE_RE = re.compile(
    rf"(?P<dirs>{_DIR}(?:侧|面|边)?(?:(?:和|、|与|及){_DIR}(?:侧|面|边)?)*)\s*"
    rf"(?P<verb>[{STRONG_VERBS}{WEAK_VERBS}])(?!今|少|多|于|此|近|时|床|界)"
)
ADJACENT_RE = re.compile(
    rf"(?P<dirs>{_DIR})(?:侧|面|边)?(?:与|同|和|跟)(?P<obj>[^，。；、]+?)(?:相)?(?:接壤|毗邻|相邻|相接|交界|为邻|接界)"
)
BOUNDED_BY_RE = re.compile(r"以(?P<obj>[^，。；]+?)为(?:界|边界|界线)")
HALF_PLANE_RE = re.compile(
    r"^(?P<obj>[^，。；、]+?)以(?P<dir>东|南|西|北)(?:(?P<num>\d+(?:\.\d+)?)\s*(?:米|m))?(?:的)?(?:范围|区域|地区|部分)?$"
)
BOUNDARY_WORDS = re.compile(r"界|接壤|毗邻|相邻|交界|一线|围合|所围|以东|以南|以西|以北|沿")

# where a clause may start: after punctuation, a label, or a zone name written right before it
_START_AFTER_CHARS = set("，。；：、 \t\n（）为即—")
_START_AFTER_WORDS = (
    "范围", "四至", "单元", "小镇", "茶镇", "片区", "区块", "园区", "区域", "核心区", "产业园", "科技园",
    "科技城", "新城", "CBD", "基地", "片", "新区",
)  # fmt: skip
_START_AFTER_NAME = re.compile(
    "(?:" + "|".join(_START_AFTER_WORDS) + r")(?:[一二三四五六七八九十\d]+|（[^）]{1,8}）)?$"
)
_CHAIN_SEPARATORS = "—-~、"
_CONJUNCTIONS = ("以及", "和", "及", "与", "并")
_TRAILING = re.compile(
    r"(?:一线|为界|为止|止|所围合?的?(?:区域|范围)?|围合的?(?:区域|范围)?|之间|范围|区域)+$"
)
_LABEL = re.compile(r"^(?:——|—|-)*\s*(?:规划四至|四至范围|四至|规划范围|空间范围|范围|其中)?\s*[：:]?\s*")
_NAME_RE = re.compile(
    r"^(?P<name>[^，。；：、\s]{0,30}?(?:片区[一二三四五六七八九十\d]*|区块|单元|小镇|茶镇|园区|产业园|科技园|集群|"
    r"核心区|科技城|芯城|新城|区域|基地|CBD|走廊|廊道|片|园|城|区|镇)(?:（[^）]{1,8}）)?)"
    r"(?=$|将|为|以|位于|包括|包含|分为|规划|面积|约|总|占地|\d)"
)
_MEMBERSHIP = re.compile(r"^(?:包括|包含|分为?|辖|共|含|主要覆盖|覆盖|临近|靠近|紧邻|毗邻|邻近|地处|处于)")
_LEAD_NOISE = re.compile(
    r"^[\d\s]+(?=[\u4e00-\u9fff])|^(?:高标准|高水平|高质量|加快|全力|积极)?(?:建设|打造|推进)|^(?:本轮|本次|本规划)"
)


@dataclass
class Clause:
    start: int
    end: int
    sides: list[str]
    features: list[Feature]
    strong: bool
    form: str  # direction | adjacent | bounded_by | half_plane
    raw: str = ""


@dataclass
class Part:
    name: str | None = None
    aliases: list[str] = field(default_factory=list)
    area: StatedArea | None = None
    located: str | None = None
    clauses: list[Clause] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    start: int = 0
    end: int = 0

    def sides(self) -> dict[str, list[Feature]]:
        out: dict[str, list[Feature]] = {d: [] for d in CARDINAL}
        for c in self.clauses:
            for s in c.sides:
                out.setdefault(s, []).extend(c.features)
        return out


@dataclass
class ParseResult:
    zone: str | None
    area: StatedArea | None
    parts: list[Part]
    text: str
    ignored: list[str] = field(default_factory=list)
    reason: str | None = None

    @property
    def area_km2(self) -> float | None:
        if self.area is not None:
            return self.area.km2
        if self.parts and all(p.area for p in self.parts):
            return round(sum(p.area.km2 for p in self.parts), 6)  # type: ignore[union-attr]
        return None

    def features(self) -> list[Feature]:
        """Every feature named on any side of any part, in order."""
        return [f for p in self.parts for feats in p.sides().values() for f in feats]

    def to_dict(self) -> dict[str, Any]:
        parts = []
        for p in self.parts:
            sides = {k: [f.to_dict() for f in v] for k, v in p.sides().items()}
            parts.append(
                {
                    "name": p.name,
                    "aliases": p.aliases,
                    "area_km2": p.area.km2 if p.area else None,
                    "area_raw": p.area.raw if p.area else None,
                    "located": p.located,
                    "sides": sides,
                    "other": p.other,
                }
            )
        out: dict[str, Any] = {
            "zone": self.zone,
            "area_km2": self.area_km2,
            "area_raw": self.area.raw if self.area else None,
            "approximate": bool(self.area and self.area.approximate),
            "parts": parts,
            "ignored": self.ignored,
        }
        if self.reason:
            out["reason"] = self.reason
        return out


def parse(text: str) -> ParseResult:
    """Parse one boundary description (a clause, a zone paragraph, or a multi-part sentence)."""
    check_text(text)
    f = fold(join_lines(text))
    clauses = find_clauses(f)
    if not clauses:
        res = ParseResult(zone=None, area=None, parts=[], text=f.original, reason="no direction clause found")
        _fill_header(res, f, 0, len(f.text))
        return res
    return _assemble(f, clauses)


# ---------------------------------------------------------------- clause finding


def _depths(s: str) -> list[int]:
    depth, out = 0, []
    for ch in s:
        if ch == "（":
            depth += 1
        out.append(depth)
        if ch == "）" and depth > 0:
            depth -= 1
    return out


def _valid_start(s: str, pos: int, depth: list[int]) -> bool:
    if depth[pos] > 0:
        return False
    if pos == 0 or s[pos - 1] in _START_AFTER_CHARS:
        return True
    before = s[max(0, pos - 6) : pos]
    return bool(_START_AFTER_NAME.search(before)) or before[-1:].isdigit()


def _segment_of(s: str, pos: int) -> tuple[int, int]:
    a = max(s.rfind("。", 0, pos), s.rfind("；", 0, pos)) + 1
    ends = [i for i in (s.find("。", pos), s.find("；", pos)) if i >= 0]
    return a, min(ends) if ends else len(s)


def _body_end(s: str, start: int, stops: list[int], depth: list[int]) -> int:
    nxt = min([p for p in stops if p > start] + [len(s)])
    for i in range(start, nxt):
        if s[i] in "，。；\n" and depth[i] == 0:
            return i
    return nxt


def find_clauses(f: Folded) -> list[Clause]:
    s = f.text
    depth = _depths(s)
    starts: list[tuple[int, int, str, re.Match[str]]] = []
    for m in CLAUSE_RE.finditer(s):
        if _valid_start(s, m.start(), depth):
            starts.append((m.start(), m.end(), "direction", m))
    for m in ADJACENT_RE.finditer(s):
        if _valid_start(s, m.start(), depth):
            starts = [t for t in starts if not (m.start() <= t[0] < m.end())]
            starts.append((m.start(), m.end(), "adjacent", m))
    for m in BOUNDED_BY_RE.finditer(s):
        if depth[m.start()] == 0 and not any(a <= m.start() < b for a, b, *_ in starts):
            starts.append((m.start(), m.end(), "bounded_by", m))
    starts.sort(key=lambda t: t[0])
    stops = [t[0] for t in starts]

    clauses: list[Clause] = []
    for start, head_end, form, m in starts:
        if form == "direction":
            sides = [DIRECTIONS[d] for d in re.findall(_DIR, m["dirs"])]
            end = _body_end(s, head_end, stops, depth)
            body_start = head_end
            strong = m["verb"] in STRONG_VERBS
        else:
            sides = [DIRECTIONS[m["dirs"]]] if form == "adjacent" else []
            body_start, end, strong = m.start("obj"), m.end("obj"), True
        feats = _features(f, body_start, end)
        if form == "adjacent":
            for ft in feats:
                ft.qualifiers["relation"] = "adjacent"
                if ft.kind in ("zone_ref", "other"):
                    ft.kind = "admin_boundary" if kind_of(ft.name) == "admin_boundary" else ft.kind
        close = m.end() if form != "direction" else end
        clauses.append(Clause(start, close, sides, feats, strong, form, f.source(start, close)))

    # 'X以东': the zone lies east of X, so X bounds its west side
    covered = [(c.start, c.end) for c in clauses]
    for a, b in _phrases(s, 0, len(s), seps="，。；、："):
        lead = len(s[a:b]) - len(s[a:b].lstrip())
        a += lead
        m = HALF_PLANE_RE.match(s[a:b].strip())
        if not m or depth[a] > 0 or any(x <= a < y for x, y in covered) or "位于" in s[max(0, a - 2) : b]:
            continue
        feats = make_feature(f.source(a, a + m.end("obj")), m["obj"])
        for ft in feats:
            ft.qualifiers["relation"] = "half_plane"
            if m["num"]:
                ft.qualifiers["offset_m"] = float(m["num"])
        side = OPPOSITE[DIRECTIONS[m["dir"]]]
        clauses.append(Clause(a, b, [side], feats, True, "half_plane", f.source(a, b)))
    clauses.sort(key=lambda c: c.start)

    # weak verbs (北临) count only in a sentence that also has a strong direction clause
    kept = []
    for c in clauses:
        if not c.strong:
            a, b = _segment_of(s, c.start)
            if not any(o.strong and o.form == "direction" and a <= o.start < b for o in clauses):
                continue
        kept.append(c)
    return kept


def _features(f: Folded, start: int, end: int) -> list[Feature]:
    """Split a clause body into its chain of features."""
    s = f.text
    while start < end and s[start] in " \t":
        start += 1
    body = s[start:end].rstrip(" 、，")
    m = _TRAILING.search(body)
    if m and m.start() > 0:
        body = body[: m.start()]
    end = start + len(body)
    pieces: list[tuple[int, int]] = []
    depth, a = 0, start
    for i in range(start, end):
        ch = s[i]
        depth += ch == "（"
        depth -= ch == "）" and depth > 0
        if (
            depth == 0
            and ch in _CHAIN_SEPARATORS
            and not (ch == "-" and _latin(s, i - 1) and _latin(s, i + 1))
        ):
            pieces.append((a, i))
            a = i + 1
    pieces.append((a, end))
    out: list[Feature] = []
    for a, b in pieces:
        for a2, b2 in _split_conjunctions(s, a, b):
            piece = s[a2:b2].strip()
            if not piece:
                continue
            lead = len(s[a2:b2]) - len(s[a2:b2].lstrip())
            trail = len(s[a2:b2].rstrip())
            out.extend(make_feature(f.source(a2 + lead, a2 + trail), piece))
    return out


def _latin(s: str, i: int) -> bool:
    return 0 <= i < len(s) and ((s[i].isascii() and s[i].isalpha()) or "\u00c0" <= s[i] <= "\u024f")


def _split_conjunctions(s: str, a: int, b: int) -> list[tuple[int, int]]:
    """Split 'A和B', 'A及B', 'A与B' only where A ends like a feature and B is a name ('留和路' stays whole)."""
    piece = s[a:b]
    for conj in _CONJUNCTIONS:
        idx = piece.find(conj)
        while idx > 0:
            left, right = piece[:idx].strip(), piece[idx + len(conj) :].strip()
            if (
                len(right) >= 2
                and kind_of(clean_name(left.split("（")[0])) != "other"
                and "（" not in right[:1]
            ):
                cut = a + idx
                return [(a, cut), *_split_conjunctions(s, cut + len(conj), b)]
            idx = piece.find(conj, idx + 1)
    return [(a, b)]


# ---------------------------------------------------------------- parts, names and areas


def _assemble(f: Folded, clauses: list[Clause]) -> ParseResult:
    s = f.text
    parts: list[Part] = []
    cur: Part | None = None
    prev_end = 0
    header_end = clauses[0].start
    for c in clauses:
        gap_a, gap_b = prev_end, c.start
        if c.form == "bounded_by" and cur is not None and cur.clauses and not s[gap_a:gap_b].strip("，、 "):
            c.sides = list(cur.clauses[-1].sides)  # 东起A，以B为界: B bounds the same side
        if cur is None:
            cur = Part(start=c.start)
            parts.append(cur)
        else:
            split = _part_break(s, gap_a, gap_b)
            seen = {d for cl in cur.clauses for d in cl.sides}
            if split is None and seen & set(c.sides) and c.form == "direction":
                split = gap_a
            if split is not None:
                _read_gap(cur, f, gap_a, split)
                cur.end = split
                cur = Part(start=split)
                parts.append(cur)
                _read_preamble(cur, f, split, gap_b)
            else:
                _read_gap(cur, f, gap_a, gap_b)
        if c.form == "bounded_by" and not c.sides:
            cur.other.append(c.raw)
        else:
            cur.clauses.append(c)
        prev_end = max(prev_end, c.end)

    res = ParseResult(zone=None, area=None, parts=parts, text=f.original)
    # header before the first clause: zone-level words, then the first part's own preamble
    first_pre = _part_break(s, 0, header_end, header=True)
    if first_pre is None and len(parts) > 1:
        named = [pa for pa, pb in _phrases(s, 0, header_end) if "name" in _phrase_info(s[pa:pb])]
        first_pre = named[-1] if named else None
    _fill_header(res, f, 0, first_pre if first_pre is not None else header_end)
    if first_pre is not None:
        _read_preamble(parts[0], f, first_pre, header_end)
    # after the last clause: the last part's tail, zone totals, and parts with no 四至 (糖醇产业园…)
    _read_trailer(res, f, prev_end, len(s))
    for p in parts:
        p.end = p.end or prev_end
    if len(res.parts) == 1:
        p = res.parts[0]
        if res.zone is None and p.name and (res.area is None or p.area is None or res.area.km2 == p.area.km2):
            res.zone, p.name = p.name, None
        elif p.name == res.zone:
            p.name = None
        if res.area is None and p.area is not None:
            res.area = p.area
        elif p.area is None and res.area is not None:
            p.area = res.area
    return res


def _phrases(s: str, a: int, b: int, seps: str = "，。；：") -> list[tuple[int, int]]:
    out, start = [], a
    for i in range(a, b):
        if s[i] in seps:
            if s[start:i].strip():
                out.append((start, i))
            start = i + 1
    if s[start:b].strip():
        out.append((start, b))
    return out


def _phrase_info(phrase: str, offset: int = 0, f: Folded | None = None) -> dict[str, Any]:
    """What one header phrase says: a name, an alias (为…), a locator (位于…), an area, or nothing useful.

    `offset` is where the phrase starts in `f.text`; areas come back with offsets and raw words of `f`.
    """
    stripped = phrase.lstrip()
    p1 = _LABEL.sub("", stripped)
    p0 = _LEAD_NOISE.sub("", p1)
    base = offset + len(phrase) - len(p0)  # only a prefix was removed
    info: dict[str, Any] = {}
    if not p0.strip():
        return info
    areas = find_areas(p0)
    p = p0
    if areas:
        a = areas[0]
        start, end = base + a.start, base + a.end
        raw = f.source(start, end).strip() if f is not None else a.raw
        info["area"] = replace(a, start=start, end=end, raw=raw)
        p = p0[: a.start]
        p = re.sub(r"(?:总|规划|占地|用地)?面积(?:约为|约|为)?\s*$|约\s*$", "", p)
    p = clean_name(p)
    if _MEMBERSHIP.match(p):
        info["membership"] = True
        return info
    loc = re.search(r"位于(?P<loc>.+?)(?:[，,]?规划范围)?$", p)
    if loc:
        info["located"] = loc["loc"]
        p = p[: loc.start()].strip()
    m = re.match(r"^(?P<name>.+?)为(?P<alias>.{1,15})$", p)
    nm = _NAME_RE.match(m["name"]) if m else None
    if m and nm and nm["name"] == m["name"]:
        info["name"], info["alias"] = m["name"], clean_name(m["alias"])
        return info
    m = _NAME_RE.match(p)
    if m and len(m["name"]) >= 2:
        info["name"] = re.sub(r"\d+$", "", m["name"])
    elif p and not areas and not loc:
        info["prose"] = True
    return info


def _part_break(s: str, a: int, b: int, header: bool = False) -> int | None:
    """Where the next part's preamble starts inside the gap s[a:b], or None when the gap starts no part."""
    gap = s[a:b]
    sep = max(gap.rfind("。"), gap.rfind("；"))
    phrases = _phrases(s, a, b)
    named = [(pa, pb) for pa, pb in phrases if "name" in _phrase_info(s[pa:pb])]
    if header:
        if sep >= 0 and any(pa > a + sep for pa, _ in named):
            return a + sep + 1
        # several names or areas in one sentence: the last named phrase starts the first part
        has_zone_words = len(named) > 1 or any(
            "area" in _phrase_info(s[pa:pb]) for pa, pb in phrases if not named or pa < named[-1][0]
        )
        if named and has_zone_words:
            return named[-1][0]
        return None
    if sep >= 0 and (named or find_areas(gap[sep:])):
        return a + sep + 1
    if named:
        return named[0][0]
    return None


def _fill_header(res: ParseResult, f: Folded, a: int, b: int) -> None:
    for pa, pb in _phrases(f.text, a, b):
        info = _phrase_info(f.text[pa:pb], pa, f)
        if "name" in info and res.zone is None:
            res.zone = info["name"]
        if "area" in info and (res.area is None or info["area"].total):
            res.area = info["area"]
        if info.get("prose") or info.get("membership"):
            res.ignored.append(f.source(pa, pb).strip())


def _read_preamble(part: Part, f: Folded, a: int, b: int) -> None:
    for pa, pb in _phrases(f.text, a, b):
        info = _phrase_info(f.text[pa:pb], pa, f)
        if "name" in info and part.name is None:
            part.name = info["name"]
        if "alias" in info:
            part.aliases.append(info["alias"])
        if "located" in info:
            part.located = info["located"]
        if "area" in info and part.area is None:
            part.area = info["area"]


def _read_gap(part: Part, f: Folded, a: int, b: int) -> None:
    """Words after a part's clauses: its area, or unknown boundary phrasing kept in `other`."""
    for pa, pb in _phrases(f.text, a, b):
        phrase = f.text[pa:pb]
        info = _phrase_info(phrase, pa, f)
        if "area" in info:
            part.area = part.area or info["area"]
        elif HALF_PLANE_RE.match(phrase.strip()) or info.get("membership"):
            continue
        elif BOUNDARY_WORDS.search(phrase):
            part.other.append(f.source(pa, pb).strip())


def _read_trailer(res: ParseResult, f: Folded, a: int, b: int) -> None:
    s = f.text
    last = res.parts[-1]
    # split the trailer into sentences; the first belongs to the last part, later named ones are new parts
    bounds = [a] + [i + 1 for i in range(a, b) if s[i] in "。；"] + [b]
    for i, (sa, sb) in enumerate(itertools.pairwise(bounds)):
        if sa >= sb:
            continue
        infos = [(pa, pb, _phrase_info(s[pa:pb], pa, f)) for pa, pb in _phrases(s, sa, sb)]
        if i > 0 and any("name" in inf and "area" in inf for *_, inf in infos):
            p = Part(start=sa, end=sb)
            _read_preamble(p, f, sa, sb)
            res.parts.append(p)
            continue
        for pa, pb, inf in infos:
            if "area" in inf and (
                inf.get("membership") or inf.get("name") not in (None, last.name, res.zone)
            ):
                res.ignored.append(f.source(pa, pb).strip())
            elif "area" in inf:
                if inf["area"].total or (len(res.parts) > 1 and last.area is not None):
                    res.area = res.area if res.area and not inf["area"].total else inf["area"]
                elif last.area is None:
                    last.area = inf["area"]
            elif HALF_PLANE_RE.match(s[pa:pb].strip()):
                continue
            elif inf.get("prose") or inf.get("membership"):
                if i == 0 and BOUNDARY_WORDS.search(s[pa:pb]) and not inf.get("membership"):
                    last.other.append(f.source(pa, pb).strip())
                else:
                    res.ignored.append(f.source(pa, pb).strip())
