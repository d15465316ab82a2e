"""Request size and rate limits, response cache, storage following (pure ASGI middleware)."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict

from starlette.types import ASGIApp, Message, Receive, Scope, Send


async def _problem(send: Send, status: int, title: str, detail: str) -> None:
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """413 for a body larger than `limit` bytes, whether or not it declares its length."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await _problem(send, 413, "Content Too Large", f"the body is over {self.limit:,} bytes")
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return msg

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _problem(send, 413, "Content Too Large", f"the body is over {self.limit:,} bytes")


class _TooLarge(Exception):
    pass


class RateLimit:
    """A token bucket per client address: `per_minute` requests, refilled continuously; 429 when empty."""

    def __init__(self, app: ASGIApp, per_minute: int):
        self.app, self.rate = app, per_minute / 60.0
        self.capacity = float(max(per_minute, 1))
        self.buckets: dict[str, tuple[float, float]] = defaultdict(lambda: (self.capacity, time.monotonic()))
        self.lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.rate <= 0:
            return await self.app(scope, receive, send)
        client = (scope.get("client") or ("?", 0))[0]
        with self.lock:
            tokens, last = self.buckets[client]
            now = time.monotonic()
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            allowed = tokens >= 1
            self.buckets[client] = (tokens - 1 if allowed else tokens, now)
        if not allowed:
            return await _problem(send, 429, "Too Many Requests", "rate limit reached; slow down")
        await self.app(scope, receive, send)


class ResponseCache:
    """Serve repeated GETs of catalog resources from memory, keyed by the catalog version, with strong ETags.

    Only paths under `prefixes` are cached, only 200 responses up to `max_bytes`; a reload changes the version,
    so nothing stale is served. `If-None-Match` with the ETag gives 304 without touching the app.
    """

    def __init__(self, app: ASGIApp, version, prefixes: tuple[str, ...], entries: int = 4096,
                 max_bytes: int = 4_000_000):  # fmt: skip
        from collections import OrderedDict

        self.app, self.version, self.prefixes = app, version, prefixes
        self.entries, self.max_bytes = entries, max_bytes
        self.cache: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not scope["path"].startswith(self.prefixes):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        gzip_ok = b"gzip" in headers.get(b"accept-encoding", b"")
        key = (
            self.version(scope),
            scope["path"],
            scope.get("query_string", b""),
            headers.get(b"accept", b""),
            gzip_ok,
        )
        with self.lock:
            hit = self.cache.get(key)
            if hit is not None:
                self.cache.move_to_end(key)
        if hit is not None:
            status, resp_headers, body, etag = hit
            inm = headers.get(b"if-none-match", b"").decode("latin-1")
            if etag and (etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*"):
                keep = [(k, v) for k, v in resp_headers if k in (b"etag", b"cache-control", b"vary")]
                await send({"type": "http.response.start", "status": 304, "headers": keep})
                return await send({"type": "http.response.body", "body": b""})
            await send({"type": "http.response.start", "status": status, "headers": resp_headers})
            return await send({"type": "http.response.body", "body": body})
        started: dict = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.update(message)
                if message["status"] != 200:
                    started["skip"] = True
                    return await send(message)
                return None
            if started.get("skip"):
                return await send(message)
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return None
            body = b"".join(chunks)
            resp_headers = list(started.get("headers", []))
            names = {k.lower() for k, _ in resp_headers}
            etag = dict(resp_headers).get(b"etag", b"").decode("latin-1")
            if not etag:
                import hashlib

                etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
                resp_headers.append((b"etag", etag.encode("latin-1")))
            if b"cache-control" not in names:
                resp_headers.append((b"cache-control", b"public, max-age=300"))
            if len(body) <= self.max_bytes:
                with self.lock:
                    self.cache[key] = (200, resp_headers, body, etag)
                    while len(self.cache) > self.entries:
                        self.cache.popitem(last=False)
            await send({"type": "http.response.start", "status": 200, "headers": resp_headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capture)


class FollowStorage:
    """Before a request, pick up a catalog version another process committed (checked at most every second).

    `due(state)` is a cheap test run on the event loop; only when it is true does `follow(state)` (storage I/O,
    perhaps a reload) run, in a worker thread.
    """

    def __init__(self, app: ASGIApp, due, follow):
        self.app, self.due, self.follow = app, due, follow

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.due(scope["app"].state):
            from starlette.concurrency import run_in_threadpool

            await run_in_threadpool(self.follow, scope["app"].state)
        await self.app(scope, receive, send)
