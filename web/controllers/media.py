"""Video for residents: media files (``/medien/…``), the video page of a meeting
(``/sitzungen/{id}/video``, live and archive, with chapters and deep links) and the archive list
(``/mediathek``).

The file route is built for a live audience (hundreds of requests a second, see bench/streaming.py):
no database work per segment (``web.media_files.MediaAccess`` caches decisions for a few seconds),
no gzip (``skip_compression``: video does not compress and gzip would cost CPU), no page cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.response import Template
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from council.live.state import live_state
from council.records import queries
from council.records.access import Viewer
from council.records.models import Meeting
from streaming.models import Recording
from web import i18n
from web.deps import session_token
from web.errors import BadInput
from web.http import http_date, not_modified, ranged_file
from web.media_files import (
    ACCEL_PREFIX,
    MediaAccess,
    MediaFile,
    MediaNotFound,
    cache_control,
    playlist_ended,
)
from web.media_wiring import media_info, meeting_chapters

_ = i18n.gettext

MAX_ID = 2**31 - 1
#: The longest deep link we accept (two days of meeting, in seconds).
MAX_SECONDS = 2 * 86_400
PER_PAGE = 20
NO_COMPRESSION = {"skip_compression": True}


def _access(request: Request[Any, Any, Any]) -> MediaAccess:
    access: MediaAccess | None = getattr(request.app.state, "media_access", None)
    if access is None:  # created at startup (web.media_wiring); an app assembled differently
        access = MediaAccess(request.app.state.db, request.app.state.settings.media_dir)
        request.app.state.media_access = access
    return access


def _base_headers(file: MediaFile, *, ended: bool) -> dict[str, str]:
    return {
        "Cache-Control": cache_control(file, ended=ended),
        "ETag": file.etag,
        "Last-Modified": http_date(file.modified),
        "Accept-Ranges": "bytes" if file.kind == ".mp4" else "none",
        "Vary": "Cookie" if not file.public_meeting else "Accept-Encoding",
    }


@get(
    "/medien/{meeting_id:int}/{path:path}",
    name="media_file",
    cache=False,
    opt=NO_COMPRESSION,
    include_in_schema=False,
)
async def media_file(request: Request[Any, Any, Any], meeting_id: int, path: str) -> Response[Any]:
    """One file of a meeting's media directory, for those who may see the meeting (see
    ``web.media_files`` for the rules); 404 for anything else, never a hint why."""
    if not (1 <= meeting_id <= MAX_ID):
        raise NotFoundException()
    access = _access(request)
    try:
        file = await access.lookup(meeting_id, path, session_token(request.scope.get("headers", [])))
    except MediaNotFound as exc:
        raise NotFoundException() from exc

    download = request.query_params.get("download") == "1"
    disposition = None
    if download and file.kind == ".mp4":
        disposition = f'attachment; filename="sitzung-{meeting_id}.mp4"'

    # nginx in front (docs/nginx/rathaus.conf): we decide, nginx sends the bytes (and does Range).
    if request.headers.get("x-sendfile-type") == "X-Accel-Redirect":
        headers = {
            "X-Accel-Redirect": f"{ACCEL_PREFIX}{meeting_id}/{file.relative}",
            "Cache-Control": cache_control(file, ended=file.kind != ".m3u8"),
        }
        if disposition:
            headers["Content-Disposition"] = disposition
        return Response(content=b"", media_type=file.content_type, headers=headers)

    if file.kind != ".mp4":
        data = access.read_small(file)
        ended = file.kind == ".m3u8" and playlist_ended(data)
        headers = _base_headers(file, ended=ended)
        if not_modified(request, file.etag, file.modified):
            return Response(content=b"", status_code=304, headers=headers)
        return Response(content=data, media_type=file.content_type, headers=headers)

    headers = _base_headers(file, ended=True)
    if disposition:
        headers["Content-Disposition"] = disposition
    if not_modified(request, file.etag, file.modified):
        return Response(content=b"", status_code=304, headers=headers)
    return ranged_file(
        request, file.path, file.size, etag=file.etag, media_type=file.content_type, headers=headers
    )


# --- the video page --------------------------------------------------------------------------------


def _seconds(raw: str | None) -> int | None:
    """``?t=`` as whole seconds (also ``90s``, ``1m30s``, ``1h2m3s``); BadInput for anything else."""
    if raw is None or raw == "":
        return None
    text = raw.strip().lower()
    if len(text) > 16:
        raise BadInput(detail=_("„t“ muss eine Zeit in Sekunden sein."))
    if text.isascii() and text.isdigit():
        value = int(text)
    else:
        import re

        m = re.fullmatch(r"(?:(\d{1,2})h)?(?:(\d{1,4})m)?(?:(\d{1,6})s)?", text)
        if not m or not any(m.groups()):
            raise BadInput(detail=_("„t“ muss eine Zeit in Sekunden sein."))
        h, mi, s = (int(g or 0) for g in m.groups())
        value = h * 3600 + mi * 60 + s
    if value > MAX_SECONDS:
        raise BadInput(detail=_("„t“ muss eine Zeit in Sekunden sein."))
    return value


def _int_param(raw: str | None, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    text = raw.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 10) or not (1 <= int(text) <= MAX_ID):
        raise BadInput(detail=_("„{name}“ muss eine Nummer sein.").format(name=name))
    return int(text)


def clock(seconds: float) -> str:
    """``1:02:03`` / ``2:03`` for chapter lists."""
    total = max(0, int(seconds))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@get("/sitzungen/{meeting_id:int}/video", name="meeting_video", cache=False)
async def meeting_video(
    request: Request[Any, Any, Any], meeting_id: int, db_session: AsyncSession, viewer: Viewer
) -> Template:
    """The player page: live (hls.js, low-latency WebRTC option) or the archive (chapters, captions,
    MP4 download). ``?t=SECONDS`` and ``?top=AGENDA_ITEM_ID`` start at that point."""
    if not (1 <= meeting_id <= MAX_ID):
        raise NotFoundException()
    t = _seconds(request.query_params.get("t"))
    top = _int_param(request.query_params.get("top"), "top")
    detail = await queries.meeting_detail(db_session, viewer, meeting_id)
    if detail is None:
        raise NotFoundException()
    visible_items = {entry.item.id for entry in detail.agenda}
    chapters = [
        c
        for c in await meeting_chapters(db_session, request.app.state.settings, meeting_id)
        if c.agenda_item_id in visible_items
    ]
    start = t
    if top is not None:
        chapter = next((c for c in chapters if c.agenda_item_id == top), None)
        if chapter is None:
            raise NotFoundException(detail=_("Zu diesem Tagesordnungspunkt gibt es keine Aufzeichnung."))
        start = int(chapter.start_s)
    recording = (
        await db_session.execute(select(Recording).where(Recording.meeting_id == meeting_id))
    ).scalar_one_or_none()
    info = media_info(request.app, meeting_id)
    now = None
    if info.live:
        # The agenda item on screen now (server-rendered for readers without JavaScript; player.js
        # follows the timeline over SSE from here on). Only items this viewer may see are named.
        current = (await live_state(db_session, meeting_id)).agenda_item_id
        now = next((entry.item for entry in detail.agenda if entry.item.id == current), None)
    return Template(
        template_name="media/video.html",
        context={
            "nav": "meetings",
            "meeting": detail.meeting,
            "detail": detail,
            "info": info,
            "recording": recording,
            "chapters": chapters,
            "chapter_by_item": {c.agenda_item_id: c for c in chapters},
            "start": start or 0,
            "clock": clock,
            "current_chapter": top,
            "now_item": now,
        },
    )


# --- the archive list ------------------------------------------------------------------------------


@dataclass
class ArchiveEntry:
    meeting: Meeting
    recording: Recording


#: One page of the mediathek (the list pages' pager type).
ArchivePage = queries.Page


@get("/mediathek", name="mediathek", cache=False, opt={"page_cache": True})
async def mediathek(request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer) -> Template:
    """Past meetings with a recording, newest first (only those the viewer may see)."""
    number = _int_param(request.query_params.get("seite"), "seite") or 1
    base = (
        queries.meetings_query(viewer)
        .join(Recording, Recording.meeting_id == Meeting.id)
        .add_columns(Recording)
        .where(Recording.state.in_(("ready", "finalizing")))
    )
    total = (await db_session.execute(select(func.count()).select_from(base.subquery()))).scalar_one()
    rows = (
        await db_session.execute(
            base.order_by(Meeting.start.desc(), Meeting.id.desc())
            .limit(PER_PAGE)
            .offset((number - 1) * PER_PAGE)
        )
    ).all()
    page = ArchivePage(
        items=[ArchiveEntry(meeting=m, recording=r) for m, r in rows],
        number=number,
        per_page=PER_PAGE,
        total=int(total),
    )
    return Template(
        template_name="media/mediathek.html",
        context={"nav": "mediathek", "page": page, "params": {}, "base_path": "/mediathek", "clock": clock},
    )


routes: list[Any] = [media_file, meeting_video, mediathek]
