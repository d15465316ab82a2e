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
