"""Stated areas: find '规划面积 11.95 平方公里', '约1800亩', '26万平方米' in text and convert to km²."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# km² per unit, longest spellings first so that 万平方米 wins over 平方米.
UNITS: dict[str, float] = {
    "平方公里": 1.0,
    "平方千米": 1.0,
    "km²": 1.0,
    "km2": 1.0,
    "万平方米": 0.01,
    "平方米": 1e-6,
    "公顷": 0.01,
    "hm²": 0.01,
    "hm2": 0.01,
    "ha": 0.01,
    "亩": 1 / 1500,
    "m²": 1e-6,
    "m2": 1e-6,
}
_UNIT_RE = "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))
AREA_RE = re.compile(
    r"(?P<qual>(?:总|规划|占地|用地|控制)*面积)?\s*(?P<approx>约为|约|为|达)?\s*"
    r"(?P<num>\d+(?:\.\d+)?)\s*(?P<wan>万)?\s*(?P<unit>" + _UNIT_RE + r")(?![A-Za-z])"
)


@dataclass(frozen=True)
class StatedArea:
    raw: str  # the matched words, as written
    km2: float
    unit: str
    approximate: bool
    total: bool  # written as 总面积
    start: int
    end: int


def _fold(text: str) -> str:
    """NFKC per character with the same length, so match offsets index the original text."""
    out = []
    for ch in text:
        n = unicodedata.normalize("NFKC", ch)
        out.append(n if len(n) == 1 else ch)
    return "".join(out).replace("㎡", "m²").replace("㎢", "km²")


def find_areas(text: str) -> list[StatedArea]:
    """Every area statement in `text`, in order. '万亩千亿' and other numberless 亩 are not areas."""
    folded = _fold(text)
    found = []
    for m in AREA_RE.finditer(folded):
        unit = m["unit"]
        value = float(m["num"]) * (10000 if m["wan"] else 1) * UNITS[unit]
        approx = (
            bool(m["approx"] and "约" in m["approx"]) or "约" in folded[max(0, m.start() - 2) : m.start()]
        )
        found.append(
            StatedArea(
                raw=text[m.start() : m.end()].strip(),
                km2=round(value, 10),
                unit=("万" if m["wan"] else "") + unit,
                approximate=approx,
                total=bool(m["qual"] and m["qual"].startswith("总")),
                start=m.start(),
                end=m.end(),
            )
        )
    return found


def parse_area(text: str) -> StatedArea | None:
    """The first area statement in `text`, or None."""
    areas = find_areas(text)
    return areas[0] if areas else None
