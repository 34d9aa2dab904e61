"""Transcript tables: segments (live and final), their correction history, and one run per meeting."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, inspect
from sqlalchemy.orm import Mapped, mapped_column, relationship

from council.core.base import Base, Record
from council.core.types import UTCDateTime, utcnow
from council.records.models import AgendaItem, Person


class SpeakerRole(enum.StrEnum):
    #: Someone on the list of speakers had the floor (person_id set).
    SPEAKER = "speaker"
    #: The meeting was open, an agenda item ran, nobody had the floor: the chair speaks.
    CHAIR = "chair"
    UNKNOWN = "unknown"


class SegmentSource(enum.StrEnum):
    LIVE = "live"
    FINAL = "final"


class RunState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    #: Finished, but nothing was said (silence only, no audio track content).
    EMPTY = "empty"


class TranscriptSegment(Record):
    """One line of a meeting's transcript. ``public`` is False while a non-consenting speaker has the
    floor or a non-public agenda item runs: such text is never shown publicly, searched or captioned."""

    __tablename__ = "transcript_segment"
    __table_args__ = (Index("ix_transcript_segment_meeting_start", "meeting_id", "start_s"),)

    meeting_id: Mapped[int] = mapped_column(ForeignKey("meeting.id", ondelete="CASCADE"), index=True)
    agenda_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("agenda_item.id", ondelete="SET NULL"), index=True
    )
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"), index=True)
    #: speaker | chair | unknown (SpeakerRole)
    speaker_role: Mapped[str] = mapped_column(String(20), default=SpeakerRole.UNKNOWN)
    #: Seconds from the start of the recording (media second 0).
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    #: Wall-clock time (UTC) of ``start_s``.
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    text: Mapped[str] = mapped_column(Text)
    #: What the machine first heard (kept when the clerk corrects ``text``).
    machine_text: Mapped[str] = mapped_column(Text)
    corrected: Mapped[bool] = mapped_column(Boolean, default=False)
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    #: live | final (SegmentSource)
    source: Mapped[str] = mapped_column(String(10), default=SegmentSource.FINAL)
    version: Mapped[int] = mapped_column(Integer, default=1)
    #: Word timings ``[{"start", "end", "word", "p"}]`` (seconds from recording start), if known.
    words: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)

    #: Loaded by ``service.segments`` (selectinload); never lazily (async sessions cannot).
    person: Mapped[Person | None] = relationship(lazy="raise")
    agenda_item: Mapped[AgendaItem | None] = relationship(lazy="raise")

    @property
    def speaker_name(self) -> str | None:
        """The speaker's name if the person was loaded with the segment (else None, never a query)."""
        if "person" in inspect(self).unloaded:
            return None
        return self.person.name if self.person is not None else None


class SegmentRevision(Base):
    """One version of a segment (append-only). The first correction writes two rows: version 1 (the
    machine's text, editor None) and version 2 (the clerk's); later ones write the new version only."""

    __tablename__ = "transcript_segment_revision"

    id: Mapped[int] = mapped_column(primary_key=True)
    segment_id: Mapped[int] = mapped_column(
        ForeignKey("transcript_segment.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    speaker_role: Mapped[str] = mapped_column(String(20))
    #: The account that wrote this version (None: the machine).
    editor: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)


class TranscriptRun(Base):
    """The final transcription of a meeting's recording: state, progress and the resume point."""

    __tablename__ = "transcript_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meeting.id", ondelete="CASCADE"), unique=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id", ondelete="SET NULL"))
    #: queued | running | done | failed | empty (RunState)
    state: Mapped[str] = mapped_column(String(20), default=RunState.QUEUED)
    chunks_done: Mapped[int] = mapped_column(Integer, default=0)
    chunks_total: Mapped[int | None] = mapped_column(Integer)
    #: Recording second where the next chunk starts (the checkpoint a resumed run seeks to).
    resume_s: Mapped[float] = mapped_column(Float, default=0.0)
    duration_s: Mapped[float | None] = mapped_column(Float)
    media_path: Mapped[str | None] = mapped_column(Text)
    #: Wall-clock time (UTC) of recording second 0.
    media_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message: Mapped[str | None] = mapped_column(Text)
    started: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished: Mapped[datetime | None] = mapped_column(UTCDateTime)
