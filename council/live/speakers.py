"""The list of speakers per agenda item and each person's consent to being streamed.

``SpeakerRequest``: one row per (agenda item, person); a person who speaks again on the same item
re-uses the row (state back to ``requested``, new position). The timeline carries what happened
(``speakers.changed``, ``speaker.started``/``ended``); these rows are the working list the console
orders.

``StreamConsent``: the person's standing choice (default when no row: no consent — streaming mutes
or slates the speaker). ``SpeakerRequest.consent`` overrides it for one speech (revocable per speech).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from council.core.base import Base
from council.core.types import UTCDateTime, utcnow


class SpeakerState(enum.StrEnum):
    REQUESTED = "requested"
    SPEAKING = "speaking"
    DONE = "done"
    WITHDRAWN = "withdrawn"


class SpeakerRequest(Base):
    __tablename__ = "speaker_request"
    __table_args__ = (UniqueConstraint("agenda_item_id", "person_id", name="uq_speaker_request_item_person"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meeting.id"), index=True)
    agenda_item_id: Mapped[int] = mapped_column(ForeignKey("agenda_item.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    #: Order on the list (smaller speaks first); only meaningful while ``requested``.
    position: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(20), default=SpeakerState.REQUESTED)
    #: Consent to streaming for this speech; None = the person's standing choice (StreamConsent).
    consent: Mapped[bool | None] = mapped_column(Boolean)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class StreamConsent(Base):
    """A person's standing consent to being streamed when speaking (revocable at any time)."""

    __tablename__ = "stream_consent"

    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    consent: Mapped[bool] = mapped_column(Boolean, default=False)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
