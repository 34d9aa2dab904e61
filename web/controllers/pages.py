"""The public website: home, calendar, meetings, papers, organisations and persons.

Handlers stay thin: they parse and check query parameters (bad input is a 400 with a message, never a
5xx), call ``council.records.queries`` (which applies the visibility clauses) and render a template.
Lists answer htmx requests with the ``results`` block only; without JavaScript the full page comes.
"""

from __future__ import annotations

import calendar as pycalendar
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from jinja2_fragments.litestar import HTMXBlockTemplate
from litestar import Request, get
from litestar.exceptions import NotFoundException
from litestar.response import Response, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council.backoffice.models import AgendaItemDetail
from council.backoffice.papers import public_history
from council.core.types import utcnow
from council.live.state import live_meeting_ids, live_state
from council.records import queries
from council.records.access import Viewer
from council.records.models import Meeting
from web import i18n
from web.controllers import feeds, questions
from web.errors import BadInput

_ = i18n.gettext

#: Largest id a path may carry (PostgreSQL ``integer``); anything else is simply not there.
MAX_ID = 2**31 - 1
MAX_PAGE = 100_000
MIN_YEAR, MAX_YEAR = 1900, 2199
PER_PAGE = 20
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$", re.ASCII)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
_INT_RE = re.compile(r"^\d{1,10}$", re.ASCII)


# --- parameter parsing --------------------------------------------------------------------------


def _clean_text(value: str | None, name: str, *, max_len: int = 200) -> str | None:
    """A free-text filter value: no control characters, no lone surrogates, bounded length."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if len(value) > max_len:
        raise BadInput(detail=_("Der Wert für „{name}“ ist zu lang.").format(name=name))
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadInput(detail=_("Der Wert für „{name}“ ist ungültig.").format(name=name)) from None
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise BadInput(detail=_("Der Wert für „{name}“ ist ungültig.").format(name=name))
    return value


def parse_int(value: str | None, name: str, *, minimum: int = 1, maximum: int = MAX_ID) -> int | None:
    value = value.strip() if value is not None else None
    if not value:
        return None
    if not _INT_RE.match(value) or not (minimum <= int(value) <= maximum):
        raise BadInput(
            detail=_("„{name}“ muss eine ganze Zahl zwischen {min} und {max} sein.").format(
                name=name, min=minimum, max=maximum
            )
        )
    return int(value)


def parse_date(value: str | None, name: str) -> date | None:
    value = value.strip() if value is not None else None
    if not value:
        return None
    try:
        if not _DATE_RE.match(value):
            raise ValueError(value)
        day = date.fromisoformat(value)
    except ValueError:
        raise BadInput(
            detail=_("„{name}“ muss ein Datum der Form JJJJ-MM-TT sein.").format(name=name)
        ) from None
    if not (MIN_YEAR <= day.year <= MAX_YEAR):
        raise BadInput(detail=_("„{name}“ liegt außerhalb des unterstützten Zeitraums.").format(name=name))
    return day


def parse_month(value: str | None) -> tuple[int, int] | None:
    value = value.strip() if value is not None else None
    if not value:
        return None
    m = _MONTH_RE.match(value)
    if not m or not (1 <= int(m.group(2)) <= 12):
        raise BadInput(detail=_("„monat“ muss die Form JJJJ-MM haben, z. B. 2026-03."))
    year, month = int(m.group(1)), int(m.group(2))
    if not (MIN_YEAR <= year <= MAX_YEAR):
        raise BadInput(detail=_("„monat“ liegt außerhalb des unterstützten Zeitraums."))
    return year, month


def check_id(value: int) -> int:
    """Ids from the path: out of range means not found (never a database error)."""
    if not (1 <= value <= MAX_ID):
        raise NotFoundException()
    return value


def parse_path_id(key: str) -> int:
    if not _INT_RE.match(key):
        raise NotFoundException()
    return check_id(int(key))


def _is_htmx_fragment(request: Request[Any, Any, Any]) -> bool:
    headers = request.headers
    return (
        headers.get("hx-request") == "true"
        and headers.get("hx-history-restore-request") != "true"
        and headers.get("hx-boosted") != "true"
    )


def render(
    request: Request[Any, Any, Any], template_name: str, context: dict[str, Any], *, block: str | None = None
) -> Template:
    """The full page, or only ``block`` for an htmx request that asked for a part."""
    if block is not None and _is_htmx_fragment(request):
        return HTMXBlockTemplate(
            template_name=template_name, block_name=block, context=context, headers={"Vary": "HX-Request"}
        )
    headers = {"Vary": "HX-Request"} if block is not None else None
    return Template(template_name=template_name, context=context, headers=headers)


def _local_date(value: datetime | None) -> date | None:
    return value.astimezone(i18n.TZ).date() if value is not None else None


def _today() -> date:
    return datetime.now(i18n.TZ).date()


# --- home ---------------------------------------------------------------------------------------


@get("/", name="home", cache=False, opt={"page_cache": True})
async def home(request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer) -> Template:
    body = await queries.get_body(db_session)
    live_ids = await live_meeting_ids(db_session)
    live = await queries.meetings_by_ids(db_session, viewer, live_ids)
    upcoming = await queries.upcoming_meetings(db_session, viewer, limit=6)
    papers = await queries.recent_papers(db_session, viewer, limit=6)
    return render(
        request,
        "home.html",
        {"nav": "home", "body": body, "live_meetings": live, "upcoming": upcoming, "papers": papers},
    )


# --- calendar -----------------------------------------------------------------------------------


@dataclass
class Day:
    day: date
    in_month: bool
    is_today: bool
    meetings: list[Meeting]


def _shift_month(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


@get("/kalender", name="calendar", cache=False, opt={"page_cache": True})
async def calendar_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    viewer: Viewer,
    monat: str | None = None,
    gremium: str | None = None,
) -> Template:
    today = _today()
    year, month = parse_month(monat) or (today.year, today.month)
    organization_id = parse_int(gremium, "gremium")
    first = date(year, month, 1)
    last = date(year, month, pycalendar.monthrange(year, month)[1])
    grid_start = first - timedelta(days=first.weekday())
    grid_end = last + timedelta(days=6 - last.weekday())
    start, end = queries.local_day_bounds(grid_start, grid_end)
    meetings = await queries.meetings_between(db_session, viewer, start, end, organization_id=organization_id)
    by_day: dict[date, list[Meeting]] = defaultdict(list)
    for m in meetings:
        d = _local_date(m.start)
        if d is not None:
            by_day[d].append(m)
    weeks: list[list[Day]] = []
    cursor = grid_start
    while cursor <= grid_end:
        week = []
        for _i in range(7):
            week.append(Day(cursor, cursor.month == month, cursor == today, by_day.get(cursor, [])))
            cursor += timedelta(days=1)
        weeks.append(week)
    prev_y, prev_m = _shift_month(year, month, -1)
    next_y, next_m = _shift_month(year, month, 1)
    month_meetings = [m for m in meetings if (d := _local_date(m.start)) is not None and first <= d <= last]
    organization = await queries.get_organization(db_session, organization_id) if organization_id else None
    return render(
        request,
        "calendar.html",
        {
            "nav": "calendar",
            "month_start": first,
            "weeks": weeks,
            "weekdays": _weekday_names(),
            "prev_month": f"{prev_y:04d}-{prev_m:02d}" if prev_y >= MIN_YEAR else None,
            "next_month": f"{next_y:04d}-{next_m:02d}" if next_y <= MAX_YEAR else None,
            "this_month": f"{today.year:04d}-{today.month:02d}",
            "month_meetings": month_meetings,
            "gremium": organization_id,
            "organization": organization,
        },
    )


def _weekday_names() -> list[tuple[str, str]]:
    """(full, abbreviated) weekday names, Monday first, in the request's language."""
    from babel.dates import get_day_names

    locale = i18n.current_locale.get()
    wide = get_day_names("wide", locale=locale)
    short = get_day_names("abbreviated", locale=locale)
    return [(wide[i], short[i]) for i in range(7)]


# --- meetings -----------------------------------------------------------------------------------

WHEN_VALUES = {"kommende": "future", "vergangene": "past"}


@get("/sitzungen", name="meetings", cache=False, opt={"page_cache": True})
async def meetings_list(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    viewer: Viewer,
    gremium: str | None = None,
    von: str | None = None,
    bis: str | None = None,
    zeitraum: str | None = None,
    seite: str | None = None,
) -> Template:
    organization_id = parse_int(gremium, "gremium")
    since = parse_date(von, "von")
    until = parse_date(bis, "bis")
    if since and until and since > until:
        raise BadInput(detail=_("„von“ liegt nach „bis“."))
    when_key = _clean_text(zeitraum, "zeitraum")
    if when_key is not None and when_key not in WHEN_VALUES:
        raise BadInput(detail=_("„zeitraum“ muss „kommende“ oder „vergangene“ sein."))
    number = parse_int(seite, "seite", maximum=MAX_PAGE) or 1
    page = await queries.list_meetings(
        db_session,
        viewer,
        organization_id=organization_id,
        since=since,
        until=until,
        when=WHEN_VALUES.get(when_key or ""),  # type: ignore[arg-type]
        page=number,
        per_page=PER_PAGE,
    )
    groups = await queries.list_organizations(db_session)
    params = {"gremium": organization_id, "von": since, "bis": until, "zeitraum": when_key}
    return render(
        request,
        "meetings/list.html",
        {
            "nav": "meetings",
            "page": page,
            "params": {k: (v.isoformat() if isinstance(v, date) else v) for k, v in params.items()},
            "organizations": [o for g in ("council", "committee", "other") for o in groups[g]],
            "live_ids": set(await live_meeting_ids(db_session)),
        },
        block="results",
    )


async def _recent_captions(session: AsyncSession, viewer: Viewer, meeting_id: int) -> list[dict[str, Any]]:
    from web.controllers.transcripts import recent_captions  # imports this module

    return await recent_captions(session, viewer, meeting_id)


async def _item_texts(session: AsyncSession, item_ids: list[int]) -> dict[int, str]:
    """The agenda builder's item texts (council.backoffice) for the items the viewer may see."""
    if not item_ids:
        return {}
    rows = await session.execute(
        select(AgendaItemDetail.agenda_item_id, AgendaItemDetail.text).where(
            AgendaItemDetail.agenda_item_id.in_(item_ids), AgendaItemDetail.text.is_not(None)
        )
    )
    return {item_id: text for item_id, text in rows.all() if text and text.strip()}


@get("/sitzungen/{key:str}", name="meeting", cache=False, opt={"page_cache": True})
async def meeting_page(
    request: Request[Any, Any, Any], key: str, db_session: AsyncSession, viewer: Viewer
) -> Template | Response[bytes]:
    if key.endswith(".ics"):
        return await feeds.meeting_ics(request, parse_path_id(key[: -len(".ics")]), db_session, viewer)
    meeting_id = parse_path_id(key)
    detail = await queries.meeting_detail(db_session, viewer, meeting_id)
    if detail is None:
        raise NotFoundException()
    state = await live_state(db_session, meeting_id)
    current_item_id = state.agenda_item_id if state.is_open else None
    current_title = None
    for entry in detail.agenda:
        if entry.item.id == current_item_id:
            current_title = entry.item.name
    meeting = detail.meeting
    is_past = meeting.start is not None and (meeting.end or meeting.start) < utcnow()
    if meeting.cancelled:
        idle_text = _("Die Sitzung wurde abgesagt.")
    elif is_past:
        idle_text = _("Die Sitzung hat bereits stattgefunden.")
    else:
        idle_text = _("Die Sitzung hat noch nicht begonnen.")
    if state.is_open:
        live_text = _("Die Sitzung läuft.")
        if current_title:
            live_text = f"{live_text} – {current_title}"
    elif state.is_closed:
        live_text = _("Die Sitzung ist beendet.")
    else:
        live_text = idle_text
    return render(
        request,
        "meetings/detail.html",
        {
            "nav": "meetings",
            "detail": detail,
            "meeting": detail.meeting,
            "live": state,
            "live_text": live_text,
            "idle_text": idle_text,
            "current_item_id": current_item_id,
            "item_texts": await _item_texts(db_session, [entry.item.id for entry in detail.agenda]),
            # transcripts: the last live captions (the SSE stream adds new ones)
            "captions": await _recent_captions(db_session, viewer, meeting_id) if state.is_open else [],
            # question time (council.questions): published questions, support buttons, the form link
            "questions": await questions.meeting_questions(db_session, detail.meeting),
        },
    )


# --- papers -------------------------------------------------------------------------------------


@get("/vorlagen", name="papers", cache=False, opt={"page_cache": True})
async def papers_list(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    viewer: Viewer,
    typ: str | None = None,
    gremium: str | None = None,
    jahr: str | None = None,
    seite: str | None = None,
) -> Template:
    paper_type = _clean_text(typ, "typ")
    organization_id = parse_int(gremium, "gremium")
    year = parse_int(jahr, "jahr", minimum=MIN_YEAR, maximum=MAX_YEAR)
    number = parse_int(seite, "seite", maximum=MAX_PAGE) or 1
    page = await queries.list_papers(
        db_session,
        viewer,
        paper_type=paper_type,
        organization_id=organization_id,
        year=year,
        page=number,
        per_page=PER_PAGE,
    )
    groups = await queries.list_organizations(db_session)
    return render(
        request,
        "papers/list.html",
        {
            "nav": "papers",
            "page": page,
            "params": {"typ": paper_type, "gremium": organization_id, "jahr": year},
            "types": await queries.paper_types(db_session, viewer),
            "years": await queries.paper_years(db_session, viewer),
            "organizations": [o for g in ("council", "committee", "other") for o in groups[g]],
        },
        block="results",
    )


@get("/vorlagen/{paper_id:int}", name="paper", cache=False, opt={"page_cache": True})
async def paper_page(paper_id: int, db_session: AsyncSession, viewer: Viewer) -> Template:
    detail = await queries.paper_detail(db_session, viewer, check_id(paper_id))
    if detail is None:
        raise NotFoundException()
    # The back office's status timeline and file versions (empty for papers it never touched).
    status, timeline, versions = await public_history(db_session, viewer, detail.paper.id)
    return Template(
        template_name="papers/detail.html",
        context={
            "nav": "papers",
            "detail": detail,
            "paper": detail.paper,
            "paper_status": status,
            "timeline": timeline,
            "versions": versions,
        },
    )


# --- organisations ------------------------------------------------------------------------------


def _group_titles() -> dict[str, str]:
    return {
        "council": _("Rat"),
        "committee": _("Ausschüsse"),
        "faction": _("Fraktionen"),
        "administration": _("Verwaltung"),
        "other": _("Weitere Gremien"),
    }


@get("/gremien", name="organizations", cache=False, opt={"page_cache": True})
async def organizations_list(db_session: AsyncSession) -> Template:
    groups = await queries.list_organizations(db_session)
    titles = _group_titles()
    return Template(
        template_name="organizations/list.html",
        context={
            "nav": "organizations",
            "groups": [(key, titles[key], orgs) for key, orgs in groups.items() if orgs],
        },
    )


@get("/gremien/{organization_id:int}", name="organization", cache=False, opt={"page_cache": True})
async def organization_page(organization_id: int, db_session: AsyncSession, viewer: Viewer) -> Template:
    org = await queries.get_organization(db_session, check_id(organization_id))
    if org is None:
        raise NotFoundException()
    members = await queries.organization_members(db_session, org.id)
    upcoming = await queries.list_meetings(
        db_session, viewer, organization_id=org.id, when="future", per_page=10
    )
    past = await queries.list_meetings(db_session, viewer, organization_id=org.id, when="past", per_page=10)
    return Template(
        template_name="organizations/detail.html",
        context={
            "nav": "organizations",
            "organization": org,
            "group_title": _group_titles()[queries.organization_group(org)],
            "members": members,
            "upcoming": upcoming,
            "past": past,
        },
    )


# --- persons ------------------------------------------------------------------------------------


@get("/personen", name="persons", cache=False, opt={"page_cache": True})
async def persons_list(
    request: Request[Any, Any, Any], db_session: AsyncSession, fraktion: str | None = None
) -> Template:
    faction_id = parse_int(fraktion, "fraktion")
    persons = await queries.list_persons(db_session, faction_id=faction_id)
    letters: dict[str, list[Any]] = {}
    for p in persons:
        initial = (p.family_name or p.name or "?")[:1].upper()
        letters.setdefault(initial, []).append(p)
    return render(
        request,
        "persons/list.html",
        {
            "nav": "persons",
            "letters": letters,
            "count": len(persons),
            "factions": await queries.factions(db_session),
            "params": {"fraktion": faction_id},
        },
        block="results",
    )


@get("/personen/{person_id:int}", name="person", cache=False, opt={"page_cache": True})
async def person_page(person_id: int, db_session: AsyncSession, viewer: Viewer) -> Template:
    person = await queries.get_person(db_session, check_id(person_id))
    if person is None:
        raise NotFoundException()
    today = _today()
    memberships = [m for m in person.memberships if not m.deleted and not m.organization.deleted]
    current = [m for m in memberships if m.active_on(today)]
    former = [
        m for m in memberships if not m.active_on(today) and (m.end_date is not None and m.end_date < today)
    ]
    future = [m for m in memberships if m not in current and m not in former]
    return Template(
        template_name="persons/detail.html",
        context={
            "nav": "persons",
            "person": person,
            "current": current + future,
            "former": sorted(former, key=lambda m: m.end_date or date.min, reverse=True),
            "papers": await queries.person_papers(db_session, viewer, person.id),
        },
    )


routes: list[Any] = [
    home,
    calendar_page,
    meetings_list,
    meeting_page,
    papers_list,
    paper_page,
    organizations_list,
    organization_page,
    persons_list,
    person_page,
]
