"""Transcripts in the app (composition root): live captions while a stream runs, the final transcript
when its recording is archived.

* When the stream manager (``app.state.streams``) starts a meeting's stream, a
  ``transcripts.live.LiveCaptioner`` runs over ``streams.audio(meeting_id)``; its captions go to the
  stream's WebVTT playlist (``streams.add_caption``: the manager is the ``CaptionSink``) and to the
  meeting's channel as ``{"kind": "caption", …}`` (the meeting page shows them via its SSE stream).
  The manager has no start hook, so its ``start_stream`` is wrapped here (the one place that knows both).
* ``app.state.on_archived`` gets a callback ``(meeting_id, media_path, started_at)`` that queues the
  final transcript job (``transcripts.service.enqueue_final``) and wakes the job runner (or SAQ).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any

from litestar import Litestar
from litestar.channels import ChannelsPlugin

from council.live.bus import meeting_channel
from council.live.media import Caption

log = logging.getLogger(__name__)


def caption_message(caption: Caption) -> dict[str, Any]:
    """What the meeting channel carries for a caption (the SSE stream forwards it as is)."""
    return {
        "kind": "caption",
        "meeting_id": caption.meeting_id,
        "text": caption.text,
        "start": caption.start.isoformat(),
        "end": caption.end.isoformat(),
        "agenda_item_id": caption.agenda_item_id,
        "speaker_person_id": caption.speaker_person_id,
    }


def _channels(app: Litestar) -> ChannelsPlugin | None:
    for plugin in app.plugins:
        if isinstance(plugin, ChannelsPlugin):
            return plugin
    return None


def start_captioner(app: Litestar, meeting_id: int, started_at: datetime | None) -> None:
    """Run live captions over the meeting's audio until the stream ends (idempotent per meeting)."""
    settings = app.state.settings
    if not settings.live_captions:
        return
    tasks: dict[int, asyncio.Task[Any]] = app.state.captioners
    if meeting_id in tasks and not tasks[meeting_id].done():
        return
    streams = app.state.streams
    channels = _channels(app)

    def publish(caption: Caption) -> None:
        if channels is not None:
            channels.publish(caption_message(caption), [meeting_channel(caption.meeting_id)])

    async def run() -> None:
        from transcripts.engine import get_transcriber
        from transcripts.live import LiveCaptioner

        captioner = LiveCaptioner(
            get_transcriber(settings),
            streams,
            publish,
            sessionmaker=app.state.db.sessionmaker,
            recording_started_at=started_at,
        )
        try:
            await captioner.run(streams.audio(meeting_id))
        except asyncio.CancelledError:
            raise
        except Exception:  # captions are a nicety: the stream goes on without them
            log.exception("live captions for meeting %s stopped", meeting_id)

    tasks[meeting_id] = asyncio.get_running_loop().create_task(run(), name=f"captions-{meeting_id}")


async def on_archived(app: Litestar, meeting_id: int, media_path: Any, started_at: datetime, *_: Any) -> None:
    """Queue the final transcript of an archived recording."""
    from transcripts.service import enqueue_final

    async with app.state.db.sessionmaker() as session:
        await enqueue_final(session, int(meeting_id), str(media_path), started_at)
        await session.commit()
    app.state.jobs.wake()


async def startup(app: Litestar) -> None:
    """After ``media_wiring.startup``: hook into the stream manager and the archive callbacks."""
    app.state.captioners = {}
    streams = getattr(app.state, "streams", None)

    async def archived(meeting_id: int, media_path: Any, started_at: datetime, *rest: Any, **_: Any) -> None:
        await on_archived(app, meeting_id, media_path, started_at)

    callbacks = getattr(app.state, "on_archived", None)
    if isinstance(callbacks, list):
        callbacks.append(archived)
    if streams is None or getattr(streams, "_captions_wired", False):
        return
    original = streams.start_stream

    async def start_stream(meeting_id: int, *args: Any, **kwargs: Any) -> Any:
        stream = await original(meeting_id, *args, **kwargs)
        try:
            start_captioner(app, meeting_id, getattr(stream, "started_at", None))
        except Exception:
            log.exception("could not start live captions for meeting %s", meeting_id)
        return stream

    streams.start_stream = start_stream
    streams._captions_wired = True


async def shutdown(app: Litestar) -> None:
    tasks: dict[int, asyncio.Task[Any]] = getattr(app.state, "captioners", {}) or {}
    for task in tasks.values():
        task.cancel()
    for task in tasks.values():
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    tasks.clear()
