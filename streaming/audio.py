"""The live audio tap: fan-out of 16 kHz mono s16le chunks to any number of consumers.

ffmpeg writes the PCM to its stdout and must never wait for a consumer: each subscriber has a
bounded queue, and a chunk that does not fit is dropped for that subscriber only (counted).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from council.live.media import SAMPLE_RATE, SAMPLE_WIDTH, AudioChunk

#: 0.1 s chunks: small enough for live captions, big enough to keep the overhead low.
CHUNK_BYTES = SAMPLE_RATE * SAMPLE_WIDTH // 10
#: Queued chunks per subscriber before dropping (10 s).
QUEUE_CHUNKS = 100


class AudioHub:
    def __init__(self, meeting_id: int) -> None:
        self.meeting_id = meeting_id
        self._queues: set[asyncio.Queue[AudioChunk | None]] = set()
        self.closed = False
        self.dropped = 0
        self.chunks = 0

    def publish(self, chunk: AudioChunk) -> None:
        self.chunks += 1
        for q in list(self._queues):
            try:
                q.put_nowait(chunk)
            except asyncio.QueueFull:
                self.dropped += 1

    def close(self) -> None:
        """End every subscriber's iterator (the stream ended)."""
        self.closed = True
        for q in list(self._queues):
            while True:
                try:
                    q.put_nowait(None)
                    break
                except asyncio.QueueFull:
                    q.get_nowait()

    async def subscribe(self) -> AsyncIterator[AudioChunk]:
        if self.closed:
            return
        q: asyncio.Queue[AudioChunk | None] = asyncio.Queue(maxsize=QUEUE_CHUNKS)
        self._queues.add(q)
        try:
            while True:
                item = await q.get()
                if item is None:
                    return
                yield item
        finally:
            self._queues.discard(q)

    @property
    def subscribers(self) -> int:
        return len(self._queues)


class PcmClock:
    """Wall clock of the samples of one packager run: anchored at the arrival of the first bytes
    (minus their duration), then advanced by the sample count — so chunks are contiguous in time
    and do not jitter with the pipe's scheduling."""

    def __init__(self) -> None:
        self.anchor: datetime | None = None
        self.samples = 0

    def stamp(self, now: datetime, nbytes: int) -> datetime:
        n = nbytes // SAMPLE_WIDTH
        if self.anchor is None:
            self.anchor = now - timedelta(seconds=n / SAMPLE_RATE)
        at = self.anchor + timedelta(seconds=self.samples / SAMPLE_RATE)
        self.samples += n
        return at


async def empty() -> AsyncIterator[AudioChunk]:
    """The tap of a meeting that is not live: ends at once."""
    for _ in ():
        yield _
