"""Catalog endpoints: the stored objects with their versions, token-protected edits, build runs, zone history."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from shapely.geometry import mapping

from app.api.deps import require_token
from app.api.errors import media, problem_doc
from app.edits import Edit, edit, object_spec
from app.errors import InputError
from app.storage import Database

router = APIRouter(tags=["Catalog"])
EDIT_RESPONSES = {401: problem_doc("Unauthorized"), 409: problem_doc("Conflict: the object changed since `version`")}


def _json(obj: Any, status: int = 200) -> Response:
    return Response(json.dumps(obj, ensure_ascii=False, default=str), status_code=status,
                    media_type="application/json")  # fmt: skip


def _db(request: Request) -> Database:
    db = request.app.state.service.db
    if db is None:
        raise InputError("this service holds an in-memory catalog without storage; edits and history need storage")
    return db


class _Patch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1, description="the object's version as you read it; another edit since then → 409")
    message: str = Field("", max_length=2000, description="why: goes into the build history")

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True, exclude={"version", "message"})


class ZonePatch(_Patch):
    boundary: str | None = Field(None, max_length=20_000, description="the new 四至 text")
    area: str | None = Field(None, max_length=500, description="the new stated area, as words (规划面积11.95平方公里)")


class FeatureFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=200)
    aliases: list[str] | None = None
    kind: str | None = Field(None, max_length=50)
    county_adcode: str | None = Field(None, max_length=6)
    source: str | None = Field(None, max_length=500, description="where the geometry comes from (default: edit)")
    accuracy_m: float | None = Field(None, gt=0, description="estimated position error, metres")
    note: str | None = Field(None, max_length=5000)
    geometry: dict[str, Any] | None = Field(None, description="GeoJSON geometry, lon/lat in `crs`")
    crs: Literal["wgs84", "cgcs2000", "gcj02", "bd09"] = "wgs84"


class FeaturePatch(_Patch, FeatureFields):
    pass


class FeatureCreate(FeatureFields):
    id: str = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=80)
    message: str = Field("", max_length=2000)


class PlatformPatch(_Patch):
    name: str | None = Field(None, max_length=200)
    kind: str | None = None
    declared_zone: str | None = None
    location: dict[str, Any] | None = Field(
        None, description="{lon, lat, datum: wgs84|cgcs2000|gcj02|bd09, precision_m, source, note}; null: unknown"
    )
    notes: list[str] | None = None


def _committed(request: Request, e: Edit, actor: str, message: str) -> Response:
    from app.api.service import reload

    out = edit(_db(request), e, actor=actor, message=message)
    svc = reload(request.app.state, request.app.state.settings)
    run = out.run
    return _json({
        "run": {"id": run.id, "version": run.version, "previous_version": run.previous_version,
                "zones_rebuilt": run.zones_rebuilt, "seconds": round(run.seconds, 3), "zones": run.history},
        "object": object_spec(svc.store, e.kind, e.id),
    }, status=201 if e.create else 200)  # fmt: skip


@router.get("/catalog", operation_id="getCatalogState")
def catalog_state(request: Request) -> Response:
    """The storage behind the service and the catalog version it serves."""
    svc = request.app.state.service
    return _json({"storage": svc.db.kind if svc.db else "memory", "version": svc.store.version,
                  "zones": len(svc.store.result.zones) if svc.store.result is not None else len(svc.store.zones)})  # fmt: skip


@router.get("/catalog/runs", operation_id="getBuildRuns")
def runs(request: Request, limit: int = Query(50, ge=1, le=1000)) -> Response:
    """The latest builds, newest first: who, when, what, how many zones were rebuilt."""
    from app.storage.database import summary

    return _json({"runs": [summary(r) for r in _db(request).runs(limit)]})


@router.get("/catalog/runs/{run_id}", operation_id="getBuildRun")
def run(request: Request, run_id: int) -> Response:
    """One build: the objects it changed and, per zone, the areas before and after."""
    return _json(_db(request).run(run_id))


def _spec(request: Request, kind: str, oid: str) -> Response:
    spec = object_spec(request.app.state.service.store, kind, oid)  # type: ignore[arg-type]
    r = _json(spec)
    r.headers["ETag"] = f'"{kind}-{oid}-{spec["version"]}"'
    return r


@router.get("/catalog/zones/{zone_id}", operation_id="getZoneSpec")
def zone_spec(request: Request, zone_id: str) -> Response:
    """A zone as written (verbatim 四至, stated area, sources) with its version."""
    return _spec(request, "zone", zone_id)


@router.get("/catalog/features/{feature_id}", operation_id="getFeatureSpec")
def feature_spec(request: Request, feature_id: str) -> Response:
    """A gazetteer feature with its geometry, source, accuracy and version."""
    return _spec(request, "feature", feature_id)


@router.get("/catalog/platforms/{platform_id}", operation_id="getPlatformSpec")
def platform_spec(request: Request, platform_id: str) -> Response:
    """A platform as written, with its location (if known) and version."""
    return _spec(request, "platform", platform_id)


@router.patch("/catalog/zones/{zone_id}", operation_id="editZone", responses=EDIT_RESPONSES)
def edit_zone(request: Request, zone_id: str, body: ZonePatch, actor: str = Depends(require_token)) -> Response:
    """Replace a zone's 四至 text and/or stated area; rebuilds the zones that depend on it (token)."""
    return _committed(request, Edit("zone", zone_id, body.changes(), body.version), actor, body.message)


@router.patch("/catalog/features/{feature_id}", operation_id="editFeature", responses=EDIT_RESPONSES)
def edit_feature(request: Request, feature_id: str, body: FeaturePatch, actor: str = Depends(require_token)) -> Response:
    """Change a gazetteer feature (geometry, names, source, accuracy); rebuilds the zones that name it (token)."""
    return _committed(request, Edit("feature", feature_id, body.changes(), body.version), actor, body.message)


@router.post("/catalog/features", operation_id="createFeature", status_code=201, responses=EDIT_RESPONSES)
def create_feature(request: Request, body: FeatureCreate, actor: str = Depends(require_token)) -> Response:
    """Add a gazetteer feature (name, kind and geometry required); rebuilds the zones that name it (token)."""
    changes = body.model_dump(exclude_unset=True, exclude={"id", "message"})
    return _committed(request, Edit("feature", body.id, changes, None, create=True), actor, body.message)


@router.patch("/catalog/platforms/{platform_id}", operation_id="editPlatform", responses=EDIT_RESPONSES)
def edit_platform(request: Request, platform_id: str, body: PlatformPatch, actor: str = Depends(require_token)) -> Response:
    """Change a platform (location, declared zone, name, kind) (token)."""
    return _committed(request, Edit("platform", platform_id, body.changes(), body.version), actor, body.message)


@router.get("/catalog/zones/{zone_id}/history", operation_id="getZoneHistory",
            responses=media("application/geo+json", "text/html"))  # fmt: skip
def zone_history(request: Request, zone_id: str, f: str = Query("json", pattern="^(json|geojson|html)$")) -> Response:
    """Every build that changed the zone, oldest first: who, when, why, area before/after/delta, polygon.

    f=geojson: a FeatureCollection with the zone's polygon at each version; f=html: a map of how it moved.
    """
    rows = _db(request).history(zone_id)
    if not rows and zone_id not in request.app.state.service.store.versions.get("zones", {}):
        from app.errors import UnknownObject

        raise UnknownObject(f"no zone {zone_id!r} in the stored catalog")
    if f == "html":
        from app.maps import history_map

        zones = request.app.state.service.store.sources.catalog.zones
        name = zones[zone_id].name if zone_id in zones else ""
        return HTMLResponse(history_map(zone_id, rows, name).get_root().render())
    if f == "geojson":
        feats = [{"type": "Feature", "id": f"{zone_id}@{h['run_id']}",
                  "geometry": mapping(h["geom"]) if h["geom"] is not None else None,
                  "properties": {**{k: v for k, v in h.items() if k not in ("geom", "run")},
                                 "actor": h["run"]["actor"], "at": h["run"]["finished_at"],
                                 "message": h["run"]["message"]}}
                 for h in rows]  # fmt: skip
        return Response(json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False, default=str),
                        media_type="application/geo+json")  # fmt: skip
    return _json({"zone_id": zone_id, "versions": [{k: v for k, v in h.items() if k != "geom"} for h in rows]})
