"""The final transcript of a recording: streamed decode, chunked inference, checkpoint per chunk.

A council meeting can run six hours, so the recording is never held in memory: ffmpeg decodes it to
16 kHz mono PCM on a pipe, read in 1 s blocks; the reader cuts 30-60 s chunks at the quietest moment
(``vad.quietest_cut``), so no word is split between two chunks. A chunk with nothing above a very quiet
room's level is skipped without running the model (long silent stretches cost only the decode).
Chunks are decoded in groups of ~6 min (:func:`decode_many`): the speech of all chunks of a group is
packed into 30 s decoder windows across chunk boundaries and decoded in wide batches, as in one plain
batched call over the whole file, but memory stays bounded.

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
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import and_, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from council.core.settings import Settings
from council.core.types import utcnow
from transcripts.align import Timeline, load_timeline, split_at_turns
from transcripts.correct import Change, Corrector, echo_runs
from transcripts.engine import (
    Segment,
    Transcriber,
    in_inference_thread,
    pcm16_to_float,
    speech_windows,
)
from transcripts.item_models import TranscriptItemRun
from transcripts.models import RunState, SegmentRevision, SegmentSource, TranscriptRun, TranscriptSegment
from transcripts.vad import has_sound, quietest_cut
from transcripts.vocabulary import STANDING_TERMS

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
BYTES_PER_SECOND = SAMPLE_RATE * 2
CHUNK_MIN_S = 30.0
CHUNK_MAX_S = 60.0
#: Decode settings of the final pass (see docs/benchmarks.md for the measurements behind them): beam 3
#: with windows packed across chunks reads better than beam 5 did without (12-min bench set, clean, with
#: hotwords and correction: WER 20.2 against 22.4); beam 5 on the same code reads 19.3 but takes 37.2 s
#: against 31.9 s.
FINAL_BEAM_SIZE = 3
#: Normal speech runs 2-3 words per voiced second; a hotword-biased decode far below this deleted passages
#: (the known failure of ``hotwords``), so the window is decoded again without them.
MIN_WORDS_PER_VOICED_S = 1.0
#: The note on the machine's own correction in a segment's history (the correction page shows it).
AUTO_NOTE = "automatische Korrektur"

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
    input_args: tuple[str, ...] = (),
) -> AsyncGenerator[tuple[float, np.ndarray], None]:
    """(offset in seconds, float32 samples) for consecutive chunks of the recording from ``start_s``.

    Memory stays bounded by one chunk: ffmpeg streams PCM on a pipe; its errors go to a temp file
    (a pipe could fill up and stall it). Raises MediaError if ffmpeg fails before yielding anything.
    """
    args = [ffmpeg_exe(settings), "-nostdin", "-hide_banner", "-loglevel", "error"]
    if start_s > 0:
        args += ["-ss", f"{start_s:.3f}"]
    args += [
        *input_args,  # e.g. ("-f", "concat", "-safe", "0") for a list of segment files
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


#: Chunks are decoded in groups of about this much audio (about a dozen windows), so their windows fill
#: whole batches (the checkpoint stays per chunk: the group's chunks are committed one by one after it
#: is decoded; a crash loses at most one group's decoding, never a committed segment).
GROUP_S = 360.0


async def grouped(
    chunks: AsyncGenerator[tuple[float, np.ndarray], None], seconds: float = GROUP_S
) -> AsyncGenerator[list[tuple[float, np.ndarray]], None]:
    """Consecutive chunks gathered into lists of at least ``seconds`` of audio (the last may be shorter)."""
    group: list[tuple[float, np.ndarray]] = []
    total = 0.0
    async for offset, samples in chunks:
        group.append((offset, samples))
        total += len(samples) / SAMPLE_RATE
        if total >= seconds:
            yield group
            group, total = [], 0.0
    if group:
        yield group


def speech_seconds(samples: np.ndarray) -> float:
    """Seconds of speech in a chunk (Silero VAD, as the decoder's own filter sees it)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    stamps = get_speech_timestamps(samples, VadOptions(min_silence_duration_ms=500, speech_pad_ms=0))
    return sum(int(t["end"]) - int(t["start"]) for t in stamps) / SAMPLE_RATE


def _score(pieces: list[tuple[int, Segment]]) -> float:
    """How much was heard with confidence: letters of the words with probability ≥ 0.5.

    Letters, not words: the unbiased decode splits compounds ("Tag in Ordnungspunkt"), which would
    win a word count while saying no more.
    """
    words = [(w.word, w.probability) for _src, s in pieces for w in s.words] or [
        (t, 0.5) for _src, s in pieces for t in s.text.split()
    ]
    return float(sum(sum(c.isalnum() for c in w) for w, p in words if p >= 0.5))


#: The unbiased decode replaces the biased one only if it heard this much more (deleted passages are
#: large; small differences are noise and the biased text spells the agenda's words right).
PLAIN_MARGIN = 1.15


_STANDING = frozenset(STANDING_TERMS)


def strip_echo(seg: Segment, hotwords: str) -> Segment | None:
    """The segment without runs of the prompt read back (``correct.echo_runs``); None if nothing is left.

    ``decode_many`` hands in only the standing council terms of the prompt: a run of three of them in
    the prompt's order is never speech, whereas an agenda title's words may well be said in order.
    """
    return _without_runs(seg, lambda tokens: echo_runs(tokens, hotwords))


def _without_runs(seg: Segment, find: Callable[[list[str]], list[tuple[int, int]]]) -> Segment | None:
    """The segment without the [start, end) runs ``find`` returns for its words (its text's tokens where it
    has no word timings); the very same segment if there are none, None if nothing is left."""
    tokens = [w.word for w in seg.words] if seg.words else seg.text.split()
    runs = find(tokens)
    if not runs:
        return seg
    drop = {i for a, b in runs for i in range(a, b)}
    if seg.words:
        words = tuple(w for i, w in enumerate(seg.words) if i not in drop)
        if not words:
            return None
        text = "".join(w.word for w in words).strip()
        return replace(seg, start=words[0].start, end=words[-1].end, text=text, words=words)
    text = " ".join(t for i, t in enumerate(tokens) if i not in drop)
    return replace(seg, text=text) if text else None


#: A phrase of 2-12 words said three times in a row is a decoder loop, not speech.
LOOP_COPIES = 3
_LOOP_MAX_WORDS = 12


def _loop_runs(tokens: list[str]) -> list[tuple[int, int]]:
    """[start, end) runs of ``tokens`` that repeat the phrase before them (the 2nd and later copies of a
    phrase found :data:`LOOP_COPIES` or more times in a row)."""
    norm = [re.sub(r"\W+", "", t).casefold() for t in tokens]
    runs: list[tuple[int, int]] = []
    i = 0
    while i < len(norm):
        step = 1
        for n in range(2, _LOOP_MAX_WORDS + 1):
            phrase = norm[i : i + n]
            if len(phrase) < n:
                break
            copies = 1
            while norm[i + copies * n : i + (copies + 1) * n] == phrase:
                copies += 1
            if copies >= LOOP_COPIES:
                runs.append((i + n, i + copies * n))
                step = copies * n
                break
        i += step
    return runs


def collapse_loops(seg: Segment) -> Segment:
    """The segment with a decoder loop ("Wir kommen zum Tagesordnungspunkt 1" four times) cut to its first
    copy; the very same segment if it has none."""
    cut = _without_runs(seg, _loop_runs)
    return seg if cut is None else cut  # never empty: the first copy stays


@dataclass
class ChunkResult:
    segments: list[Segment]
    #: The hotword decode looked truncated in (a window of) the chunk, decoded again without hotwords.
    redecoded: bool = False
    #: The plain decode won the comparison (for at least one window).
    plain_won: bool = False


async def decode_chunk(
    transcriber: Transcriber,
    samples: np.ndarray,
    *,
    beam_size: int = FINAL_BEAM_SIZE,
    hotwords: str | None = None,
    min_words_per_voiced_s: float = MIN_WORDS_PER_VOICED_S,
) -> ChunkResult:
    """One chunk with the final settings; with ``hotwords``, guarded against deleted passages
    (:func:`decode_many` on a list of one)."""
    results = await decode_many(
        transcriber,
        [samples],
        beam_size=beam_size,
        hotwords=hotwords,
        min_words_per_voiced_s=min_words_per_voiced_s,
    )
    return results[0]


async def decode_many(
    transcriber: Transcriber,
    chunks: list[np.ndarray],
    *,
    beam_size: int = FINAL_BEAM_SIZE,
    hotwords: str | Sequence[str | None] | None = None,
    min_words_per_voiced_s: float = MIN_WORDS_PER_VOICED_S,
) -> list[ChunkResult]:
    """Consecutive chunks with the final settings, their speech packed into decoder windows across chunk
    boundaries and decoded in wide batches; one result per chunk, times relative to that chunk.

    ``hotwords``: one string for all chunks, or one per chunk (each agenda item's own, see
    ``vocabulary.MeetingBias``); a window holds speech of chunks with the same hotwords only.

    Decoder loops (a phrase three or more times in a row) are cut to their first copy. With hotwords,
    each window is guarded against the known failures of biased decoding (it sometimes skips whole
    passages or loops, measured here): a window that looped, or whose text has far fewer words than its
    speech time suggests, is decoded again without hotwords — only that window, the doubtful ones of all
    chunks in one batch — and the better-scoring text (more confidently heard letters) is kept.
    """
    per_chunk = [hotwords] * len(chunks) if hotwords is None or isinstance(hotwords, str) else list(hotwords)
    if len(per_chunk) != len(chunks):
        raise ValueError("one hotwords string per chunk")
    prompt_of = [p or None for p in per_chunk]
    windows = await in_inference_thread(speech_windows, chunks, breaks=prompt_of)
    prompts = [prompt_of[w.parts[0][0]] for w in windows]
    first: list[list[tuple[int, Segment]]] = [[] for _ in windows]
    for prompt in dict.fromkeys(prompts):  # each distinct prompt once, in order of appearance
        idx = [i for i, p in enumerate(prompts) if p == prompt]
        biased = await in_inference_thread(
            transcriber.transcribe_windows, [windows[i] for i in idx], beam_size=beam_size, hotwords=prompt
        )
        for i, found in zip(idx, biased, strict=True):
            first[i] = found
    results = [ChunkResult([]) for _ in chunks]
    doubtful: list[int] = []
    for i, (window, prompt) in enumerate(zip(windows, prompts, strict=True)):
        looped = False
        pieces: list[tuple[int, Segment]] = []
        for src, seg in first[i]:
            kept: Segment | None = collapse_loops(seg)
            looped = looped or kept is not seg
            if kept is not None and prompt:
                kept = strip_echo(kept, " ".join(w for w in prompt.split() if w in _STANDING))
            if kept is not None:
                pieces.append((src, kept))
        first[i] = pieces
        # a biased decode that looped, or heard far fewer words than the speech time suggests, may have
        # lost passages: decoded again without hotwords
        short = _words(pieces) < min_words_per_voiced_s * window.voiced_s
        if prompt and window.voiced_s >= 3.0 and (looped or short):
            doubtful.append(i)
    if doubtful:
        log.info(
            "hotword decode looped or heard too few words in %d of %d windows; decoded again without them",
            len(doubtful),
            len(windows),
        )
        again = await in_inference_thread(
            transcriber.transcribe_windows, [windows[i] for i in doubtful], beam_size=beam_size
        )
        for i, decoded in zip(doubtful, again, strict=True):
            plain = [(src, collapse_loops(seg)) for src, seg in decoded]
            won = _score(plain) > PLAIN_MARGIN * _score(first[i])
            for src in windows[i].sources:
                results[src].redecoded = True
                results[src].plain_won = results[src].plain_won or won
            if won:
                first[i] = plain
    for window_pieces in first:
        for src, seg in window_pieces:
            results[src].segments.append(seg)
    for result in results:
        result.segments.sort(key=lambda seg: seg.start)
    return results


def _words(pieces: list[tuple[int, Segment]]) -> int:
    return sum(len(s.words) or len(s.text.split()) for _src, s in pieces)


async def add_final_segments(
    session: AsyncSession,
    *,
    meeting_id: int,
    segments: list[Segment],
    timeline: Timeline,
    started_at: datetime,
    corrector: Corrector | None = None,
) -> list[TranscriptSegment]:
    """Insert final segments (split at speaker turns, aligned to the timeline), post-corrected.

    ``machine_text`` keeps what the decoder heard; a corrected segment gets two revisions (the
    machine's text, then the corrected one with the note :data:`AUTO_NOTE` and each change) so the
    correction workflow shows every original. Flushes; the caller commits.
    """
    rows: list[tuple[TranscriptSegment, list[Change]]] = []
    for seg in segments:
        for piece, a in split_at_turns(seg, timeline, started_at):
            text, changes = corrector.correct(piece.text) if corrector else (piece.text, [])
            row = TranscriptSegment(
                meeting_id=meeting_id,
                agenda_item_id=a.agenda_item_id,
                person_id=a.person_id,
                speaker_role=a.speaker_role,
                start_s=piece.start,
                end_s=piece.end,
                at=started_at + timedelta(seconds=piece.start),
                text=text,
                machine_text=piece.text,
                public=a.public,
                source=SegmentSource.FINAL,
                words=piece.words_json(),
                version=2 if changes else 1,
            )
            session.add(row)
            rows.append((row, changes))
    if any(ch for _r, ch in rows):
        await session.flush()
        for row, changes in rows:
            if not changes:
                continue
            detail = "; ".join(f"{c.original} → {c.corrected}" for c in changes)
            for version, text, note in ((1, row.machine_text, None), (2, row.text, f"{AUTO_NOTE}: {detail}")):
                session.add(
                    SegmentRevision(
                        segment_id=row.id,
                        version=version,
                        text=text,
                        person_id=row.person_id,
                        speaker_role=row.speaker_role,
                        editor=None,
                        note=note,
                    )
                )
    return [r for r, _c in rows]


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


def _midpoint_in(seg: Segment, spans: list[tuple[float, float]]) -> bool:
    mid = (seg.start + seg.end) / 2
    return any(a <= mid < b for a, b in spans)


def _covered(start: float, end: float, spans: list[tuple[float, float]]) -> bool:
    """Is [start, end) inside the union of ``spans`` (then the chunk needs no decoding)?"""
    pos = start
    for a, b in sorted(spans):
        if a <= pos + 0.05 and b > pos:
            pos = b
    return pos >= end - 0.05


def _overlaps(seg: Segment, spans: list[tuple[float, float]]) -> bool:
    length = max(seg.end - seg.start, 1e-3)
    return any(min(seg.end, b) - max(seg.start, a) > 0.5 * length for a, b in spans)


def chunk_hotwords(
    timeline: Timeline,
    started_at: datetime,
    start_s: float,
    end_s: float,
    hotwords: str | None,
    item_hotwords: Mapping[int, str] | None,
) -> str | None:
    """The hotwords for a chunk of the recording: those of the agenda item that ran longest in it."""
    if item_hotwords:
        item = timeline.item_during(
            started_at + timedelta(seconds=start_s), started_at + timedelta(seconds=end_s)
        )
        if item is not None and item in item_hotwords:
            return item_hotwords[item]
    return hotwords


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
    item_hotwords: Mapping[int, str] | None = None,
    corrector: Corrector | None = None,
    beam_size: int = FINAL_BEAM_SIZE,
    stop_after_chunks: int | None = None,
    chunk_min_s: float = CHUNK_MIN_S,
    chunk_max_s: float = CHUNK_MAX_S,
) -> FinalResult:
    """Transcribe a recording into final segments, resuming at the run's checkpoint.

    ``hotwords`` bias the decoder; ``item_hotwords`` (agenda item id → its own hotwords) replace them for
    a chunk during which, by the timeline, that item ran longest.
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
        # agenda items already transcribed while the stream ran (transcripts.items): kept, skipped
        item_spans = [
            (a, b)
            for a, b in (
                await session.execute(
                    select(TranscriptItemRun.start_s, TranscriptItemRun.end_s).where(
                        TranscriptItemRun.meeting_id == meeting_id, TranscriptItemRun.state == RunState.DONE
                    )
                )
            ).all()
        ]
        if not resume:
            # start over: the earlier machine output goes, clerk corrections and published items stay
            await session.execute(
                delete(TranscriptSegment).where(
                    TranscriptSegment.meeting_id == meeting_id,
                    TranscriptSegment.source == SegmentSource.FINAL,
                    TranscriptSegment.corrected.is_(False),
                    *[
                        ~and_(TranscriptSegment.start_s >= a - 0.01, TranscriptSegment.start_s < b)
                        for a, b in item_spans
                    ],
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
            async for group in grouped(chunks):
                # what each chunk of the group needs decoded (None: nothing), then one batched decode
                todo: list[np.ndarray | None] = []
                prompts: list[str | None] = []
                for offset, samples in group:
                    decoded_any = decoded_any or samples.size > 0
                    chunk_end = offset + len(samples) / SAMPLE_RATE
                    covered = _covered(offset, chunk_end, item_spans)
                    done = [(a - offset, b - offset) for a, b in item_spans if b > offset and a < chunk_end]
                    if done and not covered:
                        # items published while the stream ran are silenced, not decoded again: a
                        # batched segment spanning an item's end and the next speaker would otherwise
                        # be dropped whole (its midpoint lies in the item), losing the next speaker's words
                        samples = samples.copy()
                        for a, b in done:
                            samples[max(0, int(a * SAMPLE_RATE)) : max(0, int(b * SAMPLE_RATE))] = 0.0
                    todo.append(samples if has_sound(samples) and not covered else None)
                    if todo[-1] is not None:
                        prompts.append(
                            chunk_hotwords(timeline, started_at, offset, chunk_end, hotwords, item_hotwords)
                        )
                wanted = [x for x in todo if x is not None]
                decoded = iter(
                    await decode_many(transcriber, wanted, beam_size=beam_size, hotwords=prompts)
                    if wanted
                    else []
                )
                for (offset, samples), audio in zip(group, todo, strict=True):
                    chunk_end = offset + len(samples) / SAMPLE_RATE
                    segments: list[Segment] = []
                    if audio is not None:
                        segments = [
                            s.shifted(offset)
                            for s in next(decoded).segments
                            if not _overlaps(s.shifted(offset), spans)
                            and not _midpoint_in(s.shifted(offset), item_spans)
                        ]
                    async with sessionmaker() as session:
                        run = await _get_run(session, meeting_id)
                        await add_final_segments(
                            session,
                            meeting_id=meeting_id,
                            segments=segments,
                            timeline=timeline,
                            started_at=started_at,
                            corrector=corrector,
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
