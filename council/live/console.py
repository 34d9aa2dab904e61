"""The clerk's console as services: everything here appends timeline events (and publishes them on the
bus) — open/close the meeting, attendance, advancing the agenda, the list of speakers, consent to
streaming and conflicts of interest. The web layer (``web.controllers.console``) only parses input,
checks who may act and renders.

Invalid transitions raise ``ConsoleError`` with a ``code`` (the web layer has the message for it) and
an HTTP-like ``status`` (404 unknown meeting/item, 409 the meeting is not in a state for this, 400 bad
input). On PostgreSQL the meeting row is locked (``SELECT … FOR UPDATE``) for the duration of one
action, so two consoles cannot interleave their checks and writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from council.core.types import utcnow
from council.live import attendance
from council.live.bus import ALL_MEETINGS_CHANNEL, Publisher, meeting_channel
from council.live.models import EventKind, TimelineEvent
from council.live.speakers import SpeakerRequest, SpeakerState, StreamConsent
from council.live.state import LiveState, live_state
from council.records.models import AgendaItem, Meeting, Person


class ConsoleError(Exception):
    """An action that is not possible now (``status`` 409), on something unknown (404) or with bad
    input (400). ``code`` names the reason; ``web.controllers.console.MESSAGES`` has the text."""

    def __init__(self, code: str, status: int = 409) -> None:
        super().__init__(code)
        self.code = code
        self.status = status


# --- helpers --------------------------------------------------------------------------------------


@dataclass
class Context:
    meeting: Meeting
    state: LiveState


async def _context(session: AsyncSession, meeting_id: int) -> Context:
    stmt = (
        select(Meeting)
        .where(Meeting.id == meeting_id, Meeting.deleted.is_(False))
        .options(selectinload(Meeting.organizations))
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=Meeting)
    meeting = (await session.execute(stmt)).scalar_one_or_none()
    if meeting is None:
        raise ConsoleError("meeting_not_found", 404)
    return Context(meeting=meeting, state=await live_state(session, meeting_id))


def _not_closed(ctx: Context) -> None:
    if ctx.state.is_closed:
        raise ConsoleError("meeting_closed")


def _is_open(ctx: Context) -> None:
    _not_closed(ctx)
    if not ctx.state.is_open:
        raise ConsoleError("meeting_not_open")


async def _item(session: AsyncSession, ctx: Context, agenda_item_id: int) -> AgendaItem:
    item = await session.get(AgendaItem, agenda_item_id)
    if item is None or item.deleted:
        raise ConsoleError("item_not_found", 404)
    if item.meeting_id != ctx.meeting.id:
        raise ConsoleError("item_not_in_meeting")
    return item


async def _person_names(session: AsyncSession, person_ids: Iterable[int]) -> dict[int, str]:
    ids = set(person_ids)
    if not ids:
        return {}
    rows = await session.execute(select(Person.id, Person.name).where(Person.id.in_(ids)))
    return {int(pid): name for pid, name in rows}


async def _person_name(session: AsyncSession, person_id: int) -> str:
    return (await _person_names(session, [person_id])).get(person_id, "")


async def _require_member(session: AsyncSession, ctx: Context, person_id: int) -> None:
    if person_id not in await attendance.member_ids(session, ctx.meeting):
        raise ConsoleError("not_a_member")


async def _commit_and_publish(
    session: AsyncSession, publisher: Publisher | None, events: Sequence[TimelineEvent]
) -> list[TimelineEvent]:
    """Append the events in one transaction (in this order), commit, then publish each."""
    for ev in events:
        session.add(ev)
        await session.flush()
    await session.commit()
    if publisher is not None:
        for ev in events:
            publisher.publish(ev.as_message(), [meeting_channel(ev.meeting_id), ALL_MEETINGS_CHANNEL])
    return list(events)


def _event(ctx: Context, kind: EventKind, at: datetime, **fields: Any) -> TimelineEvent:
    fields.setdefault("payload", {})
    return TimelineEvent(meeting_id=ctx.meeting.id, kind=str(kind), at=at, **fields)


async def effective_consent(session: AsyncSession, request: SpeakerRequest) -> bool:
    """Consent for this speech: the per-speech choice, else the person's standing choice, else no."""
    if request.consent is not None:
        return bool(request.consent)
    return await standing_consent(session, request.person_id)


async def standing_consent(session: AsyncSession, person_id: int) -> bool:
    row = await session.get(StreamConsent, person_id)
    return bool(row.consent) if row is not None else False


async def _current_speech(session: AsyncSession, meeting_id: int) -> SpeakerRequest | None:
    return (
        (
            await session.execute(
                select(SpeakerRequest).where(
                    SpeakerRequest.meeting_id == meeting_id, SpeakerRequest.state == SpeakerState.SPEAKING
                )
            )
        )
        .scalars()
        .first()
    )


async def _end_speech_events(session: AsyncSession, ctx: Context, at: datetime) -> list[TimelineEvent]:
    """Events (and row changes) that end the speech now being given, if any."""
    out: list[TimelineEvent] = []
    speech = await _current_speech(session, ctx.meeting.id)
    if speech is not None:
        speech.state = SpeakerState.DONE
        out.append(
            _event(
                ctx,
                EventKind.SPEAKER_ENDED,
                at,
                agenda_item_id=speech.agenda_item_id,
                person_id=speech.person_id,
                consent=await effective_consent(session, speech),
                payload={"name": await _person_name(session, speech.person_id)},
            )
        )
    elif ctx.state.speaker_person_id is not None:  # a speech in the timeline without a row (imported)
        out.append(
            _event(
                ctx,
                EventKind.SPEAKER_ENDED,
                at,
                agenda_item_id=ctx.state.agenda_item_id,
                person_id=ctx.state.speaker_person_id,
                consent=ctx.state.speaker_consent,
            )
        )
    return out


async def _end_item_events(session: AsyncSession, ctx: Context, at: datetime) -> list[TimelineEvent]:
    out = await _end_speech_events(session, ctx, at)
    current = ctx.state.agenda_item_id
    if current is not None:
        item = await session.get(AgendaItem, current)
        if item is not None:
            item.end = at
        out.append(_event(ctx, EventKind.AGENDA_ITEM_ENDED, at, agenda_item_id=current))
    return out


# --- the speakers list as data ----------------------------------------------------------------------


@dataclass(frozen=True)
class SpeakerEntry:
    person_id: int
    name: str
    state: str
    position: int
    consent: bool | None  # the per-speech choice
    effective_consent: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "person_id": self.person_id,
            "name": self.name,
            "state": self.state,
            "position": self.position,
            "consent": self.effective_consent,
        }


async def speaker_list(session: AsyncSession, meeting_id: int, agenda_item_id: int) -> list[SpeakerEntry]:
    """The list for one item: the speaker first, then those waiting (in order), then those done."""
    rows = list(
        (
            await session.execute(
                select(SpeakerRequest).where(
                    SpeakerRequest.meeting_id == meeting_id,
                    SpeakerRequest.agenda_item_id == agenda_item_id,
                    SpeakerRequest.state != SpeakerState.WITHDRAWN,
                )
            )
        ).scalars()
    )
    names = await _person_names(session, [r.person_id for r in rows])
    standing = {
        c.person_id: bool(c.consent)
        for c in (
            await session.execute(
                select(StreamConsent).where(StreamConsent.person_id.in_([r.person_id for r in rows]))
            )
        ).scalars()
    }
    rank = {SpeakerState.SPEAKING: 0, SpeakerState.REQUESTED: 1, SpeakerState.DONE: 2}
    rows.sort(key=lambda r: (rank.get(SpeakerState(r.state), 3), r.position, r.id))
    return [
        SpeakerEntry(
            person_id=r.person_id,
            name=names.get(r.person_id, ""),
            state=r.state,
            position=r.position,
            consent=r.consent,
            effective_consent=r.consent if r.consent is not None else standing.get(r.person_id, False),
        )
        for r in rows
    ]


async def _speakers_changed(
    session: AsyncSession, ctx: Context, agenda_item_id: int, at: datetime
) -> TimelineEvent:
    await session.flush()
    entries = await speaker_list(session, ctx.meeting.id, agenda_item_id)
    return _event(
        ctx,
        EventKind.SPEAKERS_CHANGED,
        at,
        agenda_item_id=agenda_item_id,
        payload={"speakers": [e.as_dict() for e in entries if e.state != SpeakerState.DONE]},
    )


async def _request_row(session: AsyncSession, agenda_item_id: int, person_id: int) -> SpeakerRequest | None:
    return (
        (
            await session.execute(
                select(SpeakerRequest).where(
                    SpeakerRequest.agenda_item_id == agenda_item_id, SpeakerRequest.person_id == person_id
                )
            )
        )
        .scalars()
        .first()
    )


# --- the meeting ------------------------------------------------------------------------------------


async def open_meeting(session: AsyncSession, publisher: Publisher | None, meeting_id: int) -> TimelineEvent:
    ctx = await _context(session, meeting_id)
    _not_closed(ctx)
    if ctx.meeting.cancelled:
        raise ConsoleError("meeting_cancelled")
    if ctx.state.is_open:
        raise ConsoleError("meeting_already_open")
    (ev,) = await _commit_and_publish(session, publisher, [_event(ctx, EventKind.MEETING_OPENED, utcnow())])
    return ev


async def close_meeting(session: AsyncSession, publisher: Publisher | None, meeting_id: int) -> TimelineEvent:
    """Close the meeting; a speech and an item still running are ended first (same instant)."""
    ctx = await _context(session, meeting_id)
    _is_open(ctx)
    at = utcnow()
    events = await _end_item_events(session, ctx, at)
    events.append(_event(ctx, EventKind.MEETING_CLOSED, at))
    return (await _commit_and_publish(session, publisher, events))[-1]


# --- attendance ---------------------------------------------------------------------------------------


async def _attendance(
    session: AsyncSession, publisher: Publisher | None, meeting_id: int, person_id: int, *, joined: bool
) -> TimelineEvent:
    ctx = await _context(session, meeting_id)
    _not_closed(ctx)
    await _require_member(session, ctx, person_id)
    present = await attendance.present_person_ids(session, meeting_id)
    if joined and person_id in present:
        raise ConsoleError("already_present")
    if not joined and person_id not in present:
        raise ConsoleError("not_present")
    after = present | {person_id} if joined else present - {person_id}
    q = await attendance.quorum(session, meeting_id, present=after)
    ev = _event(
        ctx,
        EventKind.ATTENDANCE_JOINED if joined else EventKind.ATTENDANCE_LEFT,
        utcnow(),
        person_id=person_id,
        payload={
            "name": await _person_name(session, person_id),
            "present_count": len(after),
            "quorum": quorum_dict(q),
        },
    )
    (out,) = await _commit_and_publish(session, publisher, [ev])
    return out


def quorum_dict(q: attendance.Quorum) -> dict[str, Any]:
    return {
        "statutory": q.statutory,
        "present_voting": q.present_voting,
        "required": q.required,
        "reached": q.reached,
    }


async def mark_present(
    session: AsyncSession, publisher: Publisher | None, meeting_id: int, person_id: int
) -> TimelineEvent:
    return await _attendance(session, publisher, meeting_id, person_id, joined=True)


async def mark_absent(
    session: AsyncSession, publisher: Publisher | None, meeting_id: int, person_id: int
) -> TimelineEvent:
    return await _attendance(session, publisher, meeting_id, person_id, joined=False)


# --- the agenda --------------------------------------------------------------------------------------


async def start_item(
    session: AsyncSession, publisher: Publisher | None, meeting_id: int, agenda_item_id: int
) -> TimelineEvent:
    """Start an agenda item (the one running is ended first). ``AgendaItem.start`` is set the first
    time an item starts; ``end`` every time it ends (a resumed item keeps its first start)."""
    ctx = await _context(session, meeting_id)
    _is_open(ctx)
    item = await _item(session, ctx, agenda_item_id)
    if ctx.state.agenda_item_id == item.id:
        raise ConsoleError("item_already_current")
    at = utcnow()
    events = await _end_item_events(session, ctx, at)
    started_before = (
        await session.execute(
            select(func.count())
            .select_from(TimelineEvent)
            .where(
                TimelineEvent.meeting_id == meeting_id,
                TimelineEvent.agenda_item_id == item.id,
                TimelineEvent.kind == EventKind.AGENDA_ITEM_STARTED,
            )
        )
    ).scalar_one()
    if not started_before or item.start is None:
        item.start = at
    item.end = None
    events.append(
        _event(
            ctx,
            EventKind.AGENDA_ITEM_STARTED,
            at,
            agenda_item_id=item.id,
            payload={"number": item.number, "name": item.name if item.public else None},
        )
    )
    return (await _commit_and_publish(session, publisher, events))[-1]


async def end_item(
    session: AsyncSession, publisher: Publisher | None, meeting_id: int, agenda_item_id: int
) -> TimelineEvent:
    ctx = await _context(session, meeting_id)
    _is_open(ctx)
    item = await _item(session, ctx, agenda_item_id)
    if ctx.state.agenda_item_id != item.id:
        raise ConsoleError("item_not_current")
    events = await _end_item_events(session, ctx, utcnow())
    return (await _commit_and_publish(session, publisher, events))[-1]


# --- the list of speakers -----------------------------------------------------------------------------


async def request_to_speak(
    session: AsyncSession,
    publisher: Publisher | None,
    meeting_id: int,
    agenda_item_id: int,
    person_id: int,
    *,
    consent: bool | None = None,
) -> TimelineEvent:
    """Put a member on the list of an item (at the end). ``consent``: for this speech (None: standing)."""
    ctx = await _context(session, meeting_id)
    _not_closed(ctx)
    item = await _item(session, ctx, agenda_item_id)
    await _require_member(session, ctx, person_id)
    if person_id in await attendance.conflicted_person_ids(session, meeting_id, item.id):
        raise ConsoleError("conflicted")
    row = await _request_row(session, item.id, person_id)
    if row is not None and row.state in (SpeakerState.REQUESTED, SpeakerState.SPEAKING):
        raise ConsoleError("already_requested")
    last = (
        await session.execute(
            select(func.max(SpeakerRequest.position)).where(SpeakerRequest.agenda_item_id == item.id)
        )
    ).scalar_one()
    position = (last or 0) + 1
    now = utcnow()
    if row is None:
        session.add(
            SpeakerRequest(
                meeting_id=meeting_id,
                agenda_item_id=item.id,
                person_id=person_id,
                position=position,
                state=SpeakerState.REQUESTED,
                consent=consent,
                requested_at=now,
            )
        )
    else:
        row.state, row.position, row.consent, row.requested_at = (
            SpeakerState.REQUESTED,
            position,
            consent,
            now,
        )
    ev = await _speakers_changed(session, ctx, item.id, now)
    ev.person_id = person_id
    ev.payload = {**ev.payload, "change": "requested"}
    (out,) = await _commit_and_publish(session, publisher, [ev])
    return out


async def withdraw_request(
    session: AsyncSession, publisher: Publisher | None, meeting_id: int, agenda_item_id: int, person_id: int
) -> TimelineEvent:
    """Take a waiting request off the list (by the member, or by the clerk)."""
    ctx = await _context(session, meeting_id)
    _not_closed(ctx)
    item = await _item(session, ctx, agenda_item_id)
    row = await _request_row(session, item.id, person_id)
    if row is None or row.state != SpeakerState.REQUESTED:
        raise ConsoleError("not_requested")
    row.state = SpeakerState.WITHDRAWN
    now = utcnow()
    ev = await _speakers_changed(session, ctx, item.id, now)
    ev.person_id = person_id
    ev.payload = {**ev.payload, "change": "withdrawn"}
    (out,) = await _commit_and_publish(session, publisher, [ev])
    return out


async def reorder(
    session: AsyncSession,
    publisher: Publisher | None,
    meeting_id: int,
    agenda_item_id: int,
    person_ids: Sequence[int],
) -> TimelineEvent:
    """Set the order of those waiting; ``person_ids`` must name each waiting person exactly once."""
    ctx = await _context(session, meeting_id)
    _not_closed(ctx)
    item = await _item(session, ctx, agenda_item_id)
    waiting = {
        r.person_id: r
        for r in (
            await session.execute(
                select(SpeakerRequest).where(
                    SpeakerRequest.agenda_item_id == item.id, SpeakerRequest.state == SpeakerState.REQUESTED
                )
            )
        ).scalars()
    }
    if len(person_ids) != len(set(person_ids)) or set(person_ids) != set(waiting):
        raise ConsoleError("bad_order", 400)
    base = min((r.position for r in waiting.values()), default=1)
    for i, pid in enumerate(person_ids):
        waiting[pid].position = base + i
    now = utcnow()
    ev = await _speakers_changed(session, ctx, item.id, now)
    ev.payload = {**ev.payload, "change": "reordered"}
    (out,) = await _commit_and_publish(session, publisher, [ev])
    return out


async def move(
    session: AsyncSession,
    publisher: Publisher | None,
    meeting_id: int,
    agenda_item_id: int,
    person_id: int,
    offset: int,
) -> TimelineEvent:
    """Move one waiting person up (offset -1) or down (+1) the list."""
    waiting = [
        e.person_id
        for e in await speaker_list(session, meeting_id, agenda_item_id)
        if e.state == SpeakerState.REQUESTED
    ]
    if person_id not in waiting:
        await _context(session, meeting_id)  # 404 for unknown meetings before "not requested"
        raise ConsoleError("not_requested")
    i = waiting.index(person_id)
    j = max(0, min(len(waiting) - 1, i + offset))
    waiting.insert(j, waiting.pop(i))
    return await reorder(session, publisher, meeting_id, agenda_item_id, waiting)


async def start_speech(
    session: AsyncSession, publisher: Publisher | None, meeting_id: int, agenda_item_id: int, person_id: int
) -> TimelineEvent:
    """Give the floor to someone waiting on the list of the current item (a running speech ends)."""
    ctx = await _context(session, meeting_id)
    _is_open(ctx)
    item = await _item(session, ctx, agenda_item_id)
    if ctx.state.agenda_item_id != item.id:
        raise ConsoleError("item_not_current")
    row = await _request_row(session, item.id, person_id)
    if row is None or row.state != SpeakerState.REQUESTED:
        raise ConsoleError("not_on_list")
    at = utcnow()
    events = await _end_speech_events(session, ctx, at)
    row.state = SpeakerState.SPEAKING
    events.append(
        _event(
            ctx,
            EventKind.SPEAKER_STARTED,
            at,
            agenda_item_id=item.id,
            person_id=person_id,
            consent=await effective_consent(session, row),
            payload={"name": await _person_name(session, person_id)},
        )
    )
    return (await _commit_and_publish(session, publisher, events))[-1]


async def end_speech(session: AsyncSession, publisher: Publisher | None, meeting_id: int) -> TimelineEvent:
    ctx = await _context(session, meeting_id)
    _is_open(ctx)
    events = await _end_speech_events(session, ctx, utcnow())
    if not events:
        raise ConsoleError("no_speech")
    return (await _commit_and_publish(session, publisher, events))[-1]


# --- consent to streaming ------------------------------------------------------------------------------


async def _consent_changed_events(
    session: AsyncSession, person_id: int, at: datetime, speeches: Iterable[SpeakerRequest]
) -> list[TimelineEvent]:
    """A speech under way whose consent changed is announced again (streaming follows at once)."""
    out = []
    for speech in speeches:
        out.append(
            TimelineEvent(
                meeting_id=speech.meeting_id,
                kind=str(EventKind.SPEAKER_STARTED),
                at=at,
                agenda_item_id=speech.agenda_item_id,
                person_id=person_id,
                consent=await effective_consent(session, speech),
                payload={"name": await _person_name(session, person_id), "consent_changed": True},
            )
        )
    return out


async def set_standing_consent(
    session: AsyncSession, publisher: Publisher | None, person_id: int, consent: bool
) -> list[TimelineEvent]:
    """The person's standing choice. A speech they are giving right now without a per-speech choice
    gets a new ``speaker.started`` event with the new consent. Commits."""
    row = await session.get(StreamConsent, person_id)
    if row is None:
        session.add(StreamConsent(person_id=person_id, consent=consent, updated=utcnow()))
    else:
        row.consent = consent
        row.updated = utcnow()
    await session.flush()
    speeches = (
        await session.execute(
            select(SpeakerRequest).where(
                SpeakerRequest.person_id == person_id,
                SpeakerRequest.state == SpeakerState.SPEAKING,
                SpeakerRequest.consent.is_(None),
            )
        )
    ).scalars()
    events = await _consent_changed_events(session, person_id, utcnow(), list(speeches))
    return await _commit_and_publish(session, publisher, events)


async def set_speech_consent(
    session: AsyncSession,
    publisher: Publisher | None,
    meeting_id: int,
    agenda_item_id: int,
    person_id: int,
    consent: bool | None,
) -> list[TimelineEvent]:
    """Consent for one speech (requested or being given); None returns to the standing choice."""
    ctx = await _context(session, meeting_id)
    _not_closed(ctx)
    item = await _item(session, ctx, agenda_item_id)
    row = await _request_row(session, item.id, person_id)
    if row is None or row.state not in (SpeakerState.REQUESTED, SpeakerState.SPEAKING):
        raise ConsoleError("not_requested")
    before = await effective_consent(session, row)
    row.consent = consent
    await session.flush()
    events: list[TimelineEvent] = []
    if row.state == SpeakerState.SPEAKING and before != await effective_consent(session, row):
        events = await _consent_changed_events(session, person_id, utcnow(), [row])
    return await _commit_and_publish(session, publisher, events)


# --- conflicts of interest (Befangenheit) ------------------------------------------------------------


async def set_conflict(
    session: AsyncSession,
    publisher: Publisher | None,
    meeting_id: int,
    agenda_item_id: int,
    person_id: int,
    *,
    declared: bool,
) -> TimelineEvent:
    """Declare (or withdraw) a conflict of interest for an item. A waiting request to speak on that
    item is withdrawn with the declaration (those in conflict take no part in the deliberation)."""
    ctx = await _context(session, meeting_id)
    _not_closed(ctx)
    item = await _item(session, ctx, agenda_item_id)
    await _require_member(session, ctx, person_id)
    conflicted = await attendance.conflicted_person_ids(session, meeting_id, item.id)
    if declared and person_id in conflicted:
        raise ConsoleError("already_declared")
    if not declared and person_id not in conflicted:
        raise ConsoleError("not_declared")
    now = utcnow()
    events: list[TimelineEvent] = []
    if declared:
        row = await _request_row(session, item.id, person_id)
        if row is not None and row.state == SpeakerState.SPEAKING:
            raise ConsoleError("speaking_now")
        if row is not None and row.state == SpeakerState.REQUESTED:
            row.state = SpeakerState.WITHDRAWN
            ev = await _speakers_changed(session, ctx, item.id, now)
            ev.person_id = person_id
            ev.payload = {**ev.payload, "change": "withdrawn"}
            events.append(ev)
    events.append(
        _event(
            ctx,
            EventKind.CONFLICT_DECLARED if declared else EventKind.CONFLICT_WITHDRAWN,
            now,
            agenda_item_id=item.id,
            person_id=person_id,
            payload={"name": await _person_name(session, person_id)},
        )
    )
    return (await _commit_and_publish(session, publisher, events))[-1]
