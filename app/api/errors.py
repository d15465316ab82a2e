"""Errors as RFC 9457 problem details (application/problem+json), 4xx for anything the client can fix."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import CatalogError, CorridorError, InputError

log = logging.getLogger("corridor.api")
PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str = "", **extra: object) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        **({"detail": detail} if detail else {}),
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


class NotFound(CorridorError):
    """A collection, item or zone that does not exist."""


class Unauthorized(CorridorError):
    """A write without the right token."""


def install(app: FastAPI) -> None:
    @app.exception_handler(NotFound)
    async def _not_found(_: Request, e: NotFound) -> JSONResponse:
        return problem(404, "Not Found", str(e))

    @app.exception_handler(Unauthorized)
    async def _unauthorized(_: Request, e: Unauthorized) -> JSONResponse:
        return problem(401, "Unauthorized", str(e))

    @app.exception_handler(InputError)
    async def _input(_: Request, e: InputError) -> JSONResponse:
        return problem(400, "Bad Request", str(e))

    @app.exception_handler(CatalogError)
    async def _catalog(_: Request, e: CatalogError) -> JSONResponse:
        return problem(422, "Unprocessable Content", str(e))

    @app.exception_handler(CorridorError)
    async def _corridor(_: Request, e: CorridorError) -> JSONResponse:
        return problem(400, "Bad Request", str(e))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, e: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(err.get("loc", [])), "msg": str(err.get("msg", ""))} for err in e.errors()]
        return problem(400, "Bad Request", "invalid request parameters", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable", 413: "Content Too Large",
                  429: "Too Many Requests"}  # fmt: skip
        return problem(e.status_code, titles.get(e.status_code, "Error"), str(e.detail or ""))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, e: Exception) -> JSONResponse:  # pragma: no cover - a bug if reached
        log.exception("unexpected error")
        return problem(500, "Internal Server Error", "unexpected error; see the server log")
