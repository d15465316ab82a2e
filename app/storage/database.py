"""Catalog storage: create the schema, read one consistent snapshot, write a whole build in one transaction."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from app.catalog import Catalog, CorridorFile
from app.crs import WGS84, to_metres
from app.errors import InputError, StorageUnavailable
from app.gazetteer import COLUMNS as FEATURE_COLUMNS
from app.platforms import Platform
from app.sources import Sources
from app.storage import schema as S
from app.storage.dialects import Dialect
from app.store import Store

SPEC_KINDS = ("zones", "features", "platforms")


@dataclass
class Snapshot:
    """One committed catalog version: its sources, its built zones (all of them), counties, object versions."""

    version: str
    run_id: int
    sources: Sources
    zones: gpd.GeoDataFrame  # every zone, with the columns of `build.to_frame`
    counties: gpd.GeoDataFrame
    versions: dict[str, dict[str, int]] = field(default_factory=dict)  # kind → id → version

    def store(self) -> Store:
        from app.build import BuildResult, from_frame

        res = BuildResult(self.sources.catalog, from_frame(self.zones), self.zones, 0.0)
        store = Store.from_result(self.sources, res, version=self.version, counties=self.counties)
        store.versions = self.versions
        return store


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _canonical(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, sort_keys=True, default=str)


def spec_bodies(sources: Sources) -> dict[str, dict[str, str]]:
    """kind → id → canonical text of the object, to tell which objects an import or edit changed."""
    feats = {}
    for r in sources.features.itertuples(index=False):
        props = {c: getattr(r, c) for c in FEATURE_COLUMNS if c not in ("id", "geometry")}
        props["accuracy_m"] = None if pd.isna(props["accuracy_m"]) else float(props["accuracy_m"])
        feats[r.id] = _canonical({**props, "wkb": shapely.to_wkb(r.geometry, hex=True)})
    return {
        "zones": {z.id: _canonical(z.model_dump(mode="json")) for z in sources.catalog},
        "features": feats,
        "platforms": {p.id: _canonical(p.model_dump(mode="json")) for p in sources.platforms},
    }


def diff_sources(before: Sources | None, after: Sources) -> dict[str, dict[str, list[str]]]:
    old = spec_bodies(before) if before is not None else {k: {} for k in SPEC_KINDS}
    new = spec_bodies(after)
    out = {}
    for kind in SPEC_KINDS:
        o, n = old[kind], new[kind]
        out[kind] = {
            "added": sorted(set(n) - set(o)),
            "changed": sorted(k for k in set(n) & set(o) if n[k] != o[k]),
            "removed": sorted(set(o) - set(n)),
        }
    return out


def summary(run: dict[str, Any]) -> dict[str, Any]:
    """A build run with counts in place of its full lists of changed objects and rebuilt zones."""
    changes = run["changes"]
    out = {k: v for k, v in run.items() if k not in ("changes", "zones_rebuilt")}
    out["changes"] = {k: {c: len(ids) for c, ids in changes[k].items()} for k in SPEC_KINDS if k in changes}
    if "edit" in changes:
        out["edit"] = changes["edit"]
    out["zones_rebuilt"] = len(run["zones_rebuilt"])
    return out


class Database:
    """The catalog's storage: an embedded GeoPackage or a PostGIS schema (see `app.storage.open_storage`)."""

    def __init__(self, dialect: Dialect):
        self.dialect = dialect
        self._conn: Any = None
        self._conn_lock = threading.Lock()

    @property
    def kind(self) -> str:
        return self.dialect.name

    @property
    def url(self) -> str:
        return self.dialect.url

    def t(self, name: str) -> str:
        return self.dialect.table(name)

    # ---- connections
    @contextmanager
    def _reader(self) -> Iterator[Any]:
        """The shared reading connection, inside one read transaction (one snapshot of every table)."""
        with self._conn_lock:
            try:
                if self._conn is None:
                    self._conn = self.dialect.connect()
                cur = self._conn.cursor()
                self.dialect.begin_read(cur)
            except self.dialect.connection_errors() as e:
                self._conn = None  # a server restart or a dropped connection: a new one next time
                raise StorageUnavailable(f"the catalog storage is unavailable: {str(e).strip()}") from e
            try:
                yield cur
            except self.dialect.connection_errors() as e:
                raise StorageUnavailable(f"the catalog storage is unavailable: {str(e).strip()}") from e
            finally:
                try:
                    cur.execute("ROLLBACK")
                except Exception:  # a broken connection: open a new one next time
                    self._conn = None

    def close(self) -> None:
        with self._conn_lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # ---- schema
    def init(self) -> list[str]:
        """Create the schema (idempotent); returns the tables."""
        conn = self.dialect.connect()
        try:
            cur = conn.cursor()
            cur.execute("BEGIN")
            self.dialect.prepare(cur)
            for table in S.TABLES:
                for stmt in self.dialect.ddl(table):
                    cur.execute(stmt)
                self.dialect.register(cur, table)
            cur.execute(self.dialect.sql(f"SELECT count(*) FROM {self.t('catalog_state')}"))
            if cur.fetchone()[0] == 0:
                cur.execute(self.dialect.sql(f"INSERT INTO {self.t('catalog_state')} (id) VALUES (1)"))
            cur.execute("COMMIT")
        finally:
            conn.close()
        return [t.name for t in S.TABLES]

    def initialized(self) -> bool:
        conn = self.dialect.connect()
        try:
            return self.dialect.has_schema(conn.cursor())
        finally:
            conn.close()

    def _require_schema(self, cur: Any) -> None:
        if not self.dialect.has_schema(cur):
            raise InputError(f"no catalog schema in {self.kind} storage; run `corridor db init` first")

    # ---- reading
    def version(self) -> str | None:
        """The current catalog version (None before the first build); cheap enough to ask per request."""
        with self._reader() as cur:
            self._require_schema(cur)
            cur.execute(f"SELECT version FROM {self.t('catalog_state')} WHERE id = 1")
            row = cur.fetchone()
            return row[0] if row else None

    def load(self) -> Snapshot | None:
        """The current catalog, read in one transaction; None before the first build."""
        with self._reader() as cur:
            self._require_schema(cur)
            return self._snapshot(cur)

    def _rows(
        self, cur: Any, table: S.Table, order: str = "", where: str = "", params: tuple = ()
    ) -> list[dict[str, Any]]:
        cols = [self.dialect.geom_select(c.name) if c.type.startswith("geom:") else c.name for c in table.columns]
        sql = f"SELECT {', '.join(cols)} FROM {self.t(table.name)}"
        sql += f" WHERE {where}" if where else ""
        sql += f" ORDER BY {order}" if order else ""
        cur.execute(self.dialect.sql(sql), params)
        out = []
        for values in cur.fetchall():
            row = {}
            for c, v in zip(table.columns, values, strict=True):
                if c.type.startswith("geom:"):
                    v = self.dialect.decode_geom(v)
                elif c.type == "json":
                    v = self.dialect.decode_json(v)
                elif c.type == "time":
                    v = self.dialect.decode_time(v)
                row[c.name] = v
            out.append(row)
        return out

    def _snapshot(self, cur: Any) -> Snapshot | None:
        cur.execute(f"SELECT version, run_id FROM {self.t('catalog_state')} WHERE id = 1")
        state = cur.fetchone()
        if state is None or state[0] is None:
            return None
        files = {}
        specs = self._rows(cur, S.ZONE_SPECS, "position")
        for c in self._rows(cur, S.CORRIDORS, "position"):
            zones = [s["body"] for s in specs if s["corridor"] == c["id"]]
            files[c["file"]] = CorridorFile.model_validate({**c["body"], "zones": zones})
        feats = self._rows(cur, S.FEATURES, "position")
        features = gpd.GeoDataFrame(
            [{**{k: r[k] for k in FEATURE_COLUMNS if k != "geometry"}, "geometry": r["geom"]} for r in feats]
            or None, columns=FEATURE_COLUMNS, geometry="geometry", crs=WGS84,
        )  # fmt: skip
        plats = self._rows(cur, S.PLATFORMS, "position")
        zones = self._rows(cur, S.ZONES, "id")
        order = {s["id"]: i for i, s in enumerate(specs)}
        zones.sort(key=lambda r: order[r["id"]])
        zcols = [*S.ZONES.names()[:-1], "geometry"]
        zf = gpd.GeoDataFrame(
            [{**r, "parent_id": r["parent_id"] or "", "geometry": r.pop("geom")} for r in zones] or None,
            columns=zcols, geometry="geometry", crs=WGS84,
        )  # fmt: skip
        counties = self._rows(cur, S.COUNTIES, "id")
        cf = gpd.GeoDataFrame(
            [{"id": r["id"], "name": r["name"], "city": r["city"], "geometry": r["geom"]} for r in counties] or None,
            columns=["id", "name", "city", "geometry"], geometry="geometry", crs=WGS84,
        )  # fmt: skip
        sources = Sources(Catalog(files), features, [Platform.model_validate(p["body"]) for p in plats])
        versions = {
            "zones": {s["id"]: s["version"] for s in specs},
            "features": {f["id"]: f["version"] for f in feats},
            "platforms": {p["id"]: p["version"] for p in plats},
        }
        return Snapshot(state[0], state[1], sources, zf, cf, versions)

    def runs(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest build runs, newest first."""
        with self._reader() as cur:
            self._require_schema(cur)
            rows = self._rows(cur, S.BUILD_RUNS, "id DESC")
        return rows[:limit]

    def run(self, run_id: int) -> dict[str, Any]:
        """One build run in full, with the zones it changed (areas before and after, no geometry)."""
        with self._reader() as cur:
            self._require_schema(cur)
            rows = self._rows(cur, S.BUILD_RUNS, "", "id = %s", (run_id,))
            if not rows:
                from app.errors import UnknownObject

                raise UnknownObject(f"no build run {run_id}")
            deltas = self._rows(cur, S.ZONE_HISTORY, "zone_id", "run_id = %s", (run_id,))
        return {**rows[0], "zones": [{k: v for k, v in d.items() if k not in ("geom", "run_id")} for d in deltas]}

    def history(self, zone_id: str) -> list[dict[str, Any]]:
        """Every build that changed the zone, oldest first, with its run (who, when, why) and area deltas."""
        with self._reader() as cur:
            self._require_schema(cur)
            rows = self._rows(cur, S.ZONE_HISTORY, "run_id", "zone_id = %s", (zone_id,))
            runs = {
                r["id"]: r
                for r in self._rows(
                    cur, S.BUILD_RUNS, "id",
                    f"id IN (SELECT run_id FROM {self.t('zone_history')} WHERE zone_id = %s)", (zone_id,),
                )
            }  # fmt: skip
        return [{**h, "run": summary(runs[h["run_id"]])} for h in rows]

    # ---- writing
    @contextmanager
    def writer(self) -> Iterator[Writer]:
        """A write transaction holding the catalog lock: commit with `Writer.commit`, anything else rolls back.

        A crash (even kill -9) before the commit leaves the previous catalog as it was; readers see the old
        catalog until the commit and the new one after it, never a mixture.
        """
        conn = self.dialect.connect()
        cur = conn.cursor()
        try:
            self._require_schema(cur)
            self.dialect.begin_write(cur)
            w = Writer(self, cur)
            yield w
            if not w.committed:
                cur.execute("ROLLBACK")
        except self.dialect.connection_errors() as e:
            with suppress(Exception):
                cur.execute("ROLLBACK")
            raise StorageUnavailable(f"the catalog storage is unavailable or busy: {str(e).strip()}") from e
        except BaseException:
            with suppress(Exception):
                cur.execute("ROLLBACK")
            raise
        finally:
            conn.close()


@dataclass
class RunRecord:
    id: int
    version: str
    previous_version: str | None
    zones_rebuilt: list[str]
    changes: dict[str, Any]
    history: list[dict[str, Any]]
    seconds: float


class Writer:
    """The open write transaction of one build."""

    def __init__(self, db: Database, cur: Any):
        self.db, self.cur, self.committed = db, cur, False
        self._snapshot: Snapshot | None = None
        self._read = False
        self.started = _now()
        self.t0 = time.perf_counter()

    def snapshot(self) -> Snapshot | None:
        """The catalog as committed before this build (read inside the lock)."""
        if not self._read:
            self._snapshot, self._read = self.db._snapshot(self.cur), True
        return self._snapshot

    def edits_since_import(self) -> list[dict[str, Any]]:
        """Edit runs committed after the latest import from files, oldest first."""
        last = f"SELECT coalesce(max(id), 0) FROM {self.db.t('build_runs')} WHERE action = 'import'"
        return self.db._rows(self.cur, S.BUILD_RUNS, "id", f"action = 'edit' AND id > ({last})")

    def _insert(self, table: S.Table, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        d = self.db.dialect
        cols = table.names()
        marks = [d.geom_param() if c.type.startswith("geom:") else "%s" for c in table.columns]
        sql = d.sql(f"INSERT INTO {self.db.t(table.name)} ({', '.join(cols)}) VALUES ({', '.join(marks)})")

        def value(c: S.Column, v: Any) -> Any:
            if c.type.startswith("geom:"):
                return d.encode_geom(v)
            if c.type == "json":
                return d.encode_json(v)
            if isinstance(v, float) and v != v:
                return None
            return v.item() if hasattr(v, "item") else v

        self.cur.executemany(sql, [tuple(value(c, r.get(c.name)) for c in table.columns) for r in rows])

    def commit(
        self, store: Store, *, actor: str, action: str, message: str = "", zones_rebuilt: list[str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> RunRecord:  # fmt: skip
        """Replace the catalog with `store` (built from `store.sources`), record the run and its zone history,
        and commit."""
        from app.history import zone_deltas

        before = self.snapshot()
        previous = before.version if before else None
        changes = {**diff_sources(before.sources if before else None, store.sources), **(extra or {})}
        old = before.versions if before else {k: {} for k in SPEC_KINDS}

        def version(kind: str, oid: str) -> int:
            v = old[kind].get(oid)
            return 1 if v is None else v + (oid in changes[kind]["changed"])

        self._replace_catalog(store, version)
        rebuilt = sorted(zones_rebuilt if zones_rebuilt is not None else store.result.zones["id"])
        seconds = time.perf_counter() - self.t0
        d, t = self.db.dialect, self.db.t
        self.cur.execute(
            d.sql(
                f"INSERT INTO {t('build_runs')} (started_at, finished_at, actor, action, message, changes, "
                "zones_rebuilt, previous_version, version, seconds) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "RETURNING id"
            ),
            (self.started, _now(), actor, action, message, d.encode_json(changes), d.encode_json(rebuilt),
             previous, store.version, round(seconds, 3)),
        )  # fmt: skip
        run_id = int(self.cur.fetchone()[0])
        deltas = zone_deltas(before.zones if before else None, store.result.zones)
        self._insert(S.ZONE_HISTORY, [{**h, "run_id": run_id} for h in deltas])
        self.cur.execute(
            d.sql(f"UPDATE {t('catalog_state')} SET version = %s, run_id = %s, updated_at = %s WHERE id = 1"),
            (store.version, run_id, _now()),
        )
        d.after_write(self.cur)
        self.cur.execute("COMMIT")
        self.committed = True
        return RunRecord(run_id, store.version, previous, rebuilt, changes,
                         [{k: v for k, v in h.items() if k != "geom"} for h in deltas], seconds)  # fmt: skip

    def _replace_catalog(self, store: Store, version) -> None:
        """Every catalog table rewritten from `store`; counties only into an empty table (package data)."""
        for table in reversed(S.CATALOG_TABLES):
            if table is not S.COUNTIES:
                self.cur.execute(f"DELETE FROM {self.db.t(table.name)}")
        sources: Sources = store.sources
        cat = sources.catalog
        self._insert(S.CORRIDORS, [
            {"id": f.corridor, "file": key, "position": i,
             "body": f.model_dump(mode="json", by_alias=True, exclude={"zones"})}
            for i, (key, f) in enumerate(cat.files.items())
        ])  # fmt: skip
        self._insert(S.ZONE_SPECS, [
            {"id": z.id, "corridor": cat.corridor_of[z.id], "position": i, "version": version("zones", z.id),
             "body": z.model_dump(mode="json", exclude_defaults=True)}
            for i, z in enumerate(cat)
        ])  # fmt: skip
        zones = [{**r, "parent_id": r["parent_id"] or None, "geom": r["geometry"]}
                 for r in store.result.zones.to_dict("records")]  # fmt: skip
        self._insert(S.ZONES, zones)
        self._insert(S.ZONE_PARTS, [
            {"zone_id": r["id"], "part": i, "area_km2": to_metres(poly).area / 1e6, "geom": poly}
            for r in zones if r["geom"] is not None
            for i, poly in enumerate(shapely.get_parts(r["geom"]), 1)
        ])  # fmt: skip
        located = {r["id"]: r for r in store.platforms.to_dict("records")}
        self._insert(S.PLATFORMS, [
            {"id": p.id, "name": p.name, "kind": p.kind, "declared_zone": p.declared_zone,
             "corridor": cat.corridor_of.get(p.declared_zone or ""), "position": i,
             "version": version("platforms", p.id), "body": p.model_dump(mode="json", exclude_defaults=True),
             "conflicts": ";".join(c.zone for c in p.conflicts),
             "precision_m": located.get(p.id, {}).get("precision_m"),
             "location_source": located.get(p.id, {}).get("location_source"),
             "geom": located.get(p.id, {}).get("geometry")}
            for i, p in enumerate(sources.platforms)
        ])  # fmt: skip
        self._insert(S.FEATURES, [
            {**{k: r[k] for k in FEATURE_COLUMNS if k != "geometry"}, "position": i,
             "version": version("features", r["id"]), "geom": r["geometry"]}
            for i, r in enumerate(sources.features.to_dict("records"))
        ])  # fmt: skip
        self.cur.execute(f"SELECT count(*) FROM {self.db.t('counties')}")
        if self.cur.fetchone()[0] == 0:
            self._insert(S.COUNTIES, [{**r, "geom": r["geometry"]} for r in store.counties.to_dict("records")])
