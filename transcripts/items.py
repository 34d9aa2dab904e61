"""Final-quality transcripts agenda item by agenda item, while the stream still runs.

Why: the live captions are the fast path, but residents want the good text of an item soon after it
ends, not hours after the meeting. When an item ends (timeline ``agenda_item.ended``, or the next item
starts), the composition root (``web/transcripts_wiring.py``, which may read the streaming journal —
this package may not import ``streaming``) queues a ``transcripts.item`` job with the item's finished
public segment files. The job decodes those files back to back (ffmpeg's concat demuxer), keeps just
the item's span of them (the files are whole seconds and reach past it), transcribes that with the
final settings (batched beam 3, the item's own hotwords with the deletion guard, post-correction)
and publishes the item's span in one transaction: its final segments in, its uncorrected live captions
out. The whole-meeting final run later skips spans that are done here (``final.run_final``).

An item is short (minutes), so there is no checkpoint inside it: a crashed job runs the item again and
replaces what it wrote before (idempotent). Times are media seconds of the recording (the public
segments back to back, as the VOD playlist and ``recording.mp4``), so item and meeting runs agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from council.core.settings import Settings
from council.core.types import utcnow
from transcripts.align import load_timeline
from transcripts.correct import Corrector
from transcripts.engine import Segment, Transcriber
from transcripts.final import SAMPLE_RATE, MediaError, add_final_segments, decode_chunks, decode_many, grouped
from transcripts.item_models import TranscriptItemRun
from transcripts.models import RunState, TranscriptSegment
from transcripts.vad import has_sound

log = logging.getLogger(__name__)

ITEM_KIND = "transcripts.item"


@dataclass(frozen=True)
class SegmentFile:
    """One finished public media segment: its file and where it sits in the recording (media seconds)."""

    path: str
    media_s: float
    dur: float

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SegmentFile:
        return cls(path=str(d["path"]), media_s=float(d["media_s"]), dur=float(d["dur"]))

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "media_s": round(self.media_s, 3), "dur": round(self.dur, 3)}


@dataclass
class ItemResult:
    state: str
    message: str | None
    segments: int
    redecoded_chunks: int = 0


def write_concat_list(files: Sequence[SegmentFile], directory: Path) -> Path:
    """An ffconcat list of the files with their journal durations (keeps media time exact)."""
    lines = ["ffconcat version 1.0"]
    for f in files:
        escaped = str(Path(f.path).resolve()).replace("'", "'\\''")
        lines += [f"file '{escaped}'", f"duration {f.dur:.6f}"]
    path = directory / "item.ffconcat"
    path.write_text("\n".join(lines) + "\n")
    return path


def _existing(files: Sequence[SegmentFile]) -> list[SegmentFile]:
    return [f for f in files if os.path.isfile(f.path) and os.path.getsize(f.path) > 0]


async def _item_run(
    session: AsyncSession, meeting_id: int, agenda_item_id: int | None, start_s: float
) -> TranscriptItemRun:
    run = (
        await session.execute(
            select(TranscriptItemRun).where(
                TranscriptItemRun.meeting_id == meeting_id,
                TranscriptItemRun.agenda_item_id == agenda_item_id
                if agenda_item_id is not None
                else TranscriptItemRun.agenda_item_id.is_(None),
                TranscriptItemRun.start_s == round(start_s, 3),
            )
        )
    ).scalar_one_or_none()
    if run is None:
        run = TranscriptItemRun(
            meeting_id=meeting_id, agenda_item_id=agenda_item_id, start_s=round(start_s, 3), end_s=start_s
        )
        session.add(run)
        await session.flush()
    return run


async def run_item(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    transcriber: Transcriber,
    *,
    meeting_id: int,
    agenda_item_id: int | None,
    started_at: datetime,
    start_s: float,
    end_s: float,
    files: Sequence[SegmentFile],
    item_ended_at: datetime | None = None,
    job_id: int | None = None,
    hotwords: str | None = None,
    corrector: Corrector | None = None,
) -> ItemResult:
    """Transcribe one agenda item's span from its segment files and publish it (see module doc)."""
    async with sessionmaker() as session:
        run = await _item_run(session, meeting_id, agenda_item_id, start_s)
        run.end_s, run.state, run.message = end_s, RunState.RUNNING, None
        run.job_id = job_id if job_id is not None else run.job_id
        run.item_ended_at = item_ended_at or run.item_ended_at
        run_id = run.id
        await session.commit()

    async def finish(state: str, message: str | None, count: int = 0) -> ItemResult:
        async with sessionmaker() as session:
            run = await session.get(TranscriptItemRun, run_id)
            assert run is not None
            run.state, run.message, run.segments = state, message, count
            await session.commit()
        return ItemResult(state, message, count)

    if end_s <= start_s:
        return await finish(RunState.FAILED, "Der Tagesordnungspunkt hat keine Dauer.")
    present = await asyncio.to_thread(_existing, files)
    if not present or len(present) != len(files):
        missing = len(files) - len(present)
        msg = (
            "Für diesen Tagesordnungspunkt gibt es keine Aufnahme."
            if not files
            else f"{missing} Abschnitt(e) der Aufnahme fehlen; "
            "der Punkt wird mit der ganzen Sitzung transkribiert."
        )
        return await finish(RunState.FAILED, msg)
    files = sorted(present, key=lambda f: f.media_s)
    base = files[0].media_s

    async with sessionmaker() as session:
        timeline = await load_timeline(session, meeting_id)
    segments: list[Segment] = []
    redecoded = 0
    with tempfile.TemporaryDirectory(prefix="rathaus-item-") as tmp:
        listing = write_concat_list(files, Path(tmp))
        try:
            chunks = decode_chunks(settings, listing, input_args=("-f", "concat", "-safe", "0"))
            async with contextlib.aclosing(chunks):
                async for group in grouped(chunks):
                    wanted: list[tuple[float, np.ndarray]] = []
                    for offset, chunk in group:
                        # the segment files reach past the item at both ends (whole files): only the
                        # item's own span is decoded, so the next item's first words are not published
                        # with this one
                        head = max(0, int((start_s - base - offset) * SAMPLE_RATE))
                        tail = max(0, int((end_s - base - offset) * SAMPLE_RATE))
                        samples = chunk[head:tail]
                        if samples.size and has_sound(samples):
                            wanted.append((offset + head / SAMPLE_RATE, samples))
                    if not wanted:
                        continue
                    results = await decode_many(transcriber, [x for _o, x in wanted], hotwords=hotwords)
                    for (offset, _samples), result in zip(wanted, results, strict=True):
                        redecoded += int(result.redecoded)
                        for seg in result.segments:
                            seg = seg.shifted(base + offset)
                            if start_s <= (seg.start + seg.end) / 2 < end_s:
                                segments.append(seg)
        except MediaError as exc:
            return await finish(RunState.FAILED, str(exc))

    async with sessionmaker() as session:
        item_run = await session.get(TranscriptItemRun, run_id)
        assert item_run is not None
        in_span = (
            TranscriptSegment.meeting_id == meeting_id,
            TranscriptSegment.start_s >= start_s - 0.01,
            TranscriptSegment.start_s < end_s,
            TranscriptSegment.corrected.is_(False),
        )
        # a re-run replaces its earlier output; the final text replaces the live captions of the span
        await session.execute(delete(TranscriptSegment).where(*in_span))
        rows = await add_final_segments(
            session,
            meeting_id=meeting_id,
            segments=segments,
            timeline=timeline,
            started_at=started_at,
            corrector=corrector,
        )
        item_run.state = RunState.DONE if rows else RunState.EMPTY
        item_run.message = None if rows else "In diesem Tagesordnungspunkt wurde keine Sprache erkannt."
        item_run.segments = len(rows)
        item_run.published = utcnow()
        await session.commit()
        log.info(
            "agenda item %s of meeting %s published: %d segments (%d chunks decoded again)",
            agenda_item_id,
            meeting_id,
            len(rows),
            redecoded,
        )
        return ItemResult(item_run.state, item_run.message, len(rows), redecoded)


async def done_spans(session: AsyncSession, meeting_id: int) -> list[tuple[float, float]]:
    """Media spans of the meeting whose final text was published item by item."""
    rows = await session.execute(
        select(TranscriptItemRun.start_s, TranscriptItemRun.end_s).where(
            TranscriptItemRun.meeting_id == meeting_id, TranscriptItemRun.state == RunState.DONE
        )
    )
    return [(a, b) for a, b in rows.all()]


__all__ = ["ITEM_KIND", "ItemResult", "SegmentFile", "done_spans", "run_item"]
