"""HTTP load test of the service (uvicorn, 1 worker) against a static-file ceiling serving the same bytes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # every request of this script goes to the loopback interface
CONNECTIONS = 64
SETTLE = 1.0  # seconds of quiet before each run
WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nRESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "bytes": %d, '
    .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass
class Endpoint:
    name: str
    path: str  # with its query string
    file: str  # where the static server keeps the same bytes
    content_type: str
    body: bytes = b""


class Processes:
    """The subprocesses this script started (each in its own session); all stopped on exit."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, cmd: list[str], log: Path, **kwargs: Any) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs
            )
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)  # the group is the session this script created for it
                proc.wait(timeout=timeout)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.procs):
            self.stop(proc)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def fetch(port: int, path: str, timeout: float = 30.0) -> tuple[int, dict[str, str], bytes]:
    """One GET without Accept-Encoding (as wrk sends it), so the bytes are the ones the load test receives."""
    req = urllib.request.Request(f"http://{HOST}:{port}{path}", headers={"User-Agent": "bench_http"})
    with urllib.request.urlopen(req, timeout=timeout) as r:  # a loopback URL built here
        return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()


def wait_ready(port: int, proc: subprocess.Popen[bytes], path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {path} answered")
        try:
            if fetch(port, path, timeout=2.0)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{path} on port {port} did not answer 200 within {timeout:.0f} s")


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2**z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return z, int((lon + 180) / 360 * n), int(y)


def pick_endpoints(port: int) -> list[Endpoint]:
    """The zones page, the z=10 tile under the Quzhou zones' centroid, and /assign of a point inside a zone."""
    from shapely.geometry import shape
    from shapely.ops import unary_union

    _, _, raw = fetch(port, "/collections/zones/items?corridor=quzhou&limit=10000")
    feats = [f for f in json.loads(raw)["features"] if f.get("geometry")]
    if not feats:
        raise RuntimeError("no Quzhou zones with geometry in the catalog")
    shapes = [shape(f["geometry"]) for f in feats]
    centre = unary_union(shapes).centroid
    z, x, y = tile_of(centre.x, centre.y, 10)
    point = None
    for geom in shapes[1:] + shapes[:1]:  # the corridor outline last: prefer a point in a sub-zone
        p = geom.representative_point()
        _, _, body = fetch(port, f"/assign?lon={p.x:.6f}&lat={p.y:.6f}")
        if json.loads(body).get("zone_id"):
            point = p
            break
    if point is None:
        raise RuntimeError("found no point that /assign places in a zone")
    return [
        Endpoint("zones items (limit=10)", "/collections/zones/items?limit=10", "items.geojson", "application/geo+json"),
        Endpoint(f"tile {z}/{x}/{y} (Quzhou)", f"/tiles/{z}/{x}/{y}.mvt", f"tile_{z}_{x}_{y}.mvt", "application/vnd.mapbox-vector-tile"),
        Endpoint("assign (point in zone)", f"/assign?lon={point.x:.6f}&lat={point.y:.6f}", "assign.json", "application/json"),
    ]  # fmt: skip


def run_wrk(port: int, path: str, seconds: float, threads: int, script: Path, conns: int) -> Result:
    cmd = ["wrk", f"-t{min(threads, conns)}", f"-c{conns}", f"-d{max(1, round(seconds))}s", "--timeout", "5s",
           "-s", str(script), f"http://{HOST}:{port}{path}"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    line = next((ln for ln in out.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    r = json.loads(line.removeprefix("RESULT "))
    errors = sum(r[k] for k in ("connect", "read", "write", "status", "timeout"))
    return Result(r["requests"] / (r["duration_us"] / 1e6), r["p50_us"] / 1000, r["p99_us"] / 1000, errors)


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[str, bool]:
    """One request on an open connection: the status line, and whether the connection stays open."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    else:  # no length: the body ends with the connection
        await reader.read()
    conn = headers.get("connection", "").lower()
    keep = (
        "content-length" in headers
        and conn != "close"
        and (lines[0].startswith("HTTP/1.1") or conn == "keep-alive")
    )
    return lines[0], keep


async def _client(port: int, request: bytes, deadline: float, lat: list[float], errs: list[int]) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while time.perf_counter() < deadline:
        keep = False
        try:
            if reader is None or writer is None:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 5)
            t0 = time.perf_counter()
            status, keep = await asyncio.wait_for(_exchange(reader, writer, request), 5)
            lat.append(time.perf_counter() - t0)
            if status.split(" ")[1][:1] != "2":
                errs[0] += 1
        except (
            OSError,
            TimeoutError,
            IndexError,
            ValueError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
        ):
            errs[0] += 1
            await asyncio.sleep(0.01)
        if not keep and writer is not None:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def _python_load(port: int, path: str, seconds: float, conns: int) -> Result:
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUser-Agent: bench_http\r\n\r\n".encode()
    lat: list[float] = []
    errs = [0]
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(*(_client(port, request, deadline, lat, errs) for _ in range(conns)))
    elapsed = time.perf_counter() - start
    lat.sort()

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")

    return Result(len(lat) / elapsed, pct(0.50), pct(0.99), errs[0])


def measure(
    port: int, path: str, seconds: float, threads: int, script: Path | None, conns: int = CONNECTIONS
) -> Result:
    time.sleep(SETTLE)  # let the server drain what the previous run left queued
    if script is not None:
        return run_wrk(port, path, seconds, threads, script, conns)
    return asyncio.run(_python_load(port, path, seconds, conns))


def nginx_conf(prefix: Path, www: Path, port: int, endpoints: list[Endpoint]) -> str:
    user = ""
    if os.geteuid() == 0:  # nginx drops root for its worker: give it the unprivileged account
        user = "user nobody nogroup;" if _has_user("nobody") else ""
    locations = "\n".join(
        f"    location = {e.path.split('?')[0]} {{ default_type {e.content_type}; try_files /{e.file} =404; }}"
        for e in endpoints
    )
    return f"""{user}
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  open_file_cache max=64;
  types {{ }}
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  server {{
    listen {HOST}:{port};
    root {www};
{locations}
  }}
}}
"""


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def start_static(
    procs: Processes, tmp: Path, endpoints: list[Endpoint], use_nginx: bool = True
) -> tuple[int, subprocess.Popen[bytes], str]:
    """nginx (1 worker, temporary prefix, loopback) when installed, else python -m http.server."""
    www = tmp / "www"
    www.mkdir()
    for e in endpoints:
        (www / e.file).write_bytes(e.body)
    port = free_port()
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
    if nginx and use_nginx:
        for p in (tmp, www, *www.iterdir()):
            p.chmod(0o755 if p.is_dir() else 0o644)  # readable by the worker when nginx drops root
        conf = tmp / "nginx.conf"
        conf.write_text(nginx_conf(tmp, www, port, endpoints))
        proc = procs.start(
            [nginx, "-p", str(tmp), "-c", str(conf), "-e", str(tmp / "error.log")], tmp / "nginx.out"
        )
        label = "nginx (1 worker)"
    else:
        for e in endpoints:  # http.server ignores the query string and maps the path to a file
            target = www / e.path.split("?")[0].lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(e.body)
        cmd = [sys.executable, "-m", "http.server", str(port), "--bind", HOST, "--directory", str(www)]
        proc = procs.start(cmd, tmp / "http_server.out")
        why = "asked for" if nginx else "nginx not installed"
        label = f"python -m http.server ({why}: a low ceiling, HTTP/1.0 without keep-alive)"
    wait_ready(port, proc, endpoints[0].path, timeout=20)
    return port, proc, label


def start_service(procs: Processes, tmp: Path, timeout: float) -> tuple[int, subprocess.Popen[bytes]]:
    port = free_port()
    env = {**os.environ, "CORRIDOR_RATE_LIMIT_PER_MINUTE": "0", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "uvicorn", "app.api.main:create_app", "--factory", "--host", HOST,
           "--port", str(port), "--workers", "1", "--no-access-log", "--log-level", "warning"]  # fmt: skip
    proc = procs.start(cmd, tmp / "uvicorn.out", cwd=ROOT, env=env)
    wait_ready(port, proc, "/healthz", timeout=timeout)
    return port, proc


def table(rows: list[list[str]], header: list[str]) -> tuple[str, str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    plain = "\n".join(
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [header, ["-" * w for w in widths], *rows]
    )
    md = "\n".join(
        [
            "| " + " | ".join(header) + " |",
            "|" + "|".join(["---", *["---:"] * (len(header) - 1)]) + "|",
            *("| " + " | ".join(r) + " |" for r in rows),
        ]
    )
    return plain, md


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=10.0, help="load per endpoint and server (default 10)")
    ap.add_argument("--warmup", type=float, default=2.0, help="unmeasured load before each measurement")
    ap.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1), help="wrk threads")
    ap.add_argument("--python-client", action="store_true", help="use the asyncio client even if wrk exists")
    ap.add_argument("--python-static", action="store_true", help="use http.server even if nginx exists")
    ap.add_argument("--startup-timeout", type=float, default=180.0, help="seconds to wait for /healthz")
    args = ap.parse_args(argv)
    if not 1 <= args.seconds <= 600 or not 0 <= args.warmup <= 60:
        ap.error("--seconds must be 1..600 and --warmup 0..60")

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    procs = Processes()
    wrk = None if args.python_client else shutil.which("wrk")
    tmp = Path(tempfile.mkdtemp(prefix="bench_http_"))
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", dir=tmp, delete=False) as f:
            f.write(WRK_SCRIPT)
        script = Path(f.name) if wrk else None
        client = (
            f"wrk -t{args.threads} -c{CONNECTIONS}" if wrk else f"asyncio client, {CONNECTIONS} connections"
        )
        print(f"starting uvicorn (1 worker) on {HOST} …", flush=True)
        t0 = time.monotonic()
        port, _ = start_service(procs, tmp, args.startup_timeout)
        print(
            f"ready in {time.monotonic() - t0:.1f} s on port {port}; load: {client}, {args.seconds:g} s each"
        )
        endpoints = pick_endpoints(port)
        for e in endpoints:
            status, headers, e.body = fetch(port, e.path)
            e.content_type = headers.get("content-type", e.content_type)
            print(f"  {e.path}  {status}  {len(e.body):,} bytes  {e.content_type}")
        ours: dict[str, Result] = {}
        for e in endpoints:
            if args.warmup:
                measure(port, e.path, args.warmup, args.threads, script)
            ours[e.name] = measure(port, e.path, args.seconds, args.threads, script)
            r = ours[e.name]
            print(
                f"  ours    {e.name:<28} {r.rps:>9.0f} req/s  p50 {r.p50_ms:.2f} ms  p99 {r.p99_ms:.2f} ms",
                flush=True,
            )
        single = measure(port, endpoints[2].path, min(args.seconds, 5.0), args.threads, script, conns=1)
        print(
            f"  ours    /assign at 1 connection: {single.rps:.0f} req/s  p50 {single.p50_ms:.2f} ms  p99 {single.p99_ms:.2f} ms"
        )
        procs.stop_all()  # the service is done: the static server gets the cores to itself

        sport, _, static_label = start_static(procs, tmp, endpoints, not args.python_static)
        print(f"static ceiling: {static_label} on port {sport}")
        static: dict[str, Result] = {}
        for e in endpoints:
            if args.warmup:
                measure(sport, e.path, min(args.warmup, 1.0), args.threads, script)
            static[e.name] = measure(sport, e.path, args.seconds, args.threads, script)
            r = static[e.name]
            print(
                f"  static  {e.name:<28} {r.rps:>9.0f} req/s  p50 {r.p50_ms:.2f} ms  p99 {r.p99_ms:.2f} ms",
                flush=True,
            )
    except KeyboardInterrupt:
        print("interrupted; stopping the servers", file=sys.stderr)
        return 130
    finally:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)

    header = ["endpoint", "req/s", "p50 ms", "p99 ms", "static req/s", "ratio (ours/static)"]
    rows = []
    for e in endpoints:
        o, s = ours[e.name], static[e.name]
        errs = f" ({o.errors} errors)" if o.errors else ""
        rows.append([f"`{e.path}`{errs}", f"{o.rps:,.0f}", f"{o.p50_ms:.2f}", f"{o.p99_ms:.2f}", f"{s.rps:,.0f}",
                     f"{o.rps / s.rps:.4f}" if s.rps else "n/a"])  # fmt: skip
    plain, md = table(rows, header)
    assign = ours[endpoints[2].name]
    verdict = (
        f"/assign p99 at {CONNECTIONS} connections {assign.p99_ms:.2f} ms: "
        f"{'under' if assign.p99_ms < 10 else 'NOT under'} 10 ms "
        f"(at 1 connection: p50 {single.p50_ms:.2f} ms, p99 {single.p99_ms:.2f} ms, "
        f"{'under' if single.p99_ms < 10 else 'not under'} 10 ms)"
    )
    cpus = os.cpu_count()
    print(f"\n{client}, {args.seconds:g} s per endpoint, {cpus} CPUs, ceiling: {static_label}\n")
    print(plain)
    print(f"\n{verdict}\n\nMarkdown:\n\n{md}\n\n{verdict}; {client}; static ceiling: {static_label}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
