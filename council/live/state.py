"""The live state of a meeting, derived from its timeline (never stored twice)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council.live.models import EventKind, TimelineEvent


@dataclass
class LiveState:
    meeting_id: int
    is_open: bool = False
    is_closed: bool = False
    agenda_item_id: int | None = None
    speaker_person_id: int | None = None
    speaker_consent: bool | None = None
    last_event_id: int | None = None
    # --- the console (attendance, speakers) ---
    #: Who is in the room (attendance events).
    present_person_ids: set[int] = field(default_factory=set)
    speaker_name: str | None = None
    #: Quorum numbers (statutory, present_voting, required, reached): carried by attendance events and
    #: recomputed by ``live_state`` from the memberships; None before anyone was marked present.
    quorum: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "meeting_id": self.meeting_id,
            "is_open": self.is_open,
            "is_closed": self.is_closed,
            "agenda_item_id": self.agenda_item_id,
            "speaker_person_id": self.speaker_person_id,
            "speaker_consent": self.speaker_consent,
            "last_event_id": self.last_event_id,
            "present_count": len(self.present_person_ids),
            "present_person_ids": sorted(self.present_person_ids),
            "speaker_name": self.speaker_name,
            "quorum": self.quorum,
        }


def fold(state: LiveState, event: TimelineEvent | dict[str, Any]) -> LiveState:
    """Apply one event to the state (used on replay and by live consumers)."""
    get = event.get if isinstance(event, dict) else lambda k: getattr(event, k)
    kind = get("kind")
    if kind == EventKind.MEETING_OPENED:
        state.is_open, state.is_closed = True, False
    elif kind == EventKind.MEETING_CLOSED:
        state.is_open, state.is_closed = False, True
        state.agenda_item_id = None
        state.speaker_person_id = None
        state.speaker_consent = None
        state.speaker_name = None
    elif kind == EventKind.AGENDA_ITEM_STARTED:
        state.agenda_item_id = get("agenda_item_id")
        state.speaker_person_id = None
        state.speaker_consent = None
        state.speaker_name = None
    elif kind == EventKind.AGENDA_ITEM_ENDED:
        if state.agenda_item_id == get("agenda_item_id"):
            state.agenda_item_id = None
        state.speaker_person_id = None
        state.speaker_consent = None
        state.speaker_name = None
    elif kind == EventKind.SPEAKER_STARTED:
        state.speaker_person_id = get("person_id")
        state.speaker_consent = get("consent")
        state.speaker_name = (get("payload") or {}).get("name")
    elif kind == EventKind.SPEAKER_ENDED:
        if state.speaker_person_id == get("person_id"):
            state.speaker_person_id = None
            state.speaker_consent = None
            state.speaker_name = None
    elif kind in (EventKind.ATTENDANCE_JOINED, EventKind.ATTENDANCE_LEFT):
        person_id = get("person_id")
        if person_id is not None:
            if kind == EventKind.ATTENDANCE_JOINED:
                state.present_person_ids.add(person_id)
            else:
                state.present_person_ids.discard(person_id)
        carried = (get("payload") or {}).get("quorum")
        if isinstance(carried, dict):
            state.quorum = dict(carried)
    state.last_event_id = get("id")
    return state


async def live_state(session: AsyncSession, meeting_id: int) -> LiveState:
    rows = (
        await session.execute(
            select(TimelineEvent).where(TimelineEvent.meeting_id == meeting_id).order_by(TimelineEvent.id)
        )
    ).scalars()
    state = LiveState(meeting_id=meeting_id)
    for ev in rows:
        fold(state, ev)
    if state.quorum is not None:  # recomputed: memberships may have changed since the event
        from council.live.attendance import quorum

        q = await quorum(session, meeting_id, present=set(state.present_person_ids))
        state.quorum = {
            "statutory": q.statutory,
            "present_voting": q.present_voting,
            "required": q.required,
            "reached": q.reached,
        }
    return state


async def live_meeting_ids(session: AsyncSession) -> list[int]:
    """Meetings whose last open/close event is an open (the home page's "live now")."""
    rows = (
        await session.execute(
            select(TimelineEvent.meeting_id, TimelineEvent.kind)
            .where(TimelineEvent.kind.in_([EventKind.MEETING_OPENED, EventKind.MEETING_CLOSED]))
            .order_by(TimelineEvent.id)
        )
    ).all()
    last: dict[int, str] = {}
    for mid, kind in rows:
        last[mid] = kind
    return [mid for mid, kind in last.items() if kind == EventKind.MEETING_OPENED]
