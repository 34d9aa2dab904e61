"""Streaming in the app: the ``StreamManager`` (``app.state.streams``) started and stopped with the
app, the hook the transcripts side hangs its archive work on, the demo stream, and the small facts
about a meeting's media that templates show (live? archive? captions?).

``web`` is the composition root: this module may import ``streaming`` (and, through the hook, others
may react to archived recordings) while ``streaming`` imports neither ``web`` nor ``transcripts``.

The archive hook: ``app.state.on_archived`` is a list of async callbacks. The stream manager calls
``on_archived`` once a meeting's recording is final (VOD playlist closed, MP4 written); each callback
gets the same arguments (the meeting id first). A failing callback is logged and does not stop the
others — transcription (transcripts side) appends its callback here at startup.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Litestar
from litestar.channels import ChannelsPlugin
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council.core.settings import Settings
from council.core.types import utcnow
from council.live.state import live_meeting_ids
from council.records.models import Meeting
from streaming.paths import meeting_paths
from web.media_files import MediaAccess

log = logging.getLogger(__name__)

BERLIN = ZoneInfo("Europe/Berlin")
#: ``(meeting_id, media directory of the meeting, wall clock of media time 0)`` — see
#: ``streaming.manager.OnArchived``.
ArchivedCallback = Callable[..., Awaitable[Any]]


def _channels(app: Litestar) -> ChannelsPlugin | None:
    try:
        return app.plugins.get(ChannelsPlugin)
    except KeyError:
        return None


async def startup(app: Litestar) -> None:
    """Create and start the stream manager (after the database and the job runner are up)."""
    settings: Settings = app.state.settings
    db = app.state.db
    app.state.media_access = MediaAccess(db, settings.media_dir)
    callbacks: list[ArchivedCallback] = getattr(app.state, "on_archived", None) or []
    app.state.on_archived = callbacks
    install_template_globals(app)
    from streaming.manager import StreamManager

    async def on_archived(*args: Any, **kwargs: Any) -> None:
        for callback in list(app.state.on_archived):
            try:
                await callback(*args, **kwargs)
            except Exception:  # one consumer's failure must not lose the others' work
                log.exception("on_archived callback %r failed", callback)

    manager = StreamManager(settings, db.sessionmaker, publisher=_channels(app), on_archived=on_archived)
    app.state.streams = manager
    await manager.start()
    if settings.demo_stream:
        try:
            await start_demo_stream(app)
        except Exception:  # the demo must come up even if its stream cannot
            log.exception("could not start the demo stream")


async def shutdown(app: Litestar) -> None:
    manager = getattr(app.state, "streams", None)
    if manager is not None:
        await manager.stop()


# --- facts for templates ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MediaInfo:
    """What a meeting's page can offer: decided from the stream manager and the files on disk (no
    database), so it is cheap enough for every page view."""

    meeting_id: int
    live: bool
    has_hls: bool
    has_mp4: bool
    has_captions: bool

    @property
    def base(self) -> str:
        return f"/medien/{self.meeting_id}"

    @property
    def master_url(self) -> str:
        return f"{self.base}/public/master.m3u8"

    @property
    def mp4_url(self) -> str:
        return f"{self.base}/recording.mp4"

    @property
    def captions_url(self) -> str:
        return f"{self.base}/public/captions.vtt"

    @property
    def video_url(self) -> str:
        return f"/sitzungen/{self.meeting_id}/video"

    @property
    def whep_url(self) -> str:
        return f"/whep/{self.meeting_id}"

    @property
    def any(self) -> bool:
        return self.live or self.has_hls or self.has_mp4


def media_info(app: Litestar, meeting_id: int) -> MediaInfo:
    settings: Settings = app.state.settings
    paths = meeting_paths(settings.media_dir, meeting_id)
    manager = getattr(app.state, "streams", None)
    live = False
    if manager is not None:
        try:
            live = bool(manager.live(meeting_id))
        except Exception:  # a page must render even if the manager is in trouble
            log.exception("stream manager: live(%s) failed", meeting_id)
    return MediaInfo(
        meeting_id=meeting_id,
        live=live,
        has_hls=os.path.exists(paths.master) or os.path.exists(paths.index),
        has_mp4=os.path.exists(paths.recording),
        has_captions=os.path.exists(paths.captions_vtt),
    )


def install_template_globals(app: Litestar) -> None:
    """``media_info(meeting_id)`` for templates (the meeting page's video area)."""
    engine = getattr(app.template_engine, "engine", None)
    if engine is not None:
        engine.globals["media_info"] = lambda meeting_id: media_info(app, int(meeting_id))


async def meeting_chapters(session: AsyncSession, settings: Settings, meeting_id: int) -> list[Any]:
    """The recording's chapters (agenda items with media times), from the timeline; the segment
    journal on disk maps wall clock to media time exactly."""
    from streaming.archive import chapters

    return list(await chapters(session, meeting_id, settings.media_dir))


# --- the demo stream -------------------------------------------------------------------------------


async def demo_meeting_id(session: AsyncSession, now: datetime | None = None) -> int | None:
    """The meeting the demo streams: one that is open (live) now; else today's next (or latest)
    public meeting; else the next upcoming public meeting."""
    live = await live_meeting_ids(session)
    if live:
        return live[0]
    now = now or utcnow()
    local = now.astimezone(BERLIN)
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    day_end = day_start + timedelta(days=1)
    base = select(Meeting.id).where(
        Meeting.deleted.is_(False), Meeting.public.is_(True), Meeting.cancelled.is_not(True)
    )
    today = (
        await session.execute(
            base.where(Meeting.start >= day_start, Meeting.start < day_end).order_by(Meeting.start).limit(1)
        )
    ).scalar_one_or_none()
    if today is not None:
        return int(today)
    upcoming = (
        await session.execute(base.where(Meeting.start >= now).order_by(Meeting.start).limit(1))
    ).scalar_one_or_none()
    return int(upcoming) if upcoming is not None else None


async def start_demo_stream(app: Litestar) -> int | None:
    """Start a looping test pattern (640x360, 25 fps) for the demo's meeting; returns its id."""
    from streaming.sources import TestPattern

    async with app.state.db.sessionmaker() as session:
        meeting_id = await demo_meeting_id(session)
    if meeting_id is None:
        log.info("demo stream: no meeting to stream")
        return None
    manager = app.state.streams
    if manager.live(meeting_id):
        return meeting_id
    await manager.start_stream(meeting_id, TestPattern(size="640x360", rate=25))
    log.info("demo stream: test pattern live for meeting %s", meeting_id)
    return meeting_id
