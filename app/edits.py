"""Durable catalog changes: import the files, edit a zone's 四至, a gazetteer feature or a platform, rebuild.

Every change runs in one storage write transaction: read the current catalog, check the version the editor saw
(optimistic concurrency), rebuild only the zones the change affects, write the whole new catalog and the build
record, commit. A crash at any point before the commit leaves the previous catalog as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import geopandas as gpd
import pandas as pd
import shapely
from pydantic import ValidationError
from shapely.geometry import shape

from app.areas import parse_area
from app.build import from_frame
from app.catalog import Area, Boundary, Catalog, CorridorFile, Document, Source, Zone
from app.crs import WGS84
from app.errors import CatalogError, Conflict, InputError, UnknownObject
from app.features import Feature
from app.gazetteer import COLUMNS, name_keys
from app.parser import parse
from app.platforms import Platform
from app.sources import Sources
from app.storage import Database, RunRecord, Snapshot
from app.store import Store

Kind = Literal["zone", "feature", "platform"]
KIND_TABLE = {"zone": "zones", "feature": "features", "platform": "platforms"}
FEATURE_FIELDS = {"name", "aliases", "kind", "county_adcode", "source", "accuracy_m", "note", "geometry", "crs"}
ZONE_FIELDS = {"boundary", "area"}
PLATFORM_FIELDS = {"name", "aliases", "kind", "declared_zone", "location", "notes"}


@dataclass(frozen=True)
class Edit:
    """Set `changes` on one zone, feature or platform that the editor saw at `version` (None: do not check)."""

    kind: Kind
    id: str
    changes: dict[str, Any]
    version: int | None = None
    create: bool = False  # a new gazetteer feature

    def describe(self) -> dict[str, Any]:
        shown = {k: ("<geometry>" if k == "geometry" else v) for k, v in self.changes.items()}
        return {"kind": self.kind, "id": self.id, "version": self.version, "create": self.create, "set": shown}


@dataclass
class Outcome:
    run: RunRecord
    store: Store
    affected: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- which zones a change touches
def _zone_names(catalog: Catalog) -> dict[tuple[str, str], str]:
    """(corridor, name or alias) → zone id."""
    return {(catalog.corridor_of[z.id], n): z.id for z in catalog for n in (z.name, *z.aliases)}


def named_features(zone: Zone) -> list[Feature]:
    """Every feature the zone's 四至 names, on any side of any part."""
    if zone.boundary is None:
        return []
    return parse(zone.boundary.text).features()


def dependencies(catalog: Catalog) -> dict[str, set[str]]:
    """Zone → the zones its polygon is built from: siblings its 四至 names, the parent that clips it, children."""
    names = _zone_names(catalog)
    deps: dict[str, set[str]] = {z.id: set() for z in catalog}
    for z in catalog:
        own = z.boundary is not None and z.geometry_from == "boundary"
        if not own:
            deps[z.id] |= set(catalog.children[z.id])
            continue
        for f in named_features(z):
            ref = names.get((catalog.corridor_of[z.id], f.name))
            if ref and ref != z.id:
                deps[z.id].add(ref)
        parent = catalog.zones.get(z.parent) if z.parent else None
        if parent is not None and parent.boundary is not None and parent.geometry_from == "boundary":
            deps[z.id].add(parent.id)
    return deps


def zones_naming(catalog: Catalog, keys: set[str]) -> set[str]:
    """Zones whose 四至 names a feature matched by any of `keys` (gazetteer name keys)."""
    return {
        z.id for z in catalog
        if any(name_keys(f.name, f.aliases, f.qualifiers.get("ref")) & keys for f in named_features(z))
    }  # fmt: skip


def affected_zones(catalog: Catalog, seeds: set[str]) -> set[str]:
    """`seeds` and every zone built, directly or through others, from one of them."""
    deps = dependencies(catalog)
    out = {s for s in seeds if s in catalog.zones}
    grew = True
    while grew:
        grew = False
        for zid, d in deps.items():
            if zid not in out and d & out:
                out.add(zid)
                grew = True
    return out


# ---------------------------------------------------------------- applying one edit to the sources
def _edit_document(actor: str, message: str, zone: Zone, cfile: CorridorFile) -> Document:
    n = 1 + sum(d.id.startswith(f"edit-{zone.id}-") for d in cfile.sources)
    return Document(
        id=f"edit-{zone.id}-{n}",
        title=f"catalog edit: {message}" if message else "catalog edit",
        issued=datetime.now(UTC).date().isoformat(),
        issuer=actor,
    )


def _is_edit(source: Source) -> bool:
    return source.doc.startswith("edit-")


def _edit_zone(sources: Sources, e: Edit, actor: str, message: str) -> tuple[Sources, set[str]]:
    unknown = set(e.changes) - ZONE_FIELDS
    if unknown or not e.changes:
        raise InputError(f"a zone edit sets {sorted(ZONE_FIELDS)}; got {sorted(e.changes) or 'nothing'}")
    zone = sources.catalog[e.id]
    key = next(k for k, f in sources.catalog.files.items() if f.corridor == sources.catalog.corridor_of[e.id])
    cfile = sources.catalog.files[key]
    doc = _edit_document(actor, message, zone, cfile)
    src = Source(doc=doc.id, section="catalog edit")
    update: dict[str, Any] = {}
    if "boundary" in e.changes:
        text = str(e.changes["boundary"] or "").strip()
        res = parse(text)
        if not any(p.clauses for p in res.parts):
            raise InputError(f"no 四至 clause (东至…/南至…/西至…/北至…) found in {text[:80]!r}")
        update["boundary"] = Boundary(text=text, source=src)
        if zone.boundary is not None and not _is_edit(zone.boundary.source):
            update["boundary_variants"] = [*zone.boundary_variants, zone.boundary]  # keep the document's words
    if "area" in e.changes:
        raw = str(e.changes["area"] or "").strip()
        parsed = parse_area(raw)
        if parsed is None:
            raise InputError(f"no area (…平方公里 / km² / 亩 / 公顷) found in {raw[:80]!r}")
        update["area"] = Area(raw=raw, km2=parsed.km2, source=src)
        if zone.area is not None and not _is_edit(zone.area.source):
            update["area_variants"] = [*zone.area_variants, zone.area]
    new_zone = Zone.model_validate({**zone.model_dump(), **{k: v for k, v in update.items()}})
    data = cfile.model_dump(by_alias=True)
    data["sources"] = [*data["sources"], doc.model_dump()]
    data["zones"] = [new_zone.model_dump() if z.id == e.id else z.model_dump() for z in cfile.zones]
    try:
        new_file = CorridorFile.model_validate(data)
    except ValidationError as err:
        raise CatalogError(f"zone {e.id}: the edit does not validate: {err}") from err
    files = {k: (new_file if k == key else f) for k, f in sources.catalog.files.items()}
    return Sources(Catalog(files), sources.features, sources.platforms), {e.id}


def _feature_geometry(value: Any, crs: str) -> shapely.Geometry:
    from app.datum import to_wgs84, transform_geometry

    try:
        geom = shape(value if isinstance(value, dict) else {})
    except Exception as err:
        raise InputError(f"geometry is not valid GeoJSON: {err}") from err
    if geom.is_empty:
        raise InputError("geometry is empty")
    if not geom.is_valid:
        from shapely.validation import explain_validity

        raise InputError(f"geometry is not valid ({explain_validity(geom)}); fix it before sending it")
    x0, y0, x1, y1 = geom.bounds
    if not (70 <= x0 <= x1 <= 140 and 0 <= y0 <= y1 <= 60):
        raise InputError(f"geometry lies outside China ({geom.bounds}); coordinates are lon/lat in {crs}")
    if crs != "wgs84":
        geom = transform_geometry(geom, lambda x, y: to_wgs84(x, y, crs))
    return geom


def _edit_feature(sources: Sources, e: Edit, actor: str) -> tuple[Sources, set[str]]:
    unknown = set(e.changes) - FEATURE_FIELDS
    if unknown or not e.changes:
        raise InputError(f"a feature edit sets {sorted(FEATURE_FIELDS)}; got {sorted(unknown) or 'nothing'}")
    table = sources.features
    hit = table.index[table["id"] == e.id]
    if e.create:
        if len(hit):
            raise Conflict(f"feature {e.id} exists already")
        if not {"name", "kind", "geometry"} <= set(e.changes):
            raise InputError("a new feature needs name, kind and geometry")
        old = {c: None for c in COLUMNS}
        old.update(id=e.id, aliases=[], source=f"edit by {actor}", note="")
    else:
        if not len(hit):
            raise UnknownObject(f"no gazetteer feature {e.id!r}")
        old = table.loc[hit[0]].to_dict()
    new = dict(old)
    for k, v in e.changes.items():
        if k == "geometry":
            new["geometry"] = _feature_geometry(v, str(e.changes.get("crs", "wgs84")).lower())
            if "source" not in e.changes:
                new["source"] = f"edit by {actor}"
        elif k == "aliases":
            new["aliases"] = [str(a) for a in (v or [])]
        elif k == "accuracy_m":
            new["accuracy_m"] = float(v) if v is not None else float("nan")
            if new["accuracy_m"] <= 0:
                raise InputError("accuracy_m must be positive")
        elif k != "crs":
            new[k] = "" if v is None else str(v)
    if not str(new["name"] or "").strip():
        raise InputError("a feature needs a name")
    row = gpd.GeoDataFrame([new], columns=COLUMNS, geometry="geometry", crs=WGS84)
    rest = table.drop(index=hit)
    pos = hit[0] if len(hit) else len(table)
    features = pd.concat([rest.loc[: pos - 1], row, rest.loc[pos:]], ignore_index=True)
    keys = name_keys(new["name"], new["aliases"]) | (
        name_keys(old["name"], old["aliases"] or []) if old["name"] else set()
    )
    return sources.with_features(gpd.GeoDataFrame(features, geometry="geometry", crs=WGS84)), zones_naming(
        sources.catalog, keys
    )


def _edit_platform(sources: Sources, e: Edit) -> tuple[Sources, set[str]]:
    unknown = set(e.changes) - PLATFORM_FIELDS
    if unknown or not e.changes:
        raise InputError(f"a platform edit sets {sorted(PLATFORM_FIELDS)}; got {sorted(unknown) or 'nothing'}")
    old = next((p for p in sources.platforms if p.id == e.id), None)
    if old is None:
        raise UnknownObject(f"no platform {e.id!r}")
    try:
        new = Platform.model_validate({**old.model_dump(), **e.changes})
    except ValidationError as err:
        raise InputError(f"platform {e.id}: {err}") from err
    if new.declared_zone and new.declared_zone not in sources.catalog.zones:
        raise InputError(f"platform {e.id}: declared_zone {new.declared_zone!r} is not a zone of the catalog")
    return sources.with_platform(new), set()


def apply(sources: Sources, e: Edit, actor: str, message: str = "") -> tuple[Sources, set[str]]:
    """The sources after the edit, and the zones to rebuild."""
    if e.kind == "zone":
        new, seeds = _edit_zone(sources, e, actor, message)
    elif e.kind == "feature":
        new, seeds = _edit_feature(sources, e, actor)
    else:
        new, seeds = _edit_platform(sources, e)
    return new, affected_zones(new.catalog, seeds)


# ---------------------------------------------------------------- transactions
def _current(snap: Snapshot | None) -> Snapshot:
    if snap is None:
        raise InputError("the catalog is empty: run `corridor build` first")
    return snap


def edit(db: Database, e: Edit, *, actor: str, message: str = "") -> Outcome:
    """Apply one edit, rebuild the zones it affects, commit the new catalog and its build record."""
    with db.writer() as w:
        snap = _current(w.snapshot())
        current = snap.versions[KIND_TABLE[e.kind]].get(e.id)
        if current is None and not e.create:
            raise UnknownObject(f"no {e.kind} {e.id!r} in the catalog")
        if e.version is not None and current is not None and e.version != current:
            raise Conflict(
                f"{e.kind} {e.id} is at version {current}, not {e.version}: someone changed it since you read it; "
                "read it again and redo your edit"
            )
        sources, affected = apply(snap.sources, e, actor, message)
        keep = {k: v for k, v in from_frame(snap.zones).items() if k not in affected}
        store = Store.from_sources(sources, keep=keep, counties=snap.counties)
        run = w.commit(store, actor=actor, action="edit", message=message, zones_rebuilt=sorted(affected),
                       extra={"edit": e.describe()})  # fmt: skip
    return Outcome(run, store, sorted(affected))


def import_files(
    db: Database, catalog_dir: Any = None, *, actor: str, message: str = "", force: bool = False
) -> Outcome:
    """Replace the stored sources with the repository's files and rebuild every zone.

    Refuses (Conflict) when the files would undo edits committed since the last import (the files do not have
    them), unless `force`; undone edits stay in the history.
    """
    from app.storage.database import SPEC_KINDS, diff_sources

    sources = Sources.from_files(catalog_dir)
    with db.writer() as w:
        snap = w.snapshot()
        if snap is not None and not force:
            edited = {(kind, oid) for run in w.edits_since_import() for kind in SPEC_KINDS
                      for what in ("added", "changed", "removed") for oid in run["changes"][kind][what]}  # fmt: skip
            diff = diff_sources(snap.sources, sources)
            undone = sorted(
                (kind, oid) for kind in SPEC_KINDS for what in ("added", "changed", "removed")
                for oid in diff[kind][what] if (kind, oid) in edited
            )  # fmt: skip
            if undone:
                names = ", ".join(f"{kind[:-1]} {oid}" for kind, oid in undone[:8])
                more = f" and {len(undone) - 8} more" if len(undone) > 8 else ""
                raise Conflict(
                    f"importing the files would undo edits committed since the last import ({names}{more}). "
                    "Put the edits into the files, or use `corridor db rebuild` to rebuild the stored catalog, "
                    "or --force to import anyway (the history keeps the edits)"
                )
        store = Store.from_sources(sources, counties=snap.counties if snap else None)
        run = w.commit(store, actor=actor, action="import", message=message or "import from files")
    return Outcome(run, store, run.zones_rebuilt)


def ensure_catalog(db: Database, catalog_dir: Any = None) -> Snapshot:
    """The storage's catalog; a new storage gets its schema and a first import of the repository's files."""
    if not db.initialized():
        db.init()
    snap = db.load()
    if snap is None:
        import_files(db, catalog_dir, actor="corridor", message="first import")
        snap = _current(db.load())
    return snap


def rebuild(db: Database, *, actor: str, message: str = "") -> Outcome:
    """Rebuild every zone from the stored sources (after a change of the builder or the county data)."""
    with db.writer() as w:
        snap = _current(w.snapshot())
        store = Store.from_sources(snap.sources, counties=snap.counties)
        run = w.commit(store, actor=actor, action="rebuild", message=message or "rebuild")
    return Outcome(run, store, run.zones_rebuilt)


def object_spec(store: Store, kind: Kind, oid: str) -> dict[str, Any]:
    """One zone, feature or platform of a stored catalog, with its version (for an editor to send back)."""
    version = store.versions.get(KIND_TABLE[kind], {}).get(oid)
    if version is None:
        raise UnknownObject(f"no {kind} {oid!r} in the stored catalog")
    sources = store.sources
    if kind == "zone":
        body = sources.catalog[oid].model_dump(mode="json", exclude_defaults=True)
    elif kind == "platform":
        body = next(p for p in sources.platforms if p.id == oid).model_dump(mode="json", exclude_defaults=True)
    else:
        row = sources.features[sources.features["id"] == oid].iloc[0]
        body = {c: row[c] for c in COLUMNS if c != "geometry"}
        body["accuracy_m"] = None if pd.isna(body["accuracy_m"]) else float(body["accuracy_m"])
        body["geometry"] = shapely.geometry.mapping(row["geometry"])
    return {"kind": kind, "id": oid, "version": version, "catalog_version": store.version, "body": body}
