"""The per-agenda-item final transcription while a stream runs (see ``transcripts.items``).

One row per (meeting, agenda item span): the item's media span, its state and when it was published.
The whole-meeting final run (``final.run_final``) skips the spans that are ``done`` here, and the
transcript pages show their final segments before the whole meeting's run has finished.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from council.core.base import Base
from council.core.types import UTCDateTime, utcnow


class TranscriptItemRun(Base):
    """The final transcription of one agenda item's span of a live recording."""

    __tablename__ = "transcript_item_run"
    __table_args__ = (UniqueConstraint("meeting_id", "agenda_item_id", "start_s"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meeting.id", ondelete="CASCADE"), index=True)
    agenda_item_id: Mapped[int | None] = mapped_column(ForeignKey("agenda_item.id", ondelete="SET NULL"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id", ondelete="SET NULL"))
    #: Media seconds (as in the recording: the public segments back to back) of the item's span.
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    #: queued | running | done | failed | empty (``models.RunState``)
    state: Mapped[str] = mapped_column(String(20), default="queued")
    segments: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text)
    #: Wall clock (UTC) the item ended (its timeline event) and its transcript was published.
    item_ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
