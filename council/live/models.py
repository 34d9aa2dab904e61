"""The meeting timeline: append-only events with wall-clock timestamps."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, event
from sqlalchemy.orm import Mapped, mapped_column

from council.core.base import Base
from council.core.types import UTCDateTime, utcnow


class EventKind(enum.StrEnum):
    MEETING_OPENED = "meeting.opened"
    MEETING_CLOSED = "meeting.closed"
    AGENDA_ITEM_STARTED = "agenda_item.started"
    AGENDA_ITEM_ENDED = "agenda_item.ended"
    SPEAKER_STARTED = "speaker.started"
    SPEAKER_ENDED = "speaker.ended"
    VOTE_OPENED = "vote.opened"
    VOTE_CLOSED = "vote.closed"
    VOTE_ANNULLED = "vote.annulled"
    #: A person entered / left the meeting room (attendance; person_id set).
    ATTENDANCE_JOINED = "attendance.joined"
    ATTENDANCE_LEFT = "attendance.left"
    #: A member declared a conflict of interest (Befangenheit) for an agenda item (person_id, agenda_item_id).
    CONFLICT_DECLARED = "conflict.declared"
    CONFLICT_WITHDRAWN = "conflict.withdrawn"
    #: The list of speakers of an agenda item changed (request, order, withdraw); payload has the list.
    SPEAKERS_CHANGED = "speakers.changed"
    #: Question time: question N is being answered / was answered (payload: question_id, number, text).
    QUESTION_ANSWERING = "question.answering"
    QUESTION_ANSWERED = "question.answered"


class TimelineEvent(Base):
    """One thing that happened in a meeting. Rows are never updated or deleted."""

    __tablename__ = "timeline_event"
    __table_args__ = (Index("ix_timeline_event_meeting_at", "meeting_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meeting.id"))
    kind: Mapped[str] = mapped_column(String(40))
    #: Wall-clock time of the event (UTC).
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    agenda_item_id: Mapped[int | None] = mapped_column(ForeignKey("agenda_item.id"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    #: For speaker events: did the speaker consent to being streamed?
    consent: Mapped[bool | None] = mapped_column(Boolean)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def as_message(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "meeting_id": self.meeting_id,
            "kind": self.kind,
            "at": self.at.isoformat(),
            "agenda_item_id": self.agenda_item_id,
            "person_id": self.person_id,
            "consent": self.consent,
            "payload": self.payload or {},
        }


@event.listens_for(TimelineEvent, "before_update")
def _append_only(mapper: Any, connection: Any, target: TimelineEvent) -> None:
    raise RuntimeError("timeline events are append-only")
