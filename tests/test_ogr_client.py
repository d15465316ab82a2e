"""GDAL's OGC API Features client (the one QGIS uses) lists and reads every collection, in EPSG:4326 and 4490."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from app.store import Store

COLLECTIONS = ("zones", "platforms", "features", "counties")


@pytest.fixture(scope="module")
def served():
    """`corridor serve` in its own process: GDAL clients in this process hold the GIL while they wait."""
    store = Store.build()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "healthz", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            if proc.poll() is not None:
                pytest.fail("corridor serve exited: " + proc.stderr.read().decode()[-2000:])
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("corridor serve did not answer /healthz within 120 s")
    yield url, store
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL's ogrinfo is not installed (Debian: gdal-bin)")
def test_ogrinfo_lists_and_reads_every_collection(served):
    url, store = served
    listing = subprocess.run(["ogrinfo", "-ro", "-so", f"OAPIF:{url}"], capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    for name in COLLECTIONS:
        assert f": {name} (title:" in listing.stdout
        info = subprocess.run(["ogrinfo", "-ro", "-so", f"OAPIF:{url}", name], capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        expected = len(getattr(store, name))
        assert f"Feature Count: {expected}" in info.stdout, info.stdout[-800:]
    full = subprocess.run(["ogrinfo", "-ro", "-al", "-q", f"OAPIF:{url}", "zones"], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert full.returncode == 0 and full.stdout.count("OGRFeature(zones)") == len(store.zones)


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:4490"])
def test_gdal_reads_every_collection_in_a_crs(served, crs):
    """pyogrio's bundled GDAL (3.7+) asks the server for the CRS (OGC API Features Part 2)."""
    import pyogrio

    url, store = served
    major, minor = (int(v) for v in pyogrio.__gdal_version_string__.split(".")[:2])
    if (major, minor) < (3, 7):
        pytest.skip("the OAPIF CRS open option needs GDAL 3.7")
    for name in COLLECTIONS:
        df = pyogrio.read_dataframe(f"OAPIF:{url}", layer=name, CRS=crs)
        ours = getattr(store, name)
        assert len(df) == len(ours)
        if crs == "EPSG:4490":
            assert df.crs.to_epsg() == 4490
        # GDAL maps the authority's lat/lon order back to x = lon; the extent matches the store's
        for got, expected in zip(df.total_bounds, ours.total_bounds, strict=True):
            assert got == pytest.approx(expected, abs=1e-6)
