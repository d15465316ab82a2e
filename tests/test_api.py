"""The web service through its HTTP interface: OGC API Features, CRS, tiles, analysis, downloads, errors."""

from __future__ import annotations

import gzip
import io
import json
import zipfile

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient

from app.api.main import create_app
from app.api.settings import ServiceSettings
from app.store import Store
from tests.conftest import BACKENDS, storage_url

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"


@pytest.fixture(scope="module", params=BACKENDS)
def client(request, tmp_path_factory) -> TestClient:
    """The service on a new storage of each backend (embedded GeoPackage, PostGIS), built from the files."""
    settings = ServiceSettings(write_token="s3cret", max_body_bytes=200_000,
                               database_url=storage_url(request, tmp_path_factory))  # fmt: skip
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def store(client) -> Store:
    return client.app.state.service.store


def test_landing_links(client):
    links = {x["rel"]: x for x in client.get("/").json()["links"]}
    assert links["service-desc"]["href"].endswith("/api")
    assert links["service-desc"]["type"].startswith("application/vnd.oai.openapi+json")
    assert links["conformance"]["href"].endswith("/conformance") and links["data"]["href"].endswith("/collections")
    assert client.get("/api").json()["openapi"].startswith("3.")
    assert "text/html" in client.get("/?f=html").headers["content-type"]


def test_conformance_and_collections(client, store):
    conf = client.get("/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in conf
    cols = {c["id"]: c for c in client.get("/collections").json()["collections"]}
    assert set(cols) == {"zones", "platforms", "features", "counties"}
    assert cols["zones"]["storageCrs"] == CRS84 and f"{EPSG}4490" in cols["zones"]["crs"]
    assert client.get("/collections/zones").json()["id"] == "zones"


def test_items_paging_and_links(client, store):
    r = client.get("/collections/zones/items", params={"limit": 5})
    doc = r.json()
    assert r.headers["content-type"] == "application/geo+json" and r.headers["content-crs"] == f"<{CRS84}>"
    assert doc["numberMatched"] == len(store.zones) and doc["numberReturned"] == 5
    nxt = next(x["href"] for x in doc["links"] if x["rel"] == "next")
    page2 = client.get(nxt.replace("http://testserver", "")).json()
    assert page2["features"][0]["id"] == store.zones["id"].iloc[5]
    assert any(x["rel"] == "prev" for x in page2["links"])
    seen = set()
    off = 0
    while True:  # walking every page returns every feature once
        d = client.get("/collections/zones/items", params={"limit": 17, "offset": off}).json()
        seen |= {f["id"] for f in d["features"]}
        if not any(x["rel"] == "next" for x in d["links"]):
            break
        off += 17
    assert seen == set(store.zones["id"])


def test_filters_bbox_and_properties(client, store):
    d = client.get("/collections/zones/items", params={"corridor": "quzhou", "limit": 100}).json()
    assert d["numberMatched"] == int((store.zones["corridor"] == "quzhou").sum())
    d = client.get("/collections/zones/items", params={"grade": "A", "level": "area", "limit": 100}).json()
    assert all(f["properties"]["grade"] == "A" and f["properties"]["level"] == "area" for f in d["features"])
    quzhou = client.get("/collections/zones/items", params={"bbox": "118.4,28.5,119.3,29.3", "limit": 1000}).json()
    assert {f["properties"]["corridor"] for f in quzhou["features"]} == {"quzhou"}
    # the same box in EPSG:4326 axis order (lat, lon)
    same = client.get("/collections/zones/items", params={"bbox": "28.5,118.4,29.3,119.3", "bbox-crs": f"{EPSG}4326",
                                                           "limit": 1000}).json()  # fmt: skip
    assert {f["id"] for f in same["features"]} == {f["id"] for f in quzhou["features"]}


def test_output_crs(client):
    base = client.get("/collections/zones/items/qz-zhihui").json()
    lon, lat = base["geometry"]["coordinates"][0][0][0] if base["geometry"]["type"] == "MultiPolygon" else base["geometry"]["coordinates"][0][0]
    for code in (4326, 4490):
        r = client.get("/collections/zones/items/qz-zhihui", params={"crs": f"{EPSG}{code}"})
        assert r.headers["content-crs"] == f"<{EPSG}{code}>"
        g = r.json()["geometry"]
        first = g["coordinates"][0][0][0] if g["type"] == "MultiPolygon" else g["coordinates"][0][0]
        assert first[0] == pytest.approx(lat) and first[1] == pytest.approx(lon)  # lat, lon axis order
    g = client.get("/collections/zones/items/qz-zhihui", params={"crs": f"{EPSG}3857"}).json()["geometry"]
    first = g["coordinates"][0][0][0] if g["type"] == "MultiPolygon" else g["coordinates"][0][0]
    assert 1.3e7 < first[0] < 1.4e7
    g = client.get("/collections/zones/items/qz-zhihui", params={"crs": "GCJ-02"}).json()["geometry"]
    first = g["coordinates"][0][0][0] if g["type"] == "MultiPolygon" else g["coordinates"][0][0]
    assert 0.002 < first[0] - lon < 0.008  # shifted onto Amap's datum
    assert client.get("/collections/zones/items", params={"crs": "EPSG:9999"}).status_code == 400


def test_html_and_csv(client):
    assert "<table>" in client.get("/collections/zones/items", params={"f": "html"}).text
    csv = client.get("/collections/platforms/items", params={"f": "csv", "limit": 3}).text
    assert csv.splitlines()[0].startswith("id,") and "POINT" in csv


@pytest.mark.parametrize(
    ("url", "status"),
    [("/collections/nope", 404), ("/collections/zones/items/nope", 404), ("/collections/zones/items?limit=0", 400),
     ("/collections/zones/items?limit=abc", 400), ("/collections/zones/items?bbox=1,2", 400),
     ("/collections/zones/items?f=xml", 400), ("/tiles/99/0/0.mvt", 400), ("/tiles/3/9/0.mvt", 400),
     ("/assign?lon=500&lat=1", 400), ("/assign?lon=120&lat=30&crs=mars", 400), ("/downloads/zones.doc", 404),
     ("/nothing", 404)],
)  # fmt: skip
def test_errors_are_problem_details(client, url, status):
    r = client.get(url)
    assert r.status_code == status and r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == status


def test_tiles(client, store):
    q = store.zones[store.zones["corridor"] == "quzhou"]
    c = q.union_all().centroid
    import math

    z = 10
    x = int((c.x + 180) / 360 * 2**z)
    y = int((1 - math.asinh(math.tan(math.radians(c.y))) / math.pi) / 2 * 2**z)
    r = client.get(f"/tiles/{z}/{x}/{y}.mvt")
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    tile = mapbox_vector_tile.decode(r.content)
    assert {f["properties"]["corridor"] for f in tile["zones"]["features"]} == {"quzhou"}
    etag = r.headers["etag"]
    assert etag.startswith('"') and r.headers["cache-control"].startswith("public")
    assert client.get(f"/tiles/{z}/{x}/{y}.mvt", headers={"If-None-Match": etag}).status_code == 304
    gz = client.get(f"/tiles/{z}/{x}/{y}.mvt", headers={"Accept-Encoding": "gzip"})
    assert gz.content == r.content  # the client undoes Content-Encoding: gzip
    tj = client.get("/tiles/tilejson.json").json()
    assert tj["tilejson"].startswith("3.") and {v["id"] for v in tj["vector_layers"]} == {"zones", "platforms"}


def test_assign_get_and_post(client, store):
    zone = store.zones.set_index("id").geometry["qz-changshan-xindu"].representative_point()
    r = client.get("/assign", params={"lon": zone.x, "lat": zone.y}).json()
    assert r["zone_id"] == "qz-changshan-xindu" and r["county_adcode"] == "330822"
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [zone.x, zone.y]}, "properties": {"n": 1}},
        {"type": "Feature", "geometry": None, "properties": {"n": 2}}]}  # fmt: skip
    out = client.post("/assign", content=json.dumps(fc), headers={"content-type": "application/geo+json"}).json()
    assert out["features"][0]["properties"]["zone_id"] == "qz-changshan-xindu"
    assert out["features"][1]["properties"]["assign_error"] == "missing or non-numeric coordinate"
    csv = f"name,lon,lat\na,{zone.x},{zone.y}\nb,abc,1\n"
    text = client.post("/assign", content=csv, headers={"content-type": "text/csv"}).text
    assert "qz-changshan-xindu" in text.splitlines()[1] and "non-numeric" in text.splitlines()[2]
    bad = client.post("/assign", content="{not json", headers={"content-type": "application/geo+json"})
    assert bad.status_code == 400
    big = client.post("/assign", content="x" * 300_000, headers={"content-type": "text/csv"})
    assert big.status_code == 413


def test_parse_build_site(client):
    r = client.post("/parse", json={"text": "东至衢江—白云大道，南至浙西大道（G320 国道）"}).json()
    assert [f["name"] for f in r["parts"][0]["sides"]["east"]] == ["衢江", "白云大道"]
    assert client.post("/parse", json={"text": ""}).status_code == 400
    assert client.post("/parse", json={}).status_code == 400
    b = client.post("/build", json={"text": "东至丁街，西至乙街"}).json()
    assert b["features"][0]["properties"]["unresolved"]
    s = client.get("/site", params={"lon": 118.87, "lat": 28.95, "k": 2}).json()
    assert len(s["platforms"]) == 2


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "gpkg", "geojson", "kml", "shp.zip"])
def test_downloads(client, store, fmt, tmp_path):
    r = client.get(f"/downloads/zones.{fmt}")
    assert r.status_code == 200 and r.content
    if fmt == "shp.zip":
        names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
        assert {"zones.shp", "zones.dbf", "zones.shx", "zones.prj", "zones.cpg"} <= set(names)
        zipfile.ZipFile(io.BytesIO(r.content)).extractall(tmp_path)
        import geopandas as gpd

        shp = gpd.read_file(tmp_path / "zones.shp")
        assert "智慧片区" in set(shp["name"])
    elif fmt in ("gpkg", "geojson"):
        import geopandas as gpd

        path = tmp_path / f"z.{fmt}"
        path.write_bytes(r.content)
        assert len(gpd.read_file(path)) == len(store.zones)


def test_reload_needs_a_token(client):
    assert client.post("/admin/reload").status_code == 401
    assert client.post("/admin/reload", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_rate_limit_and_cors(store):
    c = TestClient(create_app(ServiceSettings(rate_limit_per_minute=3, cors_origins="https://example.org"), store=store))
    codes = [c.get("/healthz").status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[-1] == 429
    r = TestClient(create_app(ServiceSettings(cors_origins="https://example.org"), store=store)).get(
        "/healthz", headers={"Origin": "https://example.org"})  # fmt: skip
    assert r.headers["access-control-allow-origin"] == "https://example.org"


def test_map_pages(client):
    assert "leaflet" in client.get("/map").text.lower()
    assert client.get("/map/quzhou").status_code == 200
    assert client.get("/map/atlantis").status_code == 400
    assert gzip  # imported for clarity of the gzip test above
