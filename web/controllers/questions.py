"""Question time (Einwohnerfragestunde) on the web.

Residents (no account):  GET/POST /sitzungen/{id}/fragen[?top=ITEM] (the form; a 303 to the private
    tracking page), GET /fragen/{token} (status history, answer, clip), POST /fragen/{token}/zurueckziehen
    | /loeschen | /export, GET/POST /frage-bestaetigen/{token} (e-mail double opt-in),
    GET /sitzungen/{id}/fragen/{question} (a published question: answer, clip, transcript excerpt),
    POST /sitzungen/{id}/fragen/{question}/unterstuetzen (one support per browser).
Clerk (staff):  GET /verwaltung/fragen (queue, filters), POST /verwaltung/fragen/{question}/{action},
    POST /verwaltung/fragen/sammel (bulk). "Frage N wird beantwortet" start/end are actions too; they
    write ``question.answering`` / ``question.answered`` timeline events (live on the meeting page).

Anti-abuse without captchas: a honeypot field, per-IP and per-e-mail limits shared across processes
(``council.questions.ratelimit``; IPs never reach the database), duplicate detection and the GO's
per-person rule in the service. Bad input gets a 4xx with the message on the re-rendered form.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from litestar import Request, Response, get, post
from litestar.channels import ChannelsPlugin
from litestar.datastructures import Cookie
from litestar.exceptions import HTTPException, NotFoundException
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council.core.settings import Settings
from council.core.types import utcnow
from council.live.state import live_state
from council.questions import mail, service
from council.questions.models import CLOSED, Question, QuestionStatus, QuestionSupport
from council.questions.rules import REJECT_REASONS, QuestionRules
from council.records.access import Viewer, agenda_item_visible, meeting_visible
from council.records.models import AgendaItem, Meeting
from streaming.models import Recording
from transcripts import service as transcript_service
from web import i18n
from web.guards import require_staff
from web.limits import client_address, form_limiter

_ = i18n.gettext
log = logging.getLogger(__name__)
MAX_ID = 2**31 - 1
#: Largest form body accepted on the public form (the text limit is 2,000 characters).
MAX_FORM_BYTES = 64 * 1024
SUPPORTER_COOKIE = "rathaus_supporter"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")
S = QuestionStatus


class TooMany(HTTPException):
    status_code = 429


# --- helpers -----------------------------------------------------------------------------------------


def _check_id(value: int) -> int:
    if not 0 < value <= MAX_ID:
        raise NotFoundException()
    return value


def _token(value: str) -> str:
    if not _TOKEN.fullmatch(value):
        raise NotFoundException()
    return value


def _settings(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


class _NoLock:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


def _write_lock(request: Request[Any, Any, Any]) -> Any:
    """SQLite: one submission writes at a time in this process. Concurrent write transactions would
    otherwise meet SQLite's busy handler, whose back-off sleeps made the p99 over a second (measured
    with bench.questions); queued on a lock they wait only for each other's commit. PostgreSQL: none."""
    if not _settings(request).is_sqlite:
        return _NoLock()
    state = request.app.state
    lock = state.get("question_write_lock")
    if lock is None:
        lock = asyncio.Lock()
        state["question_write_lock"] = lock
    return lock


def _publisher(request: Request[Any, Any, Any]) -> ChannelsPlugin | None:
    try:
        return request.app.plugins.get(ChannelsPlugin)
    except KeyError:
        return None


def status_labels() -> dict[str, str]:
    return {
        "submitted": _("Eingereicht"),
        "accepted": _("Angenommen"),
        "rejected": _("Abgelehnt"),
        "scheduled": _("Eingeplant"),
        "answering": _("Wird beantwortet"),
        "answered": _("Beantwortet"),
        "withdrawn": _("Zurückgezogen"),
        "merged": _("Mit einer gleichen Frage zusammengeführt"),
        "edited": _("Zur Veröffentlichung anonymisiert"),
        "email_confirmed": _("E-Mail-Adresse bestätigt"),
        "written_answer": _("Schriftliche Antwort ergänzt"),
        "data_deleted": _("Persönliche Daten gelöscht"),
    }


def reason_labels() -> dict[str, str]:
    return {
        "not_competent": _("Die Stadt ist dafür nicht zuständig"),
        "not_public": _("Betrifft eine nichtöffentliche Angelegenheit"),
        "duplicate": _("Die Frage wurde bereits gestellt"),
        "insulting": _("Beleidigender oder unsachlicher Inhalt"),
        "too_late": _("Zu spät eingegangen"),
        "too_many": _("Zu viele Fragen dieser Person"),
        "other": _("Anderer Grund"),
    }


def error_messages() -> dict[str, str]:
    return {
        "required": _("Bitte füllen Sie dieses Feld aus."),
        "too_short": _("Die Frage ist zu kurz (mindestens 10 Zeichen)."),
        "too_long": _("Der Text ist zu lang."),
        "bad_chars": _("Der Text enthält Zeichen, die nicht erlaubt sind."),
        "bad_email": _("Bitte geben Sie eine gültige E-Mail-Adresse an oder lassen Sie das Feld leer."),
        "too_many": _("Sie haben für diese Sitzung bereits die höchstzulässige Zahl von Fragen gestellt."),
        "too_many_follow_ups": _("Zu dieser Frage sind keine weiteren Nachfragen möglich."),
        "duplicate": _(
            "Diese Frage wurde für diese Sitzung bereits gestellt. "
            "Sie können sie auf der Sitzungsseite unterstützen."
        ),
        "bad_state": _("Das ist im jetzigen Stand der Frage nicht möglich."),
        "bad_reason": _("Bitte wählen Sie einen Ablehnungsgrund."),
        "bad_slot": _("Die Position muss eine Zahl von 1 bis 999 sein."),
        "merge_self": _("Eine Frage kann nicht mit sich selbst zusammengeführt werden."),
        "merge_target": _("Mit dieser Frage kann nicht zusammengeführt werden."),
        "meeting_not_found": _("Diese Sitzung gibt es nicht."),
        "not_found": _("Diese Frage gibt es nicht."),
        "not_supportable": _("Diese Frage kann nicht unterstützt werden."),
        "bad_action": _("Unbekannte Aktion."),
        "rate": _("Zu viele Fragen in kurzer Zeit. Bitte versuchen Sie es später erneut."),
        "too_big": _("Die Eingabe ist zu groß."),
    }


def _message(code: str) -> str:
    return error_messages().get(code, _("Das ist gerade nicht möglich."))


def _raise(exc: service.QuestionError) -> HTTPException:
    if exc.status == 404:
        return NotFoundException(detail=_message(exc.code))
    err = HTTPException(detail=_message(exc.code), status_code=exc.status)
    return err


async def _form(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The form's fields as text (repeated fields: the first); bodies over the limit are refused."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_FORM_BYTES):
        raise HTTPException(status_code=413, detail=_message("too_big"))
    if length is None and len(await request.body()) > MAX_FORM_BYTES:
        raise HTTPException(status_code=413, detail=_message("too_big"))
    form = await request.form()
    out: dict[str, str] = {}
    for key in form:
        value = form.get(key)
        out[key] = value if isinstance(value, str) else ""
    return out


async def _form_ids(request: Request[Any, Any, Any]) -> tuple[dict[str, str], list[int]]:
    form = await request.form()
    ids: list[int] = []
    for raw in form.getall("ids", []) if hasattr(form, "getall") else []:  # none ticked: no ids at all
        if (
            isinstance(raw, str)
            and raw.isascii()
            and raw.isdigit()
            and len(raw) < 11
            and 0 < int(raw) <= MAX_ID
        ):
            ids.append(int(raw))
    fields = {k: v for k in form if isinstance(v := form.get(k), str)}
    return fields, ids


def _int(raw: str | None, field: str) -> int | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 10 or not 0 < int(raw) <= MAX_ID:
        raise HTTPException(status_code=400, detail=_("„{name}“ muss eine Nummer sein.").format(name=field))
    return int(raw)


def _base_url(request: Request[Any, Any, Any]) -> str:
    return _settings(request).base_url.rstrip("/")


async def _notify(request: Request[Any, Any, Any], q: Question) -> None:
    """Tell the resident about a status change — only to a confirmed address."""
    if not (q.email and q.email_confirmed):
        return
    settings = _settings(request)
    # The tracking token is not stored: the mail links the public question page or the site.
    url = (
        f"{_base_url(request)}/sitzungen/{q.meeting_id}/fragen/{q.id}" if q.published else _base_url(request)
    )
    subject, body = mail.status_mail(settings, status_labels().get(q.status, q.status), url)
    await mail.send(settings, q.email, subject, body)


# --- the form ----------------------------------------------------------------------------------------


async def _form_target(
    session: AsyncSession, viewer: Viewer, meeting_id: int, top: str | None
) -> tuple[Meeting, AgendaItem | None]:
    """The meeting (public, upcoming, with question time) and, with ``?top=``, the public item asked about."""
    meeting = (
        await session.execute(
            select(Meeting).where(
                Meeting.id == _check_id(meeting_id), meeting_visible(viewer), Meeting.public.is_(True)
            )
        )
    ).scalar_one_or_none()
    if meeting is None:
        raise NotFoundException()
    state = await live_state(session, meeting.id)
    ends = meeting.end or meeting.start
    if meeting.cancelled or state.is_closed or (ends is not None and ends < utcnow() - timedelta(hours=6)):
        raise HTTPException(
            status_code=409, detail=_("Für diese Sitzung können keine Fragen mehr eingereicht werden.")
        )
    if top:
        item_id = _int(top, "top")
        item = (
            await session.execute(
                select(AgendaItem).where(
                    AgendaItem.id == item_id,
                    AgendaItem.meeting_id == meeting.id,
                    AgendaItem.public.is_(True),
                    agenda_item_visible(viewer),
                )
            )
        ).scalar_one_or_none()
        if item is None:
            raise NotFoundException()
        return meeting, item
    if await service.question_time_item(session, meeting.id) is None:
        raise NotFoundException(detail=_("Diese Sitzung hat keine Einwohnerfragestunde."))
    return meeting, None


def _form_ctx(
    meeting: Meeting, item: AgendaItem | None, values: dict[str, str] | None = None, **kw: Any
) -> dict[str, Any]:
    rules = QuestionRules()
    return {
        "meeting": meeting,
        "item": item,
        "values": values or {},
        "rules": rules,
        "error": None,
        "error_field": None,
        **kw,
    }


@get("/sitzungen/{meeting_id:int}/fragen", name="question_form", cache=False)
async def question_form(
    request: Request[Any, Any, Any],
    meeting_id: int,
    db_session: AsyncSession,
    viewer: Viewer,
    top: str | None = None,
) -> Template:
    meeting, item = await _form_target(db_session, viewer, meeting_id, top)
    ctx = _form_ctx(meeting, item, retention_days=_settings(request).questions_retention_days)
    return Template("questions/form.html", context=ctx)


@post("/sitzungen/{meeting_id:int}/fragen", name="question_submit", status_code=303)
async def question_submit(
    request: Request[Any, Any, Any],
    meeting_id: int,
    db_session: AsyncSession,
    viewer: Viewer,
    top: str | None = None,
) -> Response[Any]:
    form = await _form(request)
    meeting, item = await _form_target(db_session, viewer, meeting_id, top or form.get("top") or None)
    settings = _settings(request)

    def again(code: str, status: int, field: str | None = None) -> Template:
        values = {k: v for k, v in form.items() if k in ("text", "name", "email", "consent")}
        return Template(
            "questions/form.html",
            context=_form_ctx(
                meeting,
                item,
                values,
                error=_message(code),
                error_field=field,
                retention_days=settings.questions_retention_days,
            ),
            status_code=status,
        )

    if form.get("website"):  # the honeypot: people leave it empty (it is hidden); bots fill it
        return again("bad_chars", 400, "website")
    limiter = form_limiter(request)
    window = settings.questions_limit_window_s
    if not await limiter.hit("q-ip", client_address(request), settings.questions_ip_limit, window):
        return again("rate", 429)
    email = (form.get("email") or "").strip()
    if email and not await limiter.hit(
        "q-mail", email.casefold()[:320], settings.questions_email_limit, window
    ):
        return again("rate", 429, "email")
    try:
        async with _write_lock(request):
            done = await service.submit(
                db_session,
                QuestionRules.from_settings(settings),
                settings.secret_key,
                meeting_id=meeting.id,
                agenda_item_id=item.id if item else None,
                text=form.get("text"),
                name=form.get("name"),
                email=email,
                consent=form.get("consent") in ("on", "1", "ja", "true"),
            )
    except service.QuestionError as exc:
        await db_session.rollback()
        await db_session.refresh(meeting)  # the rollback expired them; the form re-renders them
        if item is not None:
            await db_session.refresh(item)
        return again(exc.code, exc.status, exc.field)
    tracking = f"/fragen/{done.token}"
    if done.optin_token and done.question.email:
        subject, body = mail.optin_mail(
            settings,
            f"{_base_url(request)}/frage-bestaetigen/{done.optin_token}",
            _base_url(request) + tracking,
        )
        await mail.send(settings, done.question.email, subject, body)
    return Redirect(tracking, status_code=303)


# --- the tracking page -------------------------------------------------------------------------------


async def clip(session: AsyncSession, q: Question) -> dict[str, Any] | None:
    """Where the live answer is in the recording (seconds) and what the transcript says there."""
    if q.answering_at is None:
        return None
    rec = (
        await session.execute(select(Recording).where(Recording.meeting_id == q.meeting_id))
    ).scalar_one_or_none()
    if rec is None or rec.started_at is None:
        return None
    start = max(0.0, (q.answering_at - rec.started_at).total_seconds())
    end_at = q.answered_at or utcnow()
    end = max(start, (end_at - rec.started_at).total_seconds())
    if rec.duration_s:
        start, end = min(start, rec.duration_s), min(end, rec.duration_s)
    lines = [
        s
        for s in await transcript_service.segments(session, q.meeting_id)
        if s.end_s > start and s.start_s < end
    ]
    return {
        "start": int(start),
        "end": int(end),
        "url": f"/sitzungen/{q.meeting_id}/video?t={int(start)}",
        "lines": lines,
    }


async def _tracking_ctx(session: AsyncSession, q: Question, token: str, **kw: Any) -> dict[str, Any]:
    meeting = await session.get(Meeting, q.meeting_id)
    item = await session.get(AgendaItem, q.agenda_item_id) if q.agenda_item_id else None
    return {
        "q": q,
        "meeting": meeting,
        "item": item,
        "token": token,
        "events": await service.history(session, q.id),
        "labels": status_labels(),
        "reasons": reason_labels(),
        "clip": await clip(session, q) if meeting is not None and meeting.public else None,
        "closed": q.status in CLOSED,
        "follow_up_possible": q.follow_up_of_id is None
        and q.status in (S.ACCEPTED, S.SCHEDULED, S.ANSWERING, S.ANSWERED)
        and bool(q.author_name),
        "rules": QuestionRules(),
        "message": None,
        **kw,
    }


@get("/fragen/{token:str}", name="question_tracking", cache=False)
async def tracking_page(token: str, db_session: AsyncSession) -> Response[Any]:
    try:
        q = await service.by_token(db_session, _token(token))
    except service.QuestionError as exc:
        raise _raise(exc) from None
    ctx = await _tracking_ctx(db_session, q, token)
    return Template(
        "questions/tracking.html",
        context=ctx,
        headers={"Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"},
    )


@post("/fragen/{token:str}/{action:str}", name="question_resident_action", status_code=303)
async def resident_action(
    request: Request[Any, Any, Any], token: str, action: str, db_session: AsyncSession
) -> Response[Any]:
    token = _token(token)
    try:
        if action == "zurueckziehen":
            await service.withdraw(db_session, token)
        elif action == "loeschen":
            await service.delete_personal_data(db_session, token)
        elif action == "nachfrage":
            return await _follow_up(request, token, db_session)
        elif action == "export":
            data = await service.export(db_session, token)
            return Response(
                content=json.dumps(data, ensure_ascii=False, indent=2).encode(),
                media_type="application/json",
                status_code=200,
                headers={"Content-Disposition": 'attachment; filename="meine-frage.json"'},
            )
        else:
            raise NotFoundException()
    except service.QuestionError as exc:
        await db_session.rollback()
        raise _raise(exc) from None
    return Redirect(f"/fragen/{token}", status_code=303)


async def _follow_up(request: Request[Any, Any, Any], token: str, db_session: AsyncSession) -> Response[Any]:
    settings = _settings(request)
    form = await _form(request)
    limiter = form_limiter(request)
    if not await limiter.hit(
        "q-ip", client_address(request), settings.questions_ip_limit, settings.questions_limit_window_s
    ):
        raise TooMany(detail=_message("rate"))
    async with _write_lock(request):
        done = await service.follow_up(
            db_session, QuestionRules.from_settings(settings), settings.secret_key, token, form.get("text")
        )
    return Redirect(f"/fragen/{done.token}", status_code=303)


@get("/frage-bestaetigen/{token:str}", name="question_confirm_page", cache=False)
async def confirm_page(token: str) -> Template:
    return Template(
        "questions/confirm.html",
        context={"token": _token(token), "done": False},
        headers={"Referrer-Policy": "no-referrer"},
    )


@post("/frage-bestaetigen/{token:str}", name="question_confirm", status_code=200)
async def confirm(token: str, db_session: AsyncSession) -> Template:
    try:
        await service.confirm_email(db_session, _token(token))
    except service.QuestionError as exc:
        raise _raise(exc) from None
    return Template(
        "questions/confirm.html",
        context={"token": token, "done": True},
        headers={"Referrer-Policy": "no-referrer"},
    )


# --- public question page, meeting page list, support ------------------------------------------------


async def _published(
    session: AsyncSession, viewer: Viewer, meeting_id: int, question_id: int
) -> tuple[Meeting, Question]:
    meeting = (
        await session.execute(
            select(Meeting).where(
                Meeting.id == _check_id(meeting_id), meeting_visible(viewer), Meeting.public.is_(True)
            )
        )
    ).scalar_one_or_none()
    q = await session.get(Question, _check_id(question_id))
    if meeting is None or q is None or q.meeting_id != meeting.id or not q.published:
        raise NotFoundException()
    return meeting, q


@get("/sitzungen/{meeting_id:int}/fragen/{question_id:int}", name="question_public", cache=False)
async def question_page(
    request: Request[Any, Any, Any],
    meeting_id: int,
    question_id: int,
    db_session: AsyncSession,
    viewer: Viewer,
) -> Template:
    meeting, q = await _published(db_session, viewer, meeting_id, question_id)
    browser = request.cookies.get(SUPPORTER_COOKIE) or ""
    supported = (
        bool(_TOKEN.fullmatch(browser))
        and (
            await db_session.execute(
                select(QuestionSupport.id).where(
                    QuestionSupport.question_id == q.id,
                    QuestionSupport.browser_hash == hashlib.sha256(browser.encode()).hexdigest(),
                )
            )
        ).first()
        is not None
    )
    return Template(
        "questions/public.html",
        context={
            "meeting": meeting,
            "q": q,
            "labels": status_labels(),
            "clip": await clip(db_session, q),
            "supported": supported,
        },
    )


async def meeting_questions(session: AsyncSession, meeting: Meeting) -> dict[str, Any]:
    """For the meeting page (``questions/_meeting.html``): published questions, and is the form open?"""
    if not meeting.public:
        return {"list": [], "form_open": False, "labels": {}}
    items = await service.published_for_meeting(session, meeting.id)
    ends = meeting.end or meeting.start
    open_ = (
        not meeting.cancelled
        and (ends is None or ends >= utcnow() - timedelta(hours=6))
        and await service.question_time_item(session, meeting.id) is not None
    )
    return {"list": items, "form_open": open_, "labels": status_labels()}


@post(
    "/sitzungen/{meeting_id:int}/fragen/{question_id:int}/unterstuetzen",
    name="question_support",
    status_code=303,
)
async def support(
    request: Request[Any, Any, Any],
    meeting_id: int,
    question_id: int,
    db_session: AsyncSession,
    viewer: Viewer,
) -> Response[Any]:
    meeting, q = await _published(db_session, viewer, meeting_id, question_id)
    settings = _settings(request)
    if not await form_limiter(request).hit(
        "q-support",
        client_address(request),
        settings.questions_support_limit,
        settings.questions_limit_window_s,
    ):
        raise TooMany(detail=_message("rate"))
    browser = request.cookies.get(SUPPORTER_COOKIE) or ""
    if not _TOKEN.fullmatch(browser):
        browser = secrets.token_urlsafe(24)
    try:
        added = await service.support(db_session, q.id, hashlib.sha256(browser.encode()).hexdigest())
    except service.QuestionError as exc:
        await db_session.rollback()
        raise _raise(exc) from None
    cookie = Cookie(
        key=SUPPORTER_COOKIE,
        value=browser,
        max_age=365 * 86400,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )
    await db_session.refresh(q)  # the count changed in the database; a duplicate rolled back
    await db_session.refresh(meeting)
    if request.headers.get("hx-request") == "true":
        return Template(
            "questions/_support.html",
            context={"meeting": meeting, "q": q, "supported": True, "added": added},
            cookies=[cookie],
            status_code=200,
        )
    return Redirect(f"/sitzungen/{meeting.id}/fragen/{q.id}", status_code=303, cookies=[cookie])


# --- moderation ---------------------------------------------------------------------------------------


async def _moderation_ctx(
    session: AsyncSession, status: str | None, meeting_id: int | None, **kw: Any
) -> dict[str, Any]:
    questions = await service.queue(session, status=status, meeting_id=meeting_id)
    ids = {q.meeting_id for q in questions}
    meetings = (
        {m.id: m for m in (await session.execute(select(Meeting).where(Meeting.id.in_(ids)))).scalars()}
        if ids
        else {}
    )
    upcoming = (
        (
            await session.execute(
                select(Meeting)
                .where(
                    Meeting.deleted.is_(False),
                    Meeting.public.is_(True),
                    Meeting.start >= utcnow() - timedelta(days=1),
                )
                .order_by(Meeting.start)
                .limit(30)
            )
        )
        .scalars()
        .all()
    )
    return {
        "questions": questions,
        "meetings": meetings,
        "upcoming": upcoming,
        "status": status or "",
        "meeting_id": meeting_id,
        "labels": status_labels(),
        "reasons": reason_labels(),
        "reason_codes": REJECT_REASONS,
        "statuses": [s.value for s in QuestionStatus],
        "message": None,
        "error": None,
        **kw,
    }


@get("/verwaltung/fragen", name="question_moderation", guards=[require_staff], cache=False)
async def moderation(
    db_session: AsyncSession, status: str | None = None, sitzung: str | None = None
) -> Template:
    if status and status not in {s.value for s in QuestionStatus}:
        status = None
    meeting_id = _int(sitzung, "sitzung")
    return Template(
        "questions/moderation.html", context=await _moderation_ctx(db_session, status, meeting_id)
    )


def _back(form: dict[str, str]) -> str:
    back = form.get("zurueck") or "/verwaltung/fragen"
    return back if re.fullmatch(r"/verwaltung/fragen(\?[A-Za-z0-9=&_-]*)?", back) else "/verwaltung/fragen"


@post("/verwaltung/fragen/sammel", name="question_bulk", guards=[require_staff], status_code=303)
async def bulk(request: Request[Any, Any, Any], db_session: AsyncSession) -> Response[Any]:
    form, ids = await _form_ids(request)
    action = {"annehmen": "accept", "ablehnen": "reject", "einplanen": "schedule"}.get(form.get("aktion", ""))
    if action is None:
        raise HTTPException(status_code=400, detail=_message("bad_action"))
    if not ids:
        raise HTTPException(status_code=400, detail=_("Bitte wählen Sie mindestens eine Frage."))
    try:
        done, _skipped = await service.bulk(
            db_session, ids, action, reason=form.get("reason") or "other", note=form.get("note")
        )
    except service.QuestionError as exc:
        await db_session.rollback()
        raise _raise(exc) from None
    for qid in done:
        q = await db_session.get(Question, qid)
        if q is not None:
            await _notify(request, q)
    return Redirect(_back(form), status_code=303)


@post(
    "/verwaltung/fragen/{question_id:int}/{action:str}",
    name="question_moderate",
    guards=[require_staff],
    status_code=303,
)
async def moderate(
    request: Request[Any, Any, Any], question_id: int, action: str, db_session: AsyncSession
) -> Response[Any]:
    qid = _check_id(question_id)
    form = await _form(request)
    publisher = _publisher(request)
    notify = True
    try:
        if action == "annehmen":
            q = await service.accept(db_session, qid)
        elif action == "ablehnen":
            q = await service.reject(db_session, qid, form.get("reason", ""), form.get("note"))
        elif action == "bearbeiten":
            q = await service.edit(db_session, qid, form.get("text"))
            notify = False
        elif action == "zusammenfuehren":
            into = _int(form.get("into"), "into")
            if into is None:
                raise HTTPException(status_code=400, detail=_("Bitte geben Sie die Nummer der Frage an."))
            q = await service.merge(db_session, qid, into)
        elif action == "einplanen":
            q = await service.schedule(
                db_session,
                qid,
                meeting_id=_int(form.get("meeting_id"), "meeting_id"),
                slot=_int(form.get("slot"), "slot"),
            )
        elif action == "beantwortung-start":
            q = await service.start_answer(db_session, publisher, qid)
            notify = False
        elif action == "beantwortung-ende":
            q = await service.end_answer(db_session, publisher, qid)
        elif action == "antwort":
            q = await service.answer_in_writing(db_session, qid, form.get("answer"))
        else:
            raise NotFoundException()
    except service.QuestionError as exc:
        await db_session.rollback()
        raise _raise(exc) from None
    if notify:
        await _notify(request, q)
    return Redirect(_back(form), status_code=303)


def _when(value: datetime | None) -> str:
    return i18n.format_datetime(value) if value else ""


routes = [
    question_form,
    question_submit,
    tracking_page,
    resident_action,
    confirm_page,
    confirm,
    question_page,
    support,
    moderation,
    bulk,
    moderate,
]
