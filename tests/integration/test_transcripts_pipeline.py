"""The transcript pipeline on the database: final job with alignment, checkpoint resume, bad input,
a long recording, live captions, corrections, WebVTT and the minutes draft."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from sqlalchemy import select

from council.core.db import Database
from council.core.jobs import Job, JobRunner
from council.core.settings import Settings
from council.live.media import AudioChunk, Caption
from council.live.models import TimelineEvent
from tests.factories import Town, make_town
from tests.transcripts_support import SR, model_settings, references, transcriber, wer, write_wav
from transcripts import service
from transcripts.final import decode_chunks, run_final
from transcripts.live import LiveCaptioner
from transcripts.minutes import minutes_draft
from transcripts.models import SegmentSource, TranscriptRun, TranscriptSegment
from transcripts.webvtt import webvtt

T0 = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
SMALL_CHUNKS = {"chunk_min_s": 8.0, "chunk_max_s": 14.0}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def meeting_with_timeline(db: Database, recording: Path) -> tuple[Town, dict[str, tuple[float, float]]]:
    """The recording: chair, then Anna (consents), then Jürgen (does not); the timeline says so."""
    spans = write_wav(recording, [1.0, "chair", 1.5, "member_a", 1.5, "member_b", 1.0])
    parts = {"chair": spans[1], "member_a": spans[3], "member_b": spans[5]}
    async with db.sessionmaker() as s:
        town = await make_town(s)
        m, item = town.past_meeting, town.public_item
        assert m is not None and item is not None
        anna, juergen = town.persons[0], town.persons[1]
        a0, a1 = parts["member_a"]
        b0, b1 = parts["member_b"]
        s.add_all(
            [
                TimelineEvent(meeting_id=m.id, kind="meeting.opened", at=at(-60)),
                TimelineEvent(
                    meeting_id=m.id, kind="agenda_item.started", at=at(0.5), agenda_item_id=item.id
                ),
                TimelineEvent(
                    meeting_id=m.id,
                    kind="speaker.started",
                    at=at(a0 - 0.4),
                    agenda_item_id=item.id,
                    person_id=anna.id,
                    consent=True,
                ),
                TimelineEvent(
                    meeting_id=m.id,
                    kind="speaker.ended",
                    at=at(a1 + 0.4),
                    agenda_item_id=item.id,
                    person_id=anna.id,
                    consent=True,
                ),
                TimelineEvent(
                    meeting_id=m.id,
                    kind="speaker.started",
                    at=at(b0 - 0.4),
                    agenda_item_id=item.id,
                    person_id=juergen.id,
                    consent=False,
                ),
                TimelineEvent(
                    meeting_id=m.id,
                    kind="speaker.ended",
                    at=at(b1 + 0.4),
                    agenda_item_id=item.id,
                    person_id=juergen.id,
                    consent=False,
                ),
                TimelineEvent(
                    meeting_id=m.id, kind="agenda_item.ended", at=at(b1 + 0.8), agenda_item_id=item.id
                ),
                TimelineEvent(
                    meeting_id=m.id,
                    kind="vote.closed",
                    at=at(b1 + 0.6),
                    agenda_item_id=item.id,
                    payload={
                        "poll_id": 1,
                        "question": "Radweg sanieren?",
                        "summary": "angenommen (4:1:0)",
                        "adopted": True,
                        "tally": {"yes": 4, "no": 1, "abstain": 0},
                        "kind": "open",
                    },
                ),
            ]
        )
        await s.commit()
        return town, parts


async def all_segments(db: Database, meeting_id: int) -> list[TranscriptSegment]:
    async with db.sessionmaker() as s:
        return list(
            (
                await s.execute(
                    select(TranscriptSegment)
                    .where(TranscriptSegment.meeting_id == meeting_id)
                    .order_by(TranscriptSegment.start_s)
                )
            )
            .scalars()
            .all()
        )


def inside(seg: TranscriptSegment, span: tuple[float, float]) -> bool:
    mid = (seg.start_s + seg.end_s) / 2
    return span[0] - 0.5 <= mid <= span[1] + 0.5


async def test_final_transcript_aligned_private_and_resumable(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    recording = tmp_path / "meeting.wav"
    town, parts = await meeting_with_timeline(db, recording)
    m, item = town.past_meeting, town.public_item
    assert m is not None and item is not None
    anna, juergen = town.persons[0], town.persons[1]
    progress: list[float] = []

    async def report(fraction: float, message: str | None) -> None:
        progress.append(fraction)

    # "crash" after the first chunk: the run stays running with its checkpoint
    first = await run_final(
        db.sessionmaker,
        settings,
        transcriber(),
        meeting_id=m.id,
        media_path=recording,
        started_at=T0,
        stop_after_chunks=1,
        progress=report,
        **SMALL_CHUNKS,
    )
    assert first.state == "running" and first.chunks == 1
    after_first = await all_segments(db, m.id)
    async with db.sessionmaker() as s:
        run = (await s.execute(select(TranscriptRun).where(TranscriptRun.meeting_id == m.id))).scalar_one()
        assert run.state == "running" and run.chunks_done == 1 and 8.0 <= run.resume_s <= 14.0
        assert all(seg.end_s <= run.resume_s + 0.2 for seg in after_first)

    # resumed: continues at the checkpoint, nothing twice
    result = await run_final(
        db.sessionmaker,
        settings,
        transcriber(),
        meeting_id=m.id,
        media_path=recording,
        started_at=T0,
        progress=report,
        **SMALL_CHUNKS,
    )
    assert result.state == "done" and result.chunks >= 3
    assert progress[-1] == 1.0 and progress == sorted(progress)
    segs = await all_segments(db, m.id)
    assert [s.id for s in after_first] == [s.id for s in segs[: len(after_first)]]
    for a, b in itertools.pairwise(segs):
        assert a.start_s <= b.start_s and a.end_s <= b.start_s + 0.3  # ordered, no duplicates
    assert all(s.source == "final" and s.machine_text == s.text for s in segs)
    assert segs[0].at == T0 + timedelta(seconds=segs[0].start_s)

    refs = references()
    for name in ("chair", "member_a", "member_b"):
        text = " ".join(s.text for s in segs if inside(s, parts[name]))
        assert wer(refs[name], text) <= 0.6, (name, text)
    for s in segs:
        assert s.agenda_item_id == item.id
        if inside(s, parts["chair"]):
            assert (s.speaker_role, s.person_id, s.public) == ("chair", None, True)
        elif inside(s, parts["member_a"]):
            assert (s.speaker_role, s.person_id, s.public) == ("speaker", anna.id, True)
        else:
            assert (s.speaker_role, s.person_id, s.public) == ("speaker", juergen.id, False)

    # what the pages get: public text with speaker names, staff also the private part
    async with db.sessionmaker() as s:
        shown = await service.segments(s, m.id)
        assert shown and all(x.public for x in shown)
        assert {x.speaker_name for x in shown} == {None, anna.name}
        assert len(await service.segments(s, m.id, include_private=True)) == len(segs)
        assert len(await service.segments(s, m.id, agenda_item_id=item.id + 999)) == 0
        status = await service.run_status(s, m.id)
        assert status is not None and status.state == "done" and status.progress == 1.0
        vtt = webvtt(shown)
        assert vtt.startswith("WEBVTT") and f"<v {anna.name}>" in vtt and "Bürger" not in vtt

        # corrections: validated, versioned, the machine text kept
        target = shown[0]
        with pytest.raises(ValueError, match="leer"):
            await service.correct_segment(s, target.id, text="   ", editor_id=None)
        with pytest.raises(ValueError, match="Person"):
            await service.correct_segment(s, target.id, person_id=10_000_000, editor_id=None)
        with pytest.raises(service.SegmentNotFound):
            await service.correct_segment(s, 10_000_000, text="x", editor_id=None)
        fixed = await service.correct_segment(
            s,
            target.id,
            text="Ich eröffne die Sitzung des Rates der Stadt Hennef.",
            editor_id=None,
            note="Ort",
        )
        assert fixed.corrected and fixed.version == 2 and fixed.machine_text != fixed.text
        await service.correct_segment(s, target.id, person_id=anna.id, editor_id=None)
        await s.commit()
        revs = await service.revisions(s, target.id)
        assert [r.version for r in revs] == [1, 2, 3]
        assert revs[0].text == fixed.machine_text and revs[0].speaker_role == "chair"
        assert revs[2].person_id == anna.id and revs[2].speaker_role == "speaker"

        draft = await minutes_draft(s, m.id)
        md = draft.to_markdown()
        block = next(i for i in draft.items if i.agenda_item_id == item.id)
        assert [e.person_id for e in block.entries][:1] == [anna.id]
        assert block.votes and block.votes[0].adopted is True
        assert "Radweg sanieren?" in md and "angenommen" in md and "Hennef" in md
        assert "Schule" not in md  # the non-consenting speech stays out

    # a corrected transcript is not overwritten by a new run unless forced
    again = await run_final(
        db.sessionmaker,
        settings,
        transcriber(),
        meeting_id=m.id,
        media_path=recording,
        started_at=T0,
        **SMALL_CHUNKS,
    )
    assert again.state == "done" and again.segments == 0
    assert len(await all_segments(db, m.id)) == len(segs)


async def test_bad_recordings_end_with_a_clear_state(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    async with db.sessionmaker() as s:
        town = await make_town(s)
    assert town.next_meeting is not None
    mid = town.next_meeting.id
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    zero = tmp_path / "zero.mp4"
    zero.write_bytes(b"")
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(5).bytes(50_000))
    empty = tmp_path / "empty.wav"
    write_wav(empty, [0.0])
    silent = tmp_path / "silent.wav"
    write_wav(silent, [12.0])
    video_only = tmp_path / "video.mp4"
    await asyncio.to_thread(
        subprocess.run,
        [
            ffmpeg,
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=5:duration=1",
            "-c:v",
            "libx264",
            "-y",
            str(video_only),
        ],
        check=True,
    )
    cases = [
        (tmp_path / "missing.mp4", "failed", "nicht gefunden"),
        (zero, "failed", "0 Byte"),
        (corrupt, "failed", "beschädigt"),
        (video_only, "failed", "keine Tonspur"),
        (empty, "empty", "keinen Ton"),
        (silent, "empty", "keine Sprache"),
    ]
    for path, state, fragment in cases:
        result = await run_final(
            db.sessionmaker,
            settings,
            transcriber(),
            meeting_id=mid,
            media_path=path,
            started_at=T0,
            force=True,
        )
        assert (result.state, fragment in (result.message or "")) == (state, True), (path.name, result)
        assert await all_segments(db, mid) == []


async def test_long_recording_is_streamed_in_bounded_chunks(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    """20 minutes of silence, then speech: decoded on a pipe in ≤ 60 s chunks, silent ones skipped."""
    speech = tmp_path / "speech.wav"
    write_wav(speech, ["member_a", 1.0])
    long = tmp_path / "long.flac"
    await asyncio.to_thread(
        subprocess.run,
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-v",
            "error",
            "-f",
            "lavfi",
            "-t",
            "1200",
            "-i",
            "anullsrc=r=16000:cl=mono",
            "-i",
            str(speech),
            "-filter_complex",
            "[0:a][1:a]concat=n=2:v=0:a=1",
            "-ac",
            "1",
            "-ar",
            "16000",
            "-y",
            str(long),
        ],
        check=True,
    )
    sizes = [len(samples) async for _, samples in decode_chunks(settings, long)]
    assert max(sizes) <= 60 * SR and sum(sizes) / SR == pytest.approx(1211.1, abs=1.0)
    async with db.sessionmaker() as s:
        town = await make_town(s)
    assert town.council_meeting is not None
    result = await run_final(
        db.sessionmaker,
        settings,
        transcriber(),
        meeting_id=town.council_meeting.id,
        media_path=long,
        started_at=T0,
    )
    assert result.state == "done" and result.chunks >= 20
    segs = await all_segments(db, town.council_meeting.id)
    assert segs and all(s.start_s >= 1199.0 for s in segs)
    assert wer(references()["member_a"], " ".join(s.text for s in segs)) <= 0.5


class ListSink:
    def __init__(self) -> None:
        self.captions: list[Caption] = []

    async def add_caption(self, caption: Caption) -> None:
        self.captions.append(caption)


async def test_live_captions_follow_the_timeline(db: Database, settings: Settings, tmp_path: Path) -> None:
    recording = tmp_path / "meeting.wav"
    town, parts = await meeting_with_timeline(db, recording)
    m = town.past_meeting
    assert m is not None
    import wave

    with wave.open(str(recording)) as w:
        pcm = w.readframes(w.getnframes())
    step = SR * 2 // 10  # 100 ms chunks

    async def tap() -> AsyncIterator[AudioChunk]:
        for i in range(0, len(pcm), step):
            yield AudioChunk(meeting_id=m.id, at=at(i / (2 * SR)), pcm=pcm[i : i + step])

    sink = ListSink()
    published: list[Caption] = []
    captioner = LiveCaptioner(transcriber(), sink, published.append, sessionmaker=db.sessionmaker)
    stats = await captioner.run(tap())
    assert sink.captions and [c.text for c in sink.captions] == [c.text for c in published]
    assert stats.utterances >= 3 and stats.dropped_utterances == 0
    starts = [c.start for c in sink.captions]
    assert starts == sorted(starts) and all(c.end >= c.start for c in sink.captions)
    # nothing is captioned while the non-consenting speaker has the floor
    b0, _ = parts["member_b"]
    assert all(c.end <= at(b0) for c in sink.captions)
    text = " ".join(c.text for c in sink.captions)
    assert wer(references()["chair"] + " " + references()["member_a"], text) <= 0.6
    anna = town.persons[0]
    assert any(c.speaker_person_id == anna.id for c in sink.captions)
    assert all(r.latency_s >= 0 for r in stats.records)
    # stored for the meeting page, the withheld speech as private
    segs = await all_segments(db, m.id)
    assert {s.source for s in segs} == {"live"}
    assert any(not s.public for s in segs) and all(s.public for s in segs if s.end_s <= b0)
    async with db.sessionmaker() as s:
        assert await service.shown_source(s, m.id) == SegmentSource.LIVE
        assert len(await service.segments(s, m.id)) == len([x for x in segs if x.public])


async def test_enqueue_final_runs_on_the_job_runner(db: Database, settings: Settings, tmp_path: Path) -> None:
    recording = tmp_path / "rec.wav"
    write_wav(recording, [0.5, "member_b", 0.5])
    async with db.sessionmaker() as s:
        town = await make_town(s)
        assert town.past_meeting is not None
        mid = town.past_meeting.id
        s.add(
            TranscriptSegment(
                meeting_id=mid, start_s=0.0, end_s=1.0, at=T0, text="live", machine_text="live", source="live"
            )
        )
        with pytest.raises(ValueError, match="Zeitzone"):
            await service.enqueue_final(s, mid, recording, datetime(2026, 1, 1))
        with pytest.raises(ValueError, match="Sitzung"):
            await service.enqueue_final(s, 10_000_000, recording, T0)
        job = await service.enqueue_final(s, mid, recording, T0)
        assert (await service.enqueue_final(s, mid, recording, T0)).id == job.id  # idempotent
        await s.commit()
        status = await service.run_status(s, mid)
        assert status is not None and status.state == "queued"
    settings.whisper_model_dir = model_settings().whisper_model_dir  # the shared, already assembled model
    runner = JobRunner(db.sessionmaker, settings=settings)
    assert await runner.run_until_empty(max_jobs=2) == 1
    async with db.sessionmaker() as s:
        row = await s.get(Job, job.id)
        assert row is not None and row.state == "done" and row.progress == 1.0
        status = await service.run_status(s, mid)
        assert status is not None and status.state == "done"
        shown = await service.segments(s, mid)
        assert shown and all(x.source == "final" for x in shown)
        assert wer(references()["member_b"], " ".join(x.text for x in shown)) <= 0.5
    assert all(x.text != "live" for x in await all_segments(db, mid))  # live captions replaced
