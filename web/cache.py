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
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from web import i18n

SESSION_COOKIE_NAME = b"rathaus_session"
MAX_BODY_BYTES = 2 * 1024 * 1024


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

    def get(self, key: tuple[Any, ...]) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires < time.monotonic():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry

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
        entry = cache.get(key)
        if entry is not None:
            cache.hits += 1
            await send(
                {"type": "http.response.start", "status": entry.status, "headers": list(entry.headers)}
            )
            await send({"type": "http.response.body", "body": entry.body, "more_body": False})
            return
        cache.misses += 1

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
                        _Entry(
                            time.monotonic() + cache.ttl, start["status"], start["headers"], b"".join(chunks)
                        ),
                    )
            await send(message)

        await app(scope, receive, capture)

    return middleware
