"""Who is in the room, who may vote, and whether the meeting has a quorum — all derived from the
timeline (attendance and conflict-of-interest events) and the memberships; nothing stored twice.

Quorum (GO NRW §49): more than half of the statutory members must be present. The statutory number is
``Organization.statutory_members`` when set, else the number of members with voting right on the
meeting day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from council.live.models import EventKind, TimelineEvent
from council.records.models import Meeting, Membership, meeting_organization


async def present_person_ids(session: AsyncSession, meeting_id: int) -> set[int]:
    rows = (
        await session.execute(
            select(TimelineEvent.kind, TimelineEvent.person_id)
            .where(
                TimelineEvent.meeting_id == meeting_id,
                TimelineEvent.kind.in_([EventKind.ATTENDANCE_JOINED, EventKind.ATTENDANCE_LEFT]),
            )
            .order_by(TimelineEvent.id)
        )
    ).all()
    present: set[int] = set()
    for kind, person_id in rows:
        if person_id is None:
            continue
        if kind == EventKind.ATTENDANCE_JOINED:
            present.add(person_id)
        else:
            present.discard(person_id)
    return present


async def conflicted_person_ids(session: AsyncSession, meeting_id: int, agenda_item_id: int) -> set[int]:
    """Members who declared a conflict of interest for this item (and did not withdraw it)."""
    rows = (
        await session.execute(
            select(TimelineEvent.kind, TimelineEvent.person_id)
            .where(
                TimelineEvent.meeting_id == meeting_id,
                TimelineEvent.agenda_item_id == agenda_item_id,
                TimelineEvent.kind.in_([EventKind.CONFLICT_DECLARED, EventKind.CONFLICT_WITHDRAWN]),
            )
            .order_by(TimelineEvent.id)
        )
    ).all()
    out: set[int] = set()
    for kind, person_id in rows:
        if person_id is None:
            continue
        if kind == EventKind.CONFLICT_DECLARED:
            out.add(person_id)
        else:
            out.discard(person_id)
    return out


def _organization_ids(meeting_id: int) -> Select[tuple[int]]:
    mo = meeting_organization.c
    return select(mo.organization_id).where(mo.meeting_id == meeting_id)


def _meeting_day(meeting: Meeting) -> date:
    from zoneinfo import ZoneInfo

    if meeting.start is None:
        return date.today()
    return meeting.start.astimezone(ZoneInfo("Europe/Berlin")).date()


async def voting_member_ids(session: AsyncSession, meeting: Meeting) -> set[int]:
    """Persons with voting right in (one of) the meeting's organizations on the meeting day."""
    day = _meeting_day(meeting)
    org_ids = _organization_ids(meeting.id)
    rows = (
        await session.execute(
            select(Membership).where(
                Membership.organization_id.in_(org_ids),
                Membership.deleted.is_(False),
                Membership.voting_right.is_(True),
            )
        )
    ).scalars()
    return {m.person_id for m in rows if m.active_on(day)}


async def member_ids(session: AsyncSession, meeting: Meeting) -> set[int]:
    """All current members (with or without voting right) of the meeting's organizations."""
    day = _meeting_day(meeting)
    org_ids = _organization_ids(meeting.id)
    rows = (
        await session.execute(
            select(Membership).where(Membership.organization_id.in_(org_ids), Membership.deleted.is_(False))
        )
    ).scalars()
    return {m.person_id for m in rows if m.active_on(day)}


@dataclass(frozen=True)
class Quorum:
    statutory: int
    present_voting: int
    required: int

    @property
    def reached(self) -> bool:
        return self.present_voting >= self.required


async def quorum(session: AsyncSession, meeting_id: int, *, present: set[int] | None = None) -> Quorum:
    """``present``: evaluate for this set of present persons instead of the timeline's (the console
    computes the quorum an attendance event is about to create)."""
    from sqlalchemy.orm import selectinload

    meeting = (
        await session.execute(
            select(Meeting).where(Meeting.id == meeting_id).options(selectinload(Meeting.organizations))
        )
    ).scalar_one()
    voters = await voting_member_ids(session, meeting)
    statutory = sum(o.statutory_members or 0 for o in meeting.organizations) or len(voters)
    if present is None:
        present = await present_person_ids(session, meeting_id)
    return Quorum(statutory=statutory, present_voting=len(present & voters), required=statutory // 2 + 1)
