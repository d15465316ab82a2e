"""Reusable request dependencies: the current store, the zone index, the tile renderer, the write token."""

from __future__ import annotations

import hmac

from fastapi import Request

from app.api.errors import Unauthorized
from app.store import Store


def get_store(request: Request) -> Store:
    return request.app.state.service.store


def editors(settings) -> dict[str, str]:
    """token → editor name: CORRIDOR_WRITE_TOKENS ("alice:t1,bob:t2") and CORRIDOR_WRITE_TOKEN (editor "api")."""
    out = {}
    for pair in settings.write_tokens.split(","):
        name, _, token = pair.strip().partition(":")
        if name and token:
            out[token] = name
    if settings.write_token:
        out[settings.write_token] = "api"
    return out


def require_token(request: Request) -> str:
    """Writes and reloads need `Authorization: Bearer <token>`; returns the editor's name. No tokens: no writes."""
    known = editors(request.app.state.settings)
    given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not known:
        raise Unauthorized("writes are disabled: the service has no CORRIDOR_WRITE_TOKEN(S)")
    for token, name in known.items():
        if hmac.compare_digest(given.encode(), token.encode()):
            return name
    raise Unauthorized("missing or wrong bearer token")
