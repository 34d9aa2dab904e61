"""The final transcript of a recording: streamed decode, chunked inference, checkpoint per chunk.

A council meeting can run six hours, so the recording is never held in memory: ffmpeg decodes it to
16 kHz mono PCM on a pipe, read in 1 s blocks; the reader cuts 30-60 s chunks at the quietest moment
(``vad.quietest_cut``), so no word is split between two chunks. A chunk with nothing above a very quiet
room's level is skipped without running the model (long silent stretches cost only the decode).

Each chunk's segments are committed in the same transaction as the run's ``chunks_done``/``resume_s``:
that is the checkpoint. A crashed or stopped run starts again at ``resume_s`` (ffmpeg seeks there), so
nothing is transcribed twice and no segment is duplicated.

Bad input never crashes the job: a missing, empty (0 bytes), corrupt or soundless file ends the run as
``failed`` with a message in German; a recording with no speech ends as ``empty`` with no text at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import tempfile
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from council.core.settings import Settings
from council.core.types import utcnow
from transcripts.align import load_timeline, split_at_turns
from transcripts.engine import Segment, Transcriber, pcm16_to_float, transcribe_async
from transcripts.models import RunState, SegmentSource, TranscriptRun, TranscriptSegment
from transcripts.vad import has_sound, quietest_cut

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
BYTES_PER_SECOND = SAMPLE_RATE * 2
CHUNK_MIN_S = 30.0
CHUNK_MAX_S = 60.0
#: Decode settings of the final pass (see docs/benchmarks.md for the measurements behind them).
FINAL_BEAM_SIZE = 5
FINAL_BATCHED = True

Progress = Callable[[float, str | None], Awaitable[None]]


class MediaError(Exception):
    """The recording cannot be read; ``str(exc)`` is a message for the clerk (German)."""


def ffmpeg_exe(settings: Settings) -> str:
    if settings.ffmpeg_binary:
        return settings.ffmpeg_binary
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


@dataclass(frozen=True)
class MediaInfo:
    duration_s: float | None
    has_audio: bool


_DURATION = re.compile(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)")


async def probe(settings: Settings, path: Path) -> MediaInfo:
    """Duration and audio presence from ``ffmpeg -i`` (the bundled ffmpeg has no ffprobe)."""
    size = await asyncio.to_thread(lambda: path.stat().st_size if path.is_file() else None)
    if size is None:
        raise MediaError("Die Aufnahme wurde nicht gefunden.")
    if size == 0:
        raise MediaError("Die Aufnahme ist leer (0 Byte).")
    proc = await asyncio.create_subprocess_exec(
        ffmpeg_exe(settings),
        "-nostdin",
        "-hide_banner",
        "-i",
        str(path),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    text = err.decode("utf-8", "replace")
    if "Invalid data found" in text or "could not find codec parameters" in text or "Input #0" not in text:
        raise MediaError("Die Aufnahme ist beschädigt oder hat kein lesbares Format.")
    m = _DURATION.search(text)
    duration = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3)) if m else None
    has_audio = re.search(r"Stream #\S+.*: Audio:", text) is not None
    return MediaInfo(duration_s=duration, has_audio=has_audio)


async def decode_chunks(
    settings: Settings,
    path: Path,
    *,
    start_s: float = 0.0,
    min_s: float = CHUNK_MIN_S,
    max_s: float = CHUNK_MAX_S,
) -> AsyncGenerator[tuple[float, np.ndarray], None]:
    """(offset in seconds, float32 samples) for consecutive chunks of the recording from ``start_s``.

    Memory stays bounded by one chunk: ffmpeg streams PCM on a pipe; its errors go to a temp file
    (a pipe could fill up and stall it). Raises MediaError if ffmpeg fails before yielding anything.
    """
    args = [ffmpeg_exe(settings), "-nostdin", "-hide_banner", "-loglevel", "error"]
    if start_s > 0:
        args += ["-ss", f"{start_s:.3f}"]
    args += [
        "-i",
        str(path),
        "-vn",
        "-sn",
        "-dn",
        "-ac",
        "1",
        "-ar",
        str(SAMPLE_RATE),
        "-f",
        "s16le",
        "pipe:1",
    ]
    with tempfile.TemporaryFile() as errfile:
        proc = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=errfile, stdin=asyncio.subprocess.DEVNULL
        )
        assert proc.stdout is not None
        buf = bytearray()
        offset = start_s
        max_bytes = int(max_s * BYTES_PER_SECOND)
        yielded = False
        try:
            while True:
                block = await proc.stdout.read(BYTES_PER_SECOND)
                if block:
                    buf += block
                if len(buf) >= max_bytes or (not block and buf):
                    n = len(buf) // 2 * 2
                    samples = pcm16_to_float(bytes(buf[:n]))
                    cut = (
                        quietest_cut(samples, int(min_s * SAMPLE_RATE), len(samples))
                        if block
                        else len(samples)
                    )
                    del buf[: cut * 2]
                    yielded = True
                    yield offset, samples[:cut]
                    offset += cut / SAMPLE_RATE
                if not block:
                    break
            rc = await proc.wait()
            if rc != 0:
                errfile.seek(0)
                tail = errfile.read()[-500:].decode("utf-8", "replace").strip()
                log.warning("ffmpeg exited %s decoding %s: %s", rc, path, tail)
                if not yielded:
                    raise MediaError("Die Aufnahme ist beschädigt oder hat kein lesbares Format.")
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                # asyncio reports the exit only once the pipe is drained to EOF
                with contextlib.suppress(Exception):
                    while await proc.stdout.read(1 << 16):
                        pass
                await proc.wait()


@dataclass
class FinalResult:
    state: str
    message: str | None
    segments: int
    chunks: int


async def _get_run(session: AsyncSession, meeting_id: int) -> TranscriptRun:
    run = (
        await session.execute(select(TranscriptRun).where(TranscriptRun.meeting_id == meeting_id))
    ).scalar_one_or_none()
    if run is None:
        run = TranscriptRun(meeting_id=meeting_id, state=RunState.QUEUED, chunks_done=0, resume_s=0.0)
        session.add(run)
        await session.flush()
    return run


async def _finish(
    sessionmaker: async_sessionmaker[AsyncSession], meeting_id: int, state: str, message: str | None
) -> FinalResult:
    async with sessionmaker() as session:
        run = await _get_run(session, meeting_id)
        run.state, run.message, run.finished = state, message, utcnow()
        await session.commit()
        return FinalResult(state, message, 0, run.chunks_done)


def _overlaps(seg: Segment, spans: list[tuple[float, float]]) -> bool:
    length = max(seg.end - seg.start, 1e-3)
    return any(min(seg.end, b) - max(seg.start, a) > 0.5 * length for a, b in spans)


async def run_final(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    transcriber: Transcriber,
    *,
    meeting_id: int,
    media_path: str | Path,
    started_at: datetime,
    job_id: int | None = None,
    force: bool = False,
    progress: Progress | None = None,
    hotwords: str | None = None,
    beam_size: int = FINAL_BEAM_SIZE,
    batched: bool = FINAL_BATCHED,
    stop_after_chunks: int | None = None,
    chunk_min_s: float = CHUNK_MIN_S,
    chunk_max_s: float = CHUNK_MAX_S,
) -> FinalResult:
    """Transcribe a recording into final segments, resuming at the run's checkpoint.

    ``stop_after_chunks`` stops (state stays ``running``) after that many chunks in this call — how the
    tests simulate a crash between chunks.
    """
    path = Path(media_path)
    async with sessionmaker() as session:
        run = await _get_run(session, meeting_id)
        corrected = (
            await session.execute(
                select(func.count())
                .select_from(TranscriptSegment)
                .where(TranscriptSegment.meeting_id == meeting_id, TranscriptSegment.corrected.is_(True))
            )
        ).scalar_one()
        if run.state in (RunState.DONE, RunState.EMPTY) and not force:
            return FinalResult(run.state, run.message, 0, run.chunks_done)
        if corrected and not force and run.state != RunState.RUNNING:
            run.state = RunState.DONE
            run.message = "Korrigierte Abschnitte vorhanden: nicht neu transkribiert (nur erzwungen)."
            await session.commit()
            return FinalResult(run.state, run.message, 0, run.chunks_done)
        resume = not force and run.state == RunState.RUNNING and run.media_path == str(path)
        if not resume:
            # start over: the earlier machine output goes, clerk corrections stay
            await session.execute(
                delete(TranscriptSegment).where(
                    TranscriptSegment.meeting_id == meeting_id,
                    TranscriptSegment.source == SegmentSource.FINAL,
                    TranscriptSegment.corrected.is_(False),
                )
            )
            run.chunks_done, run.resume_s = 0, 0.0
        run.media_path = str(path)
        run.media_started_at = started_at
        run.job_id = job_id if job_id is not None else run.job_id
        run.state, run.message = RunState.RUNNING, None
        run.started = run.started or utcnow()
        run.finished = None
        resume_s = run.resume_s
        chunks_done = run.chunks_done
        spans = [
            (a, b)
            for a, b in (
                await session.execute(
                    select(TranscriptSegment.start_s, TranscriptSegment.end_s).where(
                        TranscriptSegment.meeting_id == meeting_id, TranscriptSegment.corrected.is_(True)
                    )
                )
            ).all()
        ]
        await session.commit()

    try:
        info = await probe(settings, path)
    except MediaError as exc:
        return await _finish(sessionmaker, meeting_id, RunState.FAILED, str(exc))
    if not info.has_audio:
        return await _finish(sessionmaker, meeting_id, RunState.FAILED, "Die Aufnahme hat keine Tonspur.")
    duration = info.duration_s
    async with sessionmaker() as session:
        run = await _get_run(session, meeting_id)
        run.duration_s = duration
        if duration:
            run.chunks_total = max(chunks_done, math.ceil(duration / ((chunk_min_s + chunk_max_s) / 2)))
        await session.commit()

    async with sessionmaker() as session:
        timeline = await load_timeline(session, meeting_id)

    done_here = 0
    decoded_any = resume_s > 0
    try:
        chunks = decode_chunks(settings, path, start_s=resume_s, min_s=chunk_min_s, max_s=chunk_max_s)
        async with contextlib.aclosing(chunks):  # stops ffmpeg when we leave early
            async for offset, samples in chunks:
                decoded_any = decoded_any or samples.size > 0
                chunk_end = offset + len(samples) / SAMPLE_RATE
                segments: list[Segment] = []
                if has_sound(samples):
                    raw = await transcribe_async(
                        transcriber, samples, beam_size=beam_size, hotwords=hotwords, batched=batched
                    )
                    segments = [s.shifted(offset) for s in raw if not _overlaps(s.shifted(offset), spans)]
                async with sessionmaker() as session:
                    run = await _get_run(session, meeting_id)
                    pieces = [p for seg in segments for p in split_at_turns(seg, timeline, started_at)]
                    for seg, a in pieces:
                        start = started_at + timedelta(seconds=seg.start)
                        session.add(
                            TranscriptSegment(
                                meeting_id=meeting_id,
                                agenda_item_id=a.agenda_item_id,
                                person_id=a.person_id,
                                speaker_role=a.speaker_role,
                                start_s=seg.start,
                                end_s=seg.end,
                                at=start,
                                text=seg.text,
                                machine_text=seg.text,
                                public=a.public,
                                source=SegmentSource.FINAL,
                                words=seg.words_json(),
                            )
                        )
                    run.chunks_done += 1
                    run.resume_s = chunk_end
                    if run.chunks_total is not None and run.chunks_total < run.chunks_done:
                        run.chunks_total = run.chunks_done
                    await session.commit()
                    chunks_done = run.chunks_done
                done_here += 1
                if progress is not None:
                    fraction = min(chunk_end / duration, 0.99) if duration else 0.0
                    await progress(
                        fraction, f"Abschnitt {chunks_done} transkribiert ({chunk_end / 60:.0f} min)"
                    )
                if stop_after_chunks is not None and done_here >= stop_after_chunks:
                    return FinalResult(RunState.RUNNING, None, 0, chunks_done)
    except MediaError as exc:
        return await _finish(sessionmaker, meeting_id, RunState.FAILED, str(exc))

    async with sessionmaker() as session:
        run = await _get_run(session, meeting_id)
        count = (
            await session.execute(
                select(func.count())
                .select_from(TranscriptSegment)
                .where(
                    TranscriptSegment.meeting_id == meeting_id,
                    TranscriptSegment.source == SegmentSource.FINAL,
                )
            )
        ).scalar_one()
        if not decoded_any:
            run.state, run.message = RunState.EMPTY, "Die Aufnahme enthält keinen Ton."
        elif count == 0:
            run.state, run.message = RunState.EMPTY, "In der Aufnahme wurde keine Sprache erkannt."
        else:
            # the final transcript replaces the live captions (a clerk's correction is kept)
            await session.execute(
                delete(TranscriptSegment).where(
                    TranscriptSegment.meeting_id == meeting_id,
                    TranscriptSegment.source == SegmentSource.LIVE,
                    TranscriptSegment.corrected.is_(False),
                )
            )
            run.state, run.message = RunState.DONE, None
        run.chunks_total = run.chunks_done
        run.finished = utcnow()
        await session.commit()
        if progress is not None:
            await progress(1.0, run.message or "Transkript fertig")
        return FinalResult(run.state, run.message, int(count), run.chunks_done)
