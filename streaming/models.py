"""Streams and recordings (one of each per meeting). Chapters are not stored: they are derived from
the timeline (see ``streaming.archive.chapters``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from council.core.base import Record
from council.core.types import UTCDateTime

STREAM_STATES = ("idle", "live", "ended")
SOURCE_KINDS = ("testpattern", "file", "url", "rtmp", "srt", "whip")
RECORDING_STATES = ("recording", "finalizing", "ready", "failed")


class Stream(Record):
    """The live stream of a meeting: its key (hashed), state and health."""

    __tablename__ = "stream"

    meeting_id: Mapped[int] = mapped_column(ForeignKey("meeting.id"), unique=True)
    #: SHA-256 of the stream key (``streaming.keys``); the key itself is shown once.
    key_hash: Mapped[str | None] = mapped_column(String(64))
    #: idle | live | ended
    state: Mapped[str] = mapped_column(String(10), default="idle")
    #: testpattern | file | url | rtmp | srt | whip
    source: Mapped[str | None] = mapped_column(String(20))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: ffmpeg restarts after a crash of a running packager (not listener re-arms).
    restarts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class Recording(Record):
    """The archive of a meeting's stream: the public segments, closed as VOD, and an MP4 remux."""

    __tablename__ = "recording"

    meeting_id: Mapped[int] = mapped_column(ForeignKey("meeting.id"), unique=True)
    #: Wall clock of media time 0 = program-date-time of the first public segment.
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    #: recording | finalizing | ready | failed
    state: Mapped[str] = mapped_column(String(12), default="recording")
    #: Relative to settings.media_dir (e.g. ``12/recording.mp4``).
    mp4_path: Mapped[str | None] = mapped_column(String(300))
    mp4_bytes: Mapped[int | None] = mapped_column(BigInteger)
    #: Number of packager runs (parts) the recording is made of.
    parts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
