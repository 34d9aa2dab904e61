"""The queries behind the OParl URLs, for the anonymous viewer only, and the list filters.

* ``load_object(session, kind, id)``: the record at ``/oparl/v1/{kind}/{id}`` — visible, or a *tombstone*
  (deleted, but public while it existed: answered as ``deleted: true``), or ``None`` (404: never existed,
  or not public — indistinguishable from outside).
* ``list_page(session, kind, scope, params)``: one page of a list in stable id order, with the number of
  elements and the latest ``modified`` of the list. Deleted objects are included only when
  ``modified_since`` is given (OParl 1.1, "Gelöschte Objekte").
* ``parse_list_params(query)``: the filters ``created_since``, ``created_until``, ``modified_since``,
  ``modified_until`` (full date-times), ``omit_internal``, ``limit`` (a hint: 1..1000, default 100) and
  ``page``. Bad values raise ``BadListParameter`` (answered 400 with an OParl Error object).

Relationships that ``council.oparl.serialize`` reads are loaded with ``selectinload`` (no lazy loads: no
``MissingGreenlet``, no N+1): a page of 100 papers is a fixed number of queries.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, or_, select, true, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.interfaces import LoaderOption

from council.oparl.serialize import BERLIN, FileRefs, LocationRefs
from council.records.access import (
    ANONYMOUS,
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
    LegislativeTerm,
    Location,
    Meeting,
    Membership,
    Organization,
    Paper,
    Person,
    agenda_item_auxiliary_file,
    consultation_organization,
    meeting_auxiliary_file,
    meeting_organization,
    paper_auxiliary_file,
)

#: Largest id a URL may carry (PostgreSQL integer); larger ones are simply not found.
MAX_ID = 2**31 - 1
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_PAGE = 1_000_000


class BadListParameter(ValueError):
    """A list filter with a value the API cannot use (400)."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.message = message


# --- filters -----------------------------------------------------------------------------------------

_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(Z|[+-]\d{2}:?\d{2})?$"
)
#: "2024-01-01T00:00:00+01:00" put into a URL unencoded arrives with a space for the "+".
_SPACE_OFFSET = re.compile(r"^(.*T[\d:.]+) (\d{2}:?\d{2})$")

DATETIME_FILTERS = ("created_since", "created_until", "modified_since", "modified_until")


def parse_datetime(name: str, raw: str) -> datetime:
    """A full date-time with or without offset (without: Europe/Berlin) → aware datetime."""
    value = raw.strip()
    repaired = _SPACE_OFFSET.match(value)
    if repaired:
        value = f"{repaired.group(1)}+{repaired.group(2)}"
    if not _DATETIME.match(value):
        raise BadListParameter(
            name, f"{name}: expected a full date-time like 2024-01-31T18:00:00+01:00, got {raw[:60]!r}"
        )
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=BERLIN)
        parsed.astimezone(BERLIN)  # out-of-range offsets near year 1/9999 fail here
    except (ValueError, OverflowError):
        raise BadListParameter(name, f"{name}: not a valid date-time: {raw[:60]!r}") from None
    return parsed


def _positive_int(name: str, raw: str, maximum: int | None = None) -> int:
    value = raw.strip()
    if not value.isascii() or not value.isdigit() or len(value) > 12 or int(value) < 1:
        raise BadListParameter(name, f"{name}: expected a positive whole number, got {raw[:60]!r}")
    number = int(value)
    if maximum is not None and number > maximum:
        raise BadListParameter(name, f"{name}: at most {maximum}")
    return number


def _flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("", "true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise BadListParameter(name, f"{name}: expected true or false, got {raw[:60]!r}")


@dataclass(frozen=True)
class ListParams:
    created_since: datetime | None = None
    created_until: datetime | None = None
    modified_since: datetime | None = None
    modified_until: datetime | None = None
    omit_internal: bool = False
    limit: int = DEFAULT_LIMIT
    #: Whether the client asked for a limit (then it is carried into the links).
    limit_given: bool = False
    page: int = 1

    @property
    def include_deleted(self) -> bool:
        return self.modified_since is not None

    def query(self, page: int) -> dict[str, str]:
        """The active filters as query parameters for a link to ``page`` (the first page has no ``page``)."""
        out: dict[str, str] = {}
        for name in DATETIME_FILTERS:
            value: datetime | None = getattr(self, name)
            if value is not None:
                out[name] = value.astimezone(BERLIN).isoformat()
        if self.omit_internal:
            out["omit_internal"] = "true"
        if self.limit_given:
            out["limit"] = str(self.limit)
        if page > 1:
            out["page"] = str(page)
        return out

    def link(self, url: str, page: int) -> str:
        query = self.query(page)
        return f"{url}?{urlencode(query, quote_via=quote)}" if query else url


def parse_list_params(query: Mapping[str, str]) -> ListParams:
    """Read the list filters from the query string; unknown parameters are ignored."""
    values: dict[str, Any] = {}
    for name in DATETIME_FILTERS:
        raw = query.get(name)
        if raw is not None:
            values[name] = parse_datetime(name, raw)
    for since, until in (("created_since", "created_until"), ("modified_since", "modified_until")):
        if values.get(since) and values.get(until) and values[since] > values[until]:
            raise BadListParameter(until, f"{until} is before {since}")
    raw = query.get("omit_internal")
    if raw is not None:
        values["omit_internal"] = _flag("omit_internal", raw)
    raw = query.get("limit")
    if raw is not None:
        values["limit"] = min(_positive_int("limit", raw), MAX_LIMIT)
        values["limit_given"] = True
    raw = query.get("page")
    if raw is not None:
        values["page"] = _positive_int("page", raw, MAX_PAGE)
    return ListParams(**values)


def _until(column: Any, value: datetime) -> ColumnElement[bool]:
    """``until`` includes the whole second it names (emitted date-times are to the second)."""
    if value.microsecond == 0:
        return column < value + timedelta(seconds=1)
    return column <= value


def filter_clauses(model: Any, params: ListParams) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if params.created_since is not None:
        clauses.append(model.created >= params.created_since)
    if params.created_until is not None:
        clauses.append(_until(model.created, params.created_until))
    if params.modified_since is not None:
        clauses.append(model.modified >= params.modified_since)
    if params.modified_until is not None:
        clauses.append(_until(model.modified, params.modified_until))
    return clauses


# --- what each kind is, who sees it, what to load ----------------------------------------------------


@dataclass(frozen=True)
class Kind:
    model: Any
    #: Rows an anonymous visitor sees in full.
    visible: ColumnElement[bool]
    #: Rows answered as ``deleted: true`` (deleted, and public while they existed).
    tombstone: ColumnElement[bool]
    options: Sequence[LoaderOption] = field(default_factory=tuple)


def _kinds() -> dict[str, Kind]:
    anon = ANONYMOUS
    person_alive = Membership.person_id.in_(select(Person.id).where(Person.deleted == false()))
    paper_public = Consultation.paper_id.in_(select(Paper.id).where(paper_visible(anon)))
    return {
        "body": Kind(
            Body,
            Body.deleted == false(),
            Body.deleted == true(),
            (selectinload(Body.legislative_terms), selectinload(Body.location)),
        ),
        "legislative-term": Kind(
            LegislativeTerm, LegislativeTerm.deleted == false(), LegislativeTerm.deleted == true()
        ),
        "location": Kind(Location, Location.deleted == false(), Location.deleted == true()),
        "organization": Kind(
            Organization,
            Organization.deleted == false(),
            Organization.deleted == true(),
            (
                selectinload(Organization.location),
                selectinload(Organization.memberships).selectinload(Membership.person),
            ),
        ),
        "person": Kind(
            Person,
            Person.deleted == false(),
            Person.deleted == true(),
            (selectinload(Person.location), selectinload(Person.memberships)),
        ),
        "membership": Kind(
            Membership,
            and_(Membership.deleted == false(), person_alive),
            or_(Membership.deleted == true(), ~person_alive),
        ),
        "meeting": Kind(
            Meeting,
            meeting_visible(anon),
            and_(Meeting.deleted == true(), Meeting.public == true()),
            (
                selectinload(Meeting.location),
                selectinload(Meeting.organizations),
                selectinload(Meeting.invitation),
                selectinload(Meeting.results_protocol),
                selectinload(Meeting.verbatim_protocol),
                selectinload(Meeting.auxiliary_files),
                selectinload(Meeting.agenda_items).selectinload(AgendaItem.resolution_file),
                selectinload(Meeting.agenda_items).selectinload(AgendaItem.auxiliary_files),
                selectinload(Meeting.agenda_items)
                .selectinload(AgendaItem.consultations)
                .selectinload(Consultation.paper),
            ),
        ),
        "agenda-item": Kind(
            AgendaItem,
            # agenda_item_visible(ANONYMOUS), written as a non-correlated IN: SQLite and PostgreSQL
            # evaluate it once per query instead of once per row (43,000 items at 10 years).
            and_(
                AgendaItem.deleted == false(),
                AgendaItem.public == true(),
                AgendaItem.meeting_id.in_(select(Meeting.id).where(meeting_visible(anon))),
            ),
            and_(
                AgendaItem.public == true(),
                exists(
                    select(Meeting.id).where(
                        Meeting.id == AgendaItem.meeting_id,
                        Meeting.public == true(),
                        or_(Meeting.deleted == true(), AgendaItem.deleted == true()),
                    )
                ),
            ),
            (
                selectinload(AgendaItem.meeting),
                selectinload(AgendaItem.resolution_file),
                selectinload(AgendaItem.auxiliary_files),
                selectinload(AgendaItem.consultations).selectinload(Consultation.paper),
            ),
        ),
        "paper": Kind(
            Paper,
            paper_visible(anon),
            and_(Paper.deleted == true(), Paper.public == true()),
            (
                selectinload(Paper.main_file),
                selectinload(Paper.auxiliary_files),
                selectinload(Paper.related_papers),
                selectinload(Paper.superordinated_papers),
                selectinload(Paper.subordinated_papers),
                selectinload(Paper.originator_persons),
                selectinload(Paper.originator_organizations),
                selectinload(Paper.under_direction_of),
                selectinload(Paper.consultations)
                .selectinload(Consultation.agenda_item)
                .selectinload(AgendaItem.meeting),
                selectinload(Paper.consultations).selectinload(Consultation.meeting),
                selectinload(Paper.consultations).selectinload(Consultation.organizations),
            ),
        ),
        "consultation": Kind(
            Consultation,
            and_(Consultation.deleted == false(), paper_public),
            exists(
                select(Paper.id).where(
                    Paper.id == Consultation.paper_id,
                    Paper.public == true(),
                    or_(Paper.deleted == true(), Consultation.deleted == true()),
                )
            ),
            (
                selectinload(Consultation.agenda_item).selectinload(AgendaItem.meeting),
                selectinload(Consultation.meeting),
                selectinload(Consultation.organizations),
            ),
        ),
        "file": Kind(File, file_visible(anon), and_(File.deleted == true(), File.public == true())),
    }


KIND_SPECS: dict[str, Kind] = _kinds()


async def first_body_id(session: AsyncSession) -> int | None:
    result = await session.execute(select(func.min(Body.id)))
    value = result.scalar()
    return int(value) if value is not None else None


def body_scope(kind: str, body_id: int, first_body: int | None) -> ColumnElement[bool]:
    """Rows of ``kind`` that belong to body ``body_id``. Files and locations without a body (uploads not
    tied to anything yet) are listed under the first body so that every object is in some list."""
    if kind in ("organization", "person", "meeting", "paper", "legislative-term"):
        model = KIND_SPECS[kind].model
        return model.body_id == body_id  # type: ignore[no-any-return]
    if kind == "agenda-item":
        return AgendaItem.meeting_id.in_(select(Meeting.id).where(Meeting.body_id == body_id))
    if kind == "consultation":
        return Consultation.paper_id.in_(select(Paper.id).where(Paper.body_id == body_id))
    if kind == "membership":
        return Membership.person_id.in_(select(Person.id).where(Person.body_id == body_id))
    if kind in ("file", "location"):
        model = File if kind == "file" else Location
        if first_body == body_id:
            return or_(model.body_id == body_id, model.body_id.is_(None))
        return model.body_id == body_id  # type: ignore[no-any-return]
    raise KeyError(kind)


def organization_scope(kind: str, organization_id: int) -> ColumnElement[bool]:
    if kind == "meeting":
        return Meeting.id.in_(
            select(meeting_organization.c.meeting_id).where(
                meeting_organization.c.organization_id == organization_id
            )
        )
    if kind == "consultation":
        return Consultation.id.in_(
            select(consultation_organization.c.consultation_id).where(
                consultation_organization.c.organization_id == organization_id
            )
        )
    raise KeyError(kind)


# --- objects -------------------------------------------------------------------------------------------


@dataclass
class Found:
    record: Any
    #: Answer with the ``deleted: true`` stub.
    deleted: bool


async def load_object(session: AsyncSession, kind: str, record_id: int) -> Found | None:
    spec = KIND_SPECS[kind]
    if not 0 < record_id <= MAX_ID:
        return None
    stmt = (
        select(spec.model, spec.visible.label("visible"))
        .where(spec.model.id == record_id, or_(spec.visible, spec.tombstone))
        .options(*spec.options)
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    return Found(row[0], not bool(row[1]))


# --- lists ---------------------------------------------------------------------------------------------


@dataclass
class Page:
    items: list[Found]
    total: int
    limit: int
    page: int
    last_modified: datetime | None

    @property
    def total_pages(self) -> int:
        return max(1, math.ceil(self.total / self.limit))


async def list_page(session: AsyncSession, kind: str, scope: ColumnElement[bool], params: ListParams) -> Page:
    spec = KIND_SPECS[kind]
    model = spec.model
    shown = or_(spec.visible, spec.tombstone) if params.include_deleted else spec.visible
    where = [scope, *filter_clauses(model, params)]
    stats_stmt = select(func.count().filter(shown), func.max(model.modified)).where(
        *where, or_(spec.visible, spec.tombstone)
    )
    stats = (await session.execute(stats_stmt)).one()
    total = int(stats[0] or 0)
    last_modified = _aware(stats[1])
    items: list[Found] = []
    offset = (params.page - 1) * params.limit
    if total and offset < total:
        stmt: Select[Any] = (
            select(model, spec.visible.label("visible"))
            .where(*where, shown)
            .order_by(model.id)
            .limit(params.limit)
            .offset(offset)
            .options(*spec.options)
        )
        rows = (await session.execute(stmt)).all()
        items = [Found(r[0], not bool(r[1])) for r in rows]
    return Page(items=items, total=total, limit=params.limit, page=params.page, last_modified=last_modified)


# --- back-references computed per page -------------------------------------------------------------------


def _collect(rows: Sequence[Any]) -> dict[int, list[int]]:
    out: dict[int, set[int]] = {}
    for key, value in rows:
        out.setdefault(int(key), set()).add(int(value))
    return {k: sorted(v) for k, v in out.items()}


async def file_refs(session: AsyncSession, file_ids: Sequence[int]) -> dict[int, FileRefs]:
    """Visible meetings, agenda items and papers that use each file."""
    ids = list(file_ids)
    refs = {i: FileRefs() for i in ids}
    if not ids:
        return refs
    anon = ANONYMOUS
    papers = union_all(
        select(Paper.main_file_id.label("f"), Paper.id.label("r")).where(
            Paper.main_file_id.in_(ids), paper_visible(anon)
        ),
        select(paper_auxiliary_file.c.file_id.label("f"), Paper.id.label("r"))
        .join(Paper, Paper.id == paper_auxiliary_file.c.paper_id)
        .where(paper_auxiliary_file.c.file_id.in_(ids), paper_visible(anon)),
    )
    meeting_selects = [
        select(col.label("f"), Meeting.id.label("r")).where(col.in_(ids), meeting_visible(anon))
        for col in (Meeting.invitation_id, Meeting.results_protocol_id, Meeting.verbatim_protocol_id)
    ]
    meetings = union_all(
        *meeting_selects,
        select(meeting_auxiliary_file.c.file_id.label("f"), Meeting.id.label("r"))
        .join(Meeting, Meeting.id == meeting_auxiliary_file.c.meeting_id)
        .where(meeting_auxiliary_file.c.file_id.in_(ids), meeting_visible(anon)),
    )
    items = union_all(
        select(AgendaItem.resolution_file_id.label("f"), AgendaItem.id.label("r")).where(
            AgendaItem.resolution_file_id.in_(ids), agenda_item_visible(anon)
        ),
        select(agenda_item_auxiliary_file.c.file_id.label("f"), AgendaItem.id.label("r"))
        .join(AgendaItem, AgendaItem.id == agenda_item_auxiliary_file.c.agenda_item_id)
        .where(agenda_item_auxiliary_file.c.file_id.in_(ids), agenda_item_visible(anon)),
    )
    for attr, query in (("papers", papers), ("meetings", meetings), ("agenda_items", items)):
        rows = (await session.execute(query)).all()
        for file_id, ref_ids in _collect(rows).items():
            if file_id in refs:
                setattr(refs[file_id], attr, ref_ids)
    return refs


async def location_refs(session: AsyncSession, location_ids: Sequence[int]) -> dict[int, LocationRefs]:
    ids = list(location_ids)
    refs = {i: LocationRefs() for i in ids}
    if not ids:
        return refs
    queries: list[tuple[str, Any]] = [
        (
            "bodies",
            select(Body.location_id, Body.id).where(Body.location_id.in_(ids), Body.deleted == false()),
        ),
        (
            "organizations",
            select(Organization.location_id, Organization.id).where(
                Organization.location_id.in_(ids), Organization.deleted == false()
            ),
        ),
        (
            "persons",
            select(Person.location_id, Person.id).where(
                Person.location_id.in_(ids), Person.deleted == false()
            ),
        ),
        (
            "meetings",
            select(Meeting.location_id, Meeting.id).where(
                Meeting.location_id.in_(ids), meeting_visible(ANONYMOUS)
            ),
        ),
    ]
    for attr, stmt in queries:
        rows = (await session.execute(stmt)).all()
        for location_id, ref_ids in _collect(rows).items():
            if location_id in refs:
                setattr(refs[location_id], attr, ref_ids)
    return refs


async def system_dates(session: AsyncSession) -> tuple[datetime | None, datetime | None]:
    row = (await session.execute(select(func.min(Body.created), func.max(Body.modified)))).one()
    return _aware(row[0]), _aware(row[1])


def _aware(value: Any) -> datetime | None:
    """Aggregates (min/max) may come back naive or as text on SQLite: make them aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value  # type: ignore[no-any-return]


__all__ = [
    "KIND_SPECS",
    "BadListParameter",
    "Found",
    "ListParams",
    "Page",
    "body_scope",
    "file_refs",
    "first_body_id",
    "list_page",
    "load_object",
    "location_refs",
    "organization_scope",
    "parse_list_params",
    "system_dates",
]
