"""Map routes: the Folium map of every corridor, or of one."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from app.maps import zone_map

router = APIRouter(tags=["Maps"])


@router.get("/map", operation_id="getMap", response_class=HTMLResponse)
def map_all(
    request: Request, gcj02: bool = Query(False, description="Amap base with geometry shifted to GCJ-02")
):
    """Zones by level and grade, platforms, county lines (every corridor)."""
    return HTMLResponse(zone_map(request.app.state.service.store, gcj02_base=gcj02).get_root().render())


@router.get("/map/{corridor}", operation_id="getCorridorMap", response_class=HTMLResponse)
def map_corridor(request: Request, corridor: str, gcj02: bool = Query(False)):
    """The map of one corridor (quzhou, shaoxing, hangzhou)."""
    return HTMLResponse(
        zone_map(request.app.state.service.store, corridor, gcj02_base=gcj02).get_root().render()
    )
