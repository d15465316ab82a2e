"""Catalog storage, chosen by CORRIDOR_DATABASE_URL: an embedded GeoPackage file (default) or PostGIS."""

from __future__ import annotations

import os
from pathlib import Path

from app.errors import InputError
from app.storage.database import Database, RunRecord, Snapshot, Writer
from app.storage.dialects import GeoPackage, PostGIS

PROJECT = Path(__file__).resolve().parent.parent.parent
DEFAULT_EMBEDDED = PROJECT / "var" / "corridor.gpkg"
ENV = "CORRIDOR_DATABASE_URL"


def database_url(url: str | None = None) -> str:
    """The URL given, else $CORRIDOR_DATABASE_URL, else the embedded store var/corridor.gpkg."""
    return url or os.environ.get(ENV) or str(DEFAULT_EMBEDDED)


def open_storage(url: str | None = None) -> Database:
    """postgresql://… (PostGIS; `?schema=name` picks the schema, default corridor), or a .gpkg path / gpkg:// URL."""
    url = database_url(url)
    if url.startswith(("postgresql://", "postgres://")):
        from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        schema = query.pop("schema", "corridor")
        if not schema.isidentifier():
            raise InputError(f"schema must be a plain SQL identifier, got {schema!r}")
        return Database(PostGIS(urlunsplit(parts._replace(query=urlencode(query))), schema=schema.lower()))
    for prefix in ("gpkg://", "sqlite://"):
        if url.startswith(prefix):
            url = url[len(prefix) :]
    if "://" in url:
        raise InputError(f"unknown storage URL {url!r}: use postgresql://… or a path to a .gpkg file")
    return Database(GeoPackage(Path(url)))


__all__ = ["Database", "RunRecord", "Snapshot", "Writer", "database_url", "open_storage"]
