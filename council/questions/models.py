"""Question-time tables: questions, their status history, supports (one per browser) and e-mail opt-ins.

Personal data live only in ``Question.author_name``, ``Question.email`` and ``Question.person_key``
(a keyed hash used for the per-person rule); ``service.delete_personal_data`` clears all three and
the opt-in rows. The published text (``text``) stays; the original wording before an anonymising
edit (``original_text``) is kept for the record but never published.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from council.core.base import Base, Record
from council.core.types import UTCDateTime, utcnow


class QuestionStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    SCHEDULED = "scheduled"
    ANSWERING = "answering"
    ANSWERED = "answered"
    WITHDRAWN = "withdrawn"
    MERGED = "merged"


#: A question in one of these states is closed: the retention clock runs from ``closed_at``.
CLOSED = frozenset(
    {QuestionStatus.REJECTED, QuestionStatus.ANSWERED, QuestionStatus.WITHDRAWN, QuestionStatus.MERGED}
)
#: Shown publicly (on the meeting page), when the resident consented to publication.
PUBLISHED = frozenset(
    {QuestionStatus.ACCEPTED, QuestionStatus.SCHEDULED, QuestionStatus.ANSWERING, QuestionStatus.ANSWERED}
)


class Question(Record):
    __tablename__ = "question"

    meeting_id: Mapped[int] = mapped_column(ForeignKey("meeting.id"), index=True)
    #: Set when asked about a specific public agenda item (else: the meeting's question time).
    agenda_item_id: Mapped[int | None] = mapped_column(ForeignKey("agenda_item.id"))
    #: SHA-256 of the private tracking token (the token itself is only in the resident's link).
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The text as published (after the clerk's anonymising edit, if any).
    text: Mapped[str] = mapped_column(Text)
    #: The resident's own wording, kept for the record when the clerk edits ``text``; never published.
    original_text: Mapped[str | None] = mapped_column(Text)
    #: Name or pseudonym (personal data; cleared on deletion / retention).
    author_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    email_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Keyed hash of the e-mail (or name) for "questions per person per meeting"; cleared with the data.
    person_key: Mapped[str | None] = mapped_column(String(64), index=True)
    #: Hash of the normalised text, for duplicate detection.
    text_key: Mapped[str] = mapped_column(String(64), index=True)
    consent_publish: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default=QuestionStatus.SUBMITTED, index=True)
    reject_reason: Mapped[str | None] = mapped_column(String(40))
    reject_note: Mapped[str | None] = mapped_column(Text)
    #: Position in the meeting's question time (set when scheduled).
    slot: Mapped[int | None] = mapped_column(Integer)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("question.id"))
    follow_up_of_id: Mapped[int | None] = mapped_column(ForeignKey("question.id"))
    answering_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    written_answer: Mapped[str | None] = mapped_column(Text)
    support_count: Mapped[int] = mapped_column(Integer, default=0)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    personal_data_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def published(self) -> bool:
        return self.consent_publish and self.status in PUBLISHED and not self.deleted


class QuestionEvent(Base):
    """The status history the tracking page shows. Append-only; ``note`` holds a rejection note or
    the slot, never personal data."""

    __tablename__ = "question_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("question.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(String(40))


class QuestionSupport(Base):
    """One support per browser and question: the browser's random cookie id, hashed; the database's
    unique constraint is the arbiter (two tabs, two processes)."""

    __tablename__ = "question_support"
    __table_args__ = (UniqueConstraint("question_id", "browser_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("question.id", ondelete="CASCADE"), index=True)
    browser_hash: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EmailOptIn(Base):
    """Double opt-in: the e-mail gets updates only after its link was followed."""

    __tablename__ = "question_email_optin"

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("question.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
