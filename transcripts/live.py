"""Live captions: cut the stream's audio at pauses, transcribe each utterance greedily as soon as it ends.

Latency is what matters here (target: median ≤ 3 s from the end of an utterance to its caption on two
cores while the stream runs), so decoding is greedy (beam 1) and starts as soon as the energy VAD sees a
pause (``transcripts.vad``), with a forced cut at ~15 s in a long run of speech. The final job redoes
the whole recording with better settings afterwards.

It must never fall behind without bound: utterances wait in a queue; the worker takes everything that
waits and decodes it in one call when it fits one 30 s Whisper window (the encoder costs the same for
3 s as for 30 s, so merging is how a backlog is caught up), and if more than ``max_backlog_s`` of audio
waits, the oldest is dropped with a log line.

Before a caption goes out, the timeline is read: during a non-consenting speaker, a non-public agenda
item or a non-public meeting no caption is emitted (the text is still stored, marked so, for the final
record and the clerk).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from council.live.media import SAMPLE_RATE, AudioChunk, Caption, CaptionSink
from transcripts.align import Timeline, load_timeline
from transcripts.engine import Segment, Transcriber, pcm16_to_float, transcribe_async
from transcripts.models import SegmentSource, TranscriptSegment
from transcripts.vad import Utterance, UtteranceSegmenter

log = logging.getLogger(__name__)

#: Merged utterances must fit one Whisper window (30 s) with room for the gaps between them.
MERGE_LIMIT_S = 28.0
#: Silence put between merged utterances so Whisper sees a pause, not one run-on sentence.
MERGE_GAP_S = 0.3


@dataclass
class _Pending:
    meeting_id: int
    utterance: Utterance
    wall_start: datetime
    #: Wall-clock end of the voiced part (the utterance's acoustic end).
    wall_end: datetime
    #: Seconds from the recording start of the utterance's first sample.
    offset_s: float
    #: Monotonic time when the audio with the utterance's last voiced sample arrived.
    arrived: float

    @property
    def seconds(self) -> float:
        return len(self.utterance.samples) / SAMPLE_RATE


@dataclass
class CaptionRecord:
    """One emitted (or withheld) caption and how long it took."""

    caption: Caption
    #: Seconds from the arrival of the utterance's end to the caption being handed out.
    latency_s: float
    emitted: bool
    public: bool


@dataclass
class _Anchor:
    start: int  # stream sample index of the chunk's first sample
    at: datetime
    arrived: float


@dataclass
class LiveStats:
    utterances: int = 0
    dropped_utterances: int = 0
    merged_batches: int = 0
    records: list[CaptionRecord] = field(default_factory=list)

    @property
    def latencies(self) -> list[float]:
        return [r.latency_s for r in self.records if r.emitted]


class LiveCaptioner:
    def __init__(
        self,
        transcriber: Transcriber,
        sink: CaptionSink,
        publish: Callable[[Caption], None] | None = None,
        *,
        sessionmaker: async_sessionmaker[AsyncSession] | None = None,
        recording_started_at: datetime | None = None,
        hotwords: str | None = None,
        beam_size: int = 1,
        max_backlog_s: float = 45.0,
        segmenter: UtteranceSegmenter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.transcriber = transcriber
        self.sink = sink
        self.publish = publish
        self.sessionmaker = sessionmaker
        self.recording_started_at = recording_started_at
        self.hotwords = hotwords
        self.beam_size = beam_size
        self.max_backlog_s = max_backlog_s
        self.segmenter = segmenter or UtteranceSegmenter()
        self.clock = clock
        self.stats = LiveStats()
        self._anchors: deque[_Anchor] = deque()
        self._samples_seen = 0
        self._queue: deque[_Pending] = deque()
        self._ready = asyncio.Event()
        self._done = False

    @property
    def latencies(self) -> list[float]:
        return self.stats.latencies

    # --- the producer side: chunks → utterances --------------------------------------------------

    def _wall(self, index: int) -> tuple[datetime, float]:
        """Wall clock of a stream sample, and when the chunk holding it arrived."""
        anchor = self._anchors[0]
        for a in self._anchors:
            if a.start <= index:
                anchor = a
            else:
                break
        return anchor.at + timedelta(seconds=(index - anchor.start) / SAMPLE_RATE), anchor.arrived

    def _enqueue(self, meeting_id: int, utt: Utterance) -> None:
        wall_start, _ = self._wall(utt.start)
        wall_end, arrived = self._wall(max(utt.start, utt.voice_end - 1))
        assert self.recording_started_at is not None
        offset = (wall_start - self.recording_started_at).total_seconds()
        self._queue.append(_Pending(meeting_id, utt, wall_start, wall_end, offset, arrived))
        self.stats.utterances += 1
        waiting = sum(p.seconds for p in self._queue)
        while waiting > self.max_backlog_s and len(self._queue) > 1:
            old = self._queue.popleft()
            waiting -= old.seconds
            self.stats.dropped_utterances += 1
            log.warning(
                "live captions behind by %.1f s of audio: dropped an utterance of %.1f s at %s",
                waiting,
                old.seconds,
                old.wall_start.isoformat(),
            )
        self._ready.set()

    def _feed(self, chunk: AudioChunk) -> list[Utterance]:
        now = self.clock()
        if self.recording_started_at is None:
            self.recording_started_at = chunk.at
        self._anchors.append(_Anchor(self._samples_seen, chunk.at, now))
        samples = pcm16_to_float(chunk.pcm)
        self._samples_seen += len(samples)
        # anchors are only needed back to the start of the utterance now open (≤ 15 s + padding)
        horizon = self._samples_seen - 40 * SAMPLE_RATE
        while len(self._anchors) > 1 and self._anchors[1].start <= horizon:
            self._anchors.popleft()
        return self.segmenter.push(samples)

    async def run(self, chunks: AsyncIterator[AudioChunk]) -> LiveStats:
        """Caption the stream until it ends; returns the statistics (latencies, drops)."""
        worker = asyncio.create_task(self._worker())
        meeting_id: int | None = None
        try:
            async for chunk in chunks:
                meeting_id = chunk.meeting_id
                for utt in self._feed(chunk):
                    self._enqueue(chunk.meeting_id, utt)
            if meeting_id is not None:
                for utt in self.segmenter.flush():
                    self._enqueue(meeting_id, utt)
            self._done = True
            self._ready.set()
            await worker
        finally:
            if not worker.done():
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
        return self.stats

    # --- the consumer side: utterances → captions ------------------------------------------------

    def _take_batch(self) -> list[_Pending]:
        batch = [self._queue.popleft()]
        total = batch[0].seconds
        while self._queue and total + MERGE_GAP_S + self._queue[0].seconds <= MERGE_LIMIT_S:
            nxt = self._queue.popleft()
            total += MERGE_GAP_S + nxt.seconds
            batch.append(nxt)
        if len(batch) > 1:
            self.stats.merged_batches += 1
        return batch

    async def _worker(self) -> None:
        while True:
            if not self._queue:
                if self._done:
                    return
                self._ready.clear()
                await self._ready.wait()
                continue
            batch = self._take_batch()
            try:
                await self._caption(batch)
            except Exception:  # live captions must survive a bad utterance or a database hiccup
                log.exception("live captioning failed for an utterance at %s", batch[0].wall_start)

    async def _caption(self, batch: list[_Pending]) -> None:
        gap = np.zeros(round(MERGE_GAP_S * SAMPLE_RATE), dtype=np.float32)
        parts: list[np.ndarray] = []
        spans: list[tuple[float, float, _Pending]] = []  # (start, end) in the merged audio
        pos = 0.0
        for i, p in enumerate(batch):
            if i:
                parts.append(gap)
                pos += MERGE_GAP_S
            parts.append(p.utterance.samples)
            spans.append((pos, pos + p.seconds, p))
            pos += p.seconds
        audio = np.concatenate(parts)
        segments = await transcribe_async(
            self.transcriber, audio, beam_size=self.beam_size, hotwords=self.hotwords, word_timestamps=False
        )
        if not segments:
            return
        timeline = await self._timeline(batch[0].meeting_id)
        for seg in segments:
            await self._emit(seg, spans, timeline)

    async def _timeline(self, meeting_id: int) -> Timeline | None:
        if self.sessionmaker is None:
            return None
        async with self.sessionmaker() as session:
            return await load_timeline(session, meeting_id)

    async def _emit(
        self, seg: Segment, spans: list[tuple[float, float, _Pending]], timeline: Timeline | None
    ) -> None:
        mid = (seg.start + seg.end) / 2
        lo, hi, p = min(
            spans, key=lambda s: 0.0 if s[0] <= mid <= s[1] else min(abs(mid - s[0]), abs(mid - s[1]))
        )
        rel_start = min(max(seg.start - lo, 0.0), hi - lo)
        rel_end = min(max(seg.end - lo, rel_start), hi - lo)
        start = p.wall_start + timedelta(seconds=rel_start)
        end = max(p.wall_start + timedelta(seconds=rel_end), start)
        agenda_item_id = person_id = None
        role, public, allowed = "unknown", True, True
        if timeline is not None:
            a = timeline.assign(start, end)
            agenda_item_id, person_id, role, public = a.agenda_item_id, a.person_id, a.speaker_role, a.public
            allowed = timeline.captions_allowed(start, end)
        caption = Caption(
            meeting_id=p.meeting_id,
            start=start,
            end=end,
            text=seg.text,
            agenda_item_id=agenda_item_id,
            speaker_person_id=person_id if public else None,
        )
        if allowed:
            try:
                await self.sink.add_caption(caption)
            except Exception:
                log.exception("caption sink failed")
            if self.publish is not None:
                try:
                    self.publish(caption)
                except Exception:
                    log.exception("caption publish failed")
        self.stats.records.append(
            CaptionRecord(caption, latency_s=self.clock() - p.arrived, emitted=allowed, public=public)
        )
        if self.sessionmaker is not None:
            async with self.sessionmaker() as session:
                session.add(
                    TranscriptSegment(
                        meeting_id=p.meeting_id,
                        agenda_item_id=agenda_item_id,
                        person_id=person_id,
                        speaker_role=role,
                        start_s=p.offset_s + rel_start,
                        end_s=p.offset_s + rel_end,
                        at=start,
                        text=seg.text,
                        machine_text=seg.text,
                        public=public,
                        source=SegmentSource.LIVE,
                        words=None,
                    )
                )
                await session.commit()
