"""The small protocol between ``streaming`` and ``transcripts`` (neither imports the other; ``web``,
the composition root, wires them together).

- ``streaming`` offers a meeting's live audio as 16 kHz mono signed 16-bit little-endian PCM chunks
  (``AudioTap``), each stamped with the wall-clock time of its first sample;
- ``transcripts`` produces captions with wall-clock times and hands them to a ``CaptionSink`` that
  ``streaming`` implements (it writes them into the HLS output as a WebVTT subtitle playlist, mapping
  wall-clock time to media time by the segments' program-date-time).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

#: The audio format of the tap: 16 kHz, mono, s16le.
SAMPLE_RATE = 16_000
SAMPLE_WIDTH = 2


@dataclass(frozen=True)
class AudioChunk:
    """A run of PCM samples; ``at`` is the wall-clock time (UTC) of the first sample."""

    meeting_id: int
    at: datetime
    pcm: bytes

    @property
    def seconds(self) -> float:
        return len(self.pcm) / (SAMPLE_RATE * SAMPLE_WIDTH)


class AudioTap(Protocol):
    def audio(self, meeting_id: int) -> AsyncIterator[AudioChunk]:
        """The live audio of the meeting's stream until the stream ends (then the iterator stops)."""
        ...


@dataclass(frozen=True)
class Caption:
    meeting_id: int
    start: datetime
    end: datetime
    text: str
    agenda_item_id: int | None = None
    speaker_person_id: int | None = None


def vtt_timestamp(seconds: float) -> str:
    """``HH:MM:SS.mmm`` as WebVTT cue times write it (hours beyond 99 allowed; a six-hour meeting
    needs two digits). Both the live subtitle playlist and the archive's captions use it."""
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


class CaptionSink(Protocol):
    async def add_caption(self, caption: Caption) -> None: ...
