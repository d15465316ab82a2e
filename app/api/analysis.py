"""Analysis routes: area report, overlaps, containment, assignment, parsing, build preview, site check, downloads."""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from app.api.deps import get_store, require_token
from app.api.errors import NotFound, media, problem_doc
from app.assign import assign_chunk, to_lonlat_wgs84, valid_lonlat
from app.errors import InputError
from app.parser import parse
from app.text import MAX_TEXT_BYTES

router = APIRouter(tags=["Analysis"])


class TextIn(BaseModel):
    text: str = Field(..., max_length=MAX_TEXT_BYTES, description="四至 text")


def _json(obj: Any, status: int = 200) -> Response:
    return Response(json.dumps(obj, ensure_ascii=False, default=_default), status_code=status,
                    media_type="application/json")  # fmt: skip


def _default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, float) and not np.isfinite(o):
        return None
    return str(o)


def _clean(records: list[dict]) -> list[dict]:
    return [
        {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r.items()}
        for r in records
    ]


@router.get("/healthz", operation_id="health", tags=["Capabilities"])
def healthz(request: Request) -> dict[str, Any]:
    """Liveness and what is loaded."""
    store = get_store(request)
    return {
        "status": "ok",
        "version": store.version,
        "zones": len(store.zones),
        "platforms": len(store.platforms),
    }


@router.get("/analysis/areas", operation_id="getAreaReport", responses=media("text/csv"))
def areas(request: Request, f: str = Query("json", pattern="^(json|csv)$")) -> Response:
    """Stated vs computed areas (EPSG:4549 and geodesic), ratio, grade and method of every zone."""
    cols = ["id", "name", "level", "corridor", "stated_area_km2", "area_km2", "area_geodesic_km2", "ratio", "grade",
            "method", "unresolved", "closures"]  # fmt: skip
    store = get_store(request)
    df = (
        pd.DataFrame(store.result.zones.drop(columns="geometry"))[cols] if store.result else store.zones[cols]
    )
    if f == "csv":
        return Response(df.to_csv(index=False), media_type="text/csv; charset=utf-8")
    return _json({"zones": _clean(df.to_dict("records"))})


@router.get("/analysis/overlaps", operation_id="getOverlaps")
def overlaps(request: Request) -> Response:
    """Every pair of zones (not ancestor and descendant) whose polygons overlap, with shared km² and shares."""
    from app.spatial_checks import as_dicts
    from app.spatial_checks import overlaps as find

    r = get_store(request).result
    return _json({"overlaps": as_dicts(find(r.catalog, r.built))})


@router.get("/analysis/containment", operation_id="getContainment")
def containment(request: Request) -> Response:
    """Each zone's share outside its parent, and its stated vs computed counties."""
    from app.spatial_checks import as_dicts, county_checks
    from app.spatial_checks import containment as inside

    r = get_store(request).result
    return _json(
        {
            "parents": as_dicts(inside(r.catalog, r.built)),
            "counties": as_dicts(county_checks(r.catalog, r.built)),
        }
    )


@router.get("/assign", operation_id="assignPoint")
async def assign_point(
    request: Request,
    lon: float = Query(..., description="longitude (or x) in crs"),
    lat: float = Query(..., description="latitude (or y) in crs"),
    crs: str = Query("wgs84", description="wgs84, cgcs2000, gcj02, bd09 or EPSG:n"),
) -> Response:
    """The zones holding one point, at every level, and its county; the nearest zone when outside."""
    wlon, wlat = to_lonlat_wgs84(np.array([lon]), np.array([lat]), crs)
    if not valid_lonlat(wlon, wlat)[0]:
        raise InputError(f"coordinate out of range: {lon}, {lat} ({crs})")
    out = request.app.state.service.index.assign(wlon, wlat).record(0)
    return _json({"lon": float(wlon[0]), "lat": float(wlat[0]), "input_crs": crs, **out})


@router.post(
    "/assign",
    operation_id="assignPoints",
    responses=media("application/geo+json", "text/csv"),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/geo+json": {"schema": {"type": "object"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
)
async def assign_points(request: Request, crs: str = Query("wgs84"), lon: str | None = Query(None),
                        lat: str | None = Query(None)) -> Response:  # fmt: skip
    """Assign a GeoJSON FeatureCollection of points (application/geo+json) or a CSV (text/csv) body."""
    settings = request.app.state.settings
    body = await request.body()
    ctype = request.headers.get("content-type", "").split(";")[0].strip()
    index = request.app.state.service.index
    if ctype in ("text/csv", "application/csv"):
        from app.points_io import LAT_NAMES, LON_NAMES, _numbers, _pick

        try:
            df = pd.read_csv(io.BytesIO(body), dtype=str, keep_default_na=False, encoding="utf-8-sig")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
            raise InputError(f"cannot read the CSV body: {e}") from e
        if len(df) > settings.assign_max_points:
            raise InputError(f"{len(df)} rows; the limit is {settings.assign_max_points}")
        cols = list(df.columns)
        x = _numbers(df[_pick(cols, lon, LON_NAMES, "longitude", Path("body.csv"))])
        y = _numbers(df[_pick(cols, lat, LAT_NAMES, "latitude", Path("body.csv"))])
        out, *_ = assign_chunk(index, df, x, y, crs)
        return Response(out.to_csv(index=False), media_type="text/csv; charset=utf-8")
    if ctype not in ("application/geo+json", "application/json"):
        raise InputError("send a GeoJSON FeatureCollection (application/geo+json) or a CSV (text/csv) body")
    try:
        fc = json.loads(body)
        feats = fc["features"] if fc.get("type") == "FeatureCollection" else None
    except (json.JSONDecodeError, AttributeError, TypeError, KeyError) as e:
        raise InputError(f"the body is not a GeoJSON FeatureCollection: {e}") from e
    if not isinstance(feats, list):
        raise InputError("the body is not a GeoJSON FeatureCollection")
    if len(feats) > settings.assign_max_points:
        raise InputError(f"{len(feats)} features; the limit is {settings.assign_max_points}")
    from app.points_io import _point_xy

    props, xs, ys = [], [], []
    for ft in feats:
        if not isinstance(ft, dict):
            raise InputError("every feature must be a JSON object")
        props.append(ft.get("properties") or {})
        px, py = (
            _point_xy(ft)
            if isinstance(ft.get("geometry"), dict) or ft.get("geometry") is None
            else (np.nan, np.nan)
        )
        xs.append(px)
        ys.append(py)
    frame = pd.DataFrame(props) if props else pd.DataFrame(index=range(0))
    out, wlon, wlat, ok = assign_chunk(index, frame, np.array(xs, float), np.array(ys, float), crs)
    records = _clean(out.to_dict("records"))
    result = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": ({"type": "Point", "coordinates": [float(a), float(b)]} if k else None),
         "properties": r} for r, a, b, k in zip(records, wlon, wlat, ok, strict=True)]}  # fmt: skip
    return Response(
        json.dumps(result, ensure_ascii=False, default=_default), media_type="application/geo+json"
    )


@router.post("/parse", operation_id="parseText")
def parse_text(body: TextIn) -> Response:
    """四至 text → zone, areas, parts, sides and features."""
    return _json(parse(body.text).to_dict())


@router.post("/build", operation_id="buildPreview", responses=media("application/geo+json"))
def build_preview(request: Request, body: TextIn) -> Response:
    """四至 text → polygon preview against the loaded gazetteer (GeoJSON, one feature a part, with grade)."""
    from app.single import build_text

    return Response(json.dumps(build_text(body.text, get_store(request).gazetteer), ensure_ascii=False),
                    media_type="application/geo+json")  # fmt: skip


@router.get("/site", operation_id="siteCheck")
def site(request: Request, lon: float = Query(...), lat: float = Query(...), crs: str = Query("wgs84"),
         k: int = Query(5, ge=1, le=100)) -> Response:  # fmt: skip
    """For planners: containing zones, distance to their edges, county, nearest platforms."""
    from app.site import site_report

    return _json(site_report(request.app.state.service.index, lon, lat, crs=crs, k=k,
                             platforms=get_store(request).platforms))  # fmt: skip


DOWNLOADS = {"csv": "text/csv; charset=utf-8",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
             "gpkg": "application/geopackage+sqlite3", "geojson": "application/geo+json",
             "kml": "application/vnd.google-earth.kml+xml", "shp.zip": "application/zip"}  # fmt: skip


DOWNLOADS_TYPES = [
    "text/csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/geopackage+sqlite3",
    "application/geo+json",
    "application/vnd.google-earth.kml+xml",
    "application/zip",
]


@router.get("/downloads/zones.{fmt}", operation_id="downloadZones", responses=media(*DOWNLOADS_TYPES))
def download(request: Request, fmt: str) -> Response:
    """The zone layer or its report: CSV, XLSX (report), GeoPackage, GeoJSON, KML, zipped Shapefile (UTF-8 .cpg)."""
    if fmt not in DOWNLOADS:
        raise NotFound(f"no download zones.{fmt}; available: {', '.join('zones.' + k for k in DOWNLOADS)}")
    store = get_store(request)
    zones = store.zones
    headers = {"Content-Disposition": f'attachment; filename="zones.{fmt}"'}
    if fmt in ("csv", "xlsx"):
        from app.report import render, report_table
        from app.spatial_checks import county_checks

        r = store.result
        table = report_table(r.zones, county_checks(r.catalog, r.built))
        return Response(render(table, fmt), media_type=DOWNLOADS[fmt], headers=headers)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"zones.{fmt.split('.')[0]}"
        if fmt == "gpkg":
            zones.to_file(path, layer="zones", driver="GPKG", engine="pyogrio")
        elif fmt == "geojson":
            zones.to_file(path, driver="GeoJSON", engine="pyogrio")
        elif fmt == "kml":
            zones.rename(columns={"name": "Name", "boundary_text": "Description"}).to_file(
                path, driver="KML", engine="pyogrio")  # fmt: skip
        else:
            shp = zones.rename(columns=_shapefile_names(list(zones.columns)))
            shp.to_file(Path(tmp) / "zones.shp", driver="ESRI Shapefile", engine="pyogrio", encoding="UTF-8")
            (Path(tmp) / "zones.cpg").write_text("UTF-8", encoding="ascii")
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                for part in sorted(Path(tmp).glob("zones.*")):
                    zf.write(part, part.name)
            return Response(buf.getvalue(), media_type=DOWNLOADS[fmt], headers=headers)
        return Response(path.read_bytes(), media_type=DOWNLOADS[fmt], headers=headers)


def _shapefile_names(cols: list[str]) -> dict[str, str]:
    """Shapefile fields have at most 10 characters; keep them unique."""
    out, used = {}, set()
    for c in cols:
        if c == "geometry":
            continue
        short = c[:10]
        i = 1
        while short in used:
            short = f"{c[:8]}{i:02d}"
            i += 1
        used.add(short)
        out[c] = short
    return out


@router.post(
    "/admin/reload",
    operation_id="reload",
    responses={401: problem_doc("Unauthorized")},
    dependencies=[Depends(require_token)],
    tags=["Admin"],
)
def reload_catalog(request: Request) -> JSONResponse:
    """Read the storage's current catalog again (an in-memory catalog: rebuild it) and swap it in (token)."""
    from app.api.service import reload

    svc = reload(request.app.state, request.app.state.settings)
    return JSONResponse({"status": "reloaded", "version": svc.store.version})
