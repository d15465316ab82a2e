"""Zone polygon from parsed sides: cut a generous region by each side's line, keep the inner side, close gaps.

All geometry here is in EPSG:4549 metres. A side's features (one chain) become one cutting line: lines are
ordered along the side, joined end to start, and extended far past both ends; a point anchor becomes a line
through the point across the side's direction; a polygon contributes the part of its outline that faces the
zone. The zone keeps what lies on the inner side of every cut (a ray from inside crosses the line an odd number
of times). Sides that are missing or do not resolve are closed by the parent or county polygon and, when the
stated area is known, by the straight cut that makes the area equal to it; the result says which.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import shapely
from shapely.geometry import LineString, MultiLineString, MultiPoint, Point, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import linemerge, nearest_points, polygonize, substring, unary_union

from app.features import Feature

_S = math.sqrt(0.5)
DIRECTION = {
    "east": (1.0, 0.0), "west": (-1.0, 0.0), "north": (0.0, 1.0), "south": (0.0, -1.0),
    "southeast": (_S, -_S), "southwest": (-_S, -_S), "northeast": (_S, _S), "northwest": (-_S, _S),
}  # fmt: skip
CARDINAL = ("east", "south", "west", "north")
MIN_MARGIN_M = 1500.0

Resolver = Callable[[Feature, BaseGeometry | None], BaseGeometry | None]


@dataclass
class BuiltPart:
    geometry: BaseGeometry | None  # metres
    grade: str  # A: every side from resolved line features; B: some side closed by fallback; C: placeholder
    unresolved: list[str] = field(default_factory=list)
    closures: list[str] = field(default_factory=list)
    sides: dict[str, list[str]] = field(default_factory=dict)  # side → names of the features that cut it


def covered(sides: Iterable[str]) -> set[str]:
    """Cardinal sides a set of sides bounds: a diagonal (东南) bounds both of its cardinals."""
    out = set()
    for s in sides:
        out |= {c for c in CARDINAL if c in s}
    return out


def _tangent(u: tuple[float, float]) -> tuple[float, float]:
    return (-u[1], u[0])


def _proj(pt: tuple[float, float], v: tuple[float, float]) -> float:
    return pt[0] * v[0] + pt[1] * v[1]


def _lines(geom: BaseGeometry) -> list[LineString]:
    if geom.is_empty:
        return []
    if isinstance(geom, LineString):
        return [geom]
    if isinstance(geom, MultiLineString):
        return list(geom.geoms)
    if hasattr(geom, "geoms"):
        return [ln for g in geom.geoms for ln in _lines(g)]
    return []


def _opposite(u: tuple[float, float]) -> str:
    return next(k for k, v in DIRECTION.items() if v == (-u[0] if u[0] else 0.0, -u[1] if u[1] else 0.0))


def outline_side(f: Feature, side: str) -> str | None:
    """Which part of a polygon feature's outline bounds the zone's `side`, when the text says so.

    '齐贤街道北侧镇界': that unit's north edge. '德清县界', '莫干山镇界' on the north/east side: the zone lies inside
    the unit, so the unit's own north/east edge. Otherwise (a scenic area, a sibling unit, 与富阳区接壤) the zone
    lies outside it and the outline facing the zone is meant (None: the default).
    """
    if f.kind != "admin_boundary":
        return None
    if f.qualifiers.get("side") in DIRECTION:
        return f.qualifiers["side"]
    if f.qualifiers.get("relation") != "adjacent" and f.text.rstrip().endswith(("界", "界线", "边界")):
        return side
    return None


def facing_chain(poly: BaseGeometry, u: tuple[float, float]) -> LineString:
    """The part of a polygon's outline on its `u` side (split at its extreme points across `u`)."""
    if hasattr(poly, "geoms"):
        poly = max(poly.geoms, key=lambda g: g.area)
    ring = list(poly.exterior.coords)[:-1]
    t = _tangent(u)
    proj = [_proj(p, t) for p in ring]
    i_min, i_max = proj.index(min(proj)), proj.index(max(proj))
    a, b = sorted((i_min, i_max))
    chain1 = ring[a : b + 1]
    chain2 = ring[b:] + ring[: a + 1]
    score = lambda ch: sum(_proj(p, u) for p in ch) / len(ch)  # noqa: E731
    return LineString(chain1 if score(chain1) >= score(chain2) else chain2)


def _components(g: BaseGeometry) -> list[LineString]:
    lines = _lines(g)
    merged = linemerge(lines) if len(lines) > 1 else (lines[0] if lines else g)
    return _lines(merged)


def _points(g: BaseGeometry) -> list[Point]:
    if g.is_empty:
        return []
    if isinstance(g, Point):
        return [g]
    if isinstance(g, LineString):
        return [Point(g.coords[0]), Point(g.coords[-1])]
    return [p for part in getattr(g, "geoms", []) for p in _points(part)]


def junction(a: BaseGeometry, b: BaseGeometry, center: Point, taken: list[Point]) -> Point:
    """Where chain feature `a` hands over to `b`: their crossing nearest the zone, else the gap's middle."""
    pts = [p for p in _points(a.intersection(b)) if all(p.distance(t) > 30 for t in taken)]
    if pts:
        return min(pts, key=center.distance)
    pa, pb = nearest_points(a, b)
    return Point((pa.x + pb.x) / 2, (pa.y + pb.y) / 2)


def _piece(g: BaseGeometry, p: Point, q: Point) -> LineString:
    comp = min(_components(g), key=lambda c: c.distance(p) + c.distance(q))
    piece = substring(comp, comp.project(p), comp.project(q))
    return piece if isinstance(piece, LineString) and piece.length > 0 else LineString([p, q])


def _end_options(g: BaseGeometry, j: Point, others: BaseGeometry) -> list[tuple[LineString, bool]]:
    """Both stretches of `g` from the junction `j` to the nearest crossing with another side (a corner) or to
    the feature's end; each runs towards the junction and says whether it starts at a corner."""
    comp = min(_components(g), key=lambda c: c.distance(j))
    d0 = comp.project(j)
    stops = sorted(comp.project(p) for p in _points(comp.intersection(others))) if not others.is_empty else []
    ahead = next((d for d in stops if d > d0 + 1.0), None)
    behind = next((d for d in reversed(stops) if d < d0 - 1.0), None)
    out = []
    for d, default in ((ahead, comp.length), (behind, 0.0)):
        piece = substring(comp, default if d is None else d, d0)
        if isinstance(piece, LineString) and piece.length > 0:
            out.append((piece, d is not None))
    return out or [(LineString([j, j]), False)]


def inner_carriageways(
    comps: list[LineString], t: tuple[float, float], center: Point | None
) -> list[LineString]:
    """Of pieces that run side by side along the side (a dual carriageway, a river's two banks), keep the one
    nearer the zone; pieces that follow one another along the side are all kept."""
    if len(comps) < 2 or center is None:
        return comps

    def span(c: LineString) -> tuple[float, float]:
        ps = [_proj(p, t) for p in c.coords]
        return min(ps), max(ps)

    kept: list[LineString] = []
    for c in sorted(comps, key=lambda c: c.distance(center)):
        a0, a1 = span(c)
        parallel = False
        for k in kept:
            b0, b1 = span(k)
            overlap = min(a1, b1) - max(a0, b0)
            if overlap > 0.5 * min(a1 - a0, b1 - b0):
                parallel = True
                break
        if not parallel:
            kept.append(c)
    return kept


def trace_chain(
    lines: list[BaseGeometry], t: tuple[float, float], others: BaseGeometry, center: Point
) -> LineString:
    """One path through a side's chain (衢江—白云大道—智慧大道): each feature from the junction with the one
    before it to the junction with the one after it, the first and last from a corner with another side.

    A side runs from one neighbouring side to the other: of the stretches the end features offer, prefer those
    that start at a corner, then the path that spans farthest along the side.
    """
    taken: list[Point] = []
    js = []
    for a, b in itertools.pairwise(lines):
        js.append(junction(a, b, center, taken))
        taken.append(js[-1])
    middle = [_piece(lines[i], js[i - 1], js[i]) for i in range(1, len(lines) - 1)]
    firsts = _end_options(lines[0], js[0], others)
    lasts = [(LineString(list(x.coords)[::-1]), c) for x, c in _end_options(lines[-1], js[-1], others)]
    best = None
    for first, c1 in firsts:
        for last, c2 in lasts:
            span = abs(_proj(last.coords[-1], t) - _proj(first.coords[0], t))
            score = (-(c1 + c2), -span)
            if best is None or score < best[0]:
                best = (score, [c for piece in (first, *middle, last) for c in piece.coords])
    coords = best[1]  # type: ignore[index]
    if _proj(coords[-1], t) < _proj(coords[0], t):
        coords.reverse()
    return LineString(coords)


def side_line(
    geoms: list[BaseGeometry],
    u: tuple[float, float],
    reach: float,
    *,
    others: BaseGeometry | None = None,
    center: Point | None = None,
) -> tuple[LineString, bool]:
    """One cutting line for a side from its resolved features; True when only line features made it."""  # fmt: skip
    t = _tangent(u)
    pieces: list[LineString] = []
    lines_only = True
    line_geoms = [g for g in geoms if g.geom_type in ("LineString", "MultiLineString")]
    if len(line_geoms) == len(geoms) >= 2 and center is not None:
        path = trace_chain(line_geoms, t, others if others is not None else Polygon(), center)
        geoms = [path]
    for g in geoms:
        if isinstance(g, Point) or (g.geom_type == "MultiPoint"):
            c = g.centroid
            pieces.append(
                LineString(
                    [(c.x - t[0] * reach, c.y - t[1] * reach), (c.x + t[0] * reach, c.y + t[1] * reach)]
                )
            )
            lines_only = False
        elif g.geom_type in ("Polygon", "MultiPolygon"):
            pieces.append(facing_chain(g, DIRECTION[_opposite(u)]))
        else:
            pieces.extend(inner_carriageways(_components(g), t, center))
    # orient every piece along the side's tangent, order them, join end to start
    oriented = []
    for p in pieces:
        cs = list(p.coords)
        if _proj(cs[-1], t) < _proj(cs[0], t):
            cs.reverse()
        oriented.append(cs)
    oriented.sort(key=lambda cs: _proj(cs[0], t))
    coords = [c for cs in oriented for c in cs]
    first, last = coords[0], coords[-1]
    coords = [(first[0] - t[0] * reach, first[1] - t[1] * reach), *coords,
              (last[0] + t[0] * reach, last[1] + t[1] * reach)]  # fmt: skip
    return LineString(coords), lines_only


def keep_inner(region: BaseGeometry, line: LineString, u: tuple[float, float], reach: float) -> BaseGeometry:
    """The part of `region` on the side of `line` opposite to `u` (odd crossings of a ray towards `u`)."""
    noded = unary_union([region.boundary, line])
    kept = []
    for face in polygonize(noded):
        p = face.representative_point()
        if not region.contains(p):
            continue
        ray = LineString([(p.x, p.y), (p.x + u[0] * reach * 4, p.y + u[1] * reach * 4)])
        hits = ray.intersection(line)
        n = 0 if hits.is_empty else len(getattr(hits, "geoms", [hits]))
        if n % 2 == 1:
            kept.append(face)
    return unary_union(kept) if kept else Polygon()


def close_by_area(region: BaseGeometry, missing: list[str], target_m2: float) -> BaseGeometry:
    """Cut the missing sides straight, at the same fraction of the region's depth, until the area is `target`."""
    xmin, ymin, xmax, ymax = region.bounds
    w, h = xmax - xmin, ymax - ymin

    def cut(s: float) -> BaseGeometry:
        x0, y0, x1, y1 = xmin - 1, ymin - 1, xmax + 1, ymax + 1
        if "west" in missing:
            x0 = xmin + s * w
        if "east" in missing:
            x1 = xmax - s * w
        if "south" in missing:
            y0 = ymin + s * h
        if "north" in missing:
            y1 = ymax - s * h
        if x0 >= x1 or y0 >= y1:
            return Polygon()
        return region.intersection(box(x0, y0, x1, y1))

    lo, hi = 0.0, 1.0
    if region.area <= target_m2:
        return region
    for _ in range(50):
        mid = (lo + hi) / 2
        if cut(mid).area > target_m2:
            lo = mid
        else:
            hi = mid
    return cut((lo + hi) / 2)


def placeholder(anchor: BaseGeometry, area_m2: float, clip: BaseGeometry | None) -> BaseGeometry:
    """A circle of the stated area around an anchor: grade C, a placeholder only."""
    c = anchor.centroid
    disc = c.buffer(math.sqrt(area_m2 / math.pi), 32)
    return disc.intersection(clip) if clip is not None and disc.intersects(clip) else disc


def corner_window(
    resolved: dict[str, list[tuple[Feature, BaseGeometry]]], stated_m2: float | None
) -> Polygon | None:
    """Box around the points where lines of different sides cross (the zone's corners), with a margin.

    Long features (a river through the whole city, a national road across counties) are trimmed to it, so
    that only the stretch that bounds the zone shapes the cut. Crossings far from the others are ignored.
    """
    sides = list(resolved)
    lines = {s: unary_union([g for _, g in resolved[s] if g.geom_type in ("LineString", "MultiLineString")])
             for s in sides}  # fmt: skip
    pts: list[Point] = []
    for i, a in enumerate(sides):
        for b in sides[i + 1 :]:
            if lines[a].is_empty or lines[b].is_empty or covered([a]) & covered([b]) == covered([a]):
                continue
            x = lines[a].intersection(lines[b])
            pts += [g for g in getattr(x, "geoms", [x]) if isinstance(g, Point)]
    if len(pts) < 2:
        return None
    xs = sorted(p.x for p in pts)
    ys = sorted(p.y for p in pts)
    mx, my = xs[len(xs) // 2], ys[len(ys) // 2]
    spread = math.sqrt(stated_m2) * 2.5 if stated_m2 else max(xs[-1] - xs[0], ys[-1] - ys[0])
    near = [p for p in pts if abs(p.x - mx) <= spread and abs(p.y - my) <= spread] or pts
    x0, y0, x1, y1 = MultiPoint(near).bounds
    m = max(300.0, 0.25 * max(x1 - x0, y1 - y0))
    return box(x0 - m, y0 - m, x1 + m, y1 + m)


def _trim(g: BaseGeometry, window: Polygon) -> BaseGeometry:
    """The part of a line feature inside the window (the whole feature when none of it is)."""
    if g.geom_type not in ("LineString", "MultiLineString"):
        return g
    inside = g.intersection(window)
    lines = _lines(inside)
    return MultiLineString(lines) if len(lines) > 1 else (lines[0] if lines else g)


def build_part(
    sides: dict[str, list[Feature]],
    resolve: Resolver,
    *,
    stated_m2: float | None = None,
    clip: BaseGeometry | None = None,
    clip_name: str = "parent",
) -> BuiltPart:
    """Build one part's polygon from its parsed sides."""
    out = BuiltPart(geometry=None, grade="none")
    resolved: dict[str, list[tuple[Feature, BaseGeometry]]] = {}
    # resolve unambiguous features first, then the rest near them
    for attempt in (0, 1):
        context = unary_union([g for fs in resolved.values() for _, g in fs]) if resolved else None
        for side, feats in sides.items():
            for f in feats:
                if any(f is rf for rf, _ in resolved.get(side, [])):
                    continue
                g = resolve(f, context if attempt else None)
                if g is not None and not g.is_empty:
                    resolved.setdefault(side, []).append((f, g))
    for side, feats in sides.items():
        done = {id(f) for f, _ in resolved.get(side, [])}
        out.unresolved += [f"{side}:{f.text}" for f in feats if id(f) not in done]
    if not resolved:
        return out
    # a polygon (county, scenic area, sibling zone) bounds the zone with one part of its outline
    resolved = {
        side: [
            (f, facing_chain(g, DIRECTION[outline_side(f, side) or _opposite(DIRECTION[side])]))
            if g.geom_type in ("Polygon", "MultiPolygon") else (f, g)
            for f, g in fs
        ]
        for side, fs in resolved.items()
    }  # fmt: skip
    window = corner_window(resolved, stated_m2)
    if window is not None:
        resolved = {side: [(f, _trim(g, window)) for f, g in fs] for side, fs in resolved.items()}
    everything = unary_union([g for fs in resolved.values() for _, g in fs])
    center = window.centroid if window is not None else everything.centroid
    xmin, ymin, xmax, ymax = everything.bounds
    margin = max(MIN_MARGIN_M, 0.5 * max(xmax - xmin, ymax - ymin))
    region: BaseGeometry = box(xmin - margin, ymin - margin, xmax + margin, ymax + margin)
    reach = 4 * math.hypot(xmax - xmin + 2 * margin, ymax - ymin + 2 * margin)
    lines_only = True
    applied: list[str] = []
    for side, fs in resolved.items():
        u = DIRECTION[side]
        others = unary_union([g for s2, f2 in resolved.items() if s2 != side for _, g in f2])
        geoms = []
        for f, g in fs:
            off = f.qualifiers.get("offset_m")
            q_side = f.qualifiers.get("side")
            if off and q_side in DIRECTION:
                d = DIRECTION[q_side]
                g = shapely.affinity.translate(g, d[0] * off, d[1] * off)
            geoms.append(g)
        line, only_lines = side_line(geoms, u, reach, others=others, center=center)
        cut = keep_inner(region, line, u, reach)
        if cut.is_empty or cut.area < 1.0:
            out.closures.append(f"{side}: the cut left nothing; side ignored")
            continue
        region = cut
        lines_only &= only_lines
        applied.append(side)
        out.sides[side] = [f.name for f, _ in fs]
    missing = [s for s in CARDINAL if s not in covered(applied)]
    if len(applied) < 2 or region.is_empty:
        if stated_m2:
            out.geometry = placeholder(everything, stated_m2, clip)
            out.grade = "C"
            out.closures.append("placeholder: a disc of the stated area around the resolved features")
        return out
    if missing and clip is not None and region.intersects(clip):
        clipped = region.intersection(clip)
        if clipped.area > 0.05 * region.area:
            region = clipped
            out.closures.append(f"{','.join(missing)}: closed by the {clip_name} polygon")
    if missing and stated_m2 and region.area > 1.02 * stated_m2:
        region = close_by_area(region, missing, stated_m2)
        out.closures.append(f"{','.join(missing)}: closed by the straight cut that gives the stated area")
    elif missing:
        out.closures.append(f"{','.join(missing)}: open, bounded only by the search region")
    out.geometry = shapely.make_valid(region)
    out.grade = "A" if lines_only and not missing and not out.unresolved and not out.closures else "B"
    return out
