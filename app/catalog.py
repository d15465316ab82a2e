"""Zone catalog: the boundaries/*.yaml files, their schema, and loading with validation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from app.areas import parse_area
from app.errors import CatalogError

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "boundaries"

Level = Literal[
    "corridor",  # 走廊 / 大走廊 / 廊道
    "core_zone",  # 核心区 / 核心建设区
    "linkage_zone",  # 联动发展区 / 联动区
    "wing",  # 南翼 / 北翼联动区
    "science_city",  # 科创城
    "tech_city",  # 科技城 / 智汇芯城
    "area",  # 片区 / 区块 / 区域 / 片
    "coordination_area",  # 发展统筹区 / 发展核心区
    "unit",  # 单元
    "town",  # 小镇 / 茶镇
    "park",  # 产业园 / 园区 / 科技园
    "base",  # 基地 / CBD / 创新中心 with an area
    "place",  # a named place the plan relates zones to, with no level of its own
]

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
ADCODE = re.compile(r"^\d{6}$")


def check_slug(v: str) -> str:
    if not SLUG.match(v):
        raise ValueError(f"id must be an ASCII slug (a-z, 0-9, -), got {v!r}")
    return v


Slug = Annotated[str, AfterValidator(check_slug)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(Strict):
    """Where in which document a statement is written."""

    doc: str = Field(description="id of an entry in the file's `sources`")
    section: str = Field(description="section, table (专栏) or footnote, as the document numbers it")
    line: int | None = Field(default=None, ge=1, description="line in the seed text file, for checking")


class Document(Strict):
    id: str
    title: str
    number: str | None = Field(default=None, description="document number, e.g. 衢政发〔2025〕3号")
    issued: str | None = None
    issuer: str | None = None
    file: str | None = Field(default=None, description="seed text file name")


class Area(Strict):
    """A stated area: the words as written and their value in km²."""

    raw: str
    km2: float
    source: Source

    @property
    def approximate(self) -> bool:
        return "约" in self.raw or "左右" in self.raw

    @model_validator(mode="after")
    def _raw_matches_km2(self) -> Area:
        parsed = parse_area(self.raw)
        if parsed is None:
            raise ValueError(f"no area found in raw text {self.raw!r}")
        if abs(parsed.km2 - self.km2) > 1e-6 * max(1.0, self.km2):
            raise ValueError(f"km2 {self.km2} does not match raw {self.raw!r} ({parsed.km2})")
        return self


class Boundary(Strict):
    """A verbatim 四至 clause and where it is written."""

    text: str
    source: Source


class County(Strict):
    adcode: str
    name: str
    basis: Literal["stated", "implied", "knowledge"] = Field(
        description="stated: the text names it; implied: the zone's name or a stated parent places it; "
        "knowledge: not in the text, added from geographic knowledge"
    )

    @field_validator("adcode")
    @classmethod
    def _adcode(cls, v: str) -> str:
        if not ADCODE.match(v):
            raise ValueError(f"adcode must be 6 digits, got {v!r}")
        return v


class Zone(Strict):
    id: Slug
    name: str
    aliases: list[str] = []
    level: Level
    level_zh: str | None = Field(default=None, description="the level word as the text uses it")
    parent: Slug | None = None
    role: Literal["part", "within"] = Field(
        default="part",
        description="part: one of the pieces the parent is divided into (their areas add up to the parent's); "
        "within: lies inside the parent without dividing it (a base in a 科技城, a 发展统筹区 in a 片区)",
    )
    counties: list[County] = []
    area: Area | None = None
    area_variants: list[Area] = Field(default=[], description="other statements of the area (annex, table)")
    boundary: Boundary | None = None
    boundary_variants: list[Boundary] = Field(default=[], description="other versions of the 四至")
    geometry_from: Literal["boundary", "children"] = Field(
        default="boundary",
        description="boundary: build the polygon from the 四至 (when there is one); children: the union of the "
        "children, for a 四至 that is only a composite outline of them",
    )
    notes: list[str] = Field(default=[], description="decisions the text leaves open, and how we took them")


class CorridorFile(Strict):
    """One boundaries/*.yaml file: one corridor and every zone its documents name."""

    schema_: Literal["corridor-catalog/1"] = Field(alias="schema")
    corridor: str = Field(description="id of the root zone (level corridor)")
    sources: list[Document]
    zones: list[Zone]
    notes: list[str] = []

    @model_validator(mode="after")
    def _consistent(self) -> CorridorFile:
        doc_ids = {d.id for d in self.sources}
        ids = [z.id for z in self.zones]
        dupes = {i for i in ids if ids.count(i) > 1}
        if dupes:
            raise ValueError(f"duplicate zone ids: {sorted(dupes)}")
        known = set(ids)
        if self.corridor not in known:
            raise ValueError(f"corridor root {self.corridor!r} is not among the zones")
        for z in self.zones:
            if z.parent is not None and z.parent not in known:
                raise ValueError(f"zone {z.id}: parent {z.parent!r} is not a zone of this file")
            if (z.parent is None) != (z.id == self.corridor):
                raise ValueError(f"zone {z.id}: only the corridor root has no parent")
            for src in _sources_of(z):
                if src.doc not in doc_ids:
                    raise ValueError(f"zone {z.id}: source doc {src.doc!r} is not in `sources`")
        _check_acyclic(self.zones)
        return self


def _sources_of(z: Zone) -> Iterator[Source]:
    for a in [z.area, *z.area_variants]:
        if a is not None:
            yield a.source
    for b in [z.boundary, *z.boundary_variants]:
        if b is not None:
            yield b.source


def _check_acyclic(zones: list[Zone]) -> None:
    parent = {z.id: z.parent for z in zones}
    for start in parent:
        seen, node = set(), start
        while node is not None:
            if node in seen:
                raise ValueError(f"parent cycle through {node!r}")
            seen.add(node)
            node = parent[node]


class Catalog:
    """All corridor files, indexed by zone id."""

    def __init__(self, files: dict[str, CorridorFile]):
        self.files = files
        self.zones: dict[str, Zone] = {}
        self.corridor_of: dict[str, str] = {}
        for f in files.values():
            for z in f.zones:
                if z.id in self.zones:
                    raise CatalogError(f"zone id {z.id!r} is used by two corridors")
                self.zones[z.id] = z
                self.corridor_of[z.id] = f.corridor
        self.children: dict[str, list[str]] = {zid: [] for zid in self.zones}
        for z in self.zones.values():
            if z.parent is not None:
                self.children[z.parent].append(z.id)

    def __iter__(self) -> Iterator[Zone]:
        return iter(self.zones.values())

    def __len__(self) -> int:
        return len(self.zones)

    def __getitem__(self, zone_id: str) -> Zone:
        try:
            return self.zones[zone_id]
        except KeyError:
            raise CatalogError(f"no zone with id {zone_id!r}") from None

    @property
    def corridors(self) -> list[str]:
        return [f.corridor for f in self.files.values()]

    def document(self, zone_id: str, doc_id: str) -> Document:
        f = next(f for f in self.files.values() if f.corridor == self.corridor_of[zone_id])
        return next(d for d in f.sources if d.id == doc_id)

    def ancestors(self, zone_id: str) -> list[str]:
        """Ids from the corridor root down to the zone's parent."""
        out, node = [], self[zone_id].parent
        while node is not None:
            out.append(node)
            node = self.zones[node].parent
        return out[::-1]

    def leaves(self) -> list[Zone]:
        return [z for z in self if not self.children[z.id]]


def load_file(path: Path) -> CorridorFile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise CatalogError(f"{path.name}: cannot read: {e}") from e
    if not isinstance(data, dict):
        raise CatalogError(f"{path.name}: expected a mapping at the top level")
    try:
        return CorridorFile.model_validate(data)
    except ValidationError as e:
        raise CatalogError(f"{path.name}: invalid catalog file:\n{e}") from e


def load_catalog(directory: Path | str | None = None) -> Catalog:
    """Load and validate every *.yaml file in `directory` (default: the project's boundaries/)."""
    d = Path(directory) if directory is not None else DEFAULT_DIR
    paths = sorted(d.glob("*.yaml"))
    if not paths:
        raise CatalogError(f"no catalog files (*.yaml) in {d}")
    return Catalog({p.stem: load_file(p) for p in paths})
