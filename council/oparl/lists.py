"""The queries behind the OParl URLs, for the anonymous viewer only, and the list filters.

* ``load_object(session, kind, id)``: the record at ``/oparl/v1/{kind}/{id}`` — visible, or a *tombstone*
  (deleted, but public while it existed: answered as ``deleted: true``), or ``None`` (404: never existed,
  or not public — indistinguishable from outside).
* ``list_page(session, kind, scope, params)``: one page of a list in stable id order. Deleted objects are
  included only when ``modified_since`` is given (OParl 1.1, "Gelöschte Objekte"). Two ways to page:

  - **keyset** (what the links use): ``after=<id>`` (the elements with a larger id) or ``before=<id>``
    (the elements just before that id). No OFFSET, no count: a deep page costs what the first one does.
    One row more than ``limit`` is fetched to know whether there is a next (``after``) or previous
    (``before``) page; the other direction is one indexed ``LIMIT 1`` probe.
  - **numbered** (``page=N``, kept for clients that compute page URLs): OFFSET plus a count. The first
    page (no ``page``/``after``/``before``) also carries the count, for ``pagination`` and ``last``.
* ``parse_list_params(query)``: the filters ``created_since``, ``created_until``, ``modified_since``,
  ``modified_until`` (full date-times), ``omit_internal``, ``limit`` (a hint: 1..1000, default 100;
  meetings 10, papers and files 50, see ``DEFAULT_LIMITS``),
  ``page``, ``after`` and ``before``. Bad values raise ``BadListParameter`` (answered 400 with an OParl
  Error object).

Papers, meetings, agenda items, files and consultations (``ROW_KINDS``) are read as Core rows with
their embedded objects attached by a few page-wide row queries (``attach_rows``); the other kinds load
what ``council.oparl.serialize`` reads with ``selectinload``. Either way no lazy loads (no
``MissingGreenlet``), no N+1: a page is a fixed number of queries whatever its size
(tests/integration/test_oparl_api.py counts them). Embedded File copies are read without their
``text`` (it is only on the standalone File and in the files list).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    exists,
    false,
    func,
    literal,
    null,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, defer, selectinload, undefer
from sqlalchemy.orm.interfaces import LoaderOption

from council.oparl.cache import Counts
from council.oparl.serialize import BERLIN, ConsultationRefs, FileRefs, LocationRefs, PaperRefs
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
    paper_hierarchy,
    paper_originator_organization,
    paper_originator_person,
    paper_related,
    paper_under_direction_of,
)

#: Largest id a URL may carry (PostgreSQL integer); larger ones are simply not found.
MAX_ID = 2**31 - 1
DEFAULT_LIMIT = 100
#: Default page sizes of lists whose objects are big: a meeting embeds its ~20 agenda items and their
#: files (100 meetings are ~2,200 agenda items and 1.5 MB of JSON; 10 are ~170 kB), a paper its files
#: and consultations (50: ~100 kB), a file in the files list carries its extracted text (50: 80-200 kB).
#: OParl 1.1 leaves the page size to the server; ``limit`` still asks for more (up to ``MAX_LIMIT``), and
#: the links carry it.
DEFAULT_LIMITS = {"meeting": 10, "paper": 50, "file": 50}
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
    #: ``page`` was given: numbered paging (OFFSET and a count).
    page_given: bool = False
    #: Keyset paging: the elements after / just before this id.
    after: int | None = None
    before: int | None = None

    @property
    def include_deleted(self) -> bool:
        return self.modified_since is not None

    @property
    def keyset(self) -> bool:
        return self.after is not None or self.before is not None

    def query(self, page: int = 1, *, after: int | None = None, before: int | None = None) -> dict[str, str]:
        """The active filters as query parameters for a link to ``page`` (the first page has no ``page``),
        or to the keyset page ``after``/``before`` an id."""
        out: dict[str, str] = {}
        for name in DATETIME_FILTERS:
            value: datetime | None = getattr(self, name)
            if value is not None:
                out[name] = value.astimezone(BERLIN).isoformat()
        if self.omit_internal:
            out["omit_internal"] = "true"
        if self.limit_given:
            out["limit"] = str(self.limit)
        if after is not None:
            out["after"] = str(after)
        elif before is not None:
            out["before"] = str(before)
        elif page > 1:
            out["page"] = str(page)
        return out

    def link(self, url: str, page: int = 1, *, after: int | None = None, before: int | None = None) -> str:
        query = self.query(page, after=after, before=before)
        return f"{url}?{urlencode(query, quote_via=quote)}" if query else url

    def self_link(self, url: str) -> str:
        """The link to the page these parameters name."""
        if self.keyset:
            return self.link(url, after=self.after, before=self.before)
        return self.link(url, self.page if self.page_given else 1)


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
        values["page_given"] = True
    for name in ("after", "before"):
        raw = query.get(name)
        if raw is not None:
            # after=0: from the start (a client may begin a keyset walk that way)
            zero = name == "after" and raw.strip() == "0"
            values[name] = 0 if zero else _positive_int(name, raw, MAX_ID)
    given = [n for n in ("page", "after", "before") if query.get(n) is not None]
    if len(given) > 1:
        raise BadListParameter(given[1], f"{given[1]}: use only one of page, after and before")
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
    #: The same two, written for keyset pages: a correlated EXISTS per row instead of a non-correlated
    #: IN. A keyset page walks the primary key from the cursor and stops after ``limit`` + 1 rows, so
    #: one primary-key lookup per row is cheap, while the IN list (all visible parents: 22,000 papers
    #: at 10 years) is built in full for every query and, on SQLite, makes the planner read the child
    #: table through the parent-id index and sort (50 ms instead of 1 ms for consultations). Where
    #: ``None``, ``visible``/``tombstone`` serve both.
    keyset_visible: ColumnElement[bool] | None = None
    keyset_tombstone: ColumnElement[bool] | None = None

    def shown(
        self, *, keyset: bool, include_deleted: bool
    ) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
        """(visible, shown): the rows answered in full, and the rows on the page."""
        visible = self.keyset_visible if keyset and self.keyset_visible is not None else self.visible
        tombstone = self.keyset_tombstone if keyset and self.keyset_tombstone is not None else self.tombstone
        return visible, (or_(visible, tombstone) if include_deleted else visible)


#: Embedded File copies carry no ``text`` (docs/oparl.md): don't load it (``raiseload``: a serialiser that
#: reads it anyway fails loudly instead of lazy-loading).
_NO_TEXT = defer(File.text, raiseload=True)


def _kinds() -> dict[str, Kind]:
    anon = ANONYMOUS
    person_alive = Membership.person_id.in_(select(Person.id).where(Person.deleted == false()))
    person_alive_row = exists(
        select(Person.id).where(Person.id == Membership.person_id, Person.deleted == false())
    )
    paper_public_row = exists(select(Paper.id).where(Paper.id == Consultation.paper_id, paper_visible(anon)))
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
            keyset_visible=and_(Membership.deleted == false(), person_alive_row),
            keyset_tombstone=or_(Membership.deleted == true(), ~person_alive_row),
        ),
        "meeting": Kind(
            Meeting,
            meeting_visible(anon),
            and_(Meeting.deleted == true(), Meeting.public == true()),
            (
                selectinload(Meeting.location),
                selectinload(Meeting.organizations),
                selectinload(Meeting.invitation).options(_NO_TEXT),
                selectinload(Meeting.results_protocol).options(_NO_TEXT),
                selectinload(Meeting.verbatim_protocol).options(_NO_TEXT),
                selectinload(Meeting.auxiliary_files).options(_NO_TEXT),
                selectinload(Meeting.agenda_items).selectinload(AgendaItem.resolution_file).options(_NO_TEXT),
                selectinload(Meeting.agenda_items).selectinload(AgendaItem.auxiliary_files).options(_NO_TEXT),
                # an item's consultation: first_consultations(), one query for the page
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
                selectinload(AgendaItem.resolution_file).options(_NO_TEXT),
                selectinload(AgendaItem.auxiliary_files).options(_NO_TEXT),
                # an item's consultation: first_consultations(), one query for the page
            ),
            keyset_visible=agenda_item_visible(anon),
        ),
        "paper": Kind(
            Paper,
            paper_visible(anon),
            and_(Paper.deleted == true(), Paper.public == true()),
            (
                selectinload(Paper.main_file).options(_NO_TEXT),
                selectinload(Paper.auxiliary_files).options(_NO_TEXT),
                # related papers, originators, ...: paper_refs(); a consultation's links:
                # consultation_refs() — one query each for the page
                selectinload(Paper.consultations),
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
            (),  # its links: consultation_refs(), one query for the page
            keyset_visible=and_(Consultation.deleted == false(), paper_public_row),
        ),
        "file": Kind(
            File,
            file_visible(anon),
            and_(File.deleted == true(), File.public == true()),
            # the standalone File and the files list carry the text (deferred on the model)
            (undefer(File.text),),
        ),
    }


KIND_SPECS: dict[str, Kind] = _kinds()


async def first_body_id(session: AsyncSession) -> int | None:
    result = await session.execute(select(func.min(Body.id)))
    value = result.scalar()
    return int(value) if value is not None else None


async def body_list_start(session: AsyncSession, body_id: int) -> tuple[bool, int | None]:
    """Before a list under ``/body/{id}/``: whether that body is visible, and the first body's id (see
    ``body_scope``) — one statement (``is_visible`` and ``first_body_id`` together)."""
    if not 0 < body_id <= MAX_ID:
        return False, None
    visible = exists(select(Body.id).where(Body.id == body_id, KIND_SPECS["body"].visible))
    found, first = (await session.execute(select(visible, select(func.min(Body.id)).scalar_subquery()))).one()
    return bool(found), int(first) if first is not None else None


def body_scope(
    kind: str, body_id: int, first_body: int | None, *, correlated: bool = False
) -> ColumnElement[bool]:
    """Rows of ``kind`` that belong to body ``body_id``. Files and locations without a body (uploads not
    tied to anything yet) are listed under the first body so that every object is in some list.
    ``correlated``: the form for keyset pages (see ``Kind.keyset_visible``)."""
    if correlated and kind == "agenda-item":
        return exists(
            select(Meeting.id).where(Meeting.id == AgendaItem.meeting_id, Meeting.body_id == body_id)
        )
    if correlated and kind == "consultation":
        return exists(select(Paper.id).where(Paper.id == Consultation.paper_id, Paper.body_id == body_id))
    if correlated and kind == "membership":
        return exists(select(Person.id).where(Person.id == Membership.person_id, Person.body_id == body_id))
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
            # (not ``body_id = :id OR body_id IS NULL``: SQLite answers that OR from the body_id index,
            # all 27,000 files at 10 years, even where the id range of a keyset page is the better way)
            return func.coalesce(model.body_id, body_id) == body_id  # type: ignore[no-any-return]
        return model.body_id == body_id  # type: ignore[no-any-return]
    raise KeyError(kind)


def organization_scope(kind: str, organization_id: int, *, correlated: bool = False) -> ColumnElement[bool]:
    if correlated and kind == "meeting":
        return exists(
            select(meeting_organization.c.meeting_id).where(
                meeting_organization.c.meeting_id == Meeting.id,
                meeting_organization.c.organization_id == organization_id,
            )
        )
    if correlated and kind == "consultation":
        return exists(
            select(consultation_organization.c.consultation_id).where(
                consultation_organization.c.consultation_id == Consultation.id,
                consultation_organization.c.organization_id == organization_id,
            )
        )
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


async def load_object(
    session: AsyncSession, kind: str, record_id: int, *, for_json: bool = True
) -> Found | None:
    """``for_json=False``: the record alone, without what its JSON needs (a file download does not need
    the extracted text)."""
    spec = KIND_SPECS[kind]
    if not 0 < record_id <= MAX_ID:
        return None
    where = (spec.model.id == record_id, or_(spec.visible, spec.tombstone))
    if for_json and kind in ROW_KINDS:
        row_stmt = _row_select(kind, spec.visible).where(*where)
        found = _found_rows(kind, (await session.execute(row_stmt)).all())
        if not found:
            return None
        await attach_rows(session, kind, [f.record for f in found if not f.deleted])
        return found[0]
    stmt = (
        select(spec.model, spec.visible.label("visible"))
        .where(*where)
        .options(*(spec.options if for_json else ()))
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    return Found(row[0], not bool(row[1]))


async def is_visible(session: AsyncSession, kind: str, record_id: int) -> bool:
    """Whether ``/oparl/v1/{kind}/{id}`` is a visible (not deleted) object — the check before a list under
    it, without loading the record and its relationships (an organisation's are all its memberships)."""
    spec = KIND_SPECS[kind]
    if not 0 < record_id <= MAX_ID:
        return False
    stmt = select(spec.model.id).where(spec.model.id == record_id, spec.visible)
    return (await session.execute(stmt)).first() is not None


# --- lists ---------------------------------------------------------------------------------------------


@dataclass
class Page:
    items: list[Found]
    limit: int
    last_modified: datetime | None
    #: Elements in the whole list (numbered pages and the first page only: it costs a count).
    total: int | None = None
    #: The page number (numbered pages and the first page), ``None`` on keyset pages.
    page: int | None = None
    has_next: bool = False
    has_prev: bool = False

    @property
    def total_pages(self) -> int | None:
        if self.total is None:
            return None
        return max(1, math.ceil(self.total / self.limit))

    @property
    def first_id(self) -> int | None:
        return self.items[0].record.id if self.items else None

    @property
    def last_id(self) -> int | None:
        return self.items[-1].record.id if self.items else None


Scope = ColumnElement[bool] | Callable[[bool], ColumnElement[bool]]


#: The tables a list's count and ``Last-Modified`` read (besides link tables: a change to a record's
#: links bumps its ``modified``): their latest ``modified`` tags a cached count (``council.oparl.cache``).
COUNT_TABLES: dict[str, tuple[Any, ...]] = {
    "body": (Body,),
    "legislative-term": (LegislativeTerm,),
    "location": (Location,),
    "organization": (Organization,),
    "person": (Person,),
    "membership": (Membership, Person),
    "meeting": (Meeting,),
    "agenda-item": (AgendaItem, Meeting),
    "paper": (Paper,),
    "consultation": (Consultation, Paper),
    "file": (File,),
}
#: One statement per kind: the latest ``modified`` of each of its tables (an index lookup each).
_VERSIONS = {
    kind: select(*(select(func.max(m.modified)).scalar_subquery() for m in models))
    for kind, models in COUNT_TABLES.items()
}


async def list_page(
    session: AsyncSession,
    kind: str,
    scope: Scope,
    params: ListParams,
    *,
    counts: Counts | None = None,
    count_key: Hashable | None = None,
) -> Page:
    """``scope``: the rows of the list, or a function of ``correlated`` giving them (``body_scope``):
    keyset pages use the correlated form. ``counts``: a cache of the lists' counts and ``Last-Modified``
    (first and numbered pages), ``count_key``: what names the list besides its kind and filters (the
    parent's kind and id)."""
    spec = KIND_SPECS[kind]
    model = spec.model
    if not params.limit_given and kind in DEFAULT_LIMITS:
        params = replace(params, limit=DEFAULT_LIMITS[kind])
    correlated_scope = None
    if callable(scope):
        correlated_scope = scope(True)
        scope = scope(params.keyset)
    where = [scope, *filter_clauses(model, params)]
    if params.keyset:
        visible, shown = spec.shown(keyset=True, include_deleted=params.include_deleted)
        return await _keyset_page(session, kind, spec, where, visible, shown, params)
    shown = or_(spec.visible, spec.tombstone) if params.include_deleted else spec.visible
    stats: tuple[int, datetime | None] | None = None
    cache_key: Hashable = None
    version: Any = None
    if counts is not None and count_key is not None:
        # The versions first: a change committed between the two statements leaves the count tagged
        # with the older version, which the next request does not take.
        version = tuple((await session.execute(_VERSIONS[kind])).one())
        cache_key = (kind, count_key, *(getattr(params, name) for name in DATETIME_FILTERS))
        stats = counts.get(cache_key, version)
    if stats is None:
        stats = await _stats(session, kind, spec, where, shown, params)
        if counts is not None and cache_key is not None:
            counts.put(cache_key, version, stats)
    total, last_modified = stats
    items: list[Found] = []
    offset = (params.page - 1) * params.limit
    if total and offset < total:
        if offset == 0:
            # The first page: walk the primary key like a keyset page (correlated visibility, no OFFSET).
            first_where = [
                correlated_scope if correlated_scope is not None else scope,
                *filter_clauses(model, params),
            ]
            visible, first_shown = spec.shown(keyset=True, include_deleted=params.include_deleted)
            stmt = _page_select(kind, spec, visible).where(*first_where, first_shown).order_by(model.id)
            rows = (await session.execute(stmt.limit(params.limit))).all()
        else:
            stmt = _page_select(kind, spec, spec.visible).where(*where, shown).order_by(model.id)
            rows = (await session.execute(stmt.limit(params.limit).offset(offset))).all()
        items = await _found(session, kind, rows)
    pages = max(1, math.ceil(total / params.limit))
    return Page(
        items=items,
        limit=params.limit,
        last_modified=last_modified,
        total=total,
        page=params.page,
        has_next=params.page < pages,
        has_prev=1 < params.page <= pages + 1,
    )


async def _stats(
    session: AsyncSession,
    kind: str,
    spec: Kind,
    where: list[ColumnElement[bool]],
    shown: ColumnElement[bool],
    params: ListParams,
) -> tuple[int, datetime | None]:
    """The list's count and its latest ``modified`` (``Last-Modified`` of first and numbered pages)."""
    model = spec.model
    joined = _STATS_JOINS.get(kind)
    if joined is not None:
        # the same count as a join with the parent (see _STATS_JOINS)
        parent, on, listed, visible_joined = joined
        stats_stmt = (
            select(
                func.count() if params.include_deleted else func.count().filter(visible_joined),
                func.max(model.modified),
            )
            .select_from(model)
            .join(parent, on)
            .where(*where, listed)
        )
    else:
        stats_stmt = select(func.count().filter(shown), func.max(model.modified)).where(
            *where, or_(spec.visible, spec.tombstone)
        )
    stats = (await session.execute(stats_stmt)).one()
    return int(stats[0] or 0), _aware(stats[1])


#: Counting a list whose visibility depends on a parent row (an agenda item's meeting, a consultation's
#: paper): a join with the parent instead of IN (all visible parents) plus a correlated EXISTS per row for
#: the tombstones (80 ms for the consultations of 10 years on SQLite). Per kind: (parent, join condition,
#: the rows of the list, visible or tombstone: ``visible OR tombstone`` of ``KIND_SPECS``, simplified;
#: the visible ones).
_STATS_JOINS: dict[str, tuple[Any, ColumnElement[bool], ColumnElement[bool], ColumnElement[bool]]] = {
    "agenda-item": (
        Meeting,
        Meeting.id == AgendaItem.meeting_id,
        and_(AgendaItem.public == true(), Meeting.public == true()),
        and_(AgendaItem.deleted == false(), Meeting.deleted == false()),
    ),
    "consultation": (
        Paper,
        Paper.id == Consultation.paper_id,
        Paper.public == true(),
        and_(Consultation.deleted == false(), Paper.deleted == false()),
    ),
}


def _page_select(kind: str, spec: Kind, visible: ColumnElement[bool]) -> Select[Any]:
    if kind in ROW_KINDS:
        return _row_select(kind, visible)
    return select(spec.model, visible.label("visible")).options(*spec.options)


async def _found(session: AsyncSession, kind: str, rows: Sequence[Any]) -> list[Found]:
    if kind not in ROW_KINDS:
        return [Found(r[0], not bool(r[1])) for r in rows]
    found = _found_rows(kind, rows)
    await attach_rows(session, kind, [f.record for f in found if not f.deleted])
    return found


async def _keyset_page(
    session: AsyncSession,
    kind: str,
    spec: Kind,
    where: list[ColumnElement[bool]],
    visible: ColumnElement[bool],
    shown: ColumnElement[bool],
    params: ListParams,
) -> Page:
    """``after``: ids > after, ascending; ``before``: the ``limit`` ids just below ``before``. One row
    more than ``limit`` tells whether the page continues in its own direction; one ``LIMIT 1`` probe
    whether there is anything on the other side."""
    model = spec.model
    forward = params.after is not None
    cursor = params.after if forward else params.before
    assert cursor is not None
    stmt: Select[Any] = (
        _page_select(kind, spec, visible)
        .where(*where, shown, model.id > cursor if forward else model.id < cursor)
        .order_by(model.id if forward else model.id.desc())
        .limit(params.limit + 1)
    )
    rows = list((await session.execute(stmt)).all())
    more = len(rows) > params.limit
    rows = rows[: params.limit]
    if not forward:
        rows.reverse()
    items = await _found(session, kind, rows)
    other_side = model.id <= cursor if forward else model.id >= cursor
    probe = exists(select(model.id).where(*where, shown, other_side))
    # Last-Modified: the latest change among all rows of the page's id range, shown or not (a row that
    # was deleted or made non-public since is gone from the page, but its ``modified`` says so). One
    # statement for both.
    if items:
        lo, hi = items[0].record.id, items[-1].record.id
        if forward:
            lo = cursor + 1
        else:
            hi = cursor - 1
        latest: Any = (
            select(func.max(model.modified)).where(*where, model.id.between(lo, hi)).scalar_subquery()
        )
    else:
        latest = null()
    on_other_side, latest_value = (await session.execute(select(probe, latest))).one()
    last_modified = _aware(latest_value)
    probe_found = bool(on_other_side)
    return Page(
        items=items,
        limit=params.limit,
        last_modified=last_modified,
        has_next=more if forward else probe_found,
        has_prev=probe_found if forward else more,
    )


# --- pages built from Core rows -------------------------------------------------------------------------
#
# The hot lists (papers, meetings, agenda items, files, consultations) are read as plain rows
# (SQLAlchemy Core ``select(columns)``), not as ORM objects: no identity map, no instance state, no
# relationship loaders. Each row becomes a ``SimpleNamespace`` with the model's attribute names (they are
# the column names), and what the serialisers read of its relationships is attached from a few more
# row queries per page: all embedded Files of a page in ONE query (a UNION over the file columns and link
# tables), the agenda items of a meetings page in one, and so on. ``council.oparl.serialize`` reads
# attributes only, so it serves both. A page of 100 papers went from ~60 ms to ~25-30 ms of server CPU
# (docs/oparl.md, Performance).

#: Kinds whose pages and objects are read as rows.
ROW_KINDS = frozenset({"paper", "meeting", "agenda-item", "file", "consultation", "person", "organization"})
_F = File.__table__
#: Embedded File copies: every column but ``text``.
_FILE_COLS = [c for c in _F.c if c.key != "text"]
_FILE_KEYS = [c.key for c in _FILE_COLS]
#: Where the file's id is in a row of ``_files_of`` (after part, owner and position).
_FILE_ID = 3 + _FILE_KEYS.index("id")
_ROW_COLUMNS: dict[str, list[Any]] = {
    "paper": list(Paper.__table__.c),
    "meeting": list(Meeting.__table__.c),
    "agenda-item": list(AgendaItem.__table__.c),
    "file": list(_F.c),  # the standalone File and the files list carry the text
    "consultation": list(Consultation.__table__.c),
    "person": list(Person.__table__.c),
    "organization": list(Organization.__table__.c),
}
_ITEM_COLS = list(AgendaItem.__table__.c)
_ITEM_KEYS = [c.key for c in _ITEM_COLS]
_CONSULTATION_COLS = list(Consultation.__table__.c)
_CONSULTATION_KEYS = [c.key for c in _CONSULTATION_COLS]
_LOCATION_COLS = list(Location.__table__.c)
_LOCATION_KEYS = [c.key for c in _LOCATION_COLS]
_MEMBERSHIP_COLS = list(Membership.__table__.c)
_MEMBERSHIP_KEYS = [c.key for c in _MEMBERSHIP_COLS]


class RowRecord(SimpleNamespace):
    """A row read for the serialisers: the model's attributes by name, relationships attached."""


def _record(keys: Sequence[str], values: Sequence[Any]) -> Any:
    record = RowRecord()
    record.__dict__.update(zip(keys, values, strict=False))
    return record


def _row_select(kind: str, visible: ColumnElement[bool]) -> Select[Any]:
    return select(*_ROW_COLUMNS[kind], visible.label("visible"))


def _found_rows(kind: str, rows: Sequence[Any]) -> list[Found]:
    keys = [c.key for c in _ROW_COLUMNS[kind]]
    return [Found(_record(keys, r), not bool(r[-1])) for r in rows]


def _file_part(i: int, owner: Any, position: Any, source: Any, on: Any, where: Any) -> Select[Any]:
    return (
        select(literal(i, Integer), owner, position, *_FILE_COLS)
        .select_from(source)
        .join(_F, on)
        .where(where)
    )


def _direct_files(i: int, model: Any, fk: Any, where: Any) -> Select[Any]:
    return _file_part(i, model.id, literal(0, Integer), model, _F.c.id == fk, where)


def _linked_files(i: int, table: Any, owner_key: str, where: Any) -> Select[Any]:
    c = table.c
    return _file_part(i, c[owner_key], c.position, table, _F.c.id == c.file_id, where)


_STATEMENTS: dict[str, Any] = {}


def _cached(name: str, build: Callable[[Any], Any]) -> Any:
    """A statement over the id list ``:ids`` (an expanding bind parameter), built once: building a
    SELECT with a dozen clauses costs more CPU than running it."""
    stmt = _STATEMENTS.get(name)
    if stmt is None:
        stmt = _STATEMENTS[name] = build(bindparam("ids", expanding=True))
    return stmt


async def _files_of(
    session: AsyncSession, name: str, build: Callable[[Any], list[Select[Any]]], ids: Sequence[int]
) -> dict[tuple[int, int], list[Any]]:
    """(part, owner id) → that owner's files (link position, then id order); one query for all parts."""
    stmt = _cached(name, lambda p: union_all(*build(p)))
    rows = (await session.execute(stmt, {"ids": list(ids)})).all()
    found: dict[tuple[int, int], list[tuple[int, int, Any]]] = {}
    for row in rows:
        found.setdefault((row[0], row[1]), []).append((row[2] or 0, row[_FILE_ID], row))
    out: dict[tuple[int, int], list[Any]] = {}
    for key, entries in found.items():
        if len(entries) > 1:
            entries.sort(key=lambda e: (e[0], e[1]))
        seen: set[int] = set()
        files = []
        for _, file_id, row in entries:
            if file_id not in seen:
                seen.add(file_id)
                files.append(_record(_FILE_KEYS, row[3:]))
        out[key] = files
    return out


def _one(files: dict[tuple[int, int], list[Any]], key: tuple[int, int]) -> Any:
    found = files.get(key)
    return found[0] if found else None


async def attach_rows(session: AsyncSession, kind: str, records: Sequence[Any]) -> None:
    """Set on row records what the serialisers read of their relationships."""
    if kind == "paper":
        await _attach_papers(session, records)
    elif kind == "meeting":
        await _attach_meetings(session, records)
    elif kind == "agenda-item":
        await _attach_items(session, records)
    elif kind == "person":
        await _attach_persons(session, records)
    elif kind == "organization":
        await _attach_organizations(session, records)


async def _locations(session: AsyncSession, records: Sequence[Any]) -> None:
    """``record.location`` (a row record or ``None``) from ``record.location_id``: one query."""
    location_ids = sorted({r.location_id for r in records if r.location_id is not None})
    locations: dict[int, Any] = {}
    if location_ids:
        stmt = _cached("locations", lambda p: select(*_LOCATION_COLS).where(Location.id.in_(p)))
        for row in (await session.execute(stmt, {"ids": location_ids})).all():
            loc = _record(_LOCATION_KEYS, row)
            locations[loc.id] = loc
    for r in records:
        r.location = locations.get(r.location_id) if r.location_id is not None else None


async def _attach_persons(session: AsyncSession, persons: Sequence[Any]) -> None:
    """Location and memberships (embedded in full, in id order) of persons."""
    for p in persons:
        p.memberships = []
    if not persons:
        return
    by_id = {p.id: p for p in persons}
    stmt = _cached(
        "person_memberships",
        lambda p: select(*_MEMBERSHIP_COLS).where(Membership.person_id.in_(p)).order_by(Membership.id),
    )
    for row in (await session.execute(stmt, {"ids": list(by_id)})).all():
        m = _record(_MEMBERSHIP_KEYS, row)
        by_id[m.person_id].memberships.append(m)
    await _locations(session, persons)


#: What ``serialize.organization`` reads of a membership it links to: alive, with an alive person.
_ALIVE_MEMBER = RowRecord(deleted=False)


async def _attach_organizations(session: AsyncSession, organizations: Sequence[Any]) -> None:
    """Location and the ids of the memberships (alive, of an alive person) of organisations."""
    for o in organizations:
        o.memberships = []
    if not organizations:
        return
    by_id = {o.id: o for o in organizations}
    stmt = _cached(
        "organization_memberships",
        lambda p: (
            select(Membership.organization_id, Membership.id)
            .join(Person, Person.id == Membership.person_id)
            .where(
                Membership.organization_id.in_(p),
                Membership.deleted == false(),
                Person.deleted == false(),
            )
            .order_by(Membership.id)
        ),
    )
    for organization_id, membership_id in (await session.execute(stmt, {"ids": list(by_id)})).all():
        by_id[organization_id].memberships.append(
            RowRecord(id=membership_id, deleted=False, person=_ALIVE_MEMBER)
        )
    await _locations(session, organizations)


def _paper_files(ids: Any) -> list[Select[Any]]:
    return [
        _direct_files(0, Paper, Paper.main_file_id, Paper.id.in_(ids)),
        _linked_files(1, paper_auxiliary_file, "paper_id", paper_auxiliary_file.c.paper_id.in_(ids)),
    ]


def _paper_consultations(ids: Any) -> Select[Any]:
    item_meeting, meeting = aliased(Meeting), aliased(Meeting)
    item_ok = and_(
        AgendaItem.deleted == false(),
        AgendaItem.public == true(),
        item_meeting.deleted == false(),
        item_meeting.public == true(),
    )
    meeting_ok = and_(meeting.deleted == false(), meeting.public == true())
    return (
        select(
            *_CONSULTATION_COLS,
            case((item_ok, AgendaItem.id), else_=null()).label("item_ref"),
            case((meeting_ok, meeting.id), else_=null()).label("meeting_ref"),
        )
        .outerjoin(AgendaItem, AgendaItem.id == Consultation.agenda_item_id)
        .outerjoin(item_meeting, item_meeting.id == AgendaItem.meeting_id)
        .outerjoin(meeting, meeting.id == Consultation.meeting_id)
        .where(Consultation.paper_id.in_(ids))
        .order_by(Consultation.id)
    )


def _paper_consultation_organizations(ids: Any) -> Select[Any]:
    co = consultation_organization.c
    return (
        select(co.consultation_id, co.position, Organization.id)
        .join(Consultation, Consultation.id == co.consultation_id)
        .join(Organization, Organization.id == co.organization_id)
        .where(Consultation.paper_id.in_(ids), Organization.deleted == false())
    )


async def _attach_papers(session: AsyncSession, papers: Sequence[Any]) -> None:
    ids = [p.id for p in papers]
    for p in papers:
        p.main_file, p.auxiliary_files, p.consultations = None, [], []
    if not ids:
        return
    files = await _files_of(session, "paper_files", _paper_files, ids)
    by_id = {p.id: p for p in papers}
    # The embedded consultations with their links (``refs``, what ``consultation_refs`` computes for the
    # consultations list): the visible agenda item and meeting in the same query, the organisations in one
    # more.
    stmt = _cached("paper_consultations", _paper_consultations)
    consultations: dict[int, Any] = {}
    for row in (await session.execute(stmt, {"ids": ids})).all():
        c = _record(_CONSULTATION_KEYS, row)
        c.refs = ConsultationRefs(agenda_item=row[-2], meeting=row[-1])
        consultations[c.id] = c
        by_id[c.paper_id].consultations.append(c)
    if consultations:
        organizations: dict[int, list[tuple[int, int]]] = {}
        stmt2 = _cached("paper_consultation_organizations", _paper_consultation_organizations)
        for consultation_id, position, org_id in (await session.execute(stmt2, {"ids": ids})).all():
            organizations.setdefault(consultation_id, []).append((position, org_id))
        for consultation_id, orgs in organizations.items():
            if consultation_id in consultations:
                consultations[consultation_id].refs.organizations = [o for _, o in sorted(set(orgs))]
    for p in papers:
        p.main_file = _one(files, (0, p.id))
        p.auxiliary_files = files.get((1, p.id), [])


def _item_files(ids: Any) -> list[Select[Any]]:
    ia = agenda_item_auxiliary_file.c
    return [
        _direct_files(0, AgendaItem, AgendaItem.resolution_file_id, AgendaItem.id.in_(ids)),
        _linked_files(1, agenda_item_auxiliary_file, "agenda_item_id", ia.agenda_item_id.in_(ids)),
    ]


async def _attach_items(session: AsyncSession, items: Sequence[Any]) -> None:
    """Resolution and auxiliary files of standalone agenda items."""
    for i in items:
        i.resolution_file, i.auxiliary_files = None, []
    if not items:
        return
    files = await _files_of(session, "item_files", _item_files, [i.id for i in items])
    for i in items:
        i.resolution_file = _one(files, (0, i.id))
        i.auxiliary_files = files.get((1, i.id), [])


def _meeting_files(ids: Any) -> list[Select[Any]]:
    ma, ia = meeting_auxiliary_file.c, agenda_item_auxiliary_file.c
    item_ids = select(AgendaItem.id).where(AgendaItem.meeting_id.in_(ids))
    return [
        _direct_files(0, Meeting, Meeting.invitation_id, Meeting.id.in_(ids)),
        _direct_files(1, Meeting, Meeting.results_protocol_id, Meeting.id.in_(ids)),
        _direct_files(2, Meeting, Meeting.verbatim_protocol_id, Meeting.id.in_(ids)),
        _linked_files(3, meeting_auxiliary_file, "meeting_id", ma.meeting_id.in_(ids)),
        _direct_files(4, AgendaItem, AgendaItem.resolution_file_id, AgendaItem.meeting_id.in_(ids)),
        _linked_files(5, agenda_item_auxiliary_file, "agenda_item_id", ia.agenda_item_id.in_(item_ids)),
    ]


async def _attach_meetings(session: AsyncSession, meetings: Sequence[Any]) -> None:
    ids = [m.id for m in meetings]
    for m in meetings:
        m.location, m.organizations, m.agenda_items = None, [], []
        m.invitation = m.results_protocol = m.verbatim_protocol = None
        m.auxiliary_files = []
    if not ids:
        return
    files = await _files_of(session, "meeting_files", _meeting_files, ids)
    by_id = {m.id: m for m in meetings}
    stmt = _cached(
        "meeting_items",
        lambda p: (
            select(*_ITEM_COLS)
            .where(AgendaItem.meeting_id.in_(p))
            .order_by(AgendaItem.meeting_id, AgendaItem.order, AgendaItem.id)
        ),
    )
    for row in (await session.execute(stmt, {"ids": ids})).all():
        item = _record(_ITEM_KEYS, row)
        item.resolution_file = _one(files, (4, item.id))
        item.auxiliary_files = files.get((5, item.id), [])
        by_id[item.meeting_id].agenda_items.append(item)
    mo = meeting_organization.c
    stmt2 = _cached(
        "meeting_organizations",
        lambda p: (
            select(mo.meeting_id, Organization.id, Organization.deleted)
            .join(Organization, Organization.id == mo.organization_id)
            .where(mo.meeting_id.in_(p))
            .order_by(mo.meeting_id, mo.position, Organization.id)
        ),
    )
    for meeting_id, org_id, deleted in (await session.execute(stmt2, {"ids": ids})).all():
        by_id[meeting_id].organizations.append(SimpleNamespace(id=org_id, deleted=deleted))
    location_ids = sorted({m.location_id for m in meetings if m.location_id is not None})
    locations: dict[int, Any] = {}
    if location_ids:
        stmt3 = _cached("locations", lambda p: select(*_LOCATION_COLS).where(Location.id.in_(p)))
        for row in (await session.execute(stmt3, {"ids": location_ids})).all():
            loc = _record(_LOCATION_KEYS, row)
            locations[loc.id] = loc
    for m in meetings:
        m.location = locations.get(m.location_id) if m.location_id is not None else None
        m.invitation = _one(files, (0, m.id))
        m.results_protocol = _one(files, (1, m.id))
        m.verbatim_protocol = _one(files, (2, m.id))
        m.auxiliary_files = files.get((3, m.id), [])


# --- back-references computed per page -------------------------------------------------------------------


def _collect(rows: Sequence[Any]) -> dict[int, list[int]]:
    out: dict[int, set[int]] = {}
    for key, value in rows:
        out.setdefault(int(key), set()).add(int(value))
    return {k: sorted(v) for k, v in out.items()}


async def file_refs(session: AsyncSession, file_ids: Sequence[int]) -> dict[int, FileRefs]:
    """Visible meetings, agenda items and papers that use each file: one query for the page.

    The query finds the users of the files through the indexes on the file columns only and returns
    their visibility flags; visibility is decided here. (With the visibility clauses in the WHERE,
    SQLite without statistics walks the low-selectivity ``public`` index instead: 0.4 s per page at 10
    years.)"""
    ids = list(file_ids)
    refs = {i: FileRefs() for i in ids}
    if not ids:
        return refs

    def build(ids: Any) -> Any:
        ok = and_(Paper.deleted == false(), Paper.public == true())
        meeting_ok = and_(Meeting.deleted == false(), Meeting.public == true())
        item_ok = and_(AgendaItem.deleted == false(), AgendaItem.public == true(), meeting_ok)

        def flag(clause: ColumnElement[bool]) -> Any:
            return case((clause, 1), else_=0).label("ok")

        parts: list[Select[Any]] = [
            select(literal(0).label("w"), Paper.main_file_id.label("f"), Paper.id.label("r"), flag(ok)).where(
                Paper.main_file_id.in_(ids)
            ),
            select(literal(0), paper_auxiliary_file.c.file_id, Paper.id, flag(ok))
            .join(Paper, Paper.id == paper_auxiliary_file.c.paper_id)
            .where(paper_auxiliary_file.c.file_id.in_(ids)),
            *[
                select(literal(1), col, Meeting.id, flag(meeting_ok)).where(col.in_(ids))
                for col in (Meeting.invitation_id, Meeting.results_protocol_id, Meeting.verbatim_protocol_id)
            ],
            select(literal(1), meeting_auxiliary_file.c.file_id, Meeting.id, flag(meeting_ok))
            .join(Meeting, Meeting.id == meeting_auxiliary_file.c.meeting_id)
            .where(meeting_auxiliary_file.c.file_id.in_(ids)),
            select(literal(2), AgendaItem.resolution_file_id, AgendaItem.id, flag(item_ok))
            .join(Meeting, Meeting.id == AgendaItem.meeting_id)
            .where(AgendaItem.resolution_file_id.in_(ids)),
            select(literal(2), agenda_item_auxiliary_file.c.file_id, AgendaItem.id, flag(item_ok))
            .join(AgendaItem, AgendaItem.id == agenda_item_auxiliary_file.c.agenda_item_id)
            .join(Meeting, Meeting.id == AgendaItem.meeting_id)
            .where(agenda_item_auxiliary_file.c.file_id.in_(ids)),
        ]
        return union_all(*parts)

    rows = (await session.execute(_cached("file_refs", build), {"ids": ids})).all()
    found: dict[tuple[int, int], set[int]] = {}
    for which, file_id, record_id, visible in rows:
        if visible and file_id is not None:
            found.setdefault((int(which), int(file_id)), set()).add(int(record_id))
    attrs = ("papers", "meetings", "agenda_items")
    for (which, file_id), record_ids in found.items():
        if file_id in refs:
            setattr(refs[file_id], attrs[which], sorted(record_ids))
    return refs


def _as_int(clause: ColumnElement[bool]) -> Any:
    return case((clause, 1), else_=0)


def _group(rows: Sequence[Any], n: int) -> dict[int, list[list[int]]]:
    """Rows (which, owner, target, visible, position) → owner → ``n`` lists of visible targets in
    (position, id) order."""
    out: dict[int, list[list[tuple[int, int]]]] = {}
    for which, owner, target, visible, position in rows:
        if visible and target is not None:
            lists = out.get(owner)
            if lists is None:  # (not setdefault: its default would be built for every row)
                lists = out[owner] = [[] for _ in range(n)]
            lists[which].append((position, target))
    return {
        k: [[t for _, t in sorted(set(v))] if len(v) > 1 else [v[0][1]] if v else [] for v in lists]
        for k, lists in out.items()
    }


async def paper_refs(session: AsyncSession, paper_ids: Sequence[int]) -> dict[int, PaperRefs]:
    """Related, superordinated and subordinated papers, originator persons and organisations and
    ``underDirectionOf`` of each paper, visible only: one query for the page (instead of six relationship
    loads of full records). Papers in id order, persons and organisations in their link order."""
    ids = list(paper_ids)
    if not ids:
        return {}

    def build(ids: Any) -> Any:
        paper_ok = and_(Paper.deleted == false(), Paper.public == true())
        pr, ph = paper_related.c, paper_hierarchy.c
        parts: list[Select[Any]] = [
            select(
                literal(0),
                pr.paper_id,
                Paper.id,
                _as_int(and_(paper_ok, Paper.id != pr.paper_id)),
                literal(0),
            )
            .join(Paper, Paper.id == pr.related_id)
            .where(pr.paper_id.in_(ids)),
            select(literal(1), ph.subordinated_id, Paper.id, _as_int(paper_ok), literal(0))
            .join(Paper, Paper.id == ph.superordinated_id)
            .where(ph.subordinated_id.in_(ids)),
            select(literal(2), ph.superordinated_id, Paper.id, _as_int(paper_ok), literal(0))
            .join(Paper, Paper.id == ph.subordinated_id)
            .where(ph.superordinated_id.in_(ids)),
        ]
        c = paper_originator_person.c
        parts.append(
            select(literal(3), c.paper_id, Person.id, _as_int(Person.deleted == false()), c.position)
            .join(Person, Person.id == c.person_id)
            .where(c.paper_id.in_(ids))
        )
        for which, table in ((4, paper_originator_organization), (5, paper_under_direction_of)):
            c = table.c
            parts.append(
                select(
                    literal(which),
                    c.paper_id,
                    Organization.id,
                    _as_int(Organization.deleted == false()),
                    c.position,
                )
                .join(Organization, Organization.id == c.organization_id)
                .where(c.paper_id.in_(ids))
            )
        return union_all(*parts)

    rows = (await session.execute(_cached("paper_refs", build), {"ids": ids})).all()
    return {key: PaperRefs(*lists) for key, lists in _group(rows, 6).items()}


async def consultation_refs(
    session: AsyncSession, consultation_ids: Sequence[int]
) -> dict[int, ConsultationRefs]:
    """The visible agenda item, meeting and organisations of each consultation: one query for the page."""
    ids = list(consultation_ids)
    if not ids:
        return {}

    def build(ids: Any) -> Any:
        meeting_ok = and_(Meeting.deleted == false(), Meeting.public == true())
        item_ok = and_(AgendaItem.deleted == false(), AgendaItem.public == true(), meeting_ok)
        co = consultation_organization.c
        parts: list[Select[Any]] = [
            select(literal(0), Consultation.id, AgendaItem.id, _as_int(item_ok), literal(0))
            .join(AgendaItem, AgendaItem.id == Consultation.agenda_item_id)
            .join(Meeting, Meeting.id == AgendaItem.meeting_id)
            .where(Consultation.id.in_(ids)),
            select(literal(1), Consultation.id, Meeting.id, _as_int(meeting_ok), literal(0))
            .join(Meeting, Meeting.id == Consultation.meeting_id)
            .where(Consultation.id.in_(ids)),
            select(
                literal(2),
                co.consultation_id,
                Organization.id,
                _as_int(Organization.deleted == false()),
                co.position,
            )
            .join(Organization, Organization.id == co.organization_id)
            .where(co.consultation_id.in_(ids)),
        ]
        return union_all(*parts)

    rows = (await session.execute(_cached("consultation_refs", build), {"ids": ids})).all()
    out: dict[int, ConsultationRefs] = {}
    for key, (items, meetings, organizations) in _group(rows, 3).items():
        out[key] = ConsultationRefs(
            agenda_item=items[0] if items else None,
            meeting=meetings[0] if meetings else None,
            organizations=organizations,
        )
    return out


async def first_consultations(
    session: AsyncSession, *, meeting_ids: Sequence[int] = (), item_ids: Sequence[int] = ()
) -> dict[int, int]:
    """Agenda item id → its first (lowest id) visible consultation, for the items of ``meeting_ids`` or
    the items ``item_ids``: one query returning small tuples instead of loading every consultation and
    its paper as ORM objects (half the objects of a meetings page). Visibility is decided here, as in
    ``file_refs``."""
    if not meeting_ids and not item_ids:
        return {}

    def build(by_meeting: bool) -> Callable[[Any], Any]:
        def make(ids: Any) -> Any:
            which = (
                Consultation.agenda_item_id.in_(select(AgendaItem.id).where(AgendaItem.meeting_id.in_(ids)))
                if by_meeting
                else Consultation.agenda_item_id.in_(ids)
            )
            return (
                select(
                    Consultation.agenda_item_id,
                    Consultation.id,
                    Consultation.deleted,
                    Paper.deleted,
                    Paper.public,
                )
                .join(Paper, Paper.id == Consultation.paper_id)
                .where(which)
            )

        return make

    by_meeting = bool(meeting_ids)
    stmt = _cached(f"first_consultations:{by_meeting}", build(by_meeting))
    ids = list(meeting_ids) if by_meeting else list(item_ids)
    out: dict[int, int] = {}
    rows = (await session.execute(stmt, {"ids": ids})).all()
    for item_id, consultation_id, deleted, paper_deleted, paper_public in rows:
        if deleted or paper_deleted or not paper_public or item_id is None:
            continue
        if item_id not in out or consultation_id < out[item_id]:
            out[int(item_id)] = int(consultation_id)
    return out


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
    "body_list_start",
    "body_scope",
    "consultation_refs",
    "file_refs",
    "first_body_id",
    "first_consultations",
    "is_visible",
    "list_page",
    "load_object",
    "location_refs",
    "organization_scope",
    "paper_refs",
    "parse_list_params",
    "system_dates",
]
