"""The clerk's stream panel (``/verwaltung/sitzungen/{id}/stream``), shown inside the console page
(loaded by htmx) and on its own page without JavaScript.

What it does: shows the stream's state (live or not, source, since when, restarts, last error) and
the media disk's state (alarm below ``settings.disk_alarm_free_bytes``); starts a test pattern and
stops the stream; creates or rotates the stream key — the key is shown exactly once (only its hash is
stored, ``streaming.keys``) together with the RTMP, SRT and WHIP addresses publishers need.

Every change is a POST with the CSRF token and the console guard; refusals from the stream manager
(``StreamBusy`` 409, ``StreamNotFound`` 404, ``BadSource`` 400) come back as the panel with the
message (htmx) or as the error page (plain forms).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from jinja2_fragments.litestar import HTMXBlockTemplate
from litestar import Request, get, post
from litestar.exceptions import HTTPException, NotFoundException
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council.core.settings import Settings
from council.records.access import Viewer
from streaming.errors import BadSource, StreamBusy, StreamError, StreamNotFound
from streaming.models import Stream
from web import i18n
from web.controllers.console import _visible_meeting, require_console
from web.media_wiring import media_info

_ = i18n.gettext
log = logging.getLogger(__name__)

ACTIONS = frozenset({"testbild", "stoppen", "schluessel"})


def _is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true" and request.headers.get("hx-boosted") != "true"


def _status_of(exc: StreamError) -> int:
    if isinstance(exc, StreamBusy):
        return 409
    if isinstance(exc, StreamNotFound):
        return 404
    return 400


def _message_of(exc: StreamError) -> str:
    if isinstance(exc, StreamBusy):
        return _("Für diese Sitzung läuft bereits eine Übertragung.")
    if isinstance(exc, StreamNotFound):
        return _("Für diese Sitzung läuft keine Übertragung.")
    if isinstance(exc, BadSource):
        return _("Diese Quelle kann nicht verwendet werden: {reason}").format(reason=str(exc) or "–")
    return _("Diese Aktion ist gerade nicht möglich.")


def publish_urls(settings: Settings, meeting_id: int, key: str | None) -> dict[str, str | None]:
    """Where publishers send the stream; the key is only known right after it was made."""
    host = urlsplit(settings.base_url).hostname or settings.host
    shown = key or "SCHLÜSSEL"
    return {
        "rtmp": f"rtmp://{host}:{settings.rtmp_port}/live/{shown}" if settings.rtmp_port else None,
        "srt": (
            f"srt://{host}:{settings.srt_port}?passphrase={shown}&pbkeylen=16" if settings.srt_port else None
        ),
        "whip": f"{settings.base_url.rstrip('/')}/whip/{meeting_id}",
    }


def _disk(manager: Any) -> Any:
    if manager is None:
        return None
    try:
        return manager.disk_status()
    except Exception:  # the panel must render even if the disk cannot be read
        log.exception("disk_status failed")
        return None


async def _context(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    meeting: Any,
    *,
    error: str | None = None,
    key: str | None = None,
) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    manager = getattr(request.app.state, "streams", None)
    stream = (
        await session.execute(
            select(Stream).where(Stream.meeting_id == meeting.id).execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    status = None
    if manager is not None:
        try:
            status = manager.status(meeting.id)
        except Exception:  # the panel must render even if the manager is in trouble
            log.exception("stream status failed")
    return {
        "meeting": meeting,
        "stream": stream,
        "status": status,
        "info": media_info(request.app, meeting.id),
        "disk": _disk(manager),
        "available": manager is not None,
        "error": error,
        "key": key,
        "urls": publish_urls(settings, meeting.id, key),
        "base": f"/verwaltung/sitzungen/{meeting.id}/stream",
    }


def _panel(context: dict[str, Any], request: Request[Any, Any, Any], status: int = 200) -> Template:
    if _is_htmx(request):
        return HTMXBlockTemplate(
            template_name="media/stream_panel.html", block_name="panel", context=context, status_code=status
        )
    return Template(template_name="media/stream_panel.html", context=context, status_code=status)


@get(
    "/verwaltung/sitzungen/{meeting_id:int}/stream",
    name="stream_panel",
    guards=[require_console],
    cache=False,
)
async def stream_panel(
    request: Request[Any, Any, Any], meeting_id: int, db_session: AsyncSession, viewer: Viewer
) -> Template:
    meeting = await _visible_meeting(db_session, viewer, meeting_id)
    return _panel(await _context(request, db_session, meeting), request)


@post(
    "/verwaltung/sitzungen/{meeting_id:int}/stream/{action:str}",
    name="stream_panel_action",
    guards=[require_console],
    cache=False,
)
async def stream_panel_post(
    request: Request[Any, Any, Any], meeting_id: int, action: str, db_session: AsyncSession, viewer: Viewer
) -> Any:
    if action not in ACTIONS:
        raise NotFoundException()
    meeting = await _visible_meeting(db_session, viewer, meeting_id)
    await request.form()  # the CSRF token came in the form (or the header)
    manager = getattr(request.app.state, "streams", None)
    key: str | None = None
    error: StreamError | None = None
    try:
        if manager is None:
            raise HTTPException(
                status_code=503, detail=_("Die Übertragung ist auf diesem Server nicht verfügbar.")
            )
        elif action == "schluessel":
            key = await manager.issue_key(meeting.id)
        elif action == "testbild":
            from streaming.sources import TestPattern

            await manager.start_stream(meeting.id, TestPattern(size="640x360", rate=25))
        elif action == "stoppen":
            await manager.stop_stream(meeting.id)
    except StreamError as exc:  # the manager works in its own sessions: nothing to roll back here
        error = exc
        if not _is_htmx(request):
            raise HTTPException(status_code=_status_of(exc), detail=_message_of(exc)) from exc
    if not _is_htmx(request) and key is None:
        return Redirect(path=f"/verwaltung/sitzungen/{meeting.id}/stream", status_code=303)
    context = await _context(
        request, db_session, meeting, error=_message_of(error) if error else None, key=key
    )
    # The key is in this answer only: it must not be kept by any cache.
    response = _panel(context, request, status=_status_of(error) if error else 200)
    response.headers["Cache-Control"] = "no-store"
    return response


routes: list[Any] = [stream_panel, stream_panel_post]
