"""Council votes on the web: the clerk's poll page, the councillors' ballot, public results and the
public verification page.

Clerk (clerk, chair; staff always):  GET/POST /verwaltung/sitzungen/{id}/abstimmungen,
    POST /abstimmungen/{poll}/einstellungen | /oeffnen | /schliessen | /aufheben
Councillors (signed in):  GET /abstimmungen/{poll} (standalone ballot), GET /sitzungen/{id}/stimmzettel
    (the ballot for the meeting's open poll; ``votes/_ballot.html`` is the partial for the device page),
    POST /abstimmungen/{poll}/stimme — with an idempotency key (form field ``idempotency_key``, made per
    page render, or header ``Idempotency-Key``): 201 accepted, 409 already voted / not open, 403 not
    eligible. JSON clients (``Accept: application/json``) get the answer as JSON; htmx gets the ballot
    fragment; a plain form gets a 303 (or the page with the error status).
Public:  GET /sitzungen/{id}/abstimmungen (results), GET /abstimmungen/{poll}/pruefung (verification).

Every state change is a POST with CSRF, guarded, and answers htmx with a fragment.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2_fragments.litestar import HTMXBlockTemplate
from litestar import MediaType, Request, Response, get, post
from litestar.channels import ChannelsPlugin
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from council.live.attendance import quorum
from council.records.access import Viewer, agenda_item_visible, meeting_visible
from council.records.models import AgendaItem, Meeting
from votes import service
from votes.models import CHOICES, Poll, PollKind, PollState
from votes.rules import RULES, Tally, quorum_text
from votes.verify import verify
from web import i18n
from web.guards import require_login, require_role

_ = i18n.gettext
MAX_ID = 2**31 - 1
_HEX64 = re.compile(r"[0-9a-f]{64}")

login_guard = require_login
clerk_guard = require_role("clerk", "chair")


# --- helpers ---------------------------------------------------------------------------------------


def _check_id(value: int) -> int:
    if not 0 < value <= MAX_ID:
        raise NotFoundException()
    return value


def _is_htmx(request: Request[Any, Any, Any]) -> bool:
    h = request.headers
    return (
        h.get("hx-request") == "true"
        and h.get("hx-boosted") != "true"
        and h.get("hx-history-restore-request") != "true"
    )


def _wants_json(request: Request[Any, Any, Any]) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _page(
    request: Request[Any, Any, Any], name: str, context: dict[str, Any], block: str, status: int = 200
) -> Template:
    if _is_htmx(request):
        return HTMXBlockTemplate(
            template_name=name,
            block_name=block,
            context=context,
            status_code=status,
            headers={"Vary": "HX-Request"},
        )
    return Template(template_name=name, context=context, status_code=status, headers={"Vary": "HX-Request"})


async def _field(request: Request[Any, Any, Any], name: str) -> str:
    form = await request.form()
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _int_field(raw: str, *, default: int | None = None) -> int | None:
    raw = raw.strip()
    if not raw:
        return default
    if not re.fullmatch(r"\d{1,6}", raw):
        return None
    return int(raw)


def _labels() -> dict[str, Any]:
    return {
        "kinds": {
            PollKind.NAMED: _("Namentliche Abstimmung"),
            PollKind.SECRET: _("Geheime Abstimmung"),
            PollKind.HANDS: _("Abstimmung per Handzeichen"),
        },
        "states": {
            PollState.DRAFT: _("Entwurf"),
            PollState.OPEN: _("geöffnet"),
            PollState.CLOSED: _("abgeschlossen"),
            PollState.ANNULLED: _("aufgehoben"),
        },
        "choices": {"yes": _("Ja"), "no": _("Nein"), "abstain": _("Enthaltung")},
        "rules": {
            "simple": _("Einfache Mehrheit der abgegebenen Stimmen"),
            "absolute": _("Mehrheit der gesetzlichen Mitglieder"),
            "two_thirds_cast": _("Zwei-Drittel-Mehrheit der abgegebenen Stimmen"),
            "two_thirds_statutory": _("Zwei-Drittel-Mehrheit der gesetzlichen Mitglieder"),
        },
    }


async def _visible_meeting(session: AsyncSession, viewer: Viewer, meeting_id: int) -> Meeting:
    meeting = (
        await session.execute(
            select(Meeting)
            .options(selectinload(Meeting.organizations))
            .where(Meeting.id == _check_id(meeting_id), meeting_visible(viewer))
        )
    ).scalar_one_or_none()
    if meeting is None:
        raise NotFoundException()
    return meeting


async def _visible_poll(session: AsyncSession, viewer: Viewer, poll_id: int) -> tuple[Poll, AgendaItem]:
    row = (
        await session.execute(
            select(Poll, AgendaItem)
            .join(AgendaItem, AgendaItem.id == Poll.agenda_item_id)
            .where(Poll.id == _check_id(poll_id), agenda_item_visible(viewer))
        )
    ).first()
    if row is None:
        raise NotFoundException()
    return row[0], row[1]


@lru_cache(maxsize=1024)
def _ballot_visibility(viewer: Viewer) -> Any:
    """``agenda_item_visible`` for this viewer, built once per viewer and process (``Viewer`` is frozen:
    a change of roles or memberships is another key). Building the clause costs more than the ballot's
    statements on a busy burst; the vote service also keeps its statement by this very object."""
    return agenda_item_visible(viewer)


def _publisher(request: Request[Any, Any, Any]) -> ChannelsPlugin:
    return request.app.plugins.get(ChannelsPlugin)


# --- the ballot ------------------------------------------------------------------------------------


async def ballot_context(
    session: AsyncSession,
    viewer: Viewer,
    meeting_id: int,
    poll: Poll | None = None,
    *,
    standalone: bool = False,
    voted: bool | None = None,
) -> dict[str, Any]:
    """Context for ``votes/_ballot_body.html``: the meeting's open poll (or ``poll``) as the viewer sees
    it. The device page (``/sitzungen/{id}/teilnahme``) may pass this as ``ballot`` to render it inline.
    ``voted``: already known (the ballot was just accepted), so not asked again."""
    if poll is None:
        poll = await service.open_poll_of_meeting(session, meeting_id)
    ctx: dict[str, Any] = {
        "meeting_id": meeting_id,
        "poll": poll,
        "item": None,
        "may_vote": False,
        "reason": None,
        "voted": False,
        "idempotency_key": secrets.token_urlsafe(18),
        "choices": [str(c) for c in CHOICES],
        "labels": _labels(),
        "refresh_url": f"/abstimmungen/{poll.id}"
        if (standalone and poll)
        else f"/sitzungen/{meeting_id}/stimmzettel",
        "message": None,
        "message_ok": False,
        "receipt": None,
    }
    if poll is None:
        return ctx
    item = (
        await session.execute(
            select(AgendaItem).where(AgendaItem.id == poll.agenda_item_id, agenda_item_visible(viewer))
        )
    ).scalar_one_or_none()
    if item is None:
        ctx["poll"] = None
        return ctx
    ctx["item"] = item
    if poll.state != PollState.OPEN or poll.kind == PollKind.HANDS:
        return ctx
    if viewer.person_id is None:
        ctx["reason"] = _("Ihr Konto ist keinem Ratsmitglied zugeordnet.")
        return ctx
    if voted if voted is not None else await service.has_voted(session, poll, viewer.person_id):
        ctx["voted"] = True
        return ctx
    elig = await service.voter_eligibility(session, poll, viewer.person_id)
    if viewer.person_id in elig.eligible:
        ctx["may_vote"] = True
    elif viewer.person_id not in elig.voting:
        ctx["reason"] = _("Sie sind in diesem Gremium nicht stimmberechtigt.")
    elif viewer.person_id in elig.conflicted:
        ctx["reason"] = _(
            "Sie haben sich für diesen Tagesordnungspunkt für befangen erklärt und stimmen nicht mit."
        )
    else:
        ctx["reason"] = _("Sie sind nicht als anwesend erfasst.")
    return ctx


def _receipt(value: str | None) -> str | None:
    return value if value and _HEX64.fullmatch(value) else None


@get("/abstimmungen/{poll_id:int}", name="vote_ballot", guards=[login_guard], cache=False)
async def ballot_page(
    request: Request[Any, Any, Any],
    poll_id: int,
    db_session: AsyncSession,
    viewer: Viewer,
    quittung: str | None = None,
) -> Template:
    poll, _item = await _visible_poll(db_session, viewer, poll_id)
    ctx = await ballot_context(db_session, viewer, poll.meeting_id, poll, standalone=True)
    ctx["receipt"] = _receipt(quittung)
    if ctx["receipt"]:
        ctx["message"], ctx["message_ok"] = _("Ihre Stimme wurde gezählt."), True
    meeting = await _visible_meeting(db_session, viewer, poll.meeting_id)
    return _page(request, "votes/ballot.html", {"ballot": ctx, "meeting": meeting}, "ballot")


@get("/sitzungen/{meeting_id:int}/stimmzettel", name="vote_ballot_current", guards=[login_guard], cache=False)
async def current_ballot(
    request: Request[Any, Any, Any], meeting_id: int, db_session: AsyncSession, viewer: Viewer
) -> Template:
    meeting = await _visible_meeting(db_session, viewer, meeting_id)
    ctx = await ballot_context(db_session, viewer, meeting.id)
    return _page(request, "votes/ballot.html", {"ballot": ctx, "meeting": meeting}, "ballot")


@post("/abstimmungen/{poll_id:int}/stimme", name="vote_cast", guards=[login_guard], cache=False)
async def cast(
    request: Request[Any, Any, Any], poll_id: int, db_session: AsyncSession, viewer: Viewer
) -> Any:
    _check_id(poll_id)
    choice = await _field(request, "choice")
    raw_key = request.headers.get("idempotency-key") or await _field(request, "idempotency_key") or None
    key = service.valid_key(raw_key) if raw_key else None
    if raw_key and key is None:
        answer = service.Answer(
            400, {"accepted": False, "code": "invalid_key", "detail": _("Ungültiger Idempotenzschlüssel.")}
        )
    else:
        assert viewer.account_id is not None
        # A poll on an item the viewer cannot see does not exist for them (404): checked in the ballot's
        # first statement.
        answer = await service.cast_ballot(
            db_session,
            poll_id,
            person_id=viewer.person_id,
            account_id=viewer.account_id,
            choice=choice,
            idempotency_key=key,
            visible=_ballot_visibility(viewer),
        )
    if _wants_json(request):
        return Response(content=answer.body, status_code=answer.status, media_type=MediaType.JSON)
    if answer.status == 404:
        raise NotFoundException()
    poll, _item = await _visible_poll(db_session, viewer, poll_id)
    if answer.accepted and not _is_htmx(request):
        return Redirect(
            path=f"/abstimmungen/{poll_id}?quittung={answer.body.get('receipt', '')}", status_code=303
        )
    ctx = await ballot_context(
        db_session,
        viewer,
        poll.meeting_id,
        poll,
        standalone=(await _field(request, "view")) == "poll",
        voted=True if answer.accepted else None,
    )
    if answer.accepted:
        ctx["message"], ctx["message_ok"] = _("Ihre Stimme wurde gezählt."), True
        ctx["receipt"] = answer.body.get("receipt")
    else:
        ctx["message"] = _detail(answer)
    if _is_htmx(request):  # the fragment is the ballot alone: no meeting, no page around it
        return _page(request, "votes/ballot.html", {"ballot": ctx, "meeting": None}, "ballot")
    meeting = await _visible_meeting(db_session, viewer, poll.meeting_id)
    return _page(
        request, "votes/ballot.html", {"ballot": ctx, "meeting": meeting}, "ballot", status=answer.status
    )


def _detail(answer: service.Answer) -> str:
    """The refusal in the UI language (the service's German text is the msgid)."""
    detail = str(answer.body.get("detail") or "")
    return _(detail) if detail else _("Die Stimme konnte nicht angenommen werden.")


# --- the clerk -------------------------------------------------------------------------------------


async def _clerk_context(
    session: AsyncSession, viewer: Viewer, meeting: Meeting, *, message: str | None = None, ok: bool = False
) -> dict[str, Any]:
    items = (
        (
            await session.execute(
                select(AgendaItem)
                .where(AgendaItem.meeting_id == meeting.id, agenda_item_visible(viewer))
                .order_by(AgendaItem.order, AgendaItem.id)
            )
        )
        .scalars()
        .all()
    )
    items_by_id = {i.id: i for i in items}
    polls = (
        (await session.execute(select(Poll).where(Poll.meeting_id == meeting.id).order_by(Poll.id.desc())))
        .scalars()
        .all()
    )
    q = await quorum(session, meeting.id)
    rows = []
    open_poll = None
    for p in polls:
        if p.agenda_item_id not in items_by_id:
            continue
        entry: dict[str, Any] = {"poll": p, "item": items_by_id[p.agenda_item_id]}
        if p.state == PollState.OPEN:
            elig = await service.eligibility(session, p)
            voted = await service.participants(session, p)
            names = await service.person_names(session, elig.eligible | elig.excluded)
            entry["eligible"] = sorted(names[i] for i in elig.eligible)
            entry["excluded"] = sorted(names[i] for i in elig.excluded)
            entry["voted"] = len(voted)
            entry["waiting"] = (
                sorted(names[i] for i in elig.eligible - voted) if p.kind == PollKind.NAMED else []
            )
            open_poll = p
        rows.append(entry)
    return {
        "meeting": meeting,
        "items": items,
        "polls": rows,
        "open_poll": open_poll,
        "quorum": q,
        "quorum_text": quorum_text(q.statutory, q.present_voting, q.required),
        "labels": _labels(),
        "rules": list(RULES),
        "kinds": [str(k) for k in PollKind],
        "message": message,
        "message_ok": ok,
        "viewer": viewer,
        "nav": "meetings",
    }


async def _clerk_answer(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    viewer: Viewer,
    meeting_id: int,
    *,
    error: service.VoteError | None = None,
    done: str | None = None,
) -> Any:
    await session.rollback()  # what a failed step left behind; objects loaded before are expired now
    url = f"/verwaltung/sitzungen/{meeting_id}/abstimmungen"
    if error is None and not _is_htmx(request):
        return Redirect(path=url, status_code=303)
    meeting = await _visible_meeting(session, viewer, meeting_id)
    message = _(error.message) if error is not None else done
    ctx = await _clerk_context(session, viewer, meeting, message=message, ok=error is None)
    status = 200 if _is_htmx(request) or error is None else error.status
    return _page(request, "votes/clerk.html", ctx, "polls", status=status)


@get(
    "/verwaltung/sitzungen/{meeting_id:int}/abstimmungen",
    name="vote_clerk",
    guards=[clerk_guard],
    cache=False,
)
async def clerk_page(
    request: Request[Any, Any, Any], meeting_id: int, db_session: AsyncSession, viewer: Viewer
) -> Template:
    meeting = await _visible_meeting(db_session, viewer, meeting_id)
    return _page(request, "votes/clerk.html", await _clerk_context(db_session, viewer, meeting), "polls")


@post(
    "/verwaltung/sitzungen/{meeting_id:int}/abstimmungen",
    name="vote_create",
    guards=[clerk_guard],
    cache=False,
)
async def create(
    request: Request[Any, Any, Any], meeting_id: int, db_session: AsyncSession, viewer: Viewer
) -> Any:
    meeting = (await _visible_meeting(db_session, viewer, meeting_id)).id
    item_id = _int_field(await _field(request, "agenda_item_id"))
    error: service.VoteError | None = None
    visible_item = None
    if item_id is not None:
        visible_item = (
            await db_session.execute(
                select(AgendaItem.id).where(
                    AgendaItem.id == item_id, AgendaItem.meeting_id == meeting, agenda_item_visible(viewer)
                )
            )
        ).first()
    if visible_item is None or item_id is None:
        error = service.InvalidVoteInput("Bitte wählen Sie einen Tagesordnungspunkt dieser Sitzung.")
    else:
        try:
            await service.create_poll(
                db_session,
                meeting_id=meeting,
                agenda_item_id=item_id,
                kind=await _field(request, "kind"),
                majority=await _field(request, "majority"),
                question=await _field(request, "question"),
            )
        except service.VoteError as exc:
            error = exc
    return await _clerk_answer(
        request, db_session, viewer, meeting, error=error, done=_("Die Abstimmung wurde angelegt.")
    )


@dataclass(frozen=True)
class _PollRef:
    id: int
    kind: str
    meeting_id: int


async def _clerk_poll(session: AsyncSession, viewer: Viewer, poll_id: int) -> tuple[_PollRef, int]:
    """The poll (plain values) and its meeting's id, both visible to the viewer; the session is left clean."""
    poll, _item = await _visible_poll(session, viewer, poll_id)
    meeting = await _visible_meeting(session, viewer, poll.meeting_id)
    ref = _PollRef(poll.id, poll.kind, meeting.id)
    await session.rollback()
    return ref, ref.meeting_id


@post("/abstimmungen/{poll_id:int}/einstellungen", name="vote_update", guards=[clerk_guard], cache=False)
async def update_settings(
    request: Request[Any, Any, Any], poll_id: int, db_session: AsyncSession, viewer: Viewer
) -> Any:
    poll, meeting = await _clerk_poll(db_session, viewer, poll_id)
    error = None
    try:
        await service.update_poll(
            db_session,
            poll.id,
            kind=await _field(request, "kind") or None,
            majority=await _field(request, "majority") or None,
            question=await _field(request, "question"),
        )
    except service.VoteError as exc:
        error = exc
    return await _clerk_answer(
        request, db_session, viewer, meeting, error=error, done=_("Die Einstellungen wurden gespeichert.")
    )


@post("/abstimmungen/{poll_id:int}/oeffnen", name="vote_open", guards=[clerk_guard], cache=False)
async def open_(
    request: Request[Any, Any, Any], poll_id: int, db_session: AsyncSession, viewer: Viewer
) -> Any:
    poll, meeting = await _clerk_poll(db_session, viewer, poll_id)
    error = None
    try:
        await service.open_poll(db_session, _publisher(request), poll.id)
    except service.VoteError as exc:
        error = exc
    return await _clerk_answer(
        request, db_session, viewer, meeting, error=error, done=_("Die Abstimmung ist geöffnet.")
    )


@post("/abstimmungen/{poll_id:int}/schliessen", name="vote_close", guards=[clerk_guard], cache=False)
async def close(
    request: Request[Any, Any, Any], poll_id: int, db_session: AsyncSession, viewer: Viewer
) -> Any:
    poll, meeting = await _clerk_poll(db_session, viewer, poll_id)
    error: service.VoteError | None = None
    hands = None
    if poll.kind == PollKind.HANDS:
        counts = [_int_field(await _field(request, n), default=0) for n in ("yes", "no", "abstain")]
        if any(c is None for c in counts):
            error = service.InvalidVoteInput("Bitte geben Sie die Stimmen als ganze Zahlen an.")
        else:
            hands = Tally(*(int(c or 0) for c in counts))
    if error is None:
        try:
            await service.close_poll(db_session, _publisher(request), poll.id, hands=hands)
        except service.VoteError as exc:
            error = exc
    return await _clerk_answer(
        request, db_session, viewer, meeting, error=error, done=_("Die Abstimmung ist abgeschlossen.")
    )


@post("/abstimmungen/{poll_id:int}/aufheben", name="vote_annul", guards=[clerk_guard], cache=False)
async def annul(
    request: Request[Any, Any, Any], poll_id: int, db_session: AsyncSession, viewer: Viewer
) -> Any:
    poll, meeting = await _clerk_poll(db_session, viewer, poll_id)
    error = None
    try:
        await service.annul_poll(db_session, _publisher(request), poll.id, await _field(request, "reason"))
    except service.VoteError as exc:
        error = exc
    return await _clerk_answer(
        request, db_session, viewer, meeting, error=error, done=_("Die Abstimmung wurde aufgehoben.")
    )


# --- public ----------------------------------------------------------------------------------------


@get("/sitzungen/{meeting_id:int}/abstimmungen", name="vote_results", cache=False)
async def results(
    request: Request[Any, Any, Any], meeting_id: int, db_session: AsyncSession, viewer: Viewer
) -> Template:
    meeting = await _visible_meeting(db_session, viewer, meeting_id)
    rows = (
        await db_session.execute(
            select(Poll, AgendaItem)
            .join(AgendaItem, AgendaItem.id == Poll.agenda_item_id)
            .where(Poll.meeting_id == meeting.id, Poll.state != PollState.DRAFT, agenda_item_visible(viewer))
            .order_by(AgendaItem.order, AgendaItem.id, Poll.id)
        )
    ).all()
    polls = [{"poll": p, "item": i} for p, i in rows]
    return _page(
        request,
        "votes/results.html",
        {"meeting": meeting, "polls": polls, "labels": _labels(), "nav": "meetings"},
        "results",
    )


@get("/abstimmungen/{poll_id:int}/pruefung", name="vote_verify", cache=False)
async def verification(
    request: Request[Any, Any, Any], poll_id: int, db_session: AsyncSession, viewer: Viewer
) -> Template:
    poll, item = await _visible_poll(db_session, viewer, poll_id)
    meeting = await _visible_meeting(db_session, viewer, poll.meeting_id)
    report = await verify(db_session, poll_id=poll.id)
    check = report.polls[0] if report.polls else None
    tally = await service.tally_of(db_session, poll) if poll.state == PollState.CLOSED else None
    return Template(
        template_name="votes/verify.html",
        context={
            "meeting": meeting,
            "poll": poll,
            "item": item,
            "report": report,
            "check": check,
            "tally": tally.as_dict() if tally else None,
            "head_in_chain": report.contains(poll.chain_head),
            "labels": _labels(),
            "nav": "meetings",
        },
    )


routes: list[Any] = [
    ballot_page,
    current_ballot,
    cast,
    clerk_page,
    create,
    update_settings,
    open_,
    close,
    annul,
    results,
    verification,
]
