"""Service settings from the environment (CORRIDOR_…), one class per concern."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CORRIDOR_", extra="ignore")

    title: str = "corridor"
    description: str = (
        "Zone catalog of China's science-and-innovation corridors (科创走廊): zones, platforms, features"
    )
    host: str = "127.0.0.1"
    port: int = 8000
    cors_origins: str = "*"  # comma-separated origins, or * (read-only API)
    write_token: str = ""  # required (Bearer) for write and reload endpoints; empty = writes disabled
    write_tokens: str = ""  # named editors, "alice:token1,bob:token2": their name goes into the build history
    database_url: str | None = None  # postgresql://… (PostGIS) or a .gpkg path; default var/corridor.gpkg
    refresh_seconds: float = 1.0  # how often to look for a catalog version committed by another process
    max_body_bytes: int = 20_000_000
    rate_limit_per_minute: int = 6000  # per client address; 0 = no limit
    default_limit: int = 10
    max_limit: int = 10_000
    assign_max_points: int = 1_000_000
    catalog_dir: str | None = None
    tile_cache_size: int = 4096
