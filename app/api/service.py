"""What the running service holds: the store, its zone index and tiles, and the storage it follows."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from app.api.settings import ServiceSettings
from app.assign import ZoneIndex
from app.edits import ensure_catalog
from app.errors import CorridorError
from app.storage import Database, open_storage
from app.store import Store
from app.tiles import TileRenderer


@dataclass
class Service:
    store: Store
    index: ZoneIndex
    tiles: TileRenderer
    db: Database | None = None  # None: an in-memory store handed over by the caller
    checked: float = field(default_factory=time.monotonic)

    @classmethod
    def of(cls, store: Store, db: Database | None = None) -> Service:
        return cls(store, store.zone_index(), TileRenderer(store), db)

    @classmethod
    def start(cls, settings: ServiceSettings, store: Store | None = None) -> Service:
        """The given store, or the storage's current catalog (built from the files on first start)."""
        if store is not None:
            return cls.of(store)
        db = open_storage(settings.database_url)
        return cls.of(ensure_catalog(db, settings.catalog_dir).store(), db)


log = logging.getLogger("corridor.api")
_reload_lock = threading.Lock()


def reload(app_state, settings: ServiceSettings) -> Service:
    """Read the storage's current catalog (or rebuild an in-memory one) and swap it in whole."""
    with _reload_lock:
        old: Service = app_state.service
        if old.db is None:
            fresh = Service.of(Store.build(settings.catalog_dir))
        else:
            fresh = Service.of(ensure_catalog(old.db, settings.catalog_dir).store(), old.db)
        app_state.service = fresh
        return fresh


def follow_due(app_state, settings: ServiceSettings) -> bool:
    """Whether it is time to ask the storage for a newer catalog (cheap: no I/O, fine on the event loop)."""
    svc: Service = app_state.service
    return svc.db is not None and time.monotonic() - svc.checked >= settings.refresh_seconds


def follow(app_state, settings: ServiceSettings) -> None:
    """Reload when another process (a CLI edit, another worker) committed a new catalog version.

    Asks the storage at most once per `refresh_seconds`: a reader sees another writer's commit within that time.
    """
    if not follow_due(app_state, settings):
        return
    svc: Service = app_state.service
    svc.checked = time.monotonic()
    try:
        if svc.db.version() != svc.store.version:
            reload(app_state, settings)
    except CorridorError as e:  # storage down or busy: keep serving the catalog already loaded
        log.warning("cannot check the storage for a new catalog version: %s", e)
