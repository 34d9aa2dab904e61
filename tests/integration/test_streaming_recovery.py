"""kill -9 of the app while a stream runs: on restart the manager rebuilds the public playlist from
the parts on disk, archives the stream, and the recording up to the last finished segment plays."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select

from council.core.jobs import JobRunner
from streaming.manager import StreamManager
from streaming.models import Recording, Stream
from streaming.paths import meeting_paths
from streaming.playlist import load_journal, parse_media_playlist, read_finished_part
from streaming.sources import TestPattern
from tests.factories import make_town
from tests.integration.streaming_helpers import decoded_duration, stream_settings, wait_until

ROOT = Path(__file__).resolve().parents[2]


async def test_kill_9_then_recover_and_resume(settings: Any, db: Any) -> None:
    stream_settings(settings)
    async with db.sessionmaker() as s:
        town = await make_town(s)
        meeting_id = town.council_meeting.id
    env = dict(os.environ)
    env.update(
        RATHAUS_DATABASE_URL=settings.database_url,
        RATHAUS_VAR_DIR=str(settings.var_dir),
        RATHAUS_SECRET_KEY="x" * 32,
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.integration.stream_child", str(meeting_id),
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line.startswith(b"ready"), line
        await asyncio.sleep(1.2)  # let ffmpeg be in the middle of a segment
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
    paths = meeting_paths(settings.media_dir, meeting_id)
    # ffmpeg dies with its parent (PDEATHSIG); wait until its playlist stops changing.
    await asyncio.sleep(1.5)
    # (ffmpeg may have been killed while rewriting its playlist: the finished files are what counts.)
    finished = read_finished_part(paths.raw, 1)
    assert len(finished) >= 3

    manager = StreamManager(settings, db.sessionmaker)
    await manager.start()  # recovery
    async with db.sessionmaker() as s:
        stream = (await s.execute(select(Stream).where(Stream.meeting_id == meeting_id))).scalar_one()
        rec = (await s.execute(select(Recording).where(Recording.meeting_id == meeting_id))).scalar_one()
        assert stream.state == "ended" and "interrupted" in (stream.last_error or "")
        assert rec.state == "finalizing"
    entries = load_journal(paths.journal)
    assert [e.raw for e in entries] == [seg.name for seg in finished]  # every finished segment, in order
    vod = paths.index.read_text()
    assert "#EXT-X-ENDLIST" in vod and len(parse_media_playlist(vod)) == len(entries)
    assert await JobRunner(db.sessionmaker, settings=settings).run_one()
    total = sum(e.dur for e in entries)
    assert abs(decoded_duration(paths.recording) - total) < 0.6

    # The publisher comes back: the same recording resumes as a new part after a discontinuity.
    live = await manager.start_stream(meeting_id, TestPattern(size="320x240", rate=10))
    try:
        await wait_until(lambda: live.segments >= len(entries) + 2)
        assert "#EXT-X-ENDLIST" not in paths.index.read_text()
    finally:
        await manager.stop_stream(meeting_id)
    after = load_journal(paths.journal)
    assert after[: len(entries)] == entries
    resumed = after[len(entries)]
    assert resumed.part == 2 and resumed.disc
    assert "#EXT-X-ENDLIST" in paths.index.read_text()
    await manager.stop()
