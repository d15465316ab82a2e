"""The two storage engines: an embedded GeoPackage (SQLite) file and a PostGIS database, behind one interface."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import shapely
from shapely.geometry.base import BaseGeometry

from app.errors import InputError
from app.storage import gpkg
from app.storage.schema import Column, Table


class Dialect:
    """What differs between the engines: connections, DDL, parameters, geometry and JSON codecs, locking."""

    name = ""
    url = ""
    param = "%s"

    def connect(self) -> Any:
        raise NotImplementedError

    def table(self, name: str) -> str:
        return name

    def sql(self, text: str) -> str:
        return text if self.param == "%s" else text.replace("%s", self.param)

    # ---- DDL
    def ddl(self, t: Table) -> list[str]:
        raise NotImplementedError

    def prepare(self, cur: Any) -> None:
        """Create what must exist before the tables (extensions, schemas, metadata tables)."""

    def register(self, cur: Any, t: Table) -> None:
        """Record a table in the engine's own catalog of layers (GeoPackage contents)."""

    def after_write(self, cur: Any) -> None:
        """Bring the engine's own metadata up to date after a build is written."""

    # ---- values
    def geom_param(self) -> str:
        raise NotImplementedError

    def geom_select(self, column: str) -> str:
        raise NotImplementedError

    def encode_geom(self, g: BaseGeometry | None) -> Any:
        raise NotImplementedError

    def decode_geom(self, v: Any) -> BaseGeometry | None:
        raise NotImplementedError

    def encode_json(self, v: Any) -> Any:
        return json.dumps(v, ensure_ascii=False)

    def decode_json(self, v: Any) -> Any:
        return json.loads(v) if isinstance(v, str | bytes) else v

    @staticmethod
    def decode_time(v: Any) -> str | None:
        return v.isoformat(timespec="seconds") if isinstance(v, datetime) else v

    def connection_errors(self) -> tuple[type[Exception], ...]:
        """Driver errors that mean the storage is unreachable or busy, not that a request is wrong."""
        return ()

    # ---- transactions
    def begin_read(self, cur: Any) -> None:
        cur.execute("BEGIN")

    def begin_write(self, cur: Any) -> None:
        """Start a transaction that holds the catalog's write lock until it ends."""
        raise NotImplementedError

    def has_schema(self, cur: Any) -> bool:
        raise NotImplementedError


def _check(c: Column) -> str:
    return f" CHECK ({c.check})" if c.check else ""


class GeoPackage(Dialect):
    """A single GeoPackage file (SQLite in WAL mode): any GIS opens it; readers never block the writer."""

    name = "embedded"
    param = "?"
    TYPES: ClassVar[dict[str, str]] = {"text": "TEXT", "int": "INTEGER", "real": "DOUBLE", "json": "TEXT", "time": "DATETIME"}

    def __init__(self, path: Path):
        self.path = Path(path)
        self.url = str(self.path)

    def connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=60, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as e:
            raise InputError(f"cannot open the embedded store {self.path.name}: {e}") from e
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def ddl(self, t: Table) -> list[str]:
        cols: list[str] = []
        serial = any(c.type == "serial" for c in t.columns)
        if t.geometry is not None and not serial:
            cols.append("fid INTEGER PRIMARY KEY AUTOINCREMENT")  # GDAL expects an integer feature id
        for c in t.columns:
            if c.type == "serial":
                cols.append(f"{c.name} INTEGER PRIMARY KEY AUTOINCREMENT")
                continue
            typ = c.type.split(":")[1] if c.type.startswith("geom:") else self.TYPES[c.type]
            ref = f" REFERENCES {c.references} DEFERRABLE INITIALLY DEFERRED" if c.references else ""
            cols.append(f"{c.name} {typ}{'' if c.null else ' NOT NULL'}{_check(c)}{ref}")
        if not serial:
            kind = "UNIQUE" if t.geometry is not None else "PRIMARY KEY"
            cols.append(f"{kind} ({', '.join(t.key)})")
        out = [f"CREATE TABLE IF NOT EXISTS {t.name} (\n  " + ",\n  ".join(cols) + "\n)"]
        out += [f"CREATE INDEX IF NOT EXISTS {t.name}_{'_'.join(ix)} ON {t.name} ({', '.join(ix)})" for ix in t.indexes]
        return out

    def prepare(self, cur: Any) -> None:
        cur.execute(f"PRAGMA application_id={gpkg.APPLICATION_ID}")
        cur.execute(f"PRAGMA user_version={gpkg.USER_VERSION}")
        for stmt in gpkg.CORE_DDL:
            cur.execute(stmt)
        cur.executemany("INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)", gpkg.SPATIAL_REF_SYS)

    def register(self, cur: Any, t: Table) -> None:
        g = t.geometry
        cur.execute(
            "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) "
            "VALUES (?, ?, ?, ?, ?)",
            (t.name, "features" if g else "attributes", t.name, t.description, gpkg.SRS_ID if g else None),
        )
        if g is not None:
            cur.execute(
                "INSERT OR IGNORE INTO gpkg_geometry_columns VALUES (?, ?, ?, ?, 0, 0)",
                (t.name, g.name, g.type.split(":")[1], gpkg.SRS_ID),
            )

    def geom_param(self) -> str:
        return "?"

    def geom_select(self, column: str) -> str:
        return column

    def encode_geom(self, g: BaseGeometry | None) -> bytes | None:
        return gpkg.encode(g)

    def decode_geom(self, v: Any) -> BaseGeometry | None:
        return gpkg.decode(v)

    def after_write(self, cur: Any) -> None:
        """Layer extents and change times in gpkg_contents, as GIS clients read them."""
        cur.execute("SELECT table_name FROM gpkg_contents WHERE data_type = 'features'")
        for (name,) in cur.fetchall():
            cur.execute(f"SELECT geom FROM {name} WHERE geom IS NOT NULL")
            bounds = [gpkg.decode(b).bounds for (b,) in cur.fetchall()]
            box = (
                (min(b[0] for b in bounds), min(b[1] for b in bounds), max(b[2] for b in bounds), max(b[3] for b in bounds))
                if bounds else (None, None, None, None)
            )  # fmt: skip
            cur.execute(
                "UPDATE gpkg_contents SET min_x = ?, min_y = ?, max_x = ?, max_y = ?, "
                "last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE table_name = ?",
                (*box, name),
            )

    def connection_errors(self) -> tuple[type[Exception], ...]:
        return (sqlite3.OperationalError,)

    def begin_write(self, cur: Any) -> None:
        cur.execute("BEGIN IMMEDIATE")  # the database's single write lock, taken now rather than at first write

    def has_schema(self, cur: Any) -> bool:
        cur.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'catalog_state'")
        return cur.fetchone() is not None


class PostGIS(Dialect):
    """A PostGIS database; the tables live in their own schema (default `corridor`)."""

    name = "postgis"
    TYPES: ClassVar[dict[str, str]] = {"text": "text", "int": "integer", "real": "double precision", "json": "jsonb", "time": "timestamptz"}

    def __init__(self, url: str, schema: str = "corridor"):
        self.url = url
        self.schema = schema

    def connect(self) -> Any:
        try:
            import psycopg
        except ImportError as e:  # pragma: no cover - declared dependency
            raise InputError("PostGIS storage needs psycopg: pip install 'psycopg[binary]'") from e
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.Error as e:
            from app.errors import StorageUnavailable

            raise StorageUnavailable(f"cannot connect to {redact(self.url)}: {str(e).strip()}") from e

    def table(self, name: str) -> str:
        return f"{self.schema}.{name}"

    def ddl(self, t: Table) -> list[str]:
        cols = []
        for c in t.columns:
            if c.type == "serial":
                cols.append(f"{c.name} bigint GENERATED ALWAYS AS IDENTITY")
                continue
            if c.type.startswith("geom:"):
                gtype = c.type.split(":")[1].title().replace("Multipolygon", "MultiPolygon")
                typ = f"geometry({gtype}, 4326)"
            else:
                typ = self.TYPES[c.type]
            ref = ""
            if c.references:
                table, col = c.references.rstrip(")").split("(")
                ref = f" REFERENCES {self.table(table)}({col}) DEFERRABLE INITIALLY DEFERRED"
            cols.append(f"{c.name} {typ}{'' if c.null else ' NOT NULL'}{_check(c)}{ref}")
        cols.append(f"PRIMARY KEY ({', '.join(t.key)})")
        if t.name == "zones":
            cols.append("CHECK (geom IS NULL OR GeometryType(geom) IN ('POLYGON', 'MULTIPOLYGON'))")
        name = self.table(t.name)
        out = [f"CREATE TABLE IF NOT EXISTS {name} (\n  " + ",\n  ".join(cols) + "\n)"]
        if t.geometry is not None:
            out.append(f"CREATE INDEX IF NOT EXISTS {t.name}_geom_gist ON {name} USING gist ({t.geometry.name})")
        out += [f"CREATE INDEX IF NOT EXISTS {t.name}_{'_'.join(ix)} ON {name} ({', '.join(ix)})" for ix in t.indexes]
        out.append(f"COMMENT ON TABLE {name} IS '{t.description}'")
        return out

    def prepare(self, cur: Any) -> None:
        import psycopg

        try:
            cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        except psycopg.Error as e:
            raise InputError(f"PostGIS is not available in {redact(self.url)}: {str(e).strip()}") from e
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")

    def geom_param(self) -> str:
        return "ST_GeomFromWKB(%s, 4326)"

    def geom_select(self, column: str) -> str:
        return f"ST_AsBinary({column})"

    def encode_geom(self, g: BaseGeometry | None) -> bytes | None:
        return None if g is None else shapely.to_wkb(g, flavor="iso")

    def decode_geom(self, v: Any) -> BaseGeometry | None:
        return None if v is None else shapely.from_wkb(bytes(v))

    def encode_json(self, v: Any) -> Any:
        from psycopg.types.json import Jsonb

        return Jsonb(v)

    def connection_errors(self) -> tuple[type[Exception], ...]:
        import psycopg

        return (psycopg.OperationalError, psycopg.InterfaceError)

    def begin_read(self, cur: Any) -> None:
        cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")  # one snapshot for every table

    def begin_write(self, cur: Any) -> None:
        cur.execute("BEGIN")
        cur.execute(f"SELECT version FROM {self.table('catalog_state')} WHERE id = 1 FOR UPDATE")

    def has_schema(self, cur: Any) -> bool:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (self.table("catalog_state"),))
        return bool(cur.fetchone()[0])


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
