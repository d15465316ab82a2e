"""Catalog consistency report: stated areas of children vs parents, text conflicts, missing boundaries."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from app.catalog import Catalog, Zone
from app.parser import CARDINAL, parse


def decimals(raw_km2: float) -> int:
    exp = Decimal(repr(raw_km2)).normalize().as_tuple().exponent
    return max(0, -int(exp))


def rounding_tolerance(values: list[float]) -> float:
    """Largest difference that rounding of the written values alone can explain."""
    return sum(0.5 * 10 ** -decimals(v) for v in values)


@dataclass
class AreaRow:
    zone_id: str
    name: str
    stated_km2: float
    stated_raw: str
    children: list[str]
    children_sum_km2: float
    difference_km2: float
    tolerance_km2: float
    status: str  # consistent | partial | exceeds | approximate


@dataclass
class ConflictRow:
    zone_id: str
    name: str
    what: str  # area | boundary
    main: str
    variant: str
    detail: str


@dataclass
class BoundaryRow:
    zone_id: str
    name: str
    parts: int
    missing_sides: list[str]
    other: list[str]
    unnamed: list[str]


@dataclass
class Report:
    zones: int
    corridors: list[str]
    areas: list[AreaRow] = field(default_factory=list)
    conflicts: list[ConflictRow] = field(default_factory=list)
    without_boundary: list[dict[str, str]] = field(default_factory=list)
    boundaries: list[BoundaryRow] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def area_rows(cat: Catalog) -> list[AreaRow]:
    rows = []
    for z in cat:
        parts = [cat[c] for c in cat.children[z.id] if cat[c].role == "part"]
        known = {k.id: effective_area(cat, k.id) for k in parts}
        kids = [k for k in parts if known[k.id] is not None]
        if z.area is None or not kids:
            continue
        values = [known[k.id] for k in kids]
        total = round(sum(values), 6)
        diff = round(total - z.area.km2, 6)
        tol = round(rounding_tolerance([z.area.km2, *values]), 6)
        if abs(diff) <= tol + 1e-9:
            status = "consistent"
        elif z.area.approximate and abs(diff) <= 0.02 * z.area.km2:
            status = "approximate"
        elif len(kids) < len(parts):
            status = f"incomplete ({len(parts) - len(kids)} parts have no stated area)"
        elif diff < 0:
            status = "partial"
        else:
            status = "exceeds"
        rows.append(
            AreaRow(z.id, z.name, z.area.km2, z.area.raw, [k.id for k in kids], total, diff, tol, status)
        )
    return rows


def effective_area(cat: Catalog, zone_id: str) -> float | None:
    """The stated area, or else the sum of the stated areas of the zone's parts (recursively)."""
    z = cat[zone_id]
    if z.area is not None:
        return z.area.km2
    parts = [c for c in cat.children[zone_id] if cat[c].role == "part"]
    values = [effective_area(cat, c) for c in parts]
    if not parts or any(v is None for v in values):
        return None
    return round(sum(values), 6)  # type: ignore[arg-type]


def _sides_signature(text: str) -> dict[str, list[str]]:
    res = parse(text)
    sig: dict[str, list[str]] = {}
    for p in res.parts:
        for side, feats in p.sides().items():
            if feats:
                sig.setdefault(side, []).extend(f.name for f in feats)
    return sig


def conflict_rows(cat: Catalog) -> list[ConflictRow]:
    rows = []
    for z in cat:
        for v in z.area_variants:
            if z.area is not None and abs(v.km2 - z.area.km2) > 1e-9:
                rows.append(
                    ConflictRow(
                        z.id, z.name, "area", f"{z.area.raw} ({z.area.source.section})",
                        f"{v.raw} ({v.source.section})", f"{z.area.km2:g} vs {v.km2:g} km²",
                    )
                )  # fmt: skip
        for b in z.boundary_variants:
            if z.boundary is None:
                continue
            a, c = _sides_signature(z.boundary.text), _sides_signature(b.text)
            detail = "same features on every side" if a == c else f"features differ: {a} vs {c}"
            rows.append(
                ConflictRow(z.id, z.name, "boundary", z.boundary.source.section, b.source.section, detail)
            )
    return rows


def boundary_rows(cat: Catalog) -> list[BoundaryRow]:
    rows = []
    for z in cat:
        if z.boundary is None:
            continue
        res = parse(z.boundary.text)
        missing, other, unnamed = [], [], []
        for p in res.parts:
            sides = p.sides()
            covered = {s for s, fs in sides.items() if fs}
            diagonal = {d for d in covered if d not in CARDINAL}
            for s in CARDINAL:
                if s not in covered and not any(s in d for d in diagonal):
                    missing.append(s if p.name is None else f"{p.name}:{s}")
            other.extend(p.other)
            unnamed.extend(f.text for fs in sides.values() for f in fs if f.qualifiers.get("unnamed"))
        rows.append(BoundaryRow(z.id, z.name, len(res.parts), missing, other, unnamed))
    return rows


def without_boundary(cat: Catalog) -> list[dict[str, str]]:
    out = []
    for z in cat:
        if z.boundary is not None:
            continue
        kids = cat.children[z.id]
        if kids and _has_geometry_source(cat, z):
            how = "union of children"
        elif z.area is not None:
            how = "area only: no geometry derivable from the text"
        else:
            how = "named place: no boundary or area in the text"
        out.append({"zone_id": z.id, "name": z.name, "level": z.level, "how": how})
    return out


def _has_geometry_source(cat: Catalog, z: Zone) -> bool:
    return any(cat[c].boundary is not None or _has_geometry_source(cat, cat[c]) for c in cat.children[z.id])


def check(cat: Catalog) -> Report:
    return Report(
        zones=len(cat),
        corridors=cat.corridors,
        areas=area_rows(cat),
        conflicts=conflict_rows(cat),
        without_boundary=without_boundary(cat),
        boundaries=boundary_rows(cat),
    )


def format_text(r: Report) -> str:
    """The report as plain text tables, for a terminal."""
    lines = [f"catalog: {r.zones} zones in {len(r.corridors)} corridors ({', '.join(r.corridors)})", ""]
    lines.append("Stated areas: parent vs sum of children (km²)")
    hdr = f"{'zone':<24}{'name':<16}{'stated':>10}{'Σ children':>12}{'diff':>9}{'tol':>7}  status"
    lines += [hdr, "-" * len(hdr)]
    for a in r.areas:
        lines.append(
            f"{a.zone_id:<24}{_w(a.name, 16)}{a.stated_km2:>10g}{a.children_sum_km2:>12g}"
            f"{a.difference_km2:>+9.3f}{a.tolerance_km2:>7.3f}  {a.status} ({len(a.children)} children)"
        )
    lines += ["", "Conflicts between statements of the same zone"]
    for c in r.conflicts:
        lines.append(f"  {c.zone_id} {c.name} [{c.what}] {c.main}  |  {c.variant}: {c.detail}")
    if not r.conflicts:
        lines.append("  none")
    lines += ["", "Zones without a 四至 of their own"]
    for w in r.without_boundary:
        lines.append(f"  {w['zone_id']:<28}{_w(w['name'], 22)} {w['how']}")
    lines += ["", "四至 clauses: missing sides, phrasing in 'other', unnamed features"]
    for b in r.boundaries:
        flags = []
        if b.missing_sides:
            flags.append("missing " + ",".join(b.missing_sides))
        if b.other:
            flags.append("other: " + " / ".join(b.other))
        if b.unnamed:
            flags.append("unnamed: " + ",".join(b.unnamed))
        lines.append(f"  {b.zone_id:<28}{_w(b.name, 22)} {'; '.join(flags) or 'complete'}")
    return "\n".join(lines)


def format_markdown(r: Report) -> str:
    rows = [
        "| zone | name | stated km² | Σ children km² | diff | tolerance | status |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for a in r.areas:
        rows.append(
            f"| {a.zone_id} | {a.name} | {a.stated_km2:g} | {a.children_sum_km2:g} | {a.difference_km2:+.3f} "
            f"| {a.tolerance_km2:.3f} | {a.status} |"
        )
    return "\n".join(rows)


def _w(s: str, width: int) -> str:
    """Pad to a display width, counting CJK characters as two columns."""
    used = sum(2 if ord(ch) > 0x2E80 else 1 for ch in s)
    if used > width - 1:
        out, used = "", 0
        for ch in s:
            cw = 2 if ord(ch) > 0x2E80 else 1
            if used + cw > width - 2:
                break
            out, used = out + ch, used + cw
        s = out + "…"
        used += 1
    return s + " " * max(1, width - used)
