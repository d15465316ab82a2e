"""Shared fixtures: the seed documents beside the repository, and the project catalog."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SEEDS = Path(os.environ.get("CORRIDOR_SEEDS", ROOT.parent / "shared" / "seeds"))

SEED_FILES = {
    "quzhou": "000_fa66f67c8b6f3254.txt",
    "news": "001_047acc556e7c25bc.txt",
    "shaoxing": "002_d807fc378f6ed2b1.txt",
    "jindong": "003_aae3d7350a408185.txt",
    "hangzhou": "004_9d53f8f12a7b10cd.txt",
}


def seed_path(key: str) -> Path:
    p = SEEDS / SEED_FILES[key]
    if not p.is_file():
        pytest.skip(
            f"seed document {p.name} not found beside the repository (shared/seeds/); set CORRIDOR_SEEDS"
        )
    return p


@pytest.fixture(scope="session")
def catalog():
    from app.catalog import load_catalog

    return load_catalog()


@pytest.fixture(scope="session", autouse=True)
def session_storage(tmp_path_factory):
    """Commands and services that open the default storage get a GeoPackage of this test run, not var/."""
    path = tmp_path_factory.mktemp("storage") / "corridor.gpkg"
    old = os.environ.get("CORRIDOR_DATABASE_URL")
    os.environ["CORRIDOR_DATABASE_URL"] = str(path)
    yield path
    if old is None:
        os.environ.pop("CORRIDOR_DATABASE_URL", None)
    else:
        os.environ["CORRIDOR_DATABASE_URL"] = old


@pytest.fixture(scope="session")
def postgis_url():
    """A PostGIS database: CORRIDOR_TEST_DATABASE_URL, else a throwaway cluster started here (Debian packages)."""
    url = os.environ.get("CORRIDOR_TEST_DATABASE_URL")
    if url:
        yield url
        return
    from app.storage import cluster

    why = cluster.unavailable()
    if why:
        pytest.skip(f"PostGIS backend not tested: {why}; or set CORRIDOR_TEST_DATABASE_URL")
    c = cluster.start()
    yield c.url
    c.stop()


BACKENDS = ["embedded", "postgis"]


def storage_url(request, tmp_path_factory) -> str:
    """A new, empty storage of the backend `request.param`: a GeoPackage file, or a PostGIS schema of its own."""
    import uuid

    name = f"t{uuid.uuid4().hex[:10]}"
    if request.param == "postgis":
        return f"{request.getfixturevalue('postgis_url')}?schema={name}"
    return str(tmp_path_factory.mktemp("gpkg") / f"{name}.gpkg")
