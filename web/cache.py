"""A short-lived cache of whole public pages for anonymous visitors (micro-caching).

Council pages are read far more often than they change, and most readers are anonymous: during a
live session hundreds of residents open the same meeting page. A route opts in with
``opt={"page_cache": True}``; its 200 responses to anonymous GET requests are kept for
``RATHAUS_PAGE_CACHE_SECONDS`` (default 10 s; 0 switches the cache off) and served from memory.

What keeps this safe:
- Only requests without a session cookie are served from or stored in the cache: a signed-in
  councillor (who may see non-public material) never gets or leaves a cached page.
- Set-Cookie headers are never stored or replayed (no shared CSRF or session cookie).
- The key holds everything a page varies on: path, query string, language, the htmx headers and
  whether the client accepts gzip.
- Pages may be up to the TTL old; the live area does not depend on it (its SSE stream sends the
  current state on connect). The cache is per process and bounded in entries and bytes.

No stampede when a busy page expires (single flight): the first request for a missing or expired
page renders it; requests for the same page meanwhile get the expired copy if there is one (at most
twice the TTL old, and only while its refresh is running) or wait for the fresh one (bounded), instead
of rendering it N times over on the same cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from web import i18n

SESSION_COOKIE_NAME = b"rathaus_session"
MAX_BODY_BYTES = 2 * 1024 * 1024
#: How long a request waits for another request's render of the same page before rendering it itself.
FOLLOWER_WAIT_S = 5.0


@dataclass
class _Entry:
    expires: float
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class PageCache:
    def __init__(self, ttl: float, max_entries: int = 2000, max_bytes: int = 128 * 1024 * 1024) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0
        #: Served an expired copy while another request refreshed it.
        self.stale_hits = 0
        #: Renders in flight: key → set when the render ended (cached or not).
        self._inflight: dict[tuple[Any, ...], asyncio.Event] = {}

    def get(self, key: tuple[Any, ...]) -> _Entry | None:
        """The fresh entry, or None."""
        entry, fresh = self.lookup(key)
        return entry if fresh else None

    def lookup(self, key: tuple[Any, ...]) -> tuple[_Entry | None, bool]:
        """(entry, fresh): an expired entry is kept for one more TTL, to be served only while a
        refresh of it runs; older ones are dropped."""
        entry = self._entries.get(key)
        if entry is None:
            return None, False
        now = time.monotonic()
        if entry.expires >= now:
            self._entries.move_to_end(key)
            return entry, True
        if entry.expires + self.ttl < now:
            self._drop(key)
            return None, False
        return entry, False

    def lead(self, key: tuple[Any, ...]) -> asyncio.Event | None:
        """Claim the render of ``key``: an Event to set when done, or None when another request has it."""
        if key in self._inflight:
            return None
        event = self._inflight[key] = asyncio.Event()
        return event

    def done(self, key: tuple[Any, ...], event: asyncio.Event) -> None:
        if self._inflight.get(key) is event:
            del self._inflight[key]
        event.set()

    async def wait_for(self, key: tuple[Any, ...]) -> _Entry | None:
        """Wait (at most FOLLOWER_WAIT_S) for the render another request is doing; its entry when cached."""
        event = self._inflight.get(key)
        if event is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FOLLOWER_WAIT_S):
                    await event.wait()
        return self.get(key)

    def put(self, key: tuple[Any, ...], entry: _Entry) -> None:
        if key in self._entries:
            self._drop(key)
        self._entries[key] = entry
        self._bytes += len(entry.body)
        while self._entries and (len(self._entries) > self.max_entries or self._bytes > self.max_bytes):
            self._drop(next(iter(self._entries)))

    def _drop(self, key: tuple[Any, ...]) -> None:
        entry = self._entries.pop(key)
        self._bytes -= len(entry.body)

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0


async def _replay(send: Send, entry: _Entry) -> None:
    await send({"type": "http.response.start", "status": entry.status, "headers": list(entry.headers)})
    await send({"type": "http.response.body", "body": entry.body, "more_body": False})


def _cache_key(scope: Scope) -> tuple[Any, ...] | None:
    """None when the request must not touch the cache."""
    if scope.get("method") != "GET":
        return None
    lang_cookie = None
    hx: list[bytes] = []
    gzip = False
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            if SESSION_COOKIE_NAME in value:
                return None
            for part in value.decode("latin-1").split(";"):
                k, _, v = part.strip().partition("=")
                if k == "lang":
                    lang_cookie = v
        elif name.startswith(b"hx-"):
            hx.append(name + b"=" + value)
        elif name == b"accept-encoding":
            gzip = b"gzip" in value
    query = scope.get("query_string", b"")
    lang_query = None
    for part in query.decode("latin-1").split("&"):
        k, _, v = part.partition("=")
        if k == "lang":
            lang_query = v
    return (scope["path"], query, i18n.negotiate(lang_cookie, lang_query), tuple(sorted(hx)), gzip)


def page_cache_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        handler = scope.get("route_handler")
        cache: PageCache | None = getattr(scope["app"].state, "page_cache", None)
        if (
            scope["type"] != "http"
            or cache is None
            or cache.ttl <= 0
            or handler is None
            or not handler.opt.get("page_cache")
        ):
            await app(scope, receive, send)
            return
        key = _cache_key(scope)
        if key is None:
            await app(scope, receive, send)
            return
        entry, fresh = cache.lookup(key)
        if entry is not None and fresh:
            cache.hits += 1
            await _replay(send, entry)
            return
        leader = cache.lead(key)
        if leader is None:  # another request is rendering this page right now
            if entry is not None:
                cache.stale_hits += 1
                await _replay(send, entry)
                return
            awaited = await cache.wait_for(key)
            if awaited is not None:
                cache.hits += 1
                await _replay(send, awaited)
                return
        cache.misses += 1
        try:
            await _render_and_store(app, scope, receive, send, cache, key)
        finally:
            if leader is not None:
                cache.done(key, leader)

    return middleware


async def _render_and_store(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, cache: PageCache, key: tuple[Any, ...]
) -> None:
    start: dict[str, Any] = {}
    chunks: list[bytes] = []
    cacheable = True

    async def capture(message: Message) -> None:
        nonlocal cacheable
        if message["type"] == "http.response.start":
            start["status"] = message["status"]
            start["headers"] = [
                (bytes(k), bytes(v))
                for k, v in message.get("headers", [])
                if bytes(k).lower() != b"set-cookie"
            ]
            if message["status"] != 200:
                cacheable = False
        elif message["type"] == "http.response.body" and cacheable:
            chunks.append(message.get("body", b""))
            if sum(len(c) for c in chunks) > MAX_BODY_BYTES:
                cacheable = False
                chunks.clear()
            if not message.get("more_body", False) and cacheable:
                cache.put(
                    key,
                    _Entry(time.monotonic() + cache.ttl, start["status"], start["headers"], b"".join(chunks)),
                )
        await send(message)

    await app(scope, receive, capture)
