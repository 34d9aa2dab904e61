"""HTTP caching helpers shared by the routes that serve files and JSON: dates and conditional GET."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime
from typing import Any

from litestar import Request


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
