"""Offline reading for councillors: the service worker and the per-meeting list of what to cache.

``GET /sw.js``: the service worker (``web/static/sw.js``), served from the root so that its scope can be
``/`` (``Service-Worker-Allowed: /``) and revalidated on every load (``no-cache``), so a fixed worker
reaches browsers at once.

``GET /arbeitsbereich/sitzungen/{id}/offline.json``: what "Offline verfügbar machen" stores for one
meeting — the app shell and the meeting's pages and documents *the viewer may read* (the same
``meeting_documents`` access check as the workspace pages; others get 404), the cache name (per account
and meeting: ``web/static/js/offline.js`` stores the entries there and the worker serves only the
current account's caches) and when the cache expires (the end of the meeting's day, Europe/Berlin:
after the meeting, its non-public documents leave the device).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from litestar import Response, get
from litestar.exceptions import NotFoundException
from sqlalchemy.ext.asyncio import AsyncSession

from council.records.access import Viewer
from council.workspace.documents import meeting_documents
from web import i18n
from web.guards import require_role

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
SW_PATH = STATIC_DIR / "sw.js"
MAX_ID = 2**31 - 1
#: Prefix of every offline cache (the worker and offline.js delete only caches with it).
CACHE_PREFIX = "rathaus-offline-"
#: A meeting without a date is kept this long.
UNDATED_DAYS = 7


def shell_urls() -> list[str]:
    """The app shell the workspace pages need (styles, scripts, the PDF viewer), found on disk so that
    a vendored file's new version name is picked up."""
    urls = [
        "/static/css/rathaus.css",
        "/static/css/workspace.css",
        "/static/js/rathaus.js",
        "/static/js/offline.js",
        "/static/js/reader.js",
    ]
    urls += sorted(f"/static/vendor/{p.name}" for p in (STATIC_DIR / "vendor").glob("htmx-*.min.js"))
    pdfjs = STATIC_DIR / "vendor" / "pdfjs"
    urls += sorted(f"/static/vendor/pdfjs/{p.name}" for p in pdfjs.glob("*.mjs"))
    return [u for u in urls if (STATIC_DIR / u.removeprefix("/static/")).is_file()]


def expires_at(start: datetime | None, end: datetime | None, now: datetime) -> datetime:
    """Midnight after the meeting's (last) day in Europe/Berlin, as UTC."""
    when = end or start
    if when is None:
        return now + timedelta(days=UNDATED_DAYS)
    local = i18n.to_local(when)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0, 0), tzinfo=local.tzinfo)
    return midnight.astimezone(UTC)


@get(
    "/arbeitsbereich/sitzungen/{meeting_id:int}/offline.json",
    name="workspace_offline_manifest",
    guards=[require_role("councillor")],
    cache=False,
)
async def offline_manifest(db_session: AsyncSession, viewer: Viewer, meeting_id: int) -> Response[Any]:
    if not 0 < meeting_id <= MAX_ID:
        raise NotFoundException()
    docs = await meeting_documents(db_session, viewer, meeting_id)
    if docs is None or viewer.account_id is None:
        raise NotFoundException()
    meeting = docs.meeting
    urls = ["/arbeitsbereich", f"/arbeitsbereich/sitzungen/{meeting.id}"]
    for f in docs.files:
        urls.append(f"/arbeitsbereich/dokumente/{f.id}?sitzung={meeting.id}")
        urls.append(f"/arbeitsbereich/dokumente/{f.id}")
        if f.storage_key:
            urls.append(f"/dokumente/{f.id}/datei")
    now = datetime.now(UTC)
    body = {
        "meeting": meeting.id,
        "account": viewer.account_id,
        "cache": f"{CACHE_PREFIX}a{viewer.account_id}-m{meeting.id}",
        "expires": expires_at(meeting.start, meeting.end, now).isoformat(),
        "shell": shell_urls(),
        "urls": urls,
    }
    return Response(content=body, headers={"Cache-Control": "private, no-store", "Vary": "Cookie"})


@get("/sw.js", name="service_worker", cache=False, include_in_schema=False)
async def service_worker() -> Response[bytes]:
    return Response(
        content=SW_PATH.read_bytes(),
        media_type="text/javascript",
        headers={"Service-Worker-Allowed": "/", "Cache-Control": "no-cache"},
    )


routes: list[Any] = [offline_manifest, service_worker]
