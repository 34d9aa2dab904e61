"""WebRTC endpoints: WHIP ingest (``/whip/{id}``, RFC 9725), WHEP viewing (``/whep/{id}``) and the
clerk's browser studio (``/verwaltung/sitzungen/{id}/studio``).

WHIP and WHEP are machine endpoints (excluded from CSRF in web.app): WHIP authenticates with the
meeting's stream key as a Bearer token (only its SHA-256 is stored, ``streaming.keys``); WHEP is open
to whoever may see the meeting (``meeting_visible``), so a non-public meeting stays non-public here
too. The resource URL returned in ``Location`` carries an unguessable session id; ``DELETE`` on it
ends the session. No trickle ICE: the answer has all candidates, so ``PATCH`` is answered 405 (as the
RFCs allow).

The WebRTC work is in ``streaming.rtc.RtcService`` (one per app, ``app.state.rtc``); this module
only checks, parses and maps errors to status codes. The stream itself (packager, archive) belongs
to the stream manager (``app.state.streams``): a WHIP publish starts a ``PipeSource`` stream there.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

from litestar import Request, Response, delete, get, patch, post, route
from litestar.enums import HttpMethod
from litestar.exceptions import NotFoundException
from litestar.response import Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council.core.settings import Settings
from council.records.access import Viewer, meeting_visible
from council.records.models import Meeting
from streaming.errors import BadSource, StreamBusy, StreamNotFound
from streaming.models import Stream
from streaming.paths import meeting_paths
from streaming.rtc import RtcService
from streaming.webrtc import MAX_SDP_BYTES, BadSdp, parse_offer
from streaming.whep import ViewerCapReached
from web import i18n
from web.controllers.console import require_console

_ = i18n.gettext
log = logging.getLogger(__name__)

MAX_ID = 2**31 - 1
SDP = "application/sdp"
NO_COMPRESSION = {"skip_compression": True}
#: How long a player should wait before trying WHEP again after a 503 (it plays HLS meanwhile).
RETRY_AFTER_SECONDS = 30


def rtc_service(app: Any) -> RtcService:
    """The app's ``RtcService``, made on first use (closed by ``close_rtc`` at shutdown)."""
    service: RtcService | None = getattr(app.state, "rtc", None)
    if service is None:
        settings: Settings = app.state.settings
        service = RtcService(
            viewer_cap=settings.whep_viewer_cap,
            loopback=settings.webrtc_loopback,
            segment_seconds=settings.hls_segment_seconds,
        )
        app.state.rtc = service
    return service


async def close_rtc(app: Any) -> None:
    """For the app's on_shutdown: end every WHIP publisher and WHEP viewer of this process."""
    service: RtcService | None = getattr(app.state, "rtc", None)
    if service is not None:
        await service.close()


def _text(status: int, message: str, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        content=message + "\n", status_code=status, media_type="text/plain; charset=utf-8", headers=headers
    )


def _check_id(value: int) -> int:
    if not (1 <= value <= MAX_ID):
        raise NotFoundException()
    return value


async def _read_sdp(request: Request[Any, Any, Any]) -> bytes | Response[str]:
    """The SDP body, or the 415 / 413 answer."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != SDP:
        return _text(
            415, _("Erwartet wird ein SDP-Angebot (Content-Type: application/sdp)."), {"Accept-Post": SDP}
        )
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_SDP_BYTES:
        return _text(413, _("Das SDP-Angebot ist zu groß."))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_SDP_BYTES:
            return _text(413, _("Das SDP-Angebot ist zu groß."))
    return bytes(body)


def _bearer(request: Request[Any, Any, Any]) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _sep, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _manager(request: Request[Any, Any, Any]) -> Any:
    manager = getattr(request.app.state, "streams", None)
    if manager is None:
        raise StreamNotFound("no stream manager")
    return manager


def _live(request: Request[Any, Any, Any], meeting_id: int) -> Any:
    try:
        return _manager(request).live(meeting_id)
    except StreamNotFound:
        return None


def _slate_check(request: Request[Any, Any, Any], meeting_id: int) -> Any:
    """A callable telling whether the meeting's public output is slated (consent) right now."""
    app = request.app

    def slate_active() -> bool:
        manager = getattr(app.state, "streams", None)
        live = manager.live(meeting_id) if manager is not None else None
        if live is None:
            return False
        value = getattr(live, "slate_active", False)
        if callable(value):
            value = value()
        if not value:
            status = getattr(live, "status", None)
            status = status() if callable(status) else status
            value = getattr(status, "slate_active", False) if status is not None else False
        return bool(value)

    return slate_active


def _unauthorized() -> Response[str]:
    return _text(
        401,
        _("Stream-Schlüssel fehlt oder ist falsch."),
        {"WWW-Authenticate": 'Bearer realm="rathaus-whip"'},
    )


# --- WHIP ------------------------------------------------------------------------------------------


@route(
    "/whip/{meeting_id:int}", http_method=[HttpMethod.OPTIONS], opt=NO_COMPRESSION, include_in_schema=False
)
async def whip_options(meeting_id: int) -> Response[None]:
    return Response(
        content=None,
        status_code=204,
        headers={"Accept-Post": SDP, "Allow": "OPTIONS, POST"},
    )


@post("/whip/{meeting_id:int}", opt=NO_COMPRESSION, status_code=201)
async def whip_publish(request: Request[Any, Any, Any], meeting_id: int) -> Response[Any]:
    """Start publishing: Bearer stream key, SDP offer in, SDP answer out (201 + Location)."""
    _check_id(meeting_id)
    body = await _read_sdp(request)
    if isinstance(body, Response):
        return body
    manager = getattr(request.app.state, "streams", None)
    if manager is None or not await manager.verify_key(meeting_id, _bearer(request)):
        return _unauthorized()
    try:
        offer = parse_offer(body)
    except BadSdp as exc:
        return _text(400, str(exc))
    service = rtc_service(request.app)
    if meeting_id in service.publishers or _live(request, meeting_id):
        return _text(409, _("Für diese Sitzung läuft bereits eine Übertragung."))

    async def start_sink() -> Any:
        from streaming.sources import PipeSource

        manager = _manager(request)
        return await manager.start_stream(meeting_id, PipeSource(format="mpegts", audio_codec="aac"))

    def still_live() -> bool:
        return _live(request, meeting_id) is not None

    app = request.app

    async def on_end(ended_id: int) -> None:
        # The encoder has closed the pipe; end the stream now (VOD, archive) rather than wait for the
        # packager to notice, and only the stream this session fed (not a newer one).
        manager = getattr(app.state, "streams", None)
        live = manager.live(ended_id) if manager is not None else None
        if manager is not None and live is not None and live is session_sink.get("live"):
            with contextlib.suppress(StreamNotFound):
                await manager.stop_stream(ended_id)

    session_sink: dict[str, Any] = {}

    async def start_and_remember() -> Any:
        live = await start_sink()
        session_sink["live"] = live
        return live

    try:
        session = await service.publish(
            meeting_id,
            offer,
            start_and_remember,
            _slate_check(request, meeting_id),
            on_end=on_end,
            still_live=still_live,
        )
    except StreamBusy:
        return _text(409, _("Für diese Sitzung läuft bereits eine Übertragung."))
    except (BadSource, StreamNotFound) as exc:
        log.warning("WHIP start for meeting %s refused: %s", meeting_id, exc)
        return _text(503, _("Die Übertragung kann gerade nicht gestartet werden."))
    except ValueError as exc:  # aiortc: no common codec, no video, bad descriptions
        return _text(400, _("Das SDP-Angebot ist nicht verwendbar: {reason}").format(reason=str(exc)[:200]))
    assert session.pc is not None
    location = f"/whip/{meeting_id}/{session.id}"
    return Response(
        content=session.pc.localDescription.sdp,
        status_code=201,
        media_type=SDP,
        headers={"Location": location, "ETag": f'"{session.id}"'},
    )


@delete("/whip/{meeting_id:int}/{session_id:str}", opt=NO_COMPRESSION, status_code=200)
async def whip_stop(request: Request[Any, Any, Any], meeting_id: int, session_id: str) -> Response[str]:
    """End the publisher's session; the stream ends and becomes the archive."""
    _check_id(meeting_id)
    if not await rtc_service(request.app).unpublish(meeting_id, session_id):
        return _text(404, _("Diese Sitzung der Übertragung gibt es nicht (mehr)."))
    return _text(200, _("Übertragung beendet."))


@patch("/whip/{meeting_id:int}/{session_id:str}", opt=NO_COMPRESSION, include_in_schema=False)
async def whip_patch(meeting_id: int, session_id: str) -> Response[str]:
    return _text(405, _("Trickle-ICE wird nicht unterstützt."), {"Allow": "DELETE"})


# --- WHEP ------------------------------------------------------------------------------------------


@route(
    "/whep/{meeting_id:int}", http_method=[HttpMethod.OPTIONS], opt=NO_COMPRESSION, include_in_schema=False
)
async def whep_options(meeting_id: int) -> Response[None]:
    return Response(content=None, status_code=204, headers={"Accept-Post": SDP, "Allow": "OPTIONS, POST"})


@post("/whep/{meeting_id:int}", opt=NO_COMPRESSION, status_code=201)
async def whep_view(
    request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer, meeting_id: int
) -> Response[Any]:
    """Start watching: SDP offer (recvonly) in, answer out. 503 + Retry-After when full: use HLS."""
    _check_id(meeting_id)
    visible = (
        await db_session.execute(select(Meeting.id).where(Meeting.id == meeting_id, meeting_visible(viewer)))
    ).scalar_one_or_none()
    await db_session.rollback()
    if visible is None:
        raise NotFoundException()
    body = await _read_sdp(request)
    if isinstance(body, Response):
        return body
    try:
        offer = parse_offer(body)
    except BadSdp as exc:
        return _text(400, str(exc))
    service = rtc_service(request.app)
    live = _live(request, meeting_id)
    if live is None and meeting_id not in service.publishers:
        return _text(404, _("Diese Sitzung wird gerade nicht übertragen."))
    settings: Settings = request.app.state.settings
    playlist: Path = meeting_paths(settings.media_dir, meeting_id).index
    try:
        viewer_id, answer = await service.view(meeting_id, offer, playlist, _slate_check(request, meeting_id))
    except ViewerCapReached:
        return Response(
            content={
                "error": "viewer_cap",
                "fallback": "hls",
                "message": _(
                    "Zu viele Zuschauende für die Übertragung mit niedriger Latenz – "
                    "bitte den normalen Stream nutzen."
                ),
            },
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    except StreamNotFound:
        return _text(404, _("Diese Sitzung wird gerade nicht übertragen."))
    except ValueError as exc:
        return _text(400, _("Das SDP-Angebot ist nicht verwendbar: {reason}").format(reason=str(exc)[:200]))
    return Response(
        content=answer,
        status_code=201,
        media_type=SDP,
        headers={"Location": f"/whep/{meeting_id}/{viewer_id}", "ETag": f'"{viewer_id}"'},
    )


@delete("/whep/{meeting_id:int}/{viewer_id:str}", opt=NO_COMPRESSION, status_code=200)
async def whep_stop(request: Request[Any, Any, Any], meeting_id: int, viewer_id: str) -> Response[str]:
    _check_id(meeting_id)
    if not await rtc_service(request.app).end_view(meeting_id, viewer_id):
        return _text(404, _("Diese Wiedergabe gibt es nicht (mehr)."))
    return _text(200, _("Wiedergabe beendet."))


@patch("/whep/{meeting_id:int}/{viewer_id:str}", opt=NO_COMPRESSION, include_in_schema=False)
async def whep_patch(meeting_id: int, viewer_id: str) -> Response[str]:
    return _text(405, _("Trickle-ICE wird nicht unterstützt."), {"Allow": "DELETE"})


# --- the studio page -------------------------------------------------------------------------------


async def _studio_meeting(session: AsyncSession, viewer: Viewer, meeting_id: int) -> Meeting:
    meeting = (
        await session.execute(
            select(Meeting).where(Meeting.id == _check_id(meeting_id), meeting_visible(viewer))
        )
    ).scalar_one_or_none()
    if meeting is None:
        raise NotFoundException()
    return meeting


async def _studio_page(
    request: Request[Any, Any, Any], session: AsyncSession, meeting: Meeting, new_key_value: str | None = None
) -> Template:
    has_key = (
        await session.execute(
            select(Stream.key_hash).where(Stream.meeting_id == meeting.id, Stream.deleted.is_(False))
        )
    ).scalar_one_or_none() is not None
    service = rtc_service(request.app)
    return Template(
        template_name="console/studio.html",
        context={
            "meeting": meeting,
            "has_key": has_key,
            "new_key": new_key_value,
            "whip_url": f"/whip/{meeting.id}",
            "publishing": meeting.id in service.publishers,
            "live": bool(_live(request, meeting.id)),
        },
        headers={"Cache-Control": "no-store"},
    )


@get("/verwaltung/sitzungen/{meeting_id:int}/studio", guards=[require_console])
async def studio(
    request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer, meeting_id: int
) -> Template:
    """The browser studio: camera and microphone of this device → WHIP."""
    meeting = await _studio_meeting(db_session, viewer, meeting_id)
    return await _studio_page(request, db_session, meeting)


@post("/verwaltung/sitzungen/{meeting_id:int}/studio/schluessel", guards=[require_console], status_code=200)
async def studio_new_key(
    request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer, meeting_id: int
) -> Template:
    """Create or replace the meeting's stream key; the key is shown once, only its hash is kept."""
    meeting = await _studio_meeting(db_session, viewer, meeting_id)
    key = await request.app.state.streams.issue_key(meeting.id)
    return await _studio_page(request, db_session, meeting, new_key_value=key)


routes = [
    whip_options,
    whip_publish,
    whip_stop,
    whip_patch,
    whep_options,
    whep_view,
    whep_stop,
    whep_patch,
    studio,
    studio_new_key,
]
