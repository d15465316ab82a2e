"""Platform catalog (geodata/platforms/*.yaml): schema, loading, and the declared-vs-computed zone check."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import Field, ValidationError

from app.catalog import Catalog, Slug, Source, Strict
from app.errors import CatalogError

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "geodata" / "platforms"
Kind = Literal[
    "research_institute", "laboratory", "innovation_center", "service_complex", "industrial_park", "incubator",
    "university", "enclave", "base", "enterprise", "facility", "other",
]  # fmt: skip


class Location(Strict):
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    datum: Literal["wgs84", "cgcs2000", "gcj02", "bd09"]
    precision_m: float = Field(gt=0)
    source: str
    note: str = ""


class Conflict(Strict):
    zone: str
    text: str
    source: Source


class Platform(Strict):
    id: Slug
    name: str
    aliases: list[str] = Field(default_factory=list)
    kind: Kind
    declared_zone: str | None = None
    declared_text: str | None = None
    sources: list[Source] = Field(default_factory=list)
    location: Location | None = None
    conflicts: list[Conflict] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class PlatformFile(Strict):
    schema_: Literal["corridor-platforms/1"] = Field(alias="schema")
    corridor: str
    platforms: list[Platform]


def load_platforms(directory: Path | str | None = None, catalog: Catalog | None = None) -> list[Platform]:
    """Every platform file; with a catalog, declared and conflicting zones must exist in it."""
    d = Path(directory) if directory is not None else DEFAULT_DIR
    out: list[Platform] = []
    for path in sorted(d.glob("*.yaml")):
        try:
            f = PlatformFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        except (OSError, yaml.YAMLError, ValidationError) as e:
            raise CatalogError(f"{path.name}: invalid platform file:\n{e}") from e
        out.extend(f.platforms)
    ids = [p.id for p in out]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise CatalogError(f"duplicate platform ids: {dupes}")
    if catalog is not None:
        for p in out:
            for z in [p.declared_zone, *(c.zone for c in p.conflicts)]:
                if z is not None and z not in catalog.zones:
                    raise CatalogError(f"platform {p.id}: zone {z!r} is not in the catalog")
    return out


@dataclass
class PlatformCheck:
    platform_id: str
    name: str
    declared_zone: str | None
    computed_zone: str
    computed_path: str
    distance_m: float
    precision_m: float | None
    status: str  # agrees | differs | uncertain | outside | no location | no declared zone


def check_platforms(platforms: list[Platform], index, catalog: Catalog) -> list[PlatformCheck]:
    """Compare each located platform's computed zone with the zone the text declares.

    A platform agrees when the declared zone is on its computed zone path (it may sit in a child of the declared
    zone); it is 'uncertain' when it lies within its location's precision of the declared zone's polygon.
    """
    from app.datum import to_wgs84

    located = [p for p in platforms if p.location is not None]
    rows: list[PlatformCheck] = []
    if located:
        lon = np.empty(len(located))
        lat = np.empty(len(located))
        for i, p in enumerate(located):
            lon[i], lat[i] = to_wgs84(p.location.lon, p.location.lat, p.location.datum)  # type: ignore[union-attr]
        a = index.assign(lon, lat).frame()
        for p, r in zip(located, a.itertuples(index=False), strict=True):
            path = str(r.zone_path).split(";") if r.zone_path else []
            prec = p.location.precision_m  # type: ignore[union-attr]
            if p.declared_zone is None:
                status = "no declared zone"
            elif p.declared_zone in path:
                status = "agrees"
            elif not path:
                status = "outside"
            else:
                status = "differs"
            if status in ("differs", "outside") and p.declared_zone is not None:
                d = index.distance_to(p.declared_zone, lon[len(rows)], lat[len(rows)])
                if d is not None and d <= prec:
                    status = "uncertain"
            rows.append(PlatformCheck(p.id, p.name, p.declared_zone, str(r.zone_id), str(r.zone_path),
                                      float(r.distance_m), prec, status))  # fmt: skip
    for p in platforms:
        if p.location is None:
            rows.append(
                PlatformCheck(p.id, p.name, p.declared_zone, "", "", float("nan"), None, "no location")
            )
    return rows
