"""Vector tiles of the catalog: tile maths, decoded content, simplification, cache, ETags, TileJSON."""

from __future__ import annotations

import copy
import gzip
import math

import mapbox_vector_tile
import pytest
import shapely
import shapely.affinity
import shapely.geometry

from app.errors import InputError
from app.store import Store, content_version
from app.tiles import BUFFER, EXTENT, TileRenderer, gzip_bytes, tile_bounds, tilejson

ZONE_PROPS = {"id", "name", "level", "corridor", "grade", "area_km2"}
PLATFORM_PROPS = {"id", "name", "kind", "declared_zone"}

# mapbox-vector-tile 2.2 quantizes with shapely.ops.transform, which shapely 2.1 deprecates
pytestmark = pytest.mark.filterwarnings("ignore:The 'shapely.ops.transform:DeprecationWarning")


@pytest.fixture(scope="module")
def store() -> Store:
    return Store.build()


@pytest.fixture(scope="module")
def renderer(store) -> TileRenderer:
    return TileRenderer(store)


@pytest.fixture(scope="module")
def merc(store):
    return store.zones.to_crs("EPSG:3857"), store.platforms.to_crs("EPSG:3857")


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def quzhou_tile(store: Store, z: int) -> tuple[int, int, int]:
    c = store.zones[store.zones["corridor"] == "quzhou"].union_all().centroid
    return (z, *tile_of(c.x, c.y, z))


def boxes(z: int, x: int, y: int):
    minx, miny, maxx, maxy = tile_bounds(z, x, y)
    pad = BUFFER * (maxx - minx) / EXTENT
    return shapely.box(minx, miny, maxx, maxy), shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad)


def ids(decoded: dict, layer: str) -> set[str]:
    return {f["properties"]["id"] for f in decoded.get(layer, {}).get("features", [])}


def coords(decoded: dict, layer: str):
    for f in decoded[layer]["features"]:
        yield from shapely.get_coordinates(shapely.geometry.shape(f["geometry"]))


def vertices(decoded: dict, zone_id: str | None = None) -> int:
    return sum(
        len(shapely.get_coordinates(shapely.geometry.shape(f["geometry"])))
        for f in decoded["zones"]["features"]
        if zone_id is None or f["properties"]["id"] == zone_id
    )


# --- tile maths ---------------------------------------------------------------------------------------


def test_tile_bounds_xyz_scheme():
    o = 20037508.342789244
    assert tile_bounds(0, 0, 0) == pytest.approx((-o, -o, o, o))
    assert tile_bounds(1, 0, 0) == pytest.approx((-o, 0, 0, o))  # y = 0 is the northern row
    assert tile_bounds(1, 1, 1) == pytest.approx((0, -o, o, 0))
    mercantile = pytest.importorskip("mercantile")
    for z, x, y in [(10, 850, 425), (12, 3400, 1703), (18, 123456, 54321), (22, 4194303, 0)]:
        assert tile_bounds(z, x, y) == pytest.approx(tuple(mercantile.xy_bounds(x, y, z)), abs=1e-6)


@pytest.mark.parametrize(
    "zxy", [(-1, 0, 0), (23, 0, 0), (0, 1, 0), (0, 0, 1), (3, 8, 0), (3, 0, -1), (2.5, 0, 0), ("1", 0, 0)]
)
def test_bad_tile_raises_input_error(renderer, zxy):
    with pytest.raises(InputError):
        tile_bounds(*zxy)
    with pytest.raises(InputError):
        renderer.render(*zxy)
    with pytest.raises(InputError):
        renderer.etag(*zxy)


# --- decoded content ----------------------------------------------------------------------------------


@pytest.mark.parametrize("z", [10, 12])
def test_corridor_tile_has_the_zones_that_intersect_it(store, renderer, merc, z):
    zones, plats = merc
    zxy = quzhou_tile(store, z)
    tile, buffered = boxes(*zxy)
    decoded = mapbox_vector_tile.decode(renderer.render(*zxy))
    assert set(decoded) == {"zones", "platforms"}
    assert decoded["zones"]["extent"] == EXTENT

    got = ids(decoded, "zones")
    inside = set(zones.loc[zones.intersects(tile), "id"])
    near = set(zones.loc[zones.intersects(buffered), "id"])
    assert "quzhou" in inside
    assert inside <= got <= near

    for f in decoded["zones"]["features"]:
        assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")
        assert set(f["properties"]) >= ZONE_PROPS
        row = store.zones.set_index("id").loc[f["properties"]["id"]]
        assert f["properties"]["corridor"] == row["corridor"] == "quzhou"
        assert f["properties"]["area_km2"] == pytest.approx(row["area_km2"])
        if not math.isnan(row["stated_area_km2"]):
            assert f["properties"]["stated_area_km2"] == pytest.approx(row["stated_area_km2"])
    for layer in ("zones", "platforms"):
        for cx, cy in coords(decoded, layer):
            assert -BUFFER <= cx <= EXTENT + BUFFER and -BUFFER <= cy <= EXTENT + BUFFER

    # platforms appear where they lie, at their position in tile units (y up after decoding)
    plat_inside = set(plats.loc[plats.intersects(tile), "id"])
    assert plat_inside, "the quzhou corridor tile holds platforms"
    assert plat_inside <= ids(decoded, "platforms") <= set(plats.loc[plats.intersects(buffered), "id"])
    minx, miny, maxx, _ = tile_bounds(*zxy)
    where = plats.set_index("id").geometry
    for f in decoded["platforms"]["features"]:
        assert PLATFORM_PROPS - {"declared_zone"} <= set(f["properties"])
        assert f["geometry"]["type"] == "Point"
        p = where[f["properties"]["id"]]
        px, py = f["geometry"]["coordinates"]
        scale = EXTENT / (maxx - minx)
        assert abs(px - (p.x - minx) * scale) <= 1 and abs(py - (p.y - miny) * scale) <= 1


def test_decoded_polygon_covers_the_zone(store, renderer, merc):
    """At z=12 the tile outline of the quzhou corridor matches the source polygon within a few pixels."""
    zones, _ = merc
    zxy = quzhou_tile(store, 12)
    tile, _ = boxes(*zxy)
    minx, miny, maxx, _ = tile_bounds(*zxy)
    scale = EXTENT / (maxx - minx)
    decoded = mapbox_vector_tile.decode(renderer.render(*zxy))
    f = next(f for f in decoded["zones"]["features"] if f["properties"]["id"] == "quzhou")
    got = shapely.geometry.shape(f["geometry"])
    src = zones.set_index("id").geometry["quzhou"].intersection(tile)
    want = shapely.affinity.affine_transform(src, [scale, 0, 0, scale, -minx * scale, -miny * scale])
    assert (
        got.intersection(shapely.box(0, 0, EXTENT, EXTENT)).symmetric_difference(want).area < 0.01 * want.area
    )


def test_z0_has_every_corridor_with_fewer_vertices_than_z14(store, renderer, merc):
    zones, _ = merc
    z0 = mapbox_vector_tile.decode(renderer.render(0, 0, 0))
    corridors = {f["properties"]["corridor"] for f in z0["zones"]["features"]}
    assert corridors == set(store.zones["corridor"])
    assert {"hangzhou", "quzhou", "shaoxing"} <= ids(z0, "zones")  # the corridor-level zones themselves
    assert ids(z0, "platforms") == set(store.platforms["id"])
    # tiny zones are dropped at z=0 (one pixel is about 9.8 km across there)
    assert "sx-jichengdianlu" not in ids(z0, "zones")

    zone = "qz-zhizao"
    assert zone in ids(z0, "zones")
    w, s, e, n = store.zones.set_index("id").loc[[zone]].total_bounds
    x0, y0 = tile_of(w, n, 14)
    x1, y1 = tile_of(e, s, 14)
    at14 = sum(
        vertices(mapbox_vector_tile.decode(renderer.render(14, x, y)), zone)
        for x in range(x0, x1 + 1)
        for y in range(y0, y1 + 1)
    )
    at0 = vertices(z0, zone)
    assert 0 < at0 < at14
    source = len(shapely.get_coordinates(zones.set_index("id").geometry[zone]))
    assert vertices(z0) < sum(
        len(shapely.get_coordinates(g)) for g in zones.set_index("id").geometry[list(ids(z0, "zones"))]
    )
    assert at0 < source


def test_ocean_tile_is_a_valid_empty_tile(renderer):
    x, y = tile_of(-150.0, 0.0, 10)  # the middle of the Pacific
    data = renderer.render(10, x, y)
    assert data  # a real (non-zero-length) tile
    decoded = mapbox_vector_tile.decode(data)
    assert set(decoded) == {"zones", "platforms"}
    assert decoded["zones"]["features"] == [] and decoded["platforms"]["features"] == []


# --- cache, ETags, versions ---------------------------------------------------------------------------


def test_cache_hit_returns_identical_bytes_and_etag(store):
    r = TileRenderer(store)
    zxy = quzhou_tile(store, 12)
    first, tag = r.render(*zxy), r.etag(*zxy)
    info = r.cache_info()
    assert r.render(*zxy) == first and r.etag(*zxy) == tag
    assert r.cache_info()["hits"] == info["hits"] + 2 and r.cache_info()["size"] == 1
    assert tag.startswith('"') and tag.endswith('"') and len(tag) == 66 and not tag.startswith("W/")
    # a fresh renderer of the same content gives the same bytes (deterministic) and so the same ETag
    assert TileRenderer(store).render(*zxy) == first
    r.invalidate()
    assert r.cache_info()["size"] == 0
    assert r.render(*zxy) == first


def test_version_change_is_never_served_stale(store):
    zxy = quzhou_tile(store, 12)
    r = TileRenderer({"zones": store.zones, "platforms": store.platforms}, "v1")
    assert r.version == "v1"
    old, old_tag = r.render(*zxy), r.etag(*zxy)
    assert "quzhou" in ids(mapbox_vector_tile.decode(old), "zones")

    fewer = store.zones[store.zones["id"] != "quzhou"]
    assert r.update({"zones": fewer, "platforms": store.platforms}, "v2") is True
    new = r.render(*zxy)
    assert "quzhou" not in ids(mapbox_vector_tile.decode(new), "zones")
    assert r.etag(*zxy) != old_tag
    assert r.cache_info()["size"] == 1  # only the v2 tile is left
    assert r.update({"zones": fewer, "platforms": store.platforms}, "v2") is False

    # a Store whose content (and so version) changes in place is noticed on the next call
    s2 = copy.copy(store)
    r2 = TileRenderer(s2)
    assert "quzhou" in ids(mapbox_vector_tile.decode(r2.render(*zxy)), "zones")
    s2.zones = fewer
    s2.version = content_version(s2.layers())
    assert s2.version != store.version
    assert "quzhou" not in ids(mapbox_vector_tile.decode(r2.render(*zxy)), "zones")
    assert r2.version == s2.version

    # a renderer from a layer mapping without a version computes one from the content
    assert TileRenderer({"zones": fewer}).version != TileRenderer({"zones": store.zones}).version


def test_gzip_bytes_is_deterministic(renderer):
    data = renderer.render(0, 0, 0)
    packed = gzip_bytes(data)
    assert packed == gzip_bytes(data)
    assert gzip.decompress(packed) == data
    assert packed[4:8] == b"\0\0\0\0"  # mtime 0


# --- TileJSON -----------------------------------------------------------------------------------------


def test_tilejson(store):
    tj = tilejson("https://example.org/api/", store)
    assert tj["tilejson"] == "3.0.0"
    assert tj["tiles"] == ["https://example.org/api/tiles/{z}/{x}/{y}.mvt"]
    assert tj["minzoom"] == 0 and tj["maxzoom"] == 18
    assert tj["name"] and "sketch" in tj["attribution"]
    layers = {v["id"]: v for v in tj["vector_layers"]}
    assert set(layers) == {"zones", "platforms"}
    assert layers["zones"]["fields"]["area_km2"] == "Number"
    assert layers["zones"]["fields"]["stated_area_km2"] == "Number"
    assert layers["zones"]["fields"]["name"] == "String"
    assert set(layers["platforms"]["fields"]) == PLATFORM_PROPS
    assert all(v["minzoom"] == 0 and v["maxzoom"] == 18 for v in layers.values())

    w, s, e, n = tj["bounds"]
    for gdf in (store.zones, store.platforms):
        bw, bs, be, bn = gdf.total_bounds
        assert w <= bw + 1e-6 and s <= bs + 1e-6 and e >= be - 1e-6 and n >= bn - 1e-6
    lon, lat, zoom = tj["center"]
    assert w <= lon <= e and s <= lat <= n and 0 <= zoom <= 18
