"""HTTP helpers shared by the routes that serve files and JSON: dates, conditional GET and byte ranges."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any

import anyio
from litestar import Request, Response
from litestar.response import Stream

#: Bytes read per chunk when streaming a file (recordings, documents).
STREAM_CHUNK = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def http_date(value: datetime) -> str:
    return formatdate(value.timestamp(), usegmt=True)


def not_modified(request: Request[Any, Any, Any], etag: str, modified: datetime | None) -> bool:
    """True when the client's copy is current: If-None-Match wins over If-Modified-Since (RFC 9110);
    weak and strong tags compare alike for GET."""
    inm = request.headers.get("if-none-match")
    if inm is not None:
        wanted = etag.removeprefix("W/")
        tags = [t.strip().removeprefix("W/") for t in inm.split(",")]
        return "*" in tags or wanted in tags
    ims = request.headers.get("if-modified-since")
    if ims and modified is not None:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError, IndexError, OverflowError):
            return False
        if since is None:
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return modified.replace(microsecond=0) <= since
    return False


class BadRange(Exception):
    """An unsatisfiable Range header: 416."""

    def __init__(self, size: int) -> None:
        super().__init__("range not satisfiable")
        self.size = size


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte for a single ``bytes=`` range, None for no/ignored range, BadRange if
    unsatisfiable. Multiple ranges are ignored (the whole file is sent), as RFC 9110 allows."""
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if m is None:
        return None
    first_s, last_s = m.groups()
    if not first_s and not last_s:
        return None
    if not first_s:  # suffix: the last N bytes
        n = int(last_s)
        if n == 0:
            raise BadRange(size)
        return max(0, size - n), size - 1
    first = int(first_s)
    last = int(last_s) if last_s else size - 1
    if first >= size or last < first:
        raise BadRange(size)
    return first, min(last, size - 1)


async def stream_file(path: Path, first: int, last: int) -> AsyncIterator[bytes]:
    """Bytes first..last of a file in chunks, read in a worker thread (big files: the MP4)."""
    remaining = last - first + 1
    async with await anyio.open_file(path, "rb") as fh:
        await fh.seek(first)
        while remaining > 0:
            chunk = await fh.read(min(STREAM_CHUNK, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk


def ranged_file(
    request: Request[Any, Any, Any],
    path: Path,
    size: int,
    *,
    etag: str,
    media_type: str,
    headers: dict[str, str],
) -> Response[Any]:
    """A file as 200, or 206 for one satisfiable ``Range`` (honouring ``If-Range``), or 416.

    ``headers`` (caching, disposition) go on every answer; ``Accept-Ranges`` and the lengths are added.
    The caller has answered conditional GETs (304) already."""
    headers = {**headers, "Accept-Ranges": "bytes"}
    wanted = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if wanted and if_range and if_range.strip() != etag:
        wanted = None  # the client's partial copy is of another version: send it all
    try:
        span = parse_range(wanted, size)
    except BadRange as exc:
        return Response(
            content=b"", status_code=416, headers={**headers, "Content-Range": f"bytes */{exc.size}"}
        )
    if span is None:
        first, last, status = 0, size - 1, 200
    else:
        (first, last), status = span, 206
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    headers["Content-Length"] = str(last - first + 1)
    if size == 0:
        return Response(content=b"", media_type=media_type, headers=headers)
    return Stream(
        content=stream_file(path, first, last), media_type=media_type, status_code=status, headers=headers
    )
