"""HTTP side of the importer: JSON pages with retries, list iteration, size-limited downloads.

``httpx.AsyncClient`` with timeouts; 5xx, 429 and connection errors are retried with exponential
backoff and jitter (bounded); 4xx are not. Lists follow ``links.next`` and tolerate the vendor faults:
a bare ``[]`` or array instead of a list object, a single object instead of a list, a filtered list
answering 404 (the filter is dropped and objects are filtered here), a server that rejects
URL-encoded query strings (the filter is sent again with plain ``:``).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import httpx

from council.oparl.importer.faults import loads_lenient, parse_datetime

log = logging.getLogger(__name__)

#: (code, url, message)
WarnFn = Callable[[str, str, str], None]

USER_AGENT = "Rathaus-OParl-Importer/0.1 (+https://github.com/)"


class FetchError(Exception):
    """A request that failed for good (after retries); ``status`` is the HTTP status, if any."""

    def __init__(self, url: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url
        self.status = status


class TooLarge(FetchError):
    pass


@dataclass
class ClientStats:
    requests: int = 0
    retries: int = 0
    bytes: int = 0


def _since_value(moment: datetime, style: str) -> str:
    moment = moment.astimezone(UTC).replace(microsecond=0)
    if style == "plain":
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.isoformat()


def with_query(url: str, params: dict[str, str], style: str = "encoded") -> str:
    """``url`` with ``params`` added; ``plain`` leaves ``:`` unencoded (for servers that reject %3A)."""
    parts = urlsplit(url)
    pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    pairs.extend(params.items())
    if style == "plain":
        query = "&".join(f"{quote(k, safe='')}={quote(v, safe=':')}" for k, v in pairs)
    else:
        query = urlencode(pairs)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


class OParlClient:
    def __init__(
        self,
        *,
        timeout: float = 30.0,
        retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 20.0,
        transport: httpx.AsyncBaseTransport | None = None,
        warn: WarnFn | None = None,
        max_pages: int = 100_000,
    ) -> None:
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_pages = max_pages
        self.stats = ClientStats()
        self._warn = warn or (lambda code, url, msg: log.warning("%s %s: %s", code, url, msg))
        #: How this server wants ``modified_since`` (learned on the first filtered list).
        self.since_style: str | None = None
        self.since_supported = True
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=True,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            transport=transport,
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> OParlClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- requests with retries ----------------------------------------------------------------------

    async def _sleep_before_retry(self, attempt: int, retry_after: str | None = None) -> None:
        delay = min(self.max_backoff, self.backoff * (2**attempt))
        delay = delay / 2 + random.uniform(0, delay / 2)  # jitter
        if retry_after and retry_after.isdigit():
            delay = min(self.max_backoff, max(delay, float(retry_after)))
        self.stats.retries += 1
        await asyncio.sleep(delay)

    async def get_bytes(self, url: str) -> bytes:
        last = "no attempt"
        for attempt in range(self.retries + 1):
            self.stats.requests += 1
            try:
                response = await self._http.get(url)
            except (httpx.TransportError, httpx.InvalidURL) as exc:
                if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
                    raise FetchError(url, f"invalid URL: {exc}") from None
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 400:
                    self.stats.bytes += len(response.content)
                    return response.content
                if response.status_code not in (429,) and response.status_code < 500:
                    raise FetchError(url, f"HTTP {response.status_code}", response.status_code)
                last = f"HTTP {response.status_code}"
                if attempt < self.retries:
                    await self._sleep_before_retry(attempt, response.headers.get("retry-after"))
                    continue
                raise FetchError(url, last, response.status_code)
            if attempt < self.retries:
                await self._sleep_before_retry(attempt)
        raise FetchError(url, last)

    async def get_json(self, url: str) -> Any:
        raw = await self.get_bytes(url)
        try:
            return loads_lenient(raw, lambda code, msg: self._warn(code, url, msg))
        except ValueError as exc:
            raise FetchError(url, str(exc)) from None

    # --- lists ---------------------------------------------------------------------------------------

    async def _first_page(self, url: str, since: datetime | None) -> tuple[Any, bool]:
        """The first page of a list, filtered by ``since`` if the server can; (payload, filtered)."""
        if since is None or not self.since_supported:
            return await self.get_json(url), False
        styles = [self.since_style] if self.since_style else ["encoded", "plain"]
        failure: FetchError | None = None
        for style in styles:
            page_url = with_query(url, {"modified_since": _since_value(since, style)}, style)
            try:
                payload = await self.get_json(page_url)
            except FetchError as exc:
                if exc.status not in (400, 404, 406, 422):
                    raise
                failure = exc
                continue
            if isinstance(payload, list):
                # A bare array for a filtered list: the filter is not implemented (often `[]` even
                # though objects changed). Do not trust it.
                failure = FetchError(page_url, "bare array", 200)
                break
            if style == "plain" and self.since_style is None:
                self._warn(
                    "query_encoding", url, "server rejects URL-encoded query strings; sending plain ':'"
                )
            self.since_style = style
            return payload, True
        what = "a bare array" if failure and failure.status == 200 else (failure.status if failure else "?")
        self._warn(
            "filter_rejected",
            url,
            f"filtered list answered {what}; reading whole lists from now on, filtered here",
        )
        self.since_supported = False
        return await self.get_json(url), False

    async def iter_list(
        self, url: str, *, since: datetime | None = None, kind: str = "object"
    ) -> AsyncIterator[dict[str, Any] | str]:
        """Objects of a paginated OParl list (dicts; bare URL strings where a server lists references).

        With ``since``, objects not modified since then are skipped here too (for servers whose
        filter had to be dropped); deleted objects are always passed on.
        """
        payload, filtered = await self._first_page(url, since)
        seen_pages = {url}
        pages = 0
        while True:
            pages += 1
            items: list[Any]
            next_url: str | None = None
            if isinstance(payload, list):
                self._warn("bare_array", url, f"{kind} list is a bare array ({len(payload)} items)")
                items = payload
            elif isinstance(payload, dict) and isinstance(payload.get("data"), list | dict):
                data = payload["data"]
                items = data if isinstance(data, list) else [data]
                links = payload.get("links")
                if isinstance(links, dict) and isinstance(links.get("next"), str) and links["next"].strip():
                    next_url = links["next"].strip()
            elif isinstance(payload, dict) and ("id" in payload or "type" in payload):
                self._warn("object_not_list", url, f"{kind} list answered a single object")
                items = [payload]
            else:
                self._warn("bad_list", url, f"{kind} list is not an OParl list; skipped")
                items = []
            for item in items:
                if isinstance(item, dict):
                    if since is not None and not filtered and not item.get("deleted"):
                        modified = parse_datetime(item.get("modified"))
                        if modified is not None and modified < since:
                            continue
                    yield item
                elif isinstance(item, str):
                    yield item
                else:
                    self._warn("bad_item", url, f"{kind} list item is a {type(item).__name__}; skipped")
            if not next_url:
                return
            if next_url in seen_pages or pages >= self.max_pages:
                self._warn("pagination_loop", next_url, "next page already read (or too many pages); stopped")
                return
            seen_pages.add(next_url)
            payload = await self.get_json(next_url)  # a FetchError ends the list (the caller warns)

    # --- downloads -----------------------------------------------------------------------------------

    async def download(self, url: str, max_bytes: int) -> bytes:
        """The body of ``url``; ``TooLarge`` as soon as it exceeds ``max_bytes`` (announced or read)."""
        last = "no attempt"
        status: int | None = None
        for attempt in range(self.retries + 1):
            self.stats.requests += 1
            try:
                async with self._http.stream("GET", url, headers={"Accept": "*/*"}) as response:
                    status = response.status_code
                    if status < 400:
                        length = response.headers.get("content-length", "")
                        if length.isdigit() and int(length) > max_bytes:
                            raise TooLarge(url, f"{length} bytes announced, limit {max_bytes}")
                        chunks: list[bytes] = []
                        total = 0
                        async for chunk in response.aiter_bytes():
                            total += len(chunk)
                            if total > max_bytes:
                                raise TooLarge(url, f"more than {max_bytes} bytes")
                            chunks.append(chunk)
                        self.stats.bytes += total
                        return b"".join(chunks)
                    if status != 429 and status < 500:
                        raise FetchError(url, f"HTTP {status}", status)
                    last = f"HTTP {status}"
            except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
                raise FetchError(url, f"invalid URL: {exc}") from None
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                status = None
            if attempt < self.retries:
                await self._sleep_before_retry(attempt)
        raise FetchError(url, last, status)
