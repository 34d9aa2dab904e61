"""Read queries for the public pages and feeds.

Every query that returns meetings, agenda items, papers or files filters through the clauses in
``council.records.access`` — this module is the one place the public website reads records from, so
non-public material cannot leak by a forgotten ``where``. Relationships the templates touch are loaded
eagerly (async SQLAlchemy raises ``MissingGreenlet`` on lazy loads).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Generic, Literal, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, exists, extract, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from council.core.types import utcnow
from council.records.access import (
    Viewer,
    agenda_item_visible,
    file_visible,
    meeting_visible,
    paper_visible,
)
from council.records.models import (
    AgendaItem,
    Body,
    Consultation,
    File,
    Meeting,
    Membership,
    Organization,
    Paper,
    Person,
    consultation_organization,
    meeting_organization,
    paper_originator_person,
)

T = TypeVar("T")
TZ = ZoneInfo("Europe/Berlin")
DEFAULT_PER_PAGE = 20


@dataclass
class Page(Generic[T]):
    """One page of a list, numbered from 1."""

    items: list[T]
    number: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def local_day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """UTC instants from the start of ``first`` to the end of ``last`` in Europe/Berlin (half-open)."""
    start = datetime.combine(first, time.min, tzinfo=TZ).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=TZ).astimezone(UTC)
    return start, end


async def _page(session: AsyncSession, stmt: Select[Any], number: int, per_page: int) -> Page[T]:
    total = (
        await session.execute(select(func.count()).select_from(stmt.order_by(None).subquery()))
    ).scalar_one()
    rows = (
        (await session.execute(stmt.limit(per_page).offset((number - 1) * per_page))).scalars().unique().all()
    )
    return Page(items=list(rows), number=number, per_page=per_page, total=int(total))


async def visible_file_ids(session: AsyncSession, viewer: Viewer, ids: Iterable[int | None]) -> set[int]:
    """Which of these files the viewer may see."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return set()
    rows = await session.execute(select(File.id).where(File.id.in_(wanted), file_visible(viewer)))
    return set(rows.scalars().all())


async def visible_paper_ids(session: AsyncSession, viewer: Viewer, ids: Iterable[int | None]) -> set[int]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return set()
    rows = await session.execute(select(Paper.id).where(Paper.id.in_(wanted), paper_visible(viewer)))
    return set(rows.scalars().all())


async def visible_meeting_ids(session: AsyncSession, viewer: Viewer, ids: Iterable[int | None]) -> set[int]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return set()
    rows = await session.execute(select(Meeting.id).where(Meeting.id.in_(wanted), meeting_visible(viewer)))
    return set(rows.scalars().all())


async def visible_item_ids(session: AsyncSession, viewer: Viewer, ids: Iterable[int | None]) -> set[int]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return set()
    rows = await session.execute(
        select(AgendaItem.id).where(AgendaItem.id.in_(wanted), agenda_item_visible(viewer))
    )
    return set(rows.scalars().all())


# --- body ---------------------------------------------------------------------------------------


async def get_body(session: AsyncSession) -> Body | None:
    """The municipality this installation serves (the first body)."""
    stmt = select(Body).where(Body.deleted == false()).order_by(Body.id).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


# --- meetings -----------------------------------------------------------------------------------


def _meeting_list_options() -> list[object]:
    return [selectinload(Meeting.organizations), selectinload(Meeting.location)]


def meetings_query(viewer: Viewer) -> Select[Meeting]:
    return select(Meeting).where(meeting_visible(viewer)).options(*_meeting_list_options())  # type: ignore[arg-type]


async def upcoming_meetings(
    session: AsyncSession, viewer: Viewer, *, limit: int = 5, now: datetime | None = None
) -> list[Meeting]:
    """Visible meetings that have not ended yet (a running meeting counts), soonest first."""
    now = now or utcnow()
    stmt = (
        meetings_query(viewer)
        .where(
            Meeting.start.is_not(None),
            or_(Meeting.start >= now, and_(Meeting.end.is_not(None), Meeting.end > now)),
        )
        .order_by(Meeting.start, Meeting.id)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars().all())


async def meetings_by_ids(session: AsyncSession, viewer: Viewer, ids: Sequence[int]) -> list[Meeting]:
    if not ids:
        return []
    stmt = meetings_query(viewer).where(Meeting.id.in_(list(ids))).order_by(Meeting.start, Meeting.id)
    return list((await session.execute(stmt)).scalars().all())


async def meetings_between(
    session: AsyncSession,
    viewer: Viewer,
    start: datetime,
    end: datetime,
    *,
    organization_id: int | None = None,
) -> list[Meeting]:
    """Visible meetings starting in [start, end)."""
    stmt = meetings_query(viewer).where(Meeting.start >= start, Meeting.start < end)
    if organization_id is not None:
        stmt = stmt.where(_meeting_of_org(organization_id))
    stmt = stmt.order_by(Meeting.start, Meeting.id)
    return list((await session.execute(stmt)).scalars().all())


def _meeting_of_org(organization_id: int):  # type: ignore[no-untyped-def]
    return exists(
        select(meeting_organization.c.meeting_id).where(
            meeting_organization.c.meeting_id == Meeting.id,
            meeting_organization.c.organization_id == organization_id,
        )
    )


When = Literal["past", "future"]


async def list_meetings(
    session: AsyncSession,
    viewer: Viewer,
    *,
    organization_id: int | None = None,
    since: date | None = None,
    until: date | None = None,
    when: When | None = None,
    page: int = 1,
    per_page: int = DEFAULT_PER_PAGE,
    now: datetime | None = None,
) -> Page[Meeting]:
    """The filterable list of meetings. Past meetings newest first; otherwise soonest first."""
    now = now or utcnow()
    stmt = meetings_query(viewer)
    if organization_id is not None:
        stmt = stmt.where(_meeting_of_org(organization_id))
    if since is not None:
        stmt = stmt.where(Meeting.start >= local_day_bounds(since, since)[0])
    if until is not None:
        stmt = stmt.where(Meeting.start < local_day_bounds(until, until)[1])
    if when == "past":
        stmt = stmt.where(Meeting.start < now).order_by(Meeting.start.desc(), Meeting.id.desc())
    elif when == "future":
        stmt = stmt.where(Meeting.start >= now).order_by(Meeting.start, Meeting.id)
    else:
        stmt = stmt.order_by(Meeting.start.desc(), Meeting.id.desc())
    return await _page(session, stmt, page, per_page)


@dataclass
class AgendaEntry:
    """An agenda item with what the page shows next to it (only what the viewer may see)."""

    item: AgendaItem
    papers: list[Paper] = field(default_factory=list)
    files: list[File] = field(default_factory=list)


@dataclass
class MeetingDetail:
    meeting: Meeting
    agenda: list[AgendaEntry]
    #: Agenda items that exist but are hidden from this viewer (non-public).
    hidden_items: int
    #: (label, file) pairs: invitation, protocols, auxiliary files — visible ones only.
    documents: list[tuple[str, File]]


async def get_meeting(session: AsyncSession, viewer: Viewer, meeting_id: int) -> Meeting | None:
    stmt = meetings_query(viewer).where(Meeting.id == meeting_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def meeting_agenda(
    session: AsyncSession, viewer: Viewer, meeting_id: int
) -> tuple[list[AgendaEntry], int]:
    """The visible agenda items of a meeting in order, and how many items are hidden."""
    stmt = (
        select(AgendaItem)
        .where(AgendaItem.meeting_id == meeting_id, agenda_item_visible(viewer))
        .options(
            selectinload(AgendaItem.resolution_file),
            selectinload(AgendaItem.auxiliary_files),
            selectinload(AgendaItem.consultations).selectinload(Consultation.paper),
        )
        .order_by(AgendaItem.order, AgendaItem.id)
    )
    items = list((await session.execute(stmt)).scalars().all())
    total = (
        await session.execute(
            select(func.count(AgendaItem.id)).where(
                AgendaItem.meeting_id == meeting_id, AgendaItem.deleted == false()
            )
        )
    ).scalar_one()
    paper_ids = {c.paper_id for it in items for c in it.consultations if not c.deleted}
    file_ids: set[int] = set()
    for it in items:
        if it.resolution_file_id is not None:
            file_ids.add(it.resolution_file_id)
        file_ids.update(f.id for f in it.auxiliary_files)
    papers_ok = await visible_paper_ids(session, viewer, paper_ids)
    files_ok = await visible_file_ids(session, viewer, file_ids)
    entries: list[AgendaEntry] = []
    for it in items:
        papers: list[Paper] = []
        for c in sorted(it.consultations, key=lambda c: c.id):
            if not c.deleted and c.paper_id in papers_ok and c.paper not in papers:
                papers.append(c.paper)
        files = [
            f
            for f in ([it.resolution_file] if it.resolution_file else []) + list(it.auxiliary_files)
            if f.id in files_ok
        ]
        entries.append(AgendaEntry(item=it, papers=papers, files=files))
    return entries, int(total) - len(items)


async def meeting_detail(session: AsyncSession, viewer: Viewer, meeting_id: int) -> MeetingDetail | None:
    stmt = (
        meetings_query(viewer)
        .where(Meeting.id == meeting_id)
        .options(
            selectinload(Meeting.invitation),
            selectinload(Meeting.results_protocol),
            selectinload(Meeting.verbatim_protocol),
            selectinload(Meeting.auxiliary_files),
        )
    )
    meeting = (await session.execute(stmt)).scalar_one_or_none()
    if meeting is None:
        return None
    agenda, hidden = await meeting_agenda(session, viewer, meeting_id)
    candidates: list[tuple[str, File | None]] = [
        ("Einladung", meeting.invitation),
        ("Ergebnisprotokoll", meeting.results_protocol),
        ("Wortprotokoll", meeting.verbatim_protocol),
        *(("Anlage", f) for f in meeting.auxiliary_files),
    ]
    ok = await visible_file_ids(session, viewer, (f.id for _, f in candidates if f is not None))
    documents = [(label, f) for label, f in candidates if f is not None and f.id in ok]
    return MeetingDetail(meeting=meeting, agenda=agenda, hidden_items=hidden, documents=documents)


async def public_agenda_titles(
    session: AsyncSession, meeting_ids: Sequence[int]
) -> dict[int, list[AgendaItem]]:
    """Public, not deleted agenda items per meeting (for feed descriptions, which are public)."""
    out: dict[int, list[AgendaItem]] = {mid: [] for mid in meeting_ids}
    if not meeting_ids:
        return out
    from council.records.access import ANONYMOUS

    stmt = (
        select(AgendaItem)
        .where(AgendaItem.meeting_id.in_(list(meeting_ids)), agenda_item_visible(ANONYMOUS))
        .order_by(AgendaItem.meeting_id, AgendaItem.order, AgendaItem.id)
    )
    for item in (await session.execute(stmt)).scalars().all():
        out[item.meeting_id].append(item)
    return out


async def feed_meetings(
    session: AsyncSession,
    viewer: Viewer,
    *,
    since: datetime,
    organization_id: int | None = None,
    limit: int = 2000,
) -> list[Meeting]:
    """Visible meetings with a start time from ``since`` on (calendar feeds)."""
    stmt = meetings_query(viewer).where(Meeting.start.is_not(None), Meeting.start >= since)
    if organization_id is not None:
        stmt = stmt.where(_meeting_of_org(organization_id))
    stmt = stmt.order_by(Meeting.start, Meeting.id).limit(limit)
    return list((await session.execute(stmt)).scalars().all())


# --- papers -------------------------------------------------------------------------------------


def papers_query(viewer: Viewer) -> Select[Paper]:
    return select(Paper).where(paper_visible(viewer))


def _paper_of_org(organization_id: int):  # type: ignore[no-untyped-def]
    return exists(
        select(Consultation.id)
        .join(consultation_organization, consultation_organization.c.consultation_id == Consultation.id)
        .where(
            Consultation.paper_id == Paper.id,
            Consultation.deleted == false(),
            consultation_organization.c.organization_id == organization_id,
        )
    )


async def list_papers(
    session: AsyncSession,
    viewer: Viewer,
    *,
    paper_type: str | None = None,
    organization_id: int | None = None,
    year: int | None = None,
    page: int = 1,
    per_page: int = DEFAULT_PER_PAGE,
) -> Page[Paper]:
    stmt = papers_query(viewer)
    if paper_type:
        stmt = stmt.where(Paper.paper_type == paper_type)
    if organization_id is not None:
        stmt = stmt.where(_paper_of_org(organization_id))
    if year is not None:
        stmt = stmt.where(Paper.date >= date(year, 1, 1), Paper.date <= date(year, 12, 31))
    stmt = stmt.order_by(Paper.date.desc().nulls_last(), Paper.id.desc())
    return await _page(session, stmt, page, per_page)


async def recent_papers(session: AsyncSession, viewer: Viewer, *, limit: int = 5) -> list[Paper]:
    stmt = papers_query(viewer).order_by(
        Paper.date.desc().nulls_last(), Paper.created.desc(), Paper.id.desc()
    )
    return list((await session.execute(stmt.limit(limit))).scalars().all())


async def newest_papers(session: AsyncSession, viewer: Viewer, *, limit: int = 50) -> list[Paper]:
    """The newest visible papers by creation (RSS/Atom): a new paper appears at the top."""
    stmt = (
        papers_query(viewer)
        .options(selectinload(Paper.originator_organizations), selectinload(Paper.originator_persons))
        .order_by(Paper.created.desc(), Paper.id.desc())
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars().all())


async def paper_types(session: AsyncSession, viewer: Viewer) -> list[str]:
    stmt = select(Paper.paper_type).distinct().where(paper_visible(viewer), Paper.paper_type.is_not(None))
    return sorted(t for t in (await session.execute(stmt)).scalars().all() if t)


async def paper_years(session: AsyncSession, viewer: Viewer) -> list[int]:
    year = extract("year", Paper.date)
    stmt = select(year).distinct().where(paper_visible(viewer), Paper.date.is_not(None))
    return sorted(
        {int(y) for y in (await session.execute(stmt)).scalars().all() if y is not None}, reverse=True
    )


@dataclass
class ConsultationStep:
    """One step of a paper's consultation path (Beratungsfolge), as far as the viewer may see it."""

    consultation: Consultation
    organizations: list[Organization]
    meeting: Meeting | None
    agenda_item: AgendaItem | None


@dataclass
class PaperDetail:
    paper: Paper
    path: list[ConsultationStep]
    main_file: File | None
    auxiliary_files: list[File]
    related: list[Paper]
    superordinated: list[Paper]
    subordinated: list[Paper]


async def paper_detail(session: AsyncSession, viewer: Viewer, paper_id: int) -> PaperDetail | None:
    stmt = (
        papers_query(viewer)
        .where(Paper.id == paper_id)
        .options(
            selectinload(Paper.main_file),
            selectinload(Paper.auxiliary_files),
            selectinload(Paper.related_papers),
            selectinload(Paper.superordinated_papers),
            selectinload(Paper.subordinated_papers),
            selectinload(Paper.originator_persons),
            selectinload(Paper.originator_organizations),
            selectinload(Paper.under_direction_of),
            selectinload(Paper.consultations).selectinload(Consultation.organizations),
            selectinload(Paper.consultations)
            .selectinload(Consultation.meeting)
            .selectinload(Meeting.organizations),
            selectinload(Paper.consultations).selectinload(Consultation.agenda_item),
        )
    )
    paper = (await session.execute(stmt)).scalar_one_or_none()
    if paper is None:
        return None
    consultations = [c for c in paper.consultations if not c.deleted]
    meetings_ok = await visible_meeting_ids(session, viewer, (c.meeting_id for c in consultations))
    items_ok = await visible_item_ids(session, viewer, (c.agenda_item_id for c in consultations))
    # A consultation without its own meeting link takes the meeting of its agenda item.
    path: list[ConsultationStep] = []
    for c in consultations:
        meeting = c.meeting if c.meeting_id in meetings_ok else None
        item = c.agenda_item if c.agenda_item_id in items_ok else None
        if meeting is None and item is not None:
            meeting = await get_meeting(session, viewer, item.meeting_id)
        orgs = [o for o in c.organizations if not o.deleted]
        if not orgs and meeting is not None:
            orgs = [o for o in meeting.organizations if not o.deleted]
        path.append(ConsultationStep(consultation=c, organizations=orgs, meeting=meeting, agenda_item=item))
    far_future = datetime.max.replace(tzinfo=UTC)
    path.sort(
        key=lambda s: (
            s.consultation.position,
            s.meeting.start if s.meeting is not None and s.meeting.start is not None else far_future,
            s.consultation.id,
        )
    )
    files = ([paper.main_file] if paper.main_file else []) + list(paper.auxiliary_files)
    files_ok = await visible_file_ids(session, viewer, (f.id for f in files))
    linked = [*paper.related_papers, *paper.superordinated_papers, *paper.subordinated_papers]
    papers_ok = await visible_paper_ids(session, viewer, (p.id for p in linked))
    return PaperDetail(
        paper=paper,
        path=path,
        main_file=paper.main_file if paper.main_file and paper.main_file.id in files_ok else None,
        auxiliary_files=[f for f in paper.auxiliary_files if f.id in files_ok],
        related=[p for p in paper.related_papers if p.id in papers_ok],
        superordinated=[p for p in paper.superordinated_papers if p.id in papers_ok],
        subordinated=[p for p in paper.subordinated_papers if p.id in papers_ok],
    )


# --- organizations ------------------------------------------------------------------------------

#: Display groups on /gremien, in this order.
ORGANIZATION_GROUPS = ("council", "committee", "faction", "administration", "other")


def organization_group(org: Organization) -> str:
    """Which group of the organisations page a body belongs to (from OParl type and classification)."""
    cls = (org.classification or "").casefold()
    typ = (org.organization_type or "").casefold()
    name = (org.name or "").casefold()
    if cls in ("rat", "stadtrat", "gemeinderat", "kreistag") or cls.startswith("rat"):
        return "council"
    if "fraktion" in typ or "fraktion" in cls or "gruppe" == cls:
        return "faction"
    if "verwaltung" in typ or "verwaltung" in cls:
        return "administration"
    if "ausschuss" in cls or "ausschuss" in name or "beirat" in cls or "kommission" in cls:
        return "committee"
    return "other"


async def list_organizations(session: AsyncSession) -> dict[str, list[Organization]]:
    stmt = (
        select(Organization)
        .where(Organization.deleted == false())
        .order_by(Organization.name, Organization.id)
    )
    groups: dict[str, list[Organization]] = {g: [] for g in ORGANIZATION_GROUPS}
    for org in (await session.execute(stmt)).scalars().all():
        groups[organization_group(org)].append(org)
    return groups


async def get_organization(session: AsyncSession, organization_id: int) -> Organization | None:
    stmt = (
        select(Organization)
        .where(Organization.id == organization_id, Organization.deleted == false())
        .options(selectinload(Organization.location))
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def organization_members(
    session: AsyncSession, organization_id: int, *, today: date | None = None
) -> list[Membership]:
    """Current memberships, people sorted by family name."""
    today = today or datetime.now(TZ).date()
    stmt = (
        select(Membership)
        .join(Person, Person.id == Membership.person_id)
        .where(
            Membership.organization_id == organization_id,
            Membership.deleted == false(),
            Person.deleted == false(),
            or_(Membership.start_date.is_(None), Membership.start_date <= today),
            or_(Membership.end_date.is_(None), Membership.end_date >= today),
        )
        .options(selectinload(Membership.person), selectinload(Membership.on_behalf_of))
        .order_by(func.coalesce(Person.family_name, Person.name), Person.given_name, Person.id)
    )
    return list((await session.execute(stmt)).scalars().all())


async def factions(session: AsyncSession) -> list[Organization]:
    groups = await list_organizations(session)
    return groups["faction"]


# --- persons ------------------------------------------------------------------------------------


def _sort_name(p: Person) -> tuple[str, str, int]:
    return ((p.family_name or p.name or "").casefold(), (p.given_name or "").casefold(), p.id)


async def list_persons(
    session: AsyncSession, *, faction_id: int | None = None, today: date | None = None
) -> list[Person]:
    """People in alphabetical order (family name); with a faction: its current members and those
    currently sitting on behalf of it."""
    today = today or datetime.now(TZ).date()
    stmt = select(Person).where(Person.deleted == false())
    if faction_id is not None:
        current = and_(
            Membership.person_id == Person.id,
            Membership.deleted == false(),
            or_(Membership.organization_id == faction_id, Membership.on_behalf_of_id == faction_id),
            or_(Membership.start_date.is_(None), Membership.start_date <= today),
            or_(Membership.end_date.is_(None), Membership.end_date >= today),
        )
        stmt = stmt.where(exists(select(Membership.id).where(current)))
    persons = list((await session.execute(stmt)).scalars().all())
    return sorted(persons, key=_sort_name)


async def get_person(session: AsyncSession, person_id: int) -> Person | None:
    stmt = (
        select(Person)
        .where(Person.id == person_id, Person.deleted == false())
        .options(
            selectinload(Person.memberships).selectinload(Membership.organization),
            selectinload(Person.memberships).selectinload(Membership.on_behalf_of),
        )
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def person_papers(
    session: AsyncSession, viewer: Viewer, person_id: int, *, limit: int = 100
) -> list[Paper]:
    stmt = (
        papers_query(viewer)
        .where(
            exists(
                select(paper_originator_person.c.paper_id).where(
                    paper_originator_person.c.paper_id == Paper.id,
                    paper_originator_person.c.person_id == person_id,
                )
            )
        )
        .order_by(Paper.date.desc().nulls_last(), Paper.id.desc())
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars().all())
