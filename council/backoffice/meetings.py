"""Meetings in the back office: create, edit, reschedule, cancel, publish, mark held.

State follows OParl ``meetingState``: ``terminiert`` (scheduled) → ``eingeladen`` (invited, set by the
invitation) → ``durchgeführt`` (held). A new meeting is a *draft*: it is kept ``deleted`` on the
Meeting record with ``MeetingWorkflow.published = False`` until the clerk publishes it, so every public
path hides it (see :class:`council.backoffice.models.MeetingWorkflow`). A draft that is deleted is
removed for good (it was never public); a published meeting is only ever soft-deleted.

Optimistic locking: every change names the version the clerk's form was rendered from;
:func:`bump_version` advances it with one conditional UPDATE, so of two concurrent saves exactly one
wins and the other gets :class:`StaleVersion` (409) with the current version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from council.backoffice.audit import record_change
from council.backoffice.models import AgendaItemDetail, MeetingWorkflow
from council.core.types import utcnow
from council.records.models import (
    AgendaItem,
    Consultation,
    Location,
    Meeting,
    Organization,
    meeting_organization,
)
from council.search.jobs import enqueue_index

TZ = ZoneInfo("Europe/Berlin")
MAX_ID = 2**31 - 1
NAME_MAX = 300
LOCATION_MAX = 300

SCHEDULED = "terminiert"
INVITED = "eingeladen"
HELD = "durchgeführt"

#: Standing items every committee's meeting starts with (public part, in this order).
STANDING_ITEMS: tuple[str, ...] = (
    "Genehmigung der Niederschrift der letzten Sitzung",
    "Mitteilungen",
    "Einwohnerfragestunde",
)


class BackofficeError(Exception):
    """A refused back-office action; ``code`` is mapped to a message by the web layer."""

    status = 400

    def __init__(self, code: str, **details: Any) -> None:
        super().__init__(code)
        self.code = code
        self.details = details


class NotFound(BackofficeError):
    status = 404


class StaleVersion(BackofficeError):
    """Someone saved first: the form's version is no longer the current one."""

    status = 409

    def __init__(self, current_version: int) -> None:
        super().__init__("stale", current_version=current_version)
        self.current_version = current_version


@dataclass(frozen=True)
class Actor:
    """Who is acting (for the audit log)."""

    account_id: int | None
    name: str | None = None


@dataclass
class MeetingInput:
    """A validated meeting form."""

    name: str
    organization_id: int
    start: datetime
    end: datetime | None
    location: str
    public: bool
    errors: dict[str, str] = field(default_factory=dict)


def clean_text(value: Any, max_length: int) -> str:
    """Single-line text: control characters and lone surrogates removed, whitespace collapsed."""
    if value is None:
        return ""
    text = str(value).encode("utf-8", "replace").decode("utf-8")
    text = "".join(c if c.isprintable() else " " for c in text)
    return " ".join(text.split())[:max_length]


def clean_multiline(value: Any, max_length: int) -> str:
    """Multi-line text: control characters (except newlines) removed, clipped."""
    if value is None:
        return ""
    text = str(value).encode("utf-8", "replace").decode("utf-8").replace("\r\n", "\n")
    text = "".join(c if (c == "\n" or c.isprintable()) else " " for c in text)
    return text.strip()[:max_length]


def parse_id(value: Any) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 1 <= number <= MAX_ID else None


def parse_version(value: Any) -> int:
    version = parse_id(value)
    if version is None:
        raise BackofficeError("bad_version")
    return version


def parse_meeting_form(data: dict[str, Any]) -> MeetingInput:
    """Validate a meeting form (date and times are local, Europe/Berlin); raise on the first error."""
    name = clean_text(data.get("name"), NAME_MAX)
    if not name:
        raise BackofficeError("name_required")
    organization_id = parse_id(data.get("organization_id"))
    if organization_id is None:
        raise BackofficeError("organization_required")
    try:
        day = date.fromisoformat(str(data.get("date") or "").strip())
        start_t = time.fromisoformat(str(data.get("start_time") or "").strip())
    except ValueError:
        raise BackofficeError("bad_start") from None
    if not (2000 <= day.year <= 2100):
        raise BackofficeError("bad_start")
    start = datetime.combine(day, start_t.replace(tzinfo=None), TZ)
    end: datetime | None = None
    end_raw = str(data.get("end_time") or "").strip()
    if end_raw:
        try:
            end_t = time.fromisoformat(end_raw)
        except ValueError:
            raise BackofficeError("bad_end") from None
        end = datetime.combine(day, end_t.replace(tzinfo=None), TZ)
        if end <= start:
            end += timedelta(days=1)  # ends after midnight
    location = clean_text(data.get("location"), LOCATION_MAX)
    public = str(data.get("public") or "").lower() in ("1", "on", "true", "ja")
    return MeetingInput(name, organization_id, start, end, location, public)


async def workflow(session: AsyncSession, meeting_id: int) -> MeetingWorkflow:
    """The meeting's workflow row; meetings from elsewhere (demo, import) get one, published."""
    row = await session.get(MeetingWorkflow, meeting_id)
    if row is None:
        meeting = await session.get(Meeting, meeting_id)
        if meeting is None:
            raise NotFound("meeting_not_found")
        # Insert-if-absent: two clerks opening the same older meeting at once must not collide.
        from sqlalchemy.dialects import postgresql, sqlite

        values = {"meeting_id": meeting_id, "version": 1, "published": True, "sequence": 0}
        if session.get_bind().dialect.name == "postgresql":
            stmt: Any = postgresql.insert(MeetingWorkflow).values(values)
        else:
            stmt = sqlite.insert(MeetingWorkflow).values(values)
        await session.execute(stmt.on_conflict_do_nothing(index_elements=["meeting_id"]))
        row = await session.get(MeetingWorkflow, meeting_id)
        assert row is not None
    return row


async def load_meeting(session: AsyncSession, meeting_id: int) -> tuple[Meeting, MeetingWorkflow]:
    """A back-office meeting (drafts included, deleted published meetings not) with its workflow."""
    meeting = (
        await session.execute(
            select(Meeting)
            .where(Meeting.id == meeting_id)
            .options(
                selectinload(Meeting.organizations),
                selectinload(Meeting.location),
                selectinload(Meeting.invitation),
                selectinload(Meeting.results_protocol),
            )
        )
    ).scalar_one_or_none()
    if meeting is None:
        raise NotFound("meeting_not_found")
    wf = await workflow(session, meeting_id)
    if meeting.deleted and wf.published:
        raise NotFound("meeting_not_found")
    return meeting, wf


async def bump_version(session: AsyncSession, meeting_id: int, expected: int) -> int:
    """Advance the meeting's version from ``expected``; :class:`StaleVersion` if someone was faster."""
    await workflow(session, meeting_id)
    result = await session.execute(
        update(MeetingWorkflow)
        .where(MeetingWorkflow.meeting_id == meeting_id, MeetingWorkflow.version == expected)
        .values(version=MeetingWorkflow.version + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        current = (
            await session.execute(
                select(MeetingWorkflow.version).where(MeetingWorkflow.meeting_id == meeting_id)
            )
        ).scalar_one()
        raise StaleVersion(int(current))
    row = await session.get(MeetingWorkflow, meeting_id)
    assert row is not None
    await session.refresh(row)
    return row.version


async def _organization(session: AsyncSession, organization_id: int) -> Organization:
    org = await session.get(Organization, organization_id)
    if org is None or org.deleted:
        raise BackofficeError("organization_unknown")
    return org


async def _location(session: AsyncSession, body_id: int, label: str) -> Location | None:
    if not label:
        return None
    found = (
        await session.execute(
            select(Location)
            .where(Location.description == label, Location.deleted.is_(False))
            .order_by(Location.id)
            .limit(1)
        )
    ).scalar_one_or_none()
    if found is not None:
        return found
    location = Location(body_id=body_id, description=label)
    session.add(location)
    await session.flush()
    return location


def _snapshot(meeting: Meeting) -> dict[str, Any]:
    location = meeting.__dict__.get("location")
    return {
        "name": meeting.name,
        "start": meeting.start.isoformat() if meeting.start else None,
        "end": meeting.end.isoformat() if meeting.end else None,
        "location": location.label if location is not None else None,
        "public": meeting.public,
    }


async def create_meeting(
    session: AsyncSession, actor: Actor, data: MeetingInput, *, standing_items: bool = True
) -> Meeting:
    """A new draft meeting of one organization, with the committee's standing items."""
    org = await _organization(session, data.organization_id)
    location = await _location(session, org.body_id, data.location)
    meeting = Meeting(
        body_id=org.body_id,
        name=data.name,
        meeting_state=SCHEDULED,
        cancelled=False,
        start=data.start,
        end=data.end,
        location=location,
        public=data.public,
        deleted=True,  # a draft: hidden everywhere until published
        keyword=[],
    )
    meeting.organizations = [org]
    session.add(meeting)
    await session.flush()
    session.add(MeetingWorkflow(meeting_id=meeting.id, version=1, published=False, sequence=0))
    if standing_items:
        for order, name in enumerate(STANDING_ITEMS, start=1):
            item = AgendaItem(meeting_id=meeting.id, name=name, order=order * 10, public=True, keyword=[])
            session.add(item)
            await session.flush()
            session.add(AgendaItemDetail(agenda_item_id=item.id, standing=True))
        from council.backoffice.agenda import renumber

        await renumber(session, meeting.id)
    await record_change(
        session,
        actor.account_id,
        "meeting",
        meeting.id,
        "created",
        {"organization": org.name, **_snapshot(meeting)},
        actor_name=actor.name,
        meeting_id=meeting.id,
    )
    await session.flush()
    return meeting


async def update_meeting(
    session: AsyncSession, actor: Actor, meeting_id: int, version: int, data: MeetingInput
) -> Meeting:
    """Edit or reschedule; after the invitation a change of time or place bumps the iCal SEQUENCE."""
    meeting, wf = await load_meeting(session, meeting_id)
    await bump_version(session, meeting_id, version)
    before = _snapshot(meeting)
    org = await _organization(session, data.organization_id)
    meeting.name = data.name
    meeting.start = data.start
    meeting.end = data.end
    meeting.public = data.public
    meeting.location = await _location(session, org.body_id, data.location)
    if [o.id for o in meeting.organizations] != [org.id]:
        await session.execute(
            delete(meeting_organization).where(meeting_organization.c.meeting_id == meeting.id)
        )
        meeting.organizations = [org]
    after = _snapshot(meeting)
    changed = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    if wf.invited_at is not None and ({"start", "end", "location"} & changed.keys()):
        wf.sequence += 1
    meeting.modified = utcnow()
    await record_change(
        session,
        actor.account_id,
        "meeting",
        meeting.id,
        "rescheduled" if {"start", "end"} & changed.keys() else "updated",
        changed,
        actor_name=actor.name,
        meeting_id=meeting.id,
        visible=wf.invited_at is not None,
    )
    await session.flush()
    return meeting


async def set_cancelled(
    session: AsyncSession, actor: Actor, meeting_id: int, version: int, cancelled: bool
) -> Meeting:
    """Cancel (or reinstate) a meeting; it stays listed, marked as cancelled (OParl ``cancelled``)."""
    meeting, wf = await load_meeting(session, meeting_id)
    await bump_version(session, meeting_id, version)
    meeting.cancelled = cancelled
    if wf.invited_at is not None:
        wf.sequence += 1
    await record_change(
        session,
        actor.account_id,
        "meeting",
        meeting.id,
        "cancelled" if cancelled else "reinstated",
        {"cancelled": [not cancelled, cancelled]},
        actor_name=actor.name,
        meeting_id=meeting.id,
        visible=wf.invited_at is not None,
    )
    await session.flush()
    return meeting


async def publish(session: AsyncSession, actor: Actor, meeting_id: int, version: int) -> Meeting:
    """Make a draft visible (pages, search, feeds, iCal, OParl)."""
    meeting, wf = await load_meeting(session, meeting_id)
    if wf.published:
        raise BackofficeError("already_published")
    await bump_version(session, meeting_id, version)
    wf.published = True
    meeting.deleted = False
    ids = (await session.execute(select(AgendaItem.id).where(AgendaItem.meeting_id == meeting.id))).scalars()
    enqueue_index(session, "agenda_item", list(ids))
    # Agenda items of a draft are "new" to everyone: their modified follows the publication.
    now = utcnow()
    meeting.modified = now
    await record_change(
        session,
        actor.account_id,
        "meeting",
        meeting.id,
        "published",
        {},
        actor_name=actor.name,
        meeting_id=meeting.id,
    )
    await session.flush()
    return meeting


async def mark_held(session: AsyncSession, actor: Actor, meeting_id: int, version: int) -> Meeting:
    meeting, wf = await load_meeting(session, meeting_id)
    if not wf.published or meeting.cancelled:
        raise BackofficeError("not_holdable")
    await bump_version(session, meeting_id, version)
    before = meeting.meeting_state
    meeting.meeting_state = HELD
    await record_change(
        session,
        actor.account_id,
        "meeting",
        meeting.id,
        "held",
        {"meeting_state": [before, HELD]},
        actor_name=actor.name,
        meeting_id=meeting.id,
    )
    await session.flush()
    return meeting


async def delete_meeting(session: AsyncSession, actor: Actor, meeting_id: int, version: int) -> None:
    """A draft goes for good (it was never public); a published meeting is soft-deleted."""
    meeting, wf = await load_meeting(session, meeting_id)
    await bump_version(session, meeting_id, version)
    await record_change(
        session,
        actor.account_id,
        "meeting",
        meeting.id,
        "deleted",
        {"name": meeting.name},
        actor_name=actor.name,
        meeting_id=meeting.id,
    )
    if not wf.published:
        item_ids = select(AgendaItem.id).where(AgendaItem.meeting_id == meeting.id)
        # The index job drops rows of records that are gone.
        enqueue_index(session, "agenda_item", list((await session.execute(item_ids)).scalars()))
        await session.execute(delete(Consultation).where(Consultation.agenda_item_id.in_(item_ids)))
        await session.execute(delete(AgendaItemDetail).where(AgendaItemDetail.agenda_item_id.in_(item_ids)))
        await session.execute(delete(AgendaItem).where(AgendaItem.meeting_id == meeting.id))
        await session.execute(
            delete(meeting_organization).where(meeting_organization.c.meeting_id == meeting.id)
        )
        await session.execute(delete(MeetingWorkflow).where(MeetingWorkflow.meeting_id == meeting.id))
        await session.execute(delete(Meeting).where(Meeting.id == meeting.id))
    else:
        meeting.deleted = True
    await session.flush()


async def list_meetings(
    session: AsyncSession, *, limit: int = 200
) -> list[tuple[Meeting, MeetingWorkflow | None]]:
    """Back-office list: drafts and published meetings (not deleted ones), newest first."""
    stmt = (
        select(Meeting, MeetingWorkflow)
        .outerjoin(MeetingWorkflow, MeetingWorkflow.meeting_id == Meeting.id)
        .where((Meeting.deleted.is_(False)) | (MeetingWorkflow.published.is_(False)))
        .options(selectinload(Meeting.organizations))
        .order_by(Meeting.start.desc().nulls_last(), Meeting.id.desc())
        .limit(limit)
    )
    return [(m, w) for m, w in (await session.execute(stmt)).all()]


async def gremien(session: AsyncSession) -> list[Organization]:
    """Organizations a meeting can belong to (council, committees)."""
    stmt = select(Organization).where(Organization.deleted.is_(False)).order_by(Organization.name)
    orgs = list((await session.execute(stmt)).scalars())
    preferred = [o for o in orgs if (o.organization_type or "").lower() in ("gremium", "")]
    return preferred or orgs


async def ical_sequences(session: AsyncSession, meeting_ids: list[int]) -> dict[int, int]:
    """RFC 5545 SEQUENCE per meeting (only those above 0), for the iCal feeds."""
    if not meeting_ids:
        return {}
    rows = await session.execute(
        select(MeetingWorkflow.meeting_id, MeetingWorkflow.sequence).where(
            MeetingWorkflow.meeting_id.in_(meeting_ids), MeetingWorkflow.sequence > 0
        )
    )
    return {int(mid): int(seq) for mid, seq in rows.all()}
