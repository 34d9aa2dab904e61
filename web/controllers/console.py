"""The clerk's console (/verwaltung/sitzungen/{id}/konsole) and the councillor's device page
(/sitzungen/{id}/teilnahme).

Every change is a POST (CSRF-protected) that calls a service in ``council.live.console``, which writes
timeline events and publishes them on the bus. htmx requests get the updated block back (errors too,
with status 400/409 and the message in the block); plain form posts get a 303 back to the page, or the
error page with the message.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from jinja2_fragments.litestar import HTMXBlockTemplate
from litestar import Request, get, post
from litestar.channels import ChannelsPlugin
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from council.core.types import utcnow
from council.live import attendance
from council.live import console as svc
from council.live.models import EventKind, TimelineEvent
from council.live.speakers import SpeakerState
from council.live.state import LiveState, live_state
from council.records.access import Viewer, agenda_item_visible, meeting_visible
from council.records.models import AgendaItem, Meeting, Person
from web import i18n
from web.errors import BadInput
from web.guards import require_login, require_role

_ = i18n.gettext

MAX_ID = 2**31 - 1
CONSOLE_ROLES = ("clerk", "chair", "admin")
require_console = require_role(*CONSOLE_ROLES)


def messages() -> dict[str, str]:
    """The text for each ``ConsoleError.code`` (in the request's language)."""
    return {
        "meeting_not_found": _("Diese Sitzung gibt es nicht."),
        "meeting_closed": _("Die Sitzung ist bereits geschlossen."),
        "meeting_not_open": _("Die Sitzung ist noch nicht eröffnet."),
        "meeting_already_open": _("Die Sitzung ist bereits eröffnet."),
        "meeting_cancelled": _("Die Sitzung wurde abgesagt und kann nicht eröffnet werden."),
        "item_not_found": _("Diesen Tagesordnungspunkt gibt es nicht."),
        "item_not_in_meeting": _("Dieser Tagesordnungspunkt gehört nicht zu dieser Sitzung."),
        "item_already_current": _("Dieser Tagesordnungspunkt wird bereits behandelt."),
        "item_not_current": _("Dieser Tagesordnungspunkt wird gerade nicht behandelt."),
        "not_a_member": _("Diese Person ist kein Mitglied des Gremiums."),
        "already_present": _("Diese Person ist bereits als anwesend eingetragen."),
        "not_present": _("Diese Person ist nicht als anwesend eingetragen."),
        "already_requested": _("Diese Person steht bereits auf der Redeliste."),
        "not_requested": _("Diese Person wartet nicht auf der Redeliste."),
        "not_on_list": _("Diese Person steht nicht auf der Redeliste dieses Tagesordnungspunkts."),
        "no_speech": _("Gerade spricht niemand."),
        "bad_order": _("Die Reihenfolge muss jede wartende Person genau einmal enthalten."),
        "conflicted": _("Wegen erklärter Befangenheit ist keine Wortmeldung möglich."),
        "already_declared": _("Die Befangenheit ist bereits erklärt."),
        "not_declared": _("Es ist keine Befangenheit erklärt."),
        "speaking_now": _("Während des eigenen Redebeitrags kann keine Befangenheit erklärt werden."),
    }


def _message(exc: svc.ConsoleError) -> str:
    return messages().get(exc.code, _("Diese Aktion ist gerade nicht möglich."))


def _is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true" and request.headers.get("hx-boosted") != "true"


def _check_id(value: int) -> int:
    if not (1 <= value <= MAX_ID):
        raise NotFoundException()
    return value


def _field(form: Any, name: str) -> str | None:
    value = form.get(name) if form is not None else None
    return value if isinstance(value, str) else None


def _form_id(form: Any, name: str) -> int:
    raw = (_field(form, name) or "").strip()
    if not raw or len(raw) > 12 or not raw.isascii() or not raw.isdigit():
        raise BadInput(detail=_("„{name}“ muss eine Nummer sein.").format(name=name))
    value = int(raw)
    if not (1 <= value <= MAX_ID):
        raise BadInput(detail=_("„{name}“ muss eine Nummer sein.").format(name=name))
    return value


def _form_consent(form: Any, name: str = "consent") -> bool | None:
    raw = (_field(form, name) or "").strip().lower()
    if raw in ("ja", "1", "true", "on", "yes"):
        return True
    if raw in ("nein", "0", "false", "off", "no"):
        return False
    if raw in ("standard", "", "default"):
        return None
    raise BadInput(detail=_("„Einwilligung“ muss „ja“, „nein“ oder „standard“ sein."))


async def _visible_meeting(session: AsyncSession, viewer: Viewer, meeting_id: int) -> Meeting:
    meeting = (
        await session.execute(
            select(Meeting)
            .where(Meeting.id == _check_id(meeting_id), meeting_visible(viewer))
            .options(selectinload(Meeting.organizations), selectinload(Meeting.location))
        )
    ).scalar_one_or_none()
    if meeting is None:
        raise NotFoundException()
    return meeting


def _channels(request: Request[Any, Any, Any]) -> ChannelsPlugin | None:
    try:
        return request.app.plugins.get(ChannelsPlugin)
    except KeyError:
        return None


# --- what the pages show ---------------------------------------------------------------------------


@dataclass
class MemberRow:
    person_id: int
    name: str
    voting: bool
    present: bool
    conflicted: bool


@dataclass
class ItemRow:
    item: AgendaItem
    current: bool
    done: bool


#: Labels for the timeline list on the console.
def _kind_labels() -> dict[str, str]:
    return {
        EventKind.MEETING_OPENED: _("Sitzung eröffnet"),
        EventKind.MEETING_CLOSED: _("Sitzung geschlossen"),
        EventKind.AGENDA_ITEM_STARTED: _("Tagesordnungspunkt begonnen"),
        EventKind.AGENDA_ITEM_ENDED: _("Tagesordnungspunkt beendet"),
        EventKind.SPEAKER_STARTED: _("Redebeitrag begonnen"),
        EventKind.SPEAKER_ENDED: _("Redebeitrag beendet"),
        EventKind.ATTENDANCE_JOINED: _("anwesend"),
        EventKind.ATTENDANCE_LEFT: _("abwesend"),
        EventKind.CONFLICT_DECLARED: _("Befangenheit erklärt"),
        EventKind.CONFLICT_WITHDRAWN: _("Befangenheit zurückgenommen"),
        EventKind.SPEAKERS_CHANGED: _("Redeliste geändert"),
        EventKind.VOTE_OPENED: _("Abstimmung geöffnet"),
        EventKind.VOTE_CLOSED: _("Abstimmung geschlossen"),
        EventKind.VOTE_ANNULLED: _("Abstimmung aufgehoben"),
    }


async def _members(session: AsyncSession, meeting: Meeting, state: LiveState) -> list[MemberRow]:
    ids = await attendance.member_ids(session, meeting)
    voters = await attendance.voting_member_ids(session, meeting)
    conflicted: set[int] = set()
    if state.agenda_item_id is not None:
        conflicted = await attendance.conflicted_person_ids(session, meeting.id, state.agenda_item_id)
    rows: list[MemberRow] = []
    if ids:
        people = (
            await session.execute(
                select(Person.id, Person.name, Person.family_name, Person.given_name).where(
                    Person.id.in_(ids)
                )
            )
        ).all()
        for pid, name, _family, _given in sorted(
            people, key=lambda r: ((r[2] or r[1] or "").lower(), r[1] or "")
        ):
            rows.append(
                MemberRow(
                    person_id=pid,
                    name=name or "",
                    voting=pid in voters,
                    present=pid in state.present_person_ids,
                    conflicted=pid in conflicted,
                )
            )
    return rows


async def _items(session: AsyncSession, viewer: Viewer, meeting: Meeting, state: LiveState) -> list[ItemRow]:
    items = (
        await session.execute(
            select(AgendaItem)
            .where(AgendaItem.meeting_id == meeting.id, agenda_item_visible(viewer))
            .order_by(AgendaItem.order, AgendaItem.id)
        )
    ).scalars()
    current = state.agenda_item_id if state.is_open else None
    return [
        ItemRow(item=i, current=i.id == current, done=i.end is not None and i.id != current) for i in items
    ]


async def _console_context(
    session: AsyncSession, viewer: Viewer, meeting: Meeting, *, error: str | None = None
) -> dict[str, Any]:
    state = await live_state(session, meeting.id)
    members = await _members(session, meeting, state)
    items = await _items(session, viewer, meeting, state)
    quorum = await attendance.quorum(session, meeting.id, present=set(state.present_person_ids))
    current = next((r.item for r in items if r.current), None)
    speakers: list[svc.SpeakerEntry] = []
    if current is not None:
        speakers = await svc.speaker_list(session, meeting.id, current.id)
    listed = {s.person_id for s in speakers if s.state in (SpeakerState.REQUESTED, SpeakerState.SPEAKING)}
    events = list(
        (
            await session.execute(
                select(TimelineEvent)
                .where(TimelineEvent.meeting_id == meeting.id)
                .order_by(TimelineEvent.id.desc())
                .limit(8)
            )
        ).scalars()
    )
    names = {m.person_id: m.name for m in members}
    return {
        "meeting": meeting,
        "live": state,
        "members": members,
        "present_count": sum(1 for m in members if m.present),
        "items": items,
        "current": current,
        "quorum": quorum,
        "speakers": speakers,
        "waiting": [s for s in speakers if s.state == SpeakerState.REQUESTED],
        "addable": [m for m in members if m.person_id not in listed and not m.conflicted],
        "events": events,
        "names": names,
        "kind_labels": _kind_labels(),
        "error": error,
        "base": f"/verwaltung/sitzungen/{meeting.id}/konsole",
        "now": utcnow(),
    }


# --- the clerk's console ---------------------------------------------------------------------------


@get("/verwaltung/sitzungen", name="console_meetings", guards=[require_console], cache=False)
async def console_meetings(db_session: AsyncSession, viewer: Viewer) -> Template:
    """Meetings to run: from a week ago on, soonest first (the live ones at the top)."""
    from datetime import timedelta

    since = utcnow() - timedelta(days=7)
    meetings = (
        await db_session.execute(
            select(Meeting)
            .where(meeting_visible(viewer), Meeting.start >= since)
            .options(selectinload(Meeting.organizations))
            .order_by(Meeting.start, Meeting.id)
            .limit(50)
        )
    ).scalars()
    return Template(
        template_name="console/meetings.html", context={"meetings": list(meetings), "viewer": viewer}
    )


@get("/verwaltung/sitzungen/{meeting_id:int}/konsole", name="console", guards=[require_console], cache=False)
async def console_page(
    request: Request[Any, Any, Any], meeting_id: int, db_session: AsyncSession, viewer: Viewer
) -> Template:
    meeting = await _visible_meeting(db_session, viewer, meeting_id)
    context = await _console_context(db_session, viewer, meeting)
    if _is_htmx(request):
        return HTMXBlockTemplate(template_name="console/console.html", block_name="console", context=context)
    return Template(template_name="console/console.html", context=context)


CONSOLE_ACTIONS = frozenset(
    {
        "eroeffnen",
        "schliessen",
        "anwesend",
        "abwesend",
        "top-starten",
        "top-beenden",
        "rede-starten",
        "rede-beenden",
        "wortmeldung",
        "wortmeldung-entfernen",
        "hoch",
        "runter",
        "reihenfolge",
    }
)


async def _console_action(
    action: str, form: Any, session: AsyncSession, publisher: ChannelsPlugin | None, meeting_id: int
) -> None:
    if action == "eroeffnen":
        await svc.open_meeting(session, publisher, meeting_id)
    elif action == "schliessen":
        await svc.close_meeting(session, publisher, meeting_id)
    elif action == "anwesend":
        await svc.mark_present(session, publisher, meeting_id, _form_id(form, "person_id"))
    elif action == "abwesend":
        await svc.mark_absent(session, publisher, meeting_id, _form_id(form, "person_id"))
    elif action == "top-starten":
        await svc.start_item(session, publisher, meeting_id, _form_id(form, "item_id"))
    elif action == "top-beenden":
        await svc.end_item(session, publisher, meeting_id, _form_id(form, "item_id"))
    elif action == "rede-starten":
        await svc.start_speech(
            session, publisher, meeting_id, _form_id(form, "item_id"), _form_id(form, "person_id")
        )
    elif action == "rede-beenden":
        await svc.end_speech(session, publisher, meeting_id)
    elif action == "wortmeldung":
        await svc.request_to_speak(
            session, publisher, meeting_id, _form_id(form, "item_id"), _form_id(form, "person_id")
        )
    elif action == "wortmeldung-entfernen":
        await svc.withdraw_request(
            session, publisher, meeting_id, _form_id(form, "item_id"), _form_id(form, "person_id")
        )
    elif action in ("hoch", "runter"):
        await svc.move(
            session,
            publisher,
            meeting_id,
            _form_id(form, "item_id"),
            _form_id(form, "person_id"),
            -1 if action == "hoch" else 1,
        )
    elif action == "reihenfolge":
        raw = _field(form, "order") or ""
        parts = [p.strip() for p in raw.split(",") if p.strip()]
        if len(parts) > 500 or not all(p.isascii() and p.isdigit() and len(p) <= 12 for p in parts):
            raise BadInput(detail=_("„order“ muss eine Liste von Nummern sein."))
        await svc.reorder(session, publisher, meeting_id, _form_id(form, "item_id"), [int(p) for p in parts])
    else:  # pragma: no cover - filtered by the caller
        raise NotFoundException()


async def _attempt(
    request: Request[Any, Any, Any], db_session: AsyncSession, action: Awaitable[Any]
) -> svc.ConsoleError | None:
    """Run a console or device action. A refusal rolls back; unknown records are a 404; without htmx
    the refusal is an error page, with htmx it comes back to be shown in the re-rendered block."""
    try:
        await action
    except svc.ConsoleError as exc:
        await db_session.rollback()
        if exc.status == 404:
            raise NotFoundException(detail=_message(exc)) from exc
        if not _is_htmx(request):
            raise HTTPException(status_code=exc.status, detail=_message(exc)) from exc
        return exc
    return None


@post(
    "/verwaltung/sitzungen/{meeting_id:int}/konsole/{action:str}",
    name="console_action",
    guards=[require_console],
    cache=False,
)
async def console_post(
    request: Request[Any, Any, Any], meeting_id: int, action: str, db_session: AsyncSession, viewer: Viewer
) -> Any:
    if action not in CONSOLE_ACTIONS:
        raise NotFoundException()
    meeting_id = (await _visible_meeting(db_session, viewer, meeting_id)).id
    form = await request.form()
    error = await _attempt(
        request, db_session, _console_action(action, form, db_session, _channels(request), meeting_id)
    )
    if not _is_htmx(request):
        return Redirect(path=f"/verwaltung/sitzungen/{meeting_id}/konsole", status_code=303)
    db_session.expire_all()
    meeting = await _visible_meeting(db_session, viewer, meeting_id)
    context = await _console_context(db_session, viewer, meeting, error=_message(error) if error else None)
    return HTMXBlockTemplate(
        template_name="console/console.html",
        block_name="console",
        context=context,
        status_code=error.status if error else 200,
    )


# --- the councillor's device page -------------------------------------------------------------------


async def _participant(session: AsyncSession, viewer: Viewer, meeting_id: int) -> tuple[Meeting, int]:
    meeting = await _visible_meeting(session, viewer, meeting_id)
    if viewer.person_id is None or viewer.person_id not in await attendance.member_ids(session, meeting):
        raise PermissionDeniedException(
            detail=_("Nur Mitglieder der Gremien dieser Sitzung können hier teilnehmen.")
        )
    return meeting, viewer.person_id


async def _device_context(
    session: AsyncSession, viewer: Viewer, meeting: Meeting, person_id: int, *, error: str | None = None
) -> dict[str, Any]:
    state = await live_state(session, meeting.id)
    items = await _items(session, viewer, meeting, state)
    rows = []
    for r in items:
        entries = await svc.speaker_list(session, meeting.id, r.item.id)
        mine = next((e for e in entries if e.person_id == person_id and e.state != SpeakerState.DONE), None)
        waiting = [e for e in entries if e.state == SpeakerState.REQUESTED]
        place = next((i + 1 for i, e in enumerate(waiting) if e.person_id == person_id), None)
        conflicted = person_id in await attendance.conflicted_person_ids(session, meeting.id, r.item.id)
        rows.append(
            {"row": r, "mine": mine, "place": place, "waiting": len(waiting), "conflicted": conflicted}
        )
    quorum = await attendance.quorum(session, meeting.id, present=set(state.present_person_ids))
    return {
        "meeting": meeting,
        "live": state,
        "rows": rows,
        "quorum": quorum,
        "present": person_id in state.present_person_ids,
        "standing_consent": await svc.standing_consent(session, person_id),
        "person_id": person_id,
        "viewer": viewer,
        "error": error,
        "base": f"/sitzungen/{meeting.id}/teilnahme",
    }


@get("/sitzungen/{meeting_id:int}/teilnahme", name="participation", guards=[require_login], cache=False)
async def participation_page(
    request: Request[Any, Any, Any], meeting_id: int, db_session: AsyncSession, viewer: Viewer
) -> Template:
    meeting, person_id = await _participant(db_session, viewer, meeting_id)
    context = await _device_context(db_session, viewer, meeting, person_id)
    if _is_htmx(request):
        return HTMXBlockTemplate(
            template_name="console/participation.html", block_name="participation", context=context
        )
    return Template(template_name="console/participation.html", context=context)


PARTICIPATION_ACTIONS = frozenset(
    {"wortmeldung", "zurueckziehen", "einwilligung", "rede-einwilligung", "befangen", "nicht-befangen"}
)


async def _participation_action(
    action: str,
    form: Any,
    session: AsyncSession,
    publisher: ChannelsPlugin | None,
    meeting_id: int,
    person_id: int,
) -> None:
    if action == "einwilligung":
        consent = _form_consent(form)
        if consent is None:
            raise BadInput(detail=_("„Einwilligung“ muss „ja“ oder „nein“ sein."))
        await svc.set_standing_consent(session, publisher, person_id, consent)
        return
    item_id = _form_id(form, "item_id")
    if action == "wortmeldung":
        await svc.request_to_speak(
            session, publisher, meeting_id, item_id, person_id, consent=_form_consent(form)
        )
    elif action == "zurueckziehen":
        await svc.withdraw_request(session, publisher, meeting_id, item_id, person_id)
    elif action == "rede-einwilligung":
        await svc.set_speech_consent(session, publisher, meeting_id, item_id, person_id, _form_consent(form))
    elif action in ("befangen", "nicht-befangen"):
        await svc.set_conflict(
            session, publisher, meeting_id, item_id, person_id, declared=action == "befangen"
        )


@post(
    "/sitzungen/{meeting_id:int}/teilnahme/{action:str}",
    name="participation_action",
    guards=[require_login],
    cache=False,
)
async def participation_post(
    request: Request[Any, Any, Any], meeting_id: int, action: str, db_session: AsyncSession, viewer: Viewer
) -> Any:
    if action not in PARTICIPATION_ACTIONS:
        raise NotFoundException()
    meeting_id = (await _participant(db_session, viewer, meeting_id))[0].id
    person_id = viewer.person_id
    assert person_id is not None
    form = await request.form()
    error = await _attempt(
        request,
        db_session,
        _participation_action(action, form, db_session, _channels(request), meeting_id, person_id),
    )
    if not _is_htmx(request):
        return Redirect(path=f"/sitzungen/{meeting_id}/teilnahme", status_code=303)
    db_session.expire_all()
    meeting = await _visible_meeting(db_session, viewer, meeting_id)
    context = await _device_context(
        db_session, viewer, meeting, person_id, error=_message(error) if error else None
    )
    return HTMXBlockTemplate(
        template_name="console/participation.html",
        block_name="participation",
        context=context,
        status_code=error.status if error else 200,
    )


routes: list[Any] = [console_meetings, console_page, console_post, participation_page, participation_post]
