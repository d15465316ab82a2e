"""Vector tile routes: /tiles/{z}/{x}/{y}.mvt with strong ETags, 304s, gzip and Cache-Control; TileJSON."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from app.tiles import gzip_bytes, tilejson

router = APIRouter(tags=["Tiles"])
MVT = "application/vnd.mapbox-vector-tile"


@router.get("/tiles/tilejson.json", operation_id="getTileJSON")
def tile_json(request: Request) -> JSONResponse:
    """TileJSON 3.0 for the zones and platforms layers."""
    return JSONResponse(tilejson(str(request.base_url).rstrip("/"), request.app.state.service.store))


@router.get(
    "/tiles/{z}/{x}/{y}.mvt",
    operation_id="getTile",
    response_class=Response,
    responses={
        200: {"content": {MVT: {"schema": {"type": "string", "format": "binary"}}}},
        304: {"description": "Not Modified (If-None-Match matched the ETag)"},
    },
)
def tile(request: Request, z: int, x: int, y: int) -> Response:
    """One Mapbox vector tile (layers zones, platforms), simplified for its zoom."""
    renderer = request.app.state.service.tiles
    data = renderer.render(z, x, y)
    etag = renderer.etag(z, x, y)
    headers = {"ETag": etag, "Cache-Control": "public, max-age=3600", "Vary": "Accept-Encoding"}
    inm = request.headers.get("if-none-match", "")
    if etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*":
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(gzip_bytes(data), media_type=MVT, headers={**headers, "Content-Encoding": "gzip"})
    return Response(data, media_type=MVT, headers=headers)
