"""Storage backends and durable edits: schema, round trip, atomic commits under kill -9, versions, history."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.affinity import translate

from app import edits
from app.edits import Edit
from app.errors import Conflict, InputError, UnknownObject
from app.storage import open_storage
from app.store import Store
from tests.conftest import BACKENDS, ROOT, storage_url


@pytest.fixture(scope="module")
def files_store() -> Store:
    return Store.build()


@pytest.fixture(params=BACKENDS)
def db(request, tmp_path_factory):
    """A new storage of each backend holding the catalog imported from the files."""
    d = open_storage(storage_url(request, tmp_path_factory))
    d.init()
    edits.import_files(d, actor="tester", message="first import")
    yield d
    d.close()


def test_round_trip_equals_the_in_memory_build(db, files_store):
    stored = db.load().store()
    for name in ("zones", "platforms", "counties"):
        a, b = getattr(files_store, name), getattr(stored, name)
        assert list(a["id"]) == list(b["id"]), name
        assert a.geometry.geom_equals_exact(b.geometry, 1e-12).all(), name
    a, b = files_store.zones, stored.zones
    np.testing.assert_allclose(a["area_km2"], b["area_km2"])
    assert list(a["grade"]) == list(b["grade"]) and list(a["boundary_text"]) == list(b["boundary_text"])
    assert list(files_store.features["id"]) == list(stored.features["id"])
    assert stored.version == db.version() and stored.sources.catalog.zones.keys() == files_store.sources.catalog.zones.keys()


def test_embedded_store_is_a_geopackage_gis_can_open(tmp_path):
    import pyogrio

    d = open_storage(str(tmp_path / "c.gpkg"))
    d.init()
    edits.import_files(d, actor="tester")
    layers = dict(pyogrio.list_layers(tmp_path / "c.gpkg"))
    assert {"zones", "zone_parts", "platforms", "gazetteer_features", "counties", "build_runs"} <= set(layers)
    zones = gpd.read_file(tmp_path / "c.gpkg", layer="zones", engine="pyogrio")
    assert zones.crs.to_epsg() == 4326 and len(zones) == 92
    assert zones.geometry.notna().sum() == len(d.load().store().zones)


def test_postgis_schema_has_gist_indexes_and_constraints(tmp_path_factory, request):
    import psycopg

    url = request.getfixturevalue("postgis_url")
    d = open_storage(f"{url}?schema=constraints")
    d.init()
    edits.import_files(d, actor="tester")
    with psycopg.connect(url, autocommit=True) as conn:
        gist = {r[0] for r in conn.execute(
            "SELECT tablename FROM pg_indexes WHERE schemaname = 'constraints' AND indexdef LIKE '%USING gist%'")}  # fmt: skip
        assert {"zones", "zone_parts", "platforms", "gazetteer_features", "counties", "zone_history"} <= gist
        srid = conn.execute("SELECT Find_SRID('constraints', 'zones', 'geom')").fetchone()[0]
        assert srid == 4326
        for bad in (
            "UPDATE constraints.zones SET grade = 'Z' WHERE id = 'qz-zhihui'",
            "UPDATE constraints.zones SET parent_id = 'nowhere' WHERE id = 'qz-zhihui'",
            "UPDATE constraints.zones SET geom = ST_GeomFromText('LINESTRING(118 28, 119 29)', 4326) WHERE id = 'qz-zhihui'",
            "UPDATE constraints.zones SET geom = ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))', 3857) WHERE id = 'qz-zhihui'",
            "INSERT INTO constraints.catalog_state (id) VALUES (2)",
        ):  # fmt: skip
            with pytest.raises(psycopg.Error):
                conn.execute(bad)


def test_zone_history_after_two_edits_has_area_deltas(db):
    zid = "qz-zhizao"
    v1 = db.load().store().zones.set_index("id").at[zid, "area_km2"]
    first = edits.edit(db, Edit("zone", zid, {"area": "规划面积20平方公里"}, version=1), actor="alice",
                       message="stated area from the 2026 revision")  # fmt: skip
    text = db.load().sources.catalog[zid].boundary.text
    second = edits.edit(db, Edit("zone", zid, {"boundary": text.split("，西至")[0]}, version=2), actor="bob",
                        message="west side unknown")  # fmt: skip
    assert first.affected == ["quzhou", "qz-core", zid] and zid in second.affected
    hist = db.history(zid)
    assert [h["run"]["action"] for h in hist] == ["import", "edit", "edit"]
    assert [h["run"]["actor"] for h in hist] == ["tester", "alice", "bob"]
    assert hist[1]["run"]["message"] == "stated area from the 2026 revision"
    assert hist[0]["area_after_km2"] == pytest.approx(v1)
    for prev, h in itertools.pairwise(hist):
        assert h["area_before_km2"] == pytest.approx(prev["area_after_km2"])
        assert h["area_delta_km2"] == pytest.approx(h["area_after_km2"] - h["area_before_km2"], abs=1e-3)
        assert h["changed_km2"] >= abs(h["area_delta_km2"]) - 1e-3
    assert hist[2]["boundary_before"] == text and "西至" not in hist[2]["boundary_after"]
    now = db.load().store().zones.set_index("id").at[zid, "area_km2"]
    assert hist[-1]["area_after_km2"] == pytest.approx(now)
    # the document's words are kept as variants, and the edit names its author
    zone = db.load().sources.catalog[zid]
    assert any(b.text == text for b in zone.boundary_variants) and zone.boundary.source.doc.startswith("edit-")
    assert db.load().sources.catalog.document(zid, zone.boundary.source.doc).issuer == "bob"


def test_stale_version_is_a_conflict_and_changes_nothing(db):
    edits.edit(db, Edit("zone", "qz-zhizao", {"area": "规划面积20平方公里"}, version=1), actor="alice")
    before = db.version()
    with pytest.raises(Conflict, match="version 2, not 1"):
        edits.edit(db, Edit("zone", "qz-zhizao", {"area": "规划面积25平方公里"}, version=1), actor="bob")
    assert db.version() == before and len(db.runs()) == 2


def test_concurrent_writers_are_serialised_without_lost_updates(db):
    errors: list[Exception] = []

    def write(zid: str, area: str) -> None:
        try:
            edits.edit(db, Edit("zone", zid, {"area": area}, version=1), actor=zid)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=a) for a in
               (("qz-zhizao", "规划面积20平方公里"), ("qz-zhihui", "规划面积12平方公里"))]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    cat = db.load().sources.catalog
    assert cat["qz-zhizao"].area.km2 == 20 and cat["qz-zhihui"].area.km2 == 12
    assert len(db.runs()) == 3


def test_incremental_rebuild_equals_a_full_build(db):
    snap = db.load()
    road = snap.sources.features[snap.sources.features["name"] == "白云大道"].iloc[0]
    moved = shapely.geometry.mapping(translate(road.geometry, yoff=-0.01))
    out = edits.edit(db, Edit("feature", road["id"], {"geometry": moved, "accuracy_m": 30.0}, version=1),
                     actor="gis")  # fmt: skip
    assert "qz-zhihui" in out.affected and len(out.affected) < 20
    stored = db.load()
    full = Store.from_sources(stored.sources).zones.set_index("id")
    inc = stored.store().zones.set_index("id")
    assert list(full.index) == list(inc.index)
    # kept zones went through storage (lon/lat) and back: unions may differ in vertex order, not in place
    assert (shapely.hausdorff_distance(full.geometry.values, inc.geometry.values) < 1e-9).all()
    assert (full["grade"] == inc["grade"]).all() and (full["area_km2"] == inc["area_km2"]).all()
    row = stored.sources.features.set_index("id").loc[road["id"]]
    assert row["source"] == "edit by gis" and row["accuracy_m"] == 30.0


def test_new_feature_platform_location_and_bad_edits(db):
    line = {"type": "LineString", "coordinates": [[118.85, 28.95], [118.9, 28.96]]}
    out = edits.edit(db, Edit("feature", "survey-road-1", {"name": "测试大道", "kind": "road", "geometry": line,
                                                            "accuracy_m": 5}, create=True), actor="gis")  # fmt: skip
    assert out.affected == []  # no zone names it yet
    plat = "qz-zju-quzhou-institute"
    edits.edit(db, Edit("platform", plat, {"location": {"lon": 118.87, "lat": 28.94, "datum": "gcj02",
                                                         "precision_m": 100, "source": "Amap"}}), actor="planner")  # fmt: skip
    p = db.load().store().platforms.set_index("id").loc[plat]
    assert p.geometry.x != 118.87 and abs(p.geometry.x - 118.87) < 0.01  # stored as WGS-84
    with pytest.raises(UnknownObject):
        edits.edit(db, Edit("zone", "nowhere", {"area": "规划面积1平方公里"}), actor="x")
    with pytest.raises(InputError, match="四至"):
        edits.edit(db, Edit("zone", "qz-zhizao", {"boundary": "nothing here"}), actor="x")
    with pytest.raises(InputError, match="outside China"):
        edits.edit(db, Edit("feature", "survey-road-1", {"geometry": {"type": "Point", "coordinates": [0, 0]}}),
                   actor="x")  # fmt: skip
    bowtie = {"type": "Polygon", "coordinates": [[[118.8, 28.9], [118.9, 29], [118.9, 28.9], [118.8, 29], [118.8, 28.9]]]}
    with pytest.raises(InputError, match="not valid"):
        edits.edit(db, Edit("feature", "survey-road-1", {"geometry": bowtie}), actor="x")
    with pytest.raises(Conflict):
        edits.edit(db, Edit("feature", "survey-road-1", {"name": "x", "kind": "road", "geometry": line}, create=True),
                   actor="x")  # fmt: skip


def test_import_refuses_to_undo_edits_unless_forced(db):
    edits.edit(db, Edit("zone", "qz-zhizao", {"area": "规划面积20平方公里"}), actor="alice")
    with pytest.raises(Conflict, match="would undo edits"):
        edits.import_files(db, actor="ci")
    out = edits.import_files(db, actor="ci", force=True)
    assert {h["zone_id"] for h in out.run.history} >= {"qz-zhizao"}
    assert db.load().sources.catalog["qz-zhizao"].area.km2 != 20


def test_import_accepts_files_that_carry_the_edits(db, tmp_path):
    import yaml

    edits.edit(db, Edit("zone", "qz-zhizao", {"area": "规划面积20平方公里"}), actor="alice")
    for key, f in db.load().sources.catalog.files.items():  # the edit written back into the files
        text = yaml.safe_dump(f.model_dump(mode="json", by_alias=True), allow_unicode=True, sort_keys=False)
        (tmp_path / f"{key}.yaml").write_text(text, encoding="utf-8")
    out = edits.import_files(db, tmp_path, actor="ci")
    assert out.run.history == []  # nothing moved (the version may differ: unions rebuilt in another vertex order)
    assert db.load().sources.catalog["qz-zhizao"].area.km2 == 20


KILL_SCRIPT = """
import sys, time
from app import edits
from app.storage import open_storage
from app.storage.database import Writer

insert = Writer._insert

def stall(self, table, rows):
    insert(self, table, rows)
    if table.name == "zone_parts":  # zones replaced, the rest not yet: the middle of the write
        print("MID-WRITE", flush=True)
        time.sleep(600)

Writer._insert = stall
edits.edit(open_storage(sys.argv[1]), edits.Edit("zone", "qz-zhizao", {"area": "规划面积30平方公里"}), actor="doomed")
"""


def test_kill_9_during_a_build_leaves_the_catalog_intact_and_readable(db):
    before = db.load()
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, db.url if db.kind == "embedded" else _full_url(db)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert line.strip() == "MID-WRITE", proc.stderr.read()
        during = db.load()  # a reader while the writer is half-way: the old catalog, whole
        assert during.version == before.version
        assert during.zones["area_km2"].equals(before.zones["area_km2"])
        assert len(during.store().zones) == len(before.store().zones)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    after = db.load()
    assert after.version == before.version and len(db.runs()) == 1
    assert list(after.zones.geometry.to_wkb()) == list(before.zones.geometry.to_wkb())
    assert after.sources.catalog["qz-zhizao"].area == before.sources.catalog["qz-zhizao"].area
    # the lock died with the writer: the next edit goes through
    out = edits.edit(db, Edit("zone", "qz-zhizao", {"area": "规划面积30平方公里"}), actor="survivor")
    assert out.run.previous_version == before.version


def _full_url(db) -> str:
    return f"{db.url}{'&' if '?' in db.url else '?'}schema={db.dialect.schema}"


def test_sql_assignment_matches_the_engine(request):
    import psycopg

    from app.assign import ZoneIndex
    from app.sql_assign import assign_table

    url = request.getfixturevalue("postgis_url")
    d = open_storage(f"{url}?schema=sqlassign")
    d.init()
    edits.import_files(d, actor="tester")
    store = d.load().store()
    rng = np.random.default_rng(7)
    boxes = np.repeat(store.zones.bounds.to_numpy(), 40, axis=0)  # 40 points around each zone
    lon, lat = rng.uniform(boxes[:, 0], boxes[:, 2]), rng.uniform(boxes[:, 1], boxes[:, 3])
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS pts; CREATE TABLE pts (pid int PRIMARY KEY, geom geometry(Point, 4326))")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO pts VALUES (%s, ST_SetSRID(ST_MakePoint(%s, %s), 4326))",
                            [(i, float(a), float(b)) for i, (a, b) in enumerate(zip(lon, lat, strict=True))])  # fmt: skip
    stats = assign_table(d, "pts", id_column="pid")
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT point_id, zone_id, zone_path, corridor, county_adcode FROM pts_zones "
                            "ORDER BY point_id").fetchall()  # fmt: skip
        scratch = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'corridor_assign_%'").fetchone()
        assert scratch[0] == 0  # the scratch tables are gone
    ans = ZoneIndex(store.zones, store.counties.rename(columns={"id": "adcode"})).assign(lon, lat, nearest=False)
    assert stats.rows == len(lon) and stats.in_zone == int((ans.answer > 0).sum()) > len(lon) // 3
    for pid, zone_id, path, corridor, county in rows:
        rec = ans.record(pid)
        assert (zone_id or "", path or "", corridor or "") == (rec["zone_id"], rec["zone_path"], rec["corridor"]), pid
        assert (county or "") == rec["county_adcode"], pid
    with pytest.raises(InputError, match="PostGIS"):
        assign_table(open_storage("/tmp/never.gpkg"), "pts")
