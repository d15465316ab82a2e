"""The folium zone map: its content, and what headless Chromium draws of it with local Leaflet copies."""

from __future__ import annotations

import contextlib
import functools
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from html import escape
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import folium
import pytest

from app.datum import wgs84_to_gcj02
from app.errors import InputError
from app.maps import save_map, zone_map
from app.store import Store

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"

# The npm packages holding the exact versions folium's default CDN links point at, and for each CDN URL
# the file inside the package that replaces it (folium's popups need jQuery). Anything else the template links
# (Bootstrap, Font Awesome, awesome-markers) is not needed to draw this map and is replaced by an empty file.
NPM_PACKAGES = [
    "leaflet@1.9.3",
    "leaflet.markercluster@1.1.0",
    "leaflet.fullscreen@3.0.0",
    "leaflet-measure@2.1.7",
    "jquery@3.7.1",
]
LOCAL_ASSETS = {
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/dist/jquery.min.js",
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js": "leaflet/dist/leaflet.js",
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css": "leaflet/dist/leaflet.css",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/leaflet.markercluster.js": (
        "leaflet.markercluster/dist/leaflet.markercluster.js"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.css": (
        "leaflet.markercluster/dist/MarkerCluster.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.Default.css": (
        "leaflet.markercluster/dist/MarkerCluster.Default.css"
    ),
    "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.min.js": (
        "leaflet.fullscreen/Control.FullScreen.js"
    ),
    "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.css": (
        "leaflet.fullscreen/Control.FullScreen.css"
    ),
    "https://cdn.jsdelivr.net/gh/ljagis/leaflet-measure@2.1.7/dist/leaflet-measure.min.js": (
        "leaflet-measure/dist/leaflet-measure.min.js"
    ),
    "https://cdn.jsdelivr.net/gh/ljagis/leaflet-measure@2.1.7/dist/leaflet-measure.min.css": (
        "leaflet-measure/dist/leaflet-measure.css"
    ),
}


@pytest.fixture(scope="module")
def store() -> Store:
    return Store.build()


@pytest.fixture(scope="module")
def full_html(store: Store) -> str:
    return zone_map(store).get_root().render()


def _zone_features(m: folium.Map) -> dict[str, dict]:
    """Every zone feature the map embeds, by zone id (walking the folium element tree)."""
    found: dict[str, dict] = {}

    def walk(el) -> None:
        if isinstance(el, folium.GeoJson) and isinstance(el.data, dict):
            for f in el.data.get("features", [el.data]):
                zid = f.get("properties", {}).get("zone_id")
                if zid:
                    found[zid] = f
        for child in el._children.values():
            walk(child)

    walk(m)
    return found


def _first_vertex(geometry: dict) -> tuple[float, float]:
    coords = geometry["coordinates"]
    while isinstance(coords[0], list | tuple):
        coords = coords[0]
    return float(coords[0]), float(coords[1])


# ---------------------------------------------------------------------------------------------- content


def test_full_map_has_every_zone_platform_and_control(store: Store, full_html: str) -> None:
    embedded = set(re.findall(r'"zone_id": "([^"]+)"', full_html))
    assert embedded == set(store.zones.loc[store.zones.geometry.notna(), "id"])
    assert full_html.count("L.marker(") == len(store.platforms)
    assert "L.markerClusterGroup(" in full_html
    assert "zone-legend" in full_html and "Zone level" in full_html and "Grade (line style)" in full_html
    for control in ("L.control.layers(", "L.control.fullscreen(", "new L.Control.Measure("):
        assert control in full_html, control
    assert full_html.count("L.featureGroup(") == store.zones["level"].nunique()
    assert "County lines" in full_html and '"pane": "counties"' in full_html
    assert "fitBounds" in full_html
    # Self-contained: the data is embedded, nothing is fetched from a data URL when the page loads.
    assert "$.ajax" not in full_html and "fetch(" not in full_html


def test_zone_styles_show_level_and_grade(store: Store) -> None:
    from app.maps import LEVEL_COLORS

    html = zone_map(store, "shaoxing").get_root().render()
    assert LEVEL_COLORS["tech_city"] in html and LEVEL_COLORS["park"] in html
    assert '"dashArray": "8 6"' in html  # sx-jichengdianlu: a park (2 px line) of grade B, dashed
    # Popup: the verbatim 四至, its source, the unresolved features and how open sides were closed.
    sx = store.zones.set_index("id").loc["sx-jichengdianlu"]
    for text in (
        sx["boundary_text"],
        sx["source"],
        *sx["unresolved"].split("; "),
        *sx["closures"].split("; "),
    ):
        assert text and escape(text) in html, text


def test_corridor_filter_keeps_only_that_corridor(store: Store) -> None:
    m = zone_map(store, "quzhou")
    feats = _zone_features(m)
    expected = store.zones[(store.zones["corridor"] == "quzhou") & store.zones.geometry.notna()]
    assert set(feats) == set(expected["id"])
    html = m.get_root().render()
    n_markers = html.count("L.marker(")
    assert 0 < n_markers < len(store.platforms)
    assert "hz-core" not in html and "sx-jinghu" not in html


def test_gcj02_base_shifts_all_geometry(store: Store) -> None:
    plain = _zone_features(zone_map(store, "quzhou"))
    m = zone_map(store, "quzhou", gcj02_base=True)
    shifted = _zone_features(m)
    x, y = _first_vertex(plain["qz-zhihui"]["geometry"])
    ex, ey = wgs84_to_gcj02(x, y)
    gx, gy = _first_vertex(shifted["qz-zhihui"]["geometry"])
    assert abs(gx - ex) < 2e-6 and abs(gy - ey) < 2e-6
    assert abs(gx - x) > 1e-3  # the shift is hundreds of metres, not rounding noise
    html = m.get_root().render()
    # folium writes non-ASCII text as JSON escapes.
    assert "webrd0{s}.is.autonavi.com/appmaptile" in html and json.dumps("© 高德地图 (GCJ-02)")[1:-1] in html
    assert "all overlays shifted to GCJ-02" in html
    # Platforms are shifted too.
    p = store.platforms.set_index("id").loc["qz-uestc-yrd-quzhou", "geometry"]
    plon, plat = wgs84_to_gcj02(p.x, p.y)
    assert f"[{round(plat, 6)}, {round(plon, 6)}]" in html


def test_unknown_corridor_lists_valid_ids(store: Store) -> None:
    with pytest.raises(InputError, match=r"nowhere.*hangzhou.*quzhou.*shaoxing"):
        zone_map(store, "nowhere")


def test_save_map_writes_html(store: Store, tmp_path: Path) -> None:
    out = save_map(store, tmp_path / "sub" / "quzhou.html", corridor="quzhou")
    assert out.is_file() and out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


# ---------------------------------------------------------------------------------------------- browser


def local_assets() -> Path:
    """Leaflet and the plugins folium links, unpacked from their npm packages (cached in the temp dir)."""
    dest = Path(tempfile.gettempdir()) / "corridor-map-assets"
    if all((dest / rel).is_file() for rel in LOCAL_ASSETS.values()):
        return dest
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: cannot get local copies of Leaflet and its plugins")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            subprocess.run(
                [npm, "pack", "--silent", "--pack-destination", tmp, *NPM_PACKAGES],
                check=True,
                capture_output=True,
                timeout=60,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
            pytest.skip(f"npm pack of {' '.join(NPM_PACKAGES)} failed: {e}")
        staging = Path(tmp) / "assets"
        for tgz in Path(tmp).glob("*.tgz"):
            name = re.sub(r"-\d+\.\d+\.\d+\.tgz$", "", tgz.name)
            with tarfile.open(tgz) as tar:
                tar.extractall(staging / name, filter="data")
            (staging / name / "package").rename(staging / f"{name}.pkg")
            (staging / name).rmdir()
            (staging / f"{name}.pkg").rename(staging / name)
        (staging / "empty.js").write_text("")
        (staging / "empty.css").write_text("")
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(staging, dest)
    return dest


def offline_page(html: str, site: Path, assets: Path) -> Path:
    """Write the map into `site`, its CDN script/link URLs pointing at local copies under /assets/."""
    shutil.copytree(assets, site / "assets", dirs_exist_ok=True)

    def local(match: re.Match) -> str:
        attr, url = match.group(1), match.group(2)
        rel = LOCAL_ASSETS.get(url) or ("empty.css" if url.endswith(".css") else "empty.js")
        return f'{attr}="/assets/{rel}"'

    page = re.sub(r'\b(src|href)="(https?://[^"]+\.(?:js|css))"', local, html)
    assert "cdn.jsdelivr.net" not in page and "cdnjs.cloudflare.com" not in page
    (site / "index.html").write_text(page, encoding="utf-8")
    return site / "index.html"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@functools.cache
def _chromium_flags() -> tuple[str, ...]:
    return (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        # Tiles cannot load here: make every host but the local server fail at once instead of timing out.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--virtual-time-budget=10000",
    )


@contextlib.contextmanager
def serve(site: Path) -> Iterator[str]:
    """Serve `site` on 127.0.0.1 (a free port) from a thread; yields the page's URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def chromium(url: str, profile: Path, *extra: str, timeout: float = 40) -> str:
    """Run headless Chromium once on `url` and return its stdout; retried once on failure or time-out."""
    cmd = [CHROMIUM, *_chromium_flags(), f"--user-data-dir={profile}", *extra, url]
    last: Exception | None = None
    for _ in range(2):
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
            return res.stdout
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
            last = e
            time.sleep(1)
    raise AssertionError(f"chromium failed twice on {url}: {last}")


def render_in_chromium(html: str, work: Path, screenshot: Path | None = None) -> str:
    """The DOM Chromium builds from the map page (and a 1400×1000 screenshot if asked)."""
    site = work / "site"
    site.mkdir(parents=True, exist_ok=True)
    offline_page(html, site, local_assets())
    with serve(site) as url:
        dom = chromium(url, work / "profile-dom", "--dump-dom")
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.unlink(missing_ok=True)
            chromium(url, work / "profile-shot", f"--screenshot={screenshot}", "--window-size=1400,1000")
            assert screenshot.is_file(), f"chromium wrote no screenshot at {screenshot}"
    return dom


@pytest.mark.skipif(
    not Path(CHROMIUM).is_file(), reason=f"Chromium not installed at {CHROMIUM} (apt-get install chromium)"
)
def test_map_renders_in_headless_chromium(store: Store, full_html: str, tmp_path: Path) -> None:
    shot = ROOT / "build" / "map-screenshot.png"
    dom = render_in_chromium(full_html, tmp_path, shot)

    zone_paths = re.findall(r'<path[^>]*class="[^"]*leaflet-interactive', dom)
    n_zones = int(store.zones.geometry.notna().sum())
    assert len(zone_paths) >= n_zones, (len(zone_paths), n_zones)
    markers = re.findall(r'class="[^"]*(?:marker-cluster|leaflet-marker-icon)[^"]*"', dom)
    assert len(markers) > 0
    for cls in (
        "zone-legend",
        "leaflet-control-layers",
        "leaflet-control-zoom-fullscreen",
        "leaflet-control-measure",
    ):
        assert cls in dom, f"{cls} missing from the rendered page"

    assert shot.stat().st_size > 20_000
    try:
        import numpy as np
        from PIL import Image
    except ImportError:
        return
    from app.maps import LEVEL_COLORS

    # The level colours are on the screenshot: zone strokes (opacity 0.9) over Leaflet's grey (#ddd) background.
    img = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    assert img.shape == (1000, 1400, 3)
    pixels = np.unique(img.reshape(-1, 3), axis=0)
    drawn = []
    for level, hexc in LEVEL_COLORS.items():
        rgb = np.array([int(hexc[i : i + 2], 16) for i in (1, 3, 5)])
        expected = 0.9 * rgb + 0.1 * 0xDD
        if (np.abs(pixels - expected).max(axis=1) <= 10).any():
            drawn.append(level)
    assert len(drawn) >= 6, drawn
