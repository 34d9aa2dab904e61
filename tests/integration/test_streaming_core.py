"""The streaming core end to end with real ffmpeg: test pattern → raw parts → public HLS → archive,
consent slate, restart after a crash of ffmpeg, audio tap, chapters, captions, disk alarm."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from council.core.jobs import JobRunner
from council.core.types import utcnow
from council.live.media import SAMPLE_RATE, Caption
from council.live.models import EventKind, TimelineEvent
from council.records.models import AgendaItem
from streaming.archive import chapters
from streaming.manager import StreamManager
from streaming.models import Recording, Stream
from streaming.paths import meeting_paths
from streaming.playlist import load_journal, parse_media_playlist, read_raw_playlist
from streaming.sources import TestPattern
from tests.factories import make_town
from tests.integration.streaming_helpers import (
    codecs,
    decoded_duration,
    mean_luma,
    peak_audio,
    stream_settings,
    wait_until,
)


class Collector:
    """A real ``Publisher``: keeps what was published."""

    def __init__(self) -> None:
        self.messages: list[tuple[Any, list[str]]] = []

    def publish(self, data: Any, channels: Any) -> None:
        self.messages.append((data, [channels] if isinstance(channels, str) else list(channels)))

    def kinds(self) -> list[str]:
        return [m[0].get("kind") for m in self.messages]


async def _event(db: Any, meeting_id: int, kind: EventKind, **kw: Any) -> None:
    async with db.sessionmaker() as s:
        s.add(TimelineEvent(meeting_id=meeting_id, kind=kind.value, at=kw.pop("at", utcnow()), **kw))
        await s.commit()


async def test_testpattern_live_archive_chapters_audio(settings: Any, db: Any) -> None:
    stream_settings(settings)
    settings.disk_alarm_free_bytes = 1 << 62  # every disk is "nearly full": the alarm must be published
    async with db.sessionmaker() as s:
        town = await make_town(s)
        meeting_id = town.council_meeting.id
        item_a = AgendaItem(meeting_id=meeting_id, number="1", order=1, name="Eröffnung")
        item_b = AgendaItem(meeting_id=meeting_id, number="2", order=2, name="Haushalt")
        s.add_all([item_a, item_b])
        await s.commit()
    archived: list[tuple[int, Path, datetime]] = []

    async def on_archived(mid: int, path: Path, started: datetime) -> None:
        archived.append((mid, path, started))

    bus = Collector()
    manager = StreamManager(settings, db.sessionmaker, publisher=bus, on_archived=on_archived)
    await manager.start()
    paths = meeting_paths(settings.media_dir, meeting_id)
    live = await manager.start_stream(meeting_id, TestPattern(size="320x240", rate=10))
    try:
        chunks = []

        async def tap() -> None:
            async for chunk in manager.audio(meeting_id):
                chunks.append(chunk)

        tap_task = asyncio.create_task(tap())
        await _event(db, meeting_id, EventKind.AGENDA_ITEM_STARTED, agenda_item_id=item_a.id)
        await wait_until(lambda: live.segments >= 2)
        await _event(db, meeting_id, EventKind.AGENDA_ITEM_ENDED, agenda_item_id=item_a.id)
        await _event(db, meeting_id, EventKind.AGENDA_ITEM_STARTED, agenda_item_id=item_b.id)
        await manager.add_caption(
            Caption(
                meeting_id,
                utcnow() - timedelta(seconds=1.5),
                utcnow() - timedelta(seconds=0.5),
                "Guten Abend",
            )
        )
        await wait_until(lambda: live.segments >= 4)
        assert live.plan is not None and not live.plan.video_copy  # the pattern needs encoding: libx264
        assert "libx264" in live.plan.cmd and "pipe:1" in live.plan.cmd
        status = manager.status(meeting_id)
        assert status.state == "live" and status.source == "testpattern" and status.segments >= 4
        assert not status.slate_active

        # Live public playlist: PDT on every segment, increasing; independent segments; h264/aac.
        text = paths.index.read_text()
        assert "#EXT-X-INDEPENDENT-SEGMENTS" in text and "#EXT-X-ENDLIST" not in text
        segs = parse_media_playlist(text)
        assert len(segs) >= 3 and all(seg.pdt is not None for seg in segs)
        assert all(a.pdt < b.pdt for a, b in itertools.pairwise(segs))  # type: ignore[operator]
        assert all(0.5 <= seg.duration <= 1.5 for seg in segs[:-1])
        assert codecs(paths.public / segs[0].name) == ("h264", "aac")
        assert "TYPE=SUBTITLES" in paths.master.read_text() and paths.subs.exists()
        # The audio tap: 16 kHz s16le chunks stamped close to now.
        await wait_until(lambda: len(chunks) >= 5)
        first = chunks[0]
        assert abs((first.at - utcnow()).total_seconds()) < 30
        assert len(first.pcm) % 2 == 0 and first.seconds > 0
        gap = (chunks[2].at - chunks[1].at).total_seconds()
        assert abs(gap - len(chunks[1].pcm) / 2 / SAMPLE_RATE) < 1e-3  # contiguous sample clock
        await wait_until(lambda: "stream.disk_alarm" in bus.kinds(), timeout=10)
        assert manager.disk_status().alarm
    finally:
        await manager.stop_stream(meeting_id)
    await asyncio.wait_for(tap_task, 10)  # the tap ends with the stream
    assert "stream.started" in bus.kinds() and "stream.ended" in bus.kinds()

    # Archive: the same segments closed as VOD, then the MP4 job.
    vod = paths.index.read_text()
    assert "#EXT-X-ENDLIST" in vod and "#EXT-X-PLAYLIST-TYPE:VOD" in vod
    entries = load_journal(paths.journal)
    total = sum(e.dur for e in entries)
    assert len(parse_media_playlist(vod)) == len(entries) >= 4
    assert "Guten Abend" in paths.captions_vtt.read_text()
    async with db.sessionmaker() as s:
        rec = (await s.execute(Recording.__table__.select())).one()
        assert rec.state == "finalizing"
    runner = JobRunner(db.sessionmaker, settings=settings)
    assert await runner.run_one()
    async with db.sessionmaker() as s:
        from sqlalchemy import select

        rec = (await s.execute(select(Recording).where(Recording.meeting_id == meeting_id))).scalar_one()
        stream = (await s.execute(select(Stream).where(Stream.meeting_id == meeting_id))).scalar_one()
        assert rec.state == "ready" and rec.mp4_bytes and rec.mp4_bytes > 0
        assert rec.started_at == entries[0].pdt
        assert stream.state == "ended" and stream.ended_at is not None
        assert abs(decoded_duration(paths.recording) - total) < 0.6
        assert archived and archived[0][0] == meeting_id and archived[0][1] == paths.recording
        chs = await chapters(s, meeting_id, settings.media_dir)
        assert [c.title for c in chs] == ["Eröffnung", "Haushalt"]
        assert chs[0].start_s < chs[0].end_s <= chs[1].start_s + 0.01
        assert abs(chs[1].end_s - total) < 0.01
        assert [c.title for c in await chapters(s, meeting_id)] == ["Eröffnung", "Haushalt"]
    await manager.stop()


async def test_consent_slate_and_restart_after_ffmpeg_crash(settings: Any, db: Any) -> None:
    stream_settings(settings)
    settings.raw_keeps_original = True
    async with db.sessionmaker() as s:
        town = await make_town(s)
        meeting_id = town.council_meeting.id
    manager = StreamManager(settings, db.sessionmaker)
    await manager.start()
    paths = meeting_paths(settings.media_dir, meeting_id)
    live = await manager.start_stream(meeting_id, TestPattern(size="320x240", rate=10))
    try:
        await wait_until(lambda: live.segments >= 2)
        await _event(db, meeting_id, EventKind.SPEAKER_STARTED, consent=False)
        await wait_until(
            lambda: any(e.slate for e in live.entries) and live.entries[-1].slate and live.segments >= 5
        )
        assert manager.status(meeting_id).slate_active
        await _event(db, meeting_id, EventKind.SPEAKER_STARTED, consent=True)
        await wait_until(lambda: live.entries[-1].slate is False and any(e.slate for e in live.entries))

        # kill -9 ffmpeg: the supervisor restarts it (new part) and the playlist marks a discontinuity.
        pid = live.pid
        assert pid is not None
        before = live.segments
        os.kill(pid, signal.SIGKILL)
        await wait_until(lambda: any(e.part == 2 for e in live.entries) and live.segments >= before + 2)
        assert live.restarts == 1 and manager.status(meeting_id).restarts == 1
    finally:
        await manager.stop_stream(meeting_id)
    entries = load_journal(paths.journal)
    slates = [e for e in entries if e.slate]
    normal = [e for e in entries if not e.slate]
    assert slates and normal
    # Slate segments: the slate colour, silent, same timing as the original; the raw keeps the original.
    for e in slates[:2]:
        public = paths.public / f"s-{e.seq:06d}.ts"
        assert mean_luma(public) < 60, "slate expected"
        assert peak_audio(public) < 1e-3, "slate must be silent"
        assert mean_luma(paths.raw / e.raw) > 60, "raw keeps the original picture"
        assert codecs(public) == ("h264", "aac")
    assert mean_luma(paths.public / f"s-{normal[0].seq:06d}.ts") > 60
    # Discontinuities: into and out of the slate run, and at the new part.
    first_slate = entries.index(slates[0])
    assert entries[first_slate].disc
    back = next(e for e in entries[first_slate:] if not e.slate)
    assert back.disc
    first_part2 = next(e for e in entries if e.part == 2)
    assert first_part2.disc
    vod = paths.index.read_text()
    assert vod.count("#EXT-X-DISCONTINUITY\n") >= 3
    # Both parts are in the recording.
    assert {e.part for e in entries} == {1, 2}
    assert read_raw_playlist(paths.part_playlist(1)) and read_raw_playlist(paths.part_playlist(2))
    runner = JobRunner(db.sessionmaker, settings=settings)
    assert await runner.run_one()
    total = sum(e.dur for e in entries)
    assert abs(decoded_duration(paths.recording) - total) < 1.0
    async with db.sessionmaker() as s:
        from sqlalchemy import select

        rec = (await s.execute(select(Recording).where(Recording.meeting_id == meeting_id))).scalar_one()
        stream = (await s.execute(select(Stream).where(Stream.meeting_id == meeting_id))).scalar_one()
        assert rec.parts == 2 and rec.state == "ready"
        assert stream.restarts == 1 and stream.last_error
    await manager.stop()


async def test_refusals_and_busy(settings: Any, db: Any, tmp_path: Path) -> None:
    from streaming.errors import BadSource, StreamBusy, StreamNotFound
    from streaming.sources import FileSource, SrtListen

    stream_settings(settings)
    async with db.sessionmaker() as s:
        town = await make_town(s)
        meeting_id = town.council_meeting.id
    manager = StreamManager(settings, db.sessionmaker)
    await manager.start()
    try:
        import pytest

        with pytest.raises(BadSource):
            await manager.start_stream(meeting_id, FileSource(path=tmp_path / "missing.mp4"))
        with pytest.raises(BadSource):
            await manager.start_stream(meeting_id, SrtListen(port=9999, key="short"))
        (tmp_path / "junk.mp4").write_bytes(os.urandom(2000))
        with pytest.raises(BadSource):
            await manager.start_stream(meeting_id, FileSource(path=tmp_path / "junk.mp4"))
        with pytest.raises(StreamNotFound):
            await manager.start_stream(999_999, TestPattern(size="320x240", rate=10))
        with pytest.raises(StreamNotFound):
            await manager.stop_stream(meeting_id)
        assert manager.live(meeting_id) is None
        assert [c async for c in manager.audio(meeting_id)] == []
        await manager.start_stream(meeting_id, TestPattern(size="320x240", rate=10))
        with pytest.raises(StreamBusy):
            await manager.start_stream(meeting_id, TestPattern(size="320x240", rate=10))
        key = await manager.issue_key(meeting_id)
        assert await manager.verify_key(meeting_id, key)
        assert not await manager.verify_key(meeting_id, key + "x")
        assert not await manager.verify_key(meeting_id, None)
    finally:
        if manager.live(meeting_id):
            await manager.stop_stream(meeting_id)
        await manager.stop()


async def test_h264_file_is_remuxed_and_ends_by_itself(settings: Any, db: Any, tmp_path: Path) -> None:
    """An H.264 input takes the copy path (no transcode); a finite source archives itself at its end."""
    import subprocess

    from streaming.ffmpeg import ffmpeg_binary
    from streaming.sources import FileSource

    stream_settings(settings)
    src = tmp_path / "in.mp4"
    subprocess.run(  # noqa: ASYNC221
        [
            ffmpeg_binary(settings), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
            "testsrc2=size=320x240:rate=10:duration=3", "-f", "lavfi", "-i", "sine=duration=3",
            "-c:v", "libx264", "-g", "10", "-c:a", "aac", "-shortest", str(src),
        ],
        check=True,
        timeout=60,
    )  # fmt: skip
    async with db.sessionmaker() as s:
        town = await make_town(s)
        meeting_id = town.council_meeting.id
    manager = StreamManager(settings, db.sessionmaker)
    await manager.start()
    live = await manager.start_stream(meeting_id, FileSource(path=src))
    await wait_until(lambda: live.plan is not None)
    assert live.plan is not None and live.plan.video_copy and live.plan.audio_copy
    cmd = live.plan.cmd
    assert cmd[cmd.index("-c:v") + 1] == "copy" and "libx264" not in cmd
    await wait_until(lambda: manager.live(meeting_id) is None, timeout=30)  # ended by itself
    paths = meeting_paths(settings.media_dir, meeting_id)
    assert "#EXT-X-ENDLIST" in paths.index.read_text()
    entries = load_journal(paths.journal)
    assert 2.5 < sum(e.dur for e in entries) < 3.6
    assert manager.status(meeting_id).state == "ended"
    await manager.stop()
