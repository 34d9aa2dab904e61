"""Transcripts in the app (composition root): live captions while a stream runs, the final transcript
when its recording is archived.

* When the stream manager (``app.state.streams``) starts a meeting's stream, a
  ``transcripts.live.LiveCaptioner`` runs over ``streams.audio(meeting_id)``; its captions go to the
  stream's WebVTT playlist (``streams.add_caption``: the manager is the ``CaptionSink``) and to the
  meeting's channel as ``{"kind": "caption", …}`` (the meeting page shows them via its SSE stream).
  The manager's ``on_started`` hooks start them (this module is the one place that knows both).
* ``app.state.on_archived`` gets a callback ``(meeting_id, media_path, started_at)`` that queues the
  final transcript job (``transcripts.service.enqueue_final``) and wakes the job runner (or SAQ).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
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


async def closed_items(session: Any, meeting_id: int) -> list[tuple[int, datetime, datetime]]:
    """(agenda item id, started, ended) of the meeting's finished items, from the timeline: an item
    ends at its ``agenda_item.ended`` event or when the next item starts."""
    from sqlalchemy import select

    from council.live.models import EventKind, TimelineEvent

    rows = (
        (
            await session.execute(
                select(TimelineEvent)
                .where(
                    TimelineEvent.meeting_id == meeting_id,
                    TimelineEvent.kind.in_(
                        [EventKind.AGENDA_ITEM_STARTED.value, EventKind.AGENDA_ITEM_ENDED.value]
                    ),
                )
                .order_by(TimelineEvent.at, TimelineEvent.id)
            )
        )
        .scalars()
        .all()
    )
    out: list[tuple[int, datetime, datetime]] = []
    open_item: tuple[int, datetime] | None = None
    for ev in rows:
        if ev.kind == EventKind.AGENDA_ITEM_STARTED.value and ev.agenda_item_id is not None:
            if open_item is not None:
                out.append((open_item[0], open_item[1], ev.at))
            open_item = (ev.agenda_item_id, ev.at)
        elif open_item is not None and ev.agenda_item_id == open_item[0]:
            out.append((open_item[0], open_item[1], ev.at))
            open_item = None
    return out


async def queue_item(
    app: Any,
    meeting_id: int,
    agenda_item_id: int,
    item_started: datetime,
    item_ended: datetime,
    *,
    wait_s: float = 30.0,
) -> Any:
    """Queue the final transcript of one finished agenda item from the stream's published segments.

    ``app``: the Litestar app, or anything with its ``state`` (settings, db, jobs) — the bench and the
    tests run this without an HTTP app.

    Waits (at most ``wait_s``) until the journal has a segment past the item's end (the packager
    publishes a segment once it is complete), then hands the job the files of the item's span with
    their media times: transcripts cannot read the streaming journal itself. None if nothing was
    recorded for the span or it was queued before.
    """
    from sqlalchemy import select

    from council.core.jobs import enqueue
    from streaming.captions import media_time
    from streaming.paths import meeting_paths
    from streaming.playlist import load_journal
    from transcripts.item_models import TranscriptItemRun
    from transcripts.items import ITEM_KIND, SegmentFile

    paths = meeting_paths(app.state.settings.media_dir, meeting_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    entries = await asyncio.to_thread(load_journal, paths.journal)
    while (not entries or entries[-1].end < item_ended) and loop.time() < deadline:
        await asyncio.sleep(0.5)
        entries = await asyncio.to_thread(load_journal, paths.journal)
    if not entries:
        return None
    start_s, end_s = media_time(entries, item_started), media_time(entries, item_ended)
    files: list[SegmentFile] = []
    t = 0.0
    for e in entries:
        if t + e.dur > start_s and t < end_s:
            files.append(SegmentFile(str(paths.public / paths.segment_name(e.seq)), t, e.dur))
        t += e.dur
    if not files or end_s <= start_s:
        return None
    async with app.state.db.sessionmaker() as session:
        known = (
            await session.execute(
                select(TranscriptItemRun.id).where(
                    TranscriptItemRun.meeting_id == meeting_id,
                    TranscriptItemRun.agenda_item_id == agenda_item_id,
                    TranscriptItemRun.start_s == round(start_s, 3),
                )
            )
        ).scalar_one_or_none()
        if known is not None:
            return None
        job = enqueue(
            session,
            ITEM_KIND,
            {
                "meeting_id": meeting_id,
                "agenda_item_id": agenda_item_id,
                "started_at": entries[0].pdt.isoformat(),
                "start_s": round(start_s, 3),
                "end_s": round(end_s, 3),
                "ended_at": item_ended.isoformat(),
                "files": [f.as_json() for f in files],
            },
        )
        await session.flush()
        session.add(
            TranscriptItemRun(
                meeting_id=meeting_id,
                agenda_item_id=agenda_item_id,
                start_s=round(start_s, 3),
                end_s=round(end_s, 3),
                state="queued",
                job_id=job.id,
                item_ended_at=item_ended,
            )
        )
        await session.commit()
    app.state.jobs.wake()
    return job


def start_item_watcher(app: Litestar, meeting_id: int) -> None:
    """While the stream runs: queue each agenda item's final transcript as soon as the item ends."""
    if not getattr(app.state.settings, "live_captions", True):
        return
    channels = _channels(app)
    if channels is None:
        return
    tasks: dict[int, asyncio.Task[Any]] = app.state.item_watchers
    if meeting_id in tasks and not tasks[meeting_id].done():
        return

    async def catch_up(queued: set[tuple[int, datetime]]) -> None:
        async with app.state.db.sessionmaker() as session:
            items = await closed_items(session, meeting_id)
        for item_id, started, ended in items:
            if (item_id, started) not in queued:
                queued.add((item_id, started))
                try:
                    await queue_item(app, meeting_id, item_id, started, ended)
                except Exception:
                    log.exception("could not queue agenda item %s of meeting %s", item_id, meeting_id)

    async def run() -> None:
        queued: set[tuple[int, datetime]] = set()
        async with channels.start_subscription([meeting_channel(meeting_id)]) as subscriber:
            await catch_up(queued)  # items that ended before this watcher started are queued too
            async for raw in subscriber.iter_events():
                try:
                    kind = json.loads(raw).get("kind")
                except (ValueError, AttributeError):
                    continue
                if kind in ("agenda_item.started", "agenda_item.ended", "meeting.closed"):
                    await catch_up(queued)

    tasks[meeting_id] = asyncio.get_running_loop().create_task(run(), name=f"item-transcripts-{meeting_id}")


async def on_archived(app: Litestar, meeting_id: int, media_path: Any, started_at: datetime, *_: Any) -> None:
    """Queue the final transcript of an archived recording (it skips items already published)."""
    from transcripts.service import enqueue_final

    watcher = getattr(app.state, "item_watchers", {}).pop(int(meeting_id), None)
    if watcher is not None:
        watcher.cancel()

    async with app.state.db.sessionmaker() as session:
        await enqueue_final(session, int(meeting_id), str(media_path), started_at)
        await session.commit()
    app.state.jobs.wake()


async def startup(app: Litestar) -> None:
    """After ``media_wiring.startup``: hook into the stream manager and the archive callbacks."""
    app.state.captioners = {}
    app.state.item_watchers = {}
    streams = getattr(app.state, "streams", None)

    async def archived(meeting_id: int, media_path: Any, started_at: datetime, *rest: Any, **_: Any) -> None:
        await on_archived(app, meeting_id, media_path, started_at)

    callbacks = getattr(app.state, "on_archived", None)
    if isinstance(callbacks, list):
        callbacks.append(archived)
    if streams is None:
        return

    def started(meeting_id: int, stream: Any) -> None:
        try:
            start_captioner(app, meeting_id, getattr(stream, "started_at", None))
        except Exception:
            log.exception("could not start live captions for meeting %s", meeting_id)
        try:
            start_item_watcher(app, meeting_id)
        except Exception:
            log.exception("could not watch agenda items of meeting %s", meeting_id)

    streams.on_started.append(started)


async def shutdown(app: Litestar) -> None:
    tasks: dict[int, asyncio.Task[Any]] = getattr(app.state, "captioners", {}) or {}
    tasks.update({-k: t for k, t in (getattr(app.state, "item_watchers", {}) or {}).items()})
    for task in tasks.values():
        task.cancel()
    for task in tasks.values():
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    tasks.clear()
