"""Errors as RFC 9457 problem details (application/problem+json), 4xx for anything the client can fix."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import CatalogError, Conflict, CorridorError, InputError, StorageUnavailable, UnknownObject

log = logging.getLogger("corridor.api")
PROBLEM = "application/problem+json"
PROBLEM_SCHEMA = {"type": "object", "required": ["type", "title", "status"],
                  "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                                 "status": {"type": "integer"}, "detail": {"type": "string"}}}  # fmt: skip


def problem_doc(description: str) -> dict:
    return {"description": description, "content": {PROBLEM: {"schema": PROBLEM_SCHEMA}}}


PROBLEM_RESPONSES = {400: problem_doc("Bad Request (invalid parameters or input)"), 404: problem_doc("Not Found"),
                     413: problem_doc("Content Too Large"), 422: problem_doc("Unprocessable Content"),
                     429: problem_doc("Too Many Requests"),
                     503: problem_doc("Service Unavailable (the catalog storage cannot be reached)")}  # fmt: skip


def media(*types: str) -> dict:
    """Extra 200 media types of a route, for `responses=`."""
    return {200: {"content": {t: {} for t in types}}}


def problem(status: int, title: str, detail: str = "", **extra: object) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        **({"detail": detail} if detail else {}),
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


class NotFound(UnknownObject):
    """A collection, item or tile that does not exist."""


class Unauthorized(CorridorError):
    """A write without the right token."""


# most specific first: each error class maps to its status and title
STATUS: list[tuple[type[CorridorError], int, str]] = [
    (UnknownObject, 404, "Not Found"),
    (Conflict, 409, "Conflict"),
    (StorageUnavailable, 503, "Service Unavailable"),
    (Unauthorized, 401, "Unauthorized"),
    (InputError, 400, "Bad Request"),
    (CatalogError, 422, "Unprocessable Content"),
    (CorridorError, 400, "Bad Request"),
]


def install(app: FastAPI) -> None:
    for cls, status, title in STATUS:

        async def _handler(
            _: Request, e: Exception, status: int = status, title: str = title
        ) -> JSONResponse:
            return problem(status, title, str(e))

        app.add_exception_handler(cls, _handler)

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
