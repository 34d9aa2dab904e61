"""The agenda-item watcher in the real app (``web.transcripts_wiring.start_item_watcher``, issue #10).

A stream with German speech runs through the app's stream manager; its ``on_started`` hook starts the
watcher, which listens on the meeting's bus channel. The clerk's console path (``council.live.bus.
record_event``: commit, then publish on the app's channels plugin) starts and ends an agenda item while
the stream runs; the watcher queues the item's final transcript from the stream's published segments,
the app's job runner transcribes it (real Whisper, agenda hotwords) and publishes it. Then the stream
ends, and the whole-meeting run keeps the published item and does not transcribe it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.channels import ChannelsPlugin
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from council.core.jobs import Job
from council.live.bus import record_event
from council.live.models import EventKind, TimelineEvent
from streaming.errors import StreamNotFound
from streaming.models import Recording
from streaming.sources import FileSource
from tests.factories import make_town
from tests.transcripts_support import model_settings, pattern_recording, references, wer, write_wav
from transcripts.item_models import TranscriptItemRun
from transcripts.items import ITEM_KIND
from transcripts.models import TranscriptRun, TranscriptSegment

TITLE = "Ausbau des Breitbandnetzes in Uckerath und Stoßdorf"


async def _until(predicate: Any, seconds: float, what: str) -> Any:
    """Poll (bounded in time and count) until ``predicate()`` is truthy; a bound, not a timing check."""
    deadline = time.monotonic() + seconds
    for _ in range(int(seconds / 0.25) + 2):
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.25)
    raise AssertionError(f"{what}: not within {seconds:.0f} s")


def _make_recording(tmp: Path) -> tuple[Path, list[tuple[float, float]]]:
    """Test-pattern video + speech: the agenda item's speech, a pause, then the next speaker; ~20 s
    of quiet at the end (the stream is still running when the item ends)."""
    wav = tmp / "speech.wav"
    spans = write_wav(wav, [0.6, "agenda", 1.2, "member_b", 20.0])
    mp4 = tmp / "meeting.mp4"
    pattern_recording(wav, mp4, spans[-1][1])
    return mp4, spans


async def _final_segments(db: Any, mid: int) -> list[TranscriptSegment]:
    async with db.sessionmaker() as s:
        rows = await s.execute(
            select(TranscriptSegment)
            .where(TranscriptSegment.meeting_id == mid, TranscriptSegment.source == "final")
            .order_by(TranscriptSegment.start_s)
        )
        return list(rows.scalars())


@pytest.fixture
async def watcher_client(settings: Any) -> AsyncIterator[Any]:
    from web.app import create_app

    settings.live_captions = True  # the watcher runs beside the live captions
    settings.whisper_model_dir = model_settings().whisper_model_dir
    settings.hls_segment_seconds = 1.0
    settings.disk_alarm_free_bytes = 0
    async with AsyncTestClient(app=create_app(settings), base_url="http://127.0.0.1:8000") as client:
        yield client


async def test_watcher_queues_and_publishes_an_ended_item_while_the_stream_runs(
    db: Any, watcher_client: Any, tmp_path: Path
) -> None:
    client = watcher_client
    app = client.app
    async with db.sessionmaker() as s:
        town = await make_town(s)
        meeting, item, other = town.past_meeting, town.public_item, town.council_item
        assert meeting is not None and item is not None and other is not None
        item.name = TITLE  # the vocabulary comes from the records
        await s.commit()
        mid, item_id, other_id = meeting.id, item.id, other.id

    mp4, spans = await asyncio.to_thread(_make_recording, tmp_path)
    streams = app.state.streams
    await asyncio.to_thread(client.blocking_portal.call, streams.start_stream, mid, FileSource(path=mp4))
    assert mid in app.state.item_watchers  # the stream's on_started hook started the watcher

    async def started_at() -> Any:
        async with db.sessionmaker() as s:
            return (
                await s.execute(select(Recording.started_at).where(Recording.meeting_id == mid))
            ).scalar_one_or_none()

    t0 = await _until(started_at, 60, "first segment")
    channels = next(p for p in app.plugins if isinstance(p, ChannelsPlugin))

    async def publish(kind: EventKind, seconds: float, agenda_item_id: int) -> None:
        """The console's path: the event is committed, then published on the meeting's channel."""
        event = TimelineEvent(
            meeting_id=mid, kind=kind.value, at=t0 + timedelta(seconds=seconds), agenda_item_id=agenda_item_id
        )

        async def on_app_loop() -> None:
            async with app.state.db.sessionmaker() as s:
                await record_event(s, channels, event)

        await asyncio.to_thread(client.blocking_portal.call, on_app_loop)

    item_end = spans[1][1] + 0.6
    await publish(EventKind.AGENDA_ITEM_STARTED, 0.1, item_id)

    # the clerk ends the item once it is over (the journal has passed its end)
    from streaming.paths import meeting_paths
    from streaming.playlist import load_journal

    journal = meeting_paths(app.state.settings.media_dir, mid).journal

    def media_past(seconds: float) -> Any:
        async def check() -> Any:
            entries = await asyncio.to_thread(load_journal, journal)
            return sum(e.dur for e in entries) > seconds or None

        return check

    await _until(media_past(item_end + 1.0), 90, "the stream past the item's end")
    await publish(EventKind.AGENDA_ITEM_ENDED, item_end, item_id)
    await publish(EventKind.AGENDA_ITEM_STARTED, item_end + 0.5, other_id)  # must not queue it twice

    async def item_run() -> Any:
        async with db.sessionmaker() as s:
            runs = (
                (await s.execute(select(TranscriptItemRun).where(TranscriptItemRun.meeting_id == mid)))
                .scalars()
                .all()
            )
        return runs if runs and all(r.state in ("done", "empty", "failed") for r in runs) else None

    runs = await _until(item_run, 240, "the item's final transcript")
    assert len(runs) == 1, [(r.agenda_item_id, r.start_s) for r in runs]  # queued once per item
    run = runs[0]
    assert run.agenda_item_id == item_id and run.state == "done", run.message
    assert run.published is not None and run.segments > 0 and run.item_ended_at is not None
    assert run.start_s < spans[1][0] and spans[1][1] < run.end_s
    async with db.sessionmaker() as s:
        job = await s.get(Job, run.job_id)
        assert job is not None and job.kind == ITEM_KIND and job.state == "done", job and job.error
    published = await _final_segments(db, mid)
    assert published and all(x.agenda_item_id == item_id for x in published), [
        (x.start_s, x.end_s, x.agenda_item_id, x.text) for x in published
    ] + [(run.start_s, run.end_s, item_id, spans)]
    text = " ".join(x.text for x in published)
    assert wer(references()["agenda"], text) < 0.35, text
    assert "Uckerath" in text

    # the stream ends (once the next speaker is recorded) → archive → whole-meeting run: the published
    # item stays as it is
    with contextlib.suppress(StreamNotFound):
        await _until(media_past(spans[3][1] + 1.0), 90, "the next speaker recorded")
    with contextlib.suppress(StreamNotFound):  # unless the file has ended (and stopped it) already
        await asyncio.to_thread(client.blocking_portal.call, streams.stop_stream, mid)

    async def final_done() -> Any:
        async with db.sessionmaker() as s:
            r = (
                await s.execute(select(TranscriptRun).where(TranscriptRun.meeting_id == mid))
            ).scalar_one_or_none()
        return r if r is not None and r.state in ("done", "failed", "empty") else None

    final = await _until(final_done, 300, "the whole-meeting transcript")
    assert final.state == "done", final.message
    assert mid not in app.state.item_watchers  # archived: the watcher is gone
    after = await _final_segments(db, mid)
    in_item = [x for x in after if run.start_s <= x.start_s < run.end_s]
    assert [x.id for x in in_item] == [x.id for x in published]  # not transcribed twice
    rest = " ".join(x.text for x in after if x.start_s >= run.end_s)
    assert wer(references()["member_b"], rest) < 0.5, rest
