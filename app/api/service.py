"""What the running service holds: the store and what is derived from it, swapped whole on reload."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from app.api.settings import ServiceSettings
from app.assign import ZoneIndex
from app.store import Store
from app.tiles import TileRenderer


@dataclass
class Service:
    store: Store
    index: ZoneIndex
    tiles: TileRenderer

    @classmethod
    def start(cls, settings: ServiceSettings, store: Store | None = None) -> Service:
        from pathlib import Path

        from app.counties import counties

        store = store or Store.build(Path(settings.catalog_dir) if settings.catalog_dir else None)
        index = ZoneIndex(store.zones, counties())
        return cls(store, index, TileRenderer(store))


_reload_lock = threading.Lock()


def reload(app_state, settings: ServiceSettings) -> Service:
    """Build a new store and swap it in at once: readers see the old catalog or the new, never half of one."""
    with _reload_lock:
        fresh = Service.start(settings)
        app_state.service = fresh
        return fresh
