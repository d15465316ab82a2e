"""One boundary feature as written ('浙西大道（G320 国道）') → normalized name, kind, aliases and qualifiers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

KINDS = (
    "road", "expressway", "national_road", "provincial_road", "county_road", "township_road", "railway",
    "high_speed_rail", "river", "canal", "water", "admin_boundary", "scenic_boundary", "ridge", "mountain",
    "mountain_foot", "landmark", "zone_ref", "parcel", "planned", "other",
)  # fmt: skip

DIRECTIONS = {
    "东": "east", "南": "south", "西": "west", "北": "north",
    "东南": "southeast", "西南": "southwest", "东北": "northeast", "西北": "northwest",
}  # fmt: skip

ROUTE_TYPES = {
    "国道": "national_road",
    "省道": "provincial_road",
    "县道": "county_road",
    "乡道": "township_road",
}
ROUTE_LETTER = {"national_road": "G", "provincial_road": "S", "county_road": "X", "township_road": "Y"}
LETTER_KIND = {"G": "national_road", "S": "provincial_road", "X": "county_road", "Y": "township_road"}


@dataclass
class Feature:
    text: str  # as written, direction verb and separators removed
    name: str
    kind: str
    aliases: list[str] = field(default_factory=list)
    qualifiers: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "name": self.name,
            "kind": self.kind,
            "aliases": list(self.aliases),
            "qualifiers": dict(self.qualifiers),
        }


# Suffix tables, checked in order; the first that matches the end of the name decides the kind.
_UNNAMED = {
    "水系": "water", "河道": "water", "水域": "water", "现状地块": "parcel", "地块": "parcel",
    "规划铁路": "planned", "规划道路": "planned", "规划支路": "planned", "规划路": "planned",
    "规划河道": "planned",
}  # fmt: skip
_SUFFIX_KINDS: list[tuple[str, tuple[str, ...]]] = [
    ("high_speed_rail", ("高铁", "高速铁路", "城际铁路", "客运专线", "客专")),
    ("railway", ("铁路", "铁路线", "号线")),
    ("ridge", ("山脊线", "山脊")),
    ("mountain_foot", ("山体山脚", "山脚", "山麓")),
    (
        "expressway",
        ("高速", "高速公路", "高速复线", "西复线", "东复线", "复线", "绕城公路", "快速路", "环线"),
    ),
    ("road", ("大道", "大街", "公路", "支路", "路", "街", "巷", "弄", "道", "线")),
    ("canal", ("运河", "渠")),
    ("river", ("江", "河", "溪", "川", "浦", "港")),
    ("water", ("湖", "水库", "海", "湾", "塘")),
    (
        "landmark",
        (
            "大学",
            "学院",
            "校区",
            "学校",
            "中学",
            "小学",
            "驾校",
            "纪念馆",
            "博物馆",
            "火车站",
            "高铁站",
            "站",
            "机场",
            "码头",
            "公园",
            "广场",
            "医院",
            "大厦",
            "寺",
            "塔",
            "大桥",
            "桥",
            "沙",
            "坞",
            "洲",
            "岛",
        ),
    ),
    ("scenic_boundary", ("风景名胜区", "风景区", "景区", "度假区", "旅游区", "保护区", "湿地")),
    (
        "zone_ref",
        (
            "单元",
            "片区",
            "区块",
            "小镇",
            "新城",
            "科技城",
            "园区",
            "产业园",
            "科技园",
            "开发区",
            "高新区",
            "新区",
            "CBD",
            "基地",
        ),
    ),
    ("admin_boundary", ("街道", "区", "县", "市", "镇", "乡", "村")),
    ("mountain", ("山", "峰", "岭", "岗", "尖", "顶")),
]

_ADMIN_LINE = re.compile(
    r"^(?P<unit>.+?)(?P<side>东南|西南|东北|西北|东|南|西|北)?侧?(?P<word>镇界|县界|区界|市界|乡界|省界|街道界|行政界线?|边界线?|界线|界)$"
)
_SIDE_SUFFIX = re.compile(
    r"^(?P<core>.+?)(?P<side>东南|西南|东北|西北|东|南|西|北)侧(?P<rest>山体山脚|山脚|山麓)?$"
)
_OFFSET = re.compile(
    r"^(?P<core>.+?)以(?P<side>东南|西南|东北|西北|东|南|西|北)(?:(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>米|m|公里|千米|km))?(?:范围|区域)?$"
)
_DISTRICT = re.compile(
    r"^(?P<unit>[\u4e00-\u9fff]{1,4}?(?:自治县|区|县|市))(?P<rest>[\u4e00-\u9fffA-Za-z0-9].+)$"
)
_NOT_DISTRICT = (
    "园区", "片区", "城区", "景区", "社区", "小区", "新区", "开发区", "高新区", "风景区", "度假区", "保护区",
    "功能区", "厂区", "校区", "市区", "街区", "湾区", "港区", "矿区", "山区", "旅游区", "核心区", "示范区",
)  # fmt: skip
_TOWN = re.compile(
    r"^(?P<town>[\u4e00-\u9fff]{1,5}?(?:街道|镇|乡))(?P<village>[\u4e00-\u9fff]{1,4}?村)?(?P<rest>.+)$"
)
_NOT_TOWN = ("小镇", "茶镇", "特色镇")
_CODE = re.compile(
    r"^(?P<letter>[GSXYC])\s*(?P<num>\d{1,4})\s*(?P<type>国道|省道|县道|乡道|高速公路|高速)?$", re.I
)
_NUM_ROUTE = re.compile(r"^(?P<num>\d{1,4})\s*(?P<type>国道|省道|县道|乡道)$")
_CODE_THEN_NAME = re.compile(r"^(?P<code>[GS]\d{1,4})\s*(?P<name>[\u4e00-\u9fff]+(?:高速公路|高速))$")
_TYPE_FIRST = re.compile(r"^(?P<type>国道|省道|县道|乡道)(?P<name>[\u4e00-\u9fff].*)$")
_ENDPOINTS = re.compile(r"^(?P<a>[^至]+)至(?P<b>[^至]+)$")
_SPACES = re.compile(r"\s+")
_LATIN_GAP = re.compile(r"(?<=[A-Za-z\u00c0-\u024f])\s+(?=[A-Za-z\u00c0-\u024f])")


def clean_name(s: str) -> str:
    """Name normalization shared with the gazetteer: no spaces (but one between Latin words), no stray
    punctuation at the ends."""
    s = _LATIN_GAP.sub("\u0000", s.strip())
    return _SPACES.sub("", s).replace("\u0000", " ").strip("，、。；：“”\"'·")


def route_code(core: str) -> tuple[str, str, str] | None:
    """'G320 国道' → ('G320国道', 'national_road', 'G320'); '46 省道' → ('S46省道', …); 'G60' → expressway."""
    s = clean_name(core)
    m = _CODE.match(s)
    if m:
        letter, num, typ = m["letter"].upper(), m["num"], m["type"]
        ref = f"{letter}{num}"
        if typ in ROUTE_TYPES:
            return f"{ref}{typ}", ROUTE_TYPES[typ], ref
        if typ or (letter in "GS" and len(num) in (1, 2, 4)):
            return ref, "expressway", ref
        return ref, LETTER_KIND.get(letter, "road"), ref
    m = _NUM_ROUTE.match(s)
    if m:
        kind = ROUTE_TYPES[m["type"]]
        ref = f"{ROUTE_LETTER[kind]}{m['num']}"
        return f"{ref}{m['type']}", kind, ref
    return None


def kind_of(name: str) -> str:
    """The kind a name's ending implies ('鉴湖大道' → road, '北塘河' → river, '公馆山' → mountain)."""
    if name in _UNNAMED:
        return _UNNAMED[name]
    if name.startswith("规划"):
        return "planned"
    if route_code(name):
        return route_code(name)[1]  # type: ignore[index]
    if "高速" in name or "绕城" in name:
        return "expressway"
    for t, k in ROUTE_TYPES.items():
        if name.endswith(t):
            return k
    for kind, suffixes in _SUFFIX_KINDS:
        if any(name.endswith(s) for s in suffixes):
            if kind == "admin_boundary" and any(name.endswith(s) for s in _NOT_DISTRICT):
                continue
            return kind
    return "other"


def _split_brackets(s: str) -> tuple[str, list[str], str]:
    """'沪昆高速（G60）' → ('沪昆高速', ['G60'], ''); text after the last bracket is returned as the tail."""
    core, notes, tail = [], [], ""
    depth, buf = 0, []
    for ch in s:
        if ch == "（":
            if depth == 0:
                core.append("".join(buf))
                buf = []
            else:
                buf.append(ch)
            depth += 1
        elif ch == "）" and depth > 0:
            depth -= 1
            if depth == 0:
                notes.append("".join(buf))
                buf = []
            else:
                buf.append(ch)
        else:
            buf.append(ch)
    rest = "".join(buf)
    if depth > 0:  # unbalanced: keep what we have as a note
        notes.append(rest)
        rest = ""
    if notes:
        tail = rest
    else:
        core.append(rest)
    return "".join(core), notes, tail


def make_feature(text: str, folded: str | None = None) -> list[Feature]:
    """Read one chain element. Usually one feature; two when a bracket gloss is followed by a second name."""
    s = clean_name(folded if folded is not None else text)
    if not s:
        return []
    core, notes, tail = _split_brackets(s)
    out = [_feature(text.strip(), clean_name(core), notes)]
    if tail and len(tail) >= 2 and kind_of(tail) != "other":
        # '展望大道（杭绍甬高速复线）人民大道': a gloss, then a second feature with no separator
        cut = text.rfind("）") + 1 if "）" in text else text.rfind(")") + 1
        out[0].text = text[:cut].strip() if cut > 0 else out[0].text
        out.extend(make_feature(text[cut:] if cut > 0 else tail, tail))
    elif tail:
        out[0].qualifiers["note"] = tail
    return out


def _feature(text: str, core: str, notes: list[str]) -> Feature:
    q: dict[str, Any] = {}
    aliases: list[str] = []
    name = core

    # 规划 prefix: planned feature; unnamed ones keep the whole phrase
    planned = False
    if name.startswith("规划") and name not in _UNNAMED:
        planned = True
        name = name[2:]

    # side and offset qualifiers at the end
    m = _OFFSET.match(name)
    if m:
        name = m["core"]
        q["side"] = DIRECTIONS[m["side"]]
        if m["num"]:
            factor = 1000 if m["unit"] in ("公里", "千米", "km") else 1
            q["offset_m"] = float(m["num"]) * factor
    kind = None
    m = _ADMIN_LINE.match(name)
    if m and not name.endswith(("山脊线", "复线", "环线", "号线")):
        unit = m["unit"]
        if m["side"]:
            q["side"] = DIRECTIONS[m["side"]]
        if m["word"] in ("镇界", "县界", "区界", "市界", "乡界", "省界", "街道界") and not unit.endswith(
            ("镇", "县", "区", "市", "乡", "省", "街道")
        ):
            unit += m["word"][:-1]
        name = unit
        scenic = any(w in unit for w in ("风景", "景区", "度假区", "旅游区", "保护区"))
        kind = "scenic_boundary" if scenic else "admin_boundary"
    elif name.endswith(("山脊线", "山脊")):
        m2 = re.match(r"^(?P<ref>.+?)(?P<side>东南|西南|东北|西北|东|南|西|北)侧(?:山脊线|山脊)$", name)
        if m2:
            q["side"] = DIRECTIONS[m2["side"]]
            q["reference"] = m2["ref"]
    else:
        m = _SIDE_SUFFIX.match(name)
        if m and (m["rest"] or kind_of(m["core"]) != "other"):
            name = m["core"]
            q["side"] = DIRECTIONS[m["side"]]
            if m["rest"]:
                kind = "mountain_foot"

    # administrative prefixes: district/county, then town and village
    m = _DISTRICT.match(name)
    if m and not m["unit"].endswith(_NOT_DISTRICT) and len(m["rest"]) >= 3 and kind_of(m["rest"]) != "other":
        q["district"] = m["unit"]
        name = m["rest"]
        if "reference" in q and q["reference"].startswith(m["unit"]):
            q["reference"] = q["reference"][len(m["unit"]) :]
    m = _TOWN.match(name)
    if (
        m
        and kind not in ("admin_boundary", "scenic_boundary")
        and not m["town"].endswith(_NOT_TOWN)
        and len(m["rest"]) >= 2
        and kind_of(m["rest"]) not in ("other", "admin_boundary")
    ):
        q["town"] = m["town"]
        if m["village"]:
            q["village"] = m["village"]
        name = m["rest"]

    # route codes and type words
    ref = None
    m = _TYPE_FIRST.match(name)
    if m and not route_code(name):
        kind = kind or ROUTE_TYPES[m["type"]]
        aliases.append(name)
        name = m["name"]
    m = _CODE_THEN_NAME.match(name)
    if m:
        ref = m["code"].upper()
        aliases.append(name)
        name = m["name"]
    rc = route_code(name)
    if rc:
        canonical, rkind, ref = rc
        if canonical != name:
            aliases.append(name)
        name, kind = canonical, kind or rkind
    for note in notes:
        n = clean_name(note)
        nrc = route_code(n)
        ep = _ENDPOINTS.match(n)
        if nrc:
            ref = nrc[2]
            aliases.append(nrc[0])
            if kind is None and nrc[1] != "expressway" and kind_of(name) in ("road", "other"):
                kind = nrc[1]
        elif ep and len(ep["a"]) <= 6 and len(ep["b"]) <= 6:
            q["endpoints"] = [ep["a"], ep["b"]]
        elif kind_of(n) != "other":
            aliases.append(n)
        else:
            q.setdefault("note", n)
    if ref:
        q["ref"] = ref

    if name in _UNNAMED:
        q["unnamed"] = True
    if planned or name.startswith("规划") or kind == "planned":
        q["planned"] = True
        kind = "planned"
    kind = kind or kind_of(name)
    return Feature(text=text, name=name, kind=kind, aliases=_dedupe(aliases, name), qualifiers=q)


def _dedupe(items: list[str], name: str) -> list[str]:
    out: list[str] = []
    for i in items:
        i = clean_name(i)
        if i and i != name and i not in out:
            out.append(i)
    return out
