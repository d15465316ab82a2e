"""Reusable request dependencies: the current store, the zone index, the tile renderer, the write token."""

from __future__ import annotations

import hmac

from fastapi import Request

from app.api.errors import Unauthorized
from app.store import Store


def get_store(request: Request) -> Store:
    return request.app.state.service.store


def require_token(request: Request) -> None:
    """Writes and reloads need `Authorization: Bearer <CORRIDOR_WRITE_TOKEN>`; with no token set they are off."""
    expected = request.app.state.settings.write_token
    given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not expected:
        raise Unauthorized("writes are disabled: the service has no CORRIDOR_WRITE_TOKEN")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("missing or wrong bearer token")
