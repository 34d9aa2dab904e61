"""Question time as services: submit, moderate, schedule, answer, withdraw, delete, export, purge.

The web layer parses input, checks who may act and renders; everything that changes a question goes
through here, commits once per action (an acknowledged submission is durable) and appends to the
question's status history. Failures raise ``QuestionError`` with a ``code`` (the web layer has the
message) and an HTTP-like ``status``; nothing is half-written, because every check runs before the
first write and each action is one transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from council.core.types import utcnow
from council.live.bus import Publisher, record_event
from council.live.models import EventKind, TimelineEvent
from council.questions.models import (
    CLOSED,
    EmailOptIn,
    Question,
    QuestionEvent,
    QuestionStatus,
    QuestionSupport,
)
from council.questions.rules import REJECT_REASONS, QuestionRules
from council.records.models import AgendaItem, Meeting

S = QuestionStatus


class QuestionError(Exception):
    """An action that is not possible (409), on something unknown (404) or with bad input (400)."""

    def __init__(self, code: str, status: int = 409, field: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.status = status
        self.field = field


# --- tokens and text ---------------------------------------------------------------------------------


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def keyed_hash(secret: str, value: str) -> str:
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()


#: Bidirectional overrides and isolates: they make text display differently from what it says.
_BIDI = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C])
_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251})\.[A-Za-z]{2,63}"
)
#: Longest run of combining marks on one base character ("Zalgo" text beyond it is refused).
MAX_COMBINING_RUN = 8


def clean_text(
    value: str | None, field: str, *, max_len: int, min_len: int = 0, multiline: bool = False
) -> str:
    """Normalised plain text, or ``QuestionError(…, 400, field)``. Markup is not parsed (it is stored as
    text and escaped on output); NUL, lone surrogates and other control characters are refused; bidi
    overrides are removed; runs of combining marks are limited."""
    value = value or ""
    if len(value) > max_len * 4:
        raise QuestionError("too_long", 400, field)
    if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise QuestionError("bad_chars", 400, field)
    value = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n")).translate(_BIDI)
    run = 0
    for c in value:
        cat = unicodedata.category(c)
        if cat == "Cc" and not (multiline and c in "\n\t"):
            raise QuestionError("bad_chars", 400, field)
        if cat in ("Cs", "Co", "Cn") and c != "\n":
            raise QuestionError("bad_chars", 400, field)
        run = run + 1 if cat.startswith("M") else 0
        if run > MAX_COMBINING_RUN:
            raise QuestionError("bad_chars", 400, field)
    value = value.strip()
    if multiline:
        value = re.sub(r"\n{3,}", "\n\n", value)
    if len(value) > max_len:
        raise QuestionError("too_long", 400, field)
    if len(value) < min_len:
        raise QuestionError("too_short" if value else "required", 400, field)
    return value


def clean_email(value: str | None, rules: QuestionRules) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if len(value) > rules.email_max or not _EMAIL.fullmatch(value):
        raise QuestionError("bad_email", 400, "email")
    return value


def text_key(text: str) -> str:
    """Duplicate detection: case, punctuation and spacing do not make a question new."""
    norm = re.sub(r"[\W_]+", " ", unicodedata.normalize("NFKC", text).casefold()).strip()
    return hashlib.sha256(norm.encode()).hexdigest()


# --- history --------------------------------------------------------------------------------------------


def _log(
    session: AsyncSession,
    q: Question,
    status: str,
    now: datetime,
    *,
    note: str | None = None,
    reason: str | None = None,
) -> None:
    session.add(QuestionEvent(question_id=q.id, status=status, at=now, note=note, reason=reason))


def _set_status(session: AsyncSession, q: Question, status: QuestionStatus, now: datetime, **kw: Any) -> None:
    q.status = status
    if status in CLOSED and q.closed_at is None:
        q.closed_at = now
    _log(session, q, status, now, **kw)


async def history(session: AsyncSession, question_id: int) -> list[QuestionEvent]:
    return list(
        (
            await session.execute(
                select(QuestionEvent)
                .where(QuestionEvent.question_id == question_id)
                .order_by(QuestionEvent.at, QuestionEvent.id)
            )
        ).scalars()
    )


# --- submitting -----------------------------------------------------------------------------------------


@dataclass
class Submitted:
    question: Question
    token: str
    optin_token: str | None


_OPEN_STATES = [S.SUBMITTED, S.ACCEPTED, S.SCHEDULED, S.ANSWERING, S.ANSWERED]


async def submit(
    session: AsyncSession,
    rules: QuestionRules,
    secret: str,
    *,
    meeting_id: int,
    agenda_item_id: int | None,
    text: str | None,
    name: str | None,
    email: str | None,
    consent: bool,
    follow_up_of: int | None = None,
    email_confirmed: bool = False,
    now: datetime | None = None,
) -> Submitted:
    """Check everything, then write the question, its first history row and the opt-in in one commit."""
    now = now or utcnow()
    body = clean_text(text, "text", max_len=rules.text_max, min_len=rules.text_min, multiline=True)
    author = clean_text(name, "name", max_len=rules.name_max, min_len=1)
    address = clean_email(email, rules)
    person_key = keyed_hash(secret, "e:" + address.casefold() if address else "n:" + author.casefold())
    tkey = text_key(body)
    base = (
        select(func.count())
        .select_from(Question)
        .where(
            Question.meeting_id == meeting_id, Question.status.in_(_OPEN_STATES), Question.deleted.is_(False)
        )
    )
    if follow_up_of is not None:
        parent = await session.get(Question, follow_up_of)
        if parent is None or parent.meeting_id != meeting_id:
            raise QuestionError("not_found", 404)
        n = (
            await session.execute(
                select(func.count()).select_from(Question).where(Question.follow_up_of_id == follow_up_of)
            )
        ).scalar_one()
        if n >= rules.follow_ups:
            raise QuestionError("too_many_follow_ups")
    elif (
        await session.execute(
            base.where(Question.person_key == person_key, Question.follow_up_of_id.is_(None))
        )
    ).scalar_one() >= rules.per_person:
        raise QuestionError("too_many")
    if (await session.execute(base.where(Question.text_key == tkey))).scalar_one():
        raise QuestionError("duplicate")
    token = new_token()
    q = Question(
        meeting_id=meeting_id,
        agenda_item_id=agenda_item_id,
        token_hash=token_hash(token),
        text=body,
        author_name=author,
        email=address,
        email_confirmed=bool(address) and email_confirmed,
        person_key=person_key,
        text_key=tkey,
        consent_publish=consent,
        status=S.SUBMITTED,
        follow_up_of_id=follow_up_of,
        created=now,
        modified=now,
    )
    session.add(q)
    await session.flush()
    _log(session, q, S.SUBMITTED, now)
    optin = None
    if address and not email_confirmed:
        optin = new_token()
        session.add(EmailOptIn(question_id=q.id, token_hash=token_hash(optin), created=now))
    await session.commit()
    return Submitted(q, token, optin)


async def follow_up(
    session: AsyncSession,
    rules: QuestionRules,
    secret: str,
    token: str,
    text: str | None,
    now: datetime | None = None,
) -> Submitted:
    """A follow-up question (Zusatzfrage) to one's own question, as many as the GO allows
    (``rules.follow_ups``); it carries the parent's name, e-mail (already confirmed stays confirmed)
    and consent, and gets its own tracking link."""
    parent = await by_token(session, token)
    if rules.follow_ups < 1:
        raise QuestionError("too_many_follow_ups")
    if parent.status not in (S.ACCEPTED, S.SCHEDULED, S.ANSWERING, S.ANSWERED) or not parent.author_name:
        raise QuestionError("bad_state")
    if parent.follow_up_of_id is not None:
        raise QuestionError("too_many_follow_ups")  # no follow-ups to follow-ups
    return await submit(
        session,
        rules,
        secret,
        meeting_id=parent.meeting_id,
        agenda_item_id=parent.agenda_item_id,
        text=text,
        name=parent.author_name,
        email=parent.email,
        consent=parent.consent_publish,
        follow_up_of=parent.id,
        email_confirmed=parent.email_confirmed,
        now=now,
    )


async def by_token(session: AsyncSession, token: str) -> Question:
    if not token or len(token) > 100:
        raise QuestionError("not_found", 404)
    q = (
        await session.execute(
            select(Question).where(Question.token_hash == token_hash(token), Question.deleted.is_(False))
        )
    ).scalar_one_or_none()
    if q is None:
        raise QuestionError("not_found", 404)
    return q


async def confirm_email(session: AsyncSession, token: str, now: datetime | None = None) -> Question:
    now = now or utcnow()
    if not token or len(token) > 100:
        raise QuestionError("not_found", 404)
    optin = (
        await session.execute(select(EmailOptIn).where(EmailOptIn.token_hash == token_hash(token)))
    ).scalar_one_or_none()
    if optin is None:
        raise QuestionError("not_found", 404)
    q = await session.get(Question, optin.question_id)
    if q is None or q.email is None:
        raise QuestionError("not_found", 404)
    if optin.confirmed_at is None:
        optin.confirmed_at = now
        q.email_confirmed = True
        _log(session, q, "email_confirmed", now)
        await session.commit()
    return q


# --- moderation --------------------------------------------------------------------------------------


async def get(session: AsyncSession, question_id: int) -> Question:
    q = await session.get(Question, question_id)
    if q is None or q.deleted:
        raise QuestionError("not_found", 404)
    return q


def _require(q: Question, *states: QuestionStatus) -> None:
    if q.status not in states:
        raise QuestionError("bad_state")


async def accept(session: AsyncSession, question_id: int, now: datetime | None = None) -> Question:
    q = await get(session, question_id)
    _require(q, S.SUBMITTED)
    _set_status(session, q, S.ACCEPTED, now or utcnow())
    await session.commit()
    return q


async def reject(
    session: AsyncSession, question_id: int, reason: str, note: str | None, now: datetime | None = None
) -> Question:
    if reason not in REJECT_REASONS:
        raise QuestionError("bad_reason", 400, "reason")
    note = clean_text(note, "note", max_len=QuestionRules().note_max, multiline=True) or None
    q = await get(session, question_id)
    _require(q, S.SUBMITTED, S.ACCEPTED, S.SCHEDULED)
    q.reject_reason, q.reject_note = reason, note
    _set_status(session, q, S.REJECTED, now or utcnow(), reason=reason, note=note)
    await session.commit()
    return q


async def edit(
    session: AsyncSession, question_id: int, text: str | None, now: datetime | None = None
) -> Question:
    """Anonymise the published wording; the resident's original is kept once, for the record."""
    rules = QuestionRules()
    body = clean_text(text, "text", max_len=rules.text_max, min_len=1, multiline=True)
    q = await get(session, question_id)
    if body != q.text:
        if q.original_text is None:
            q.original_text = q.text
        q.text = body
        _log(session, q, "edited", now or utcnow())
        await session.commit()
    return q


async def merge(
    session: AsyncSession, question_id: int, into_id: int, now: datetime | None = None
) -> Question:
    if question_id == into_id:
        raise QuestionError("merge_self", 400)
    q = await get(session, question_id)
    target = await get(session, into_id)
    if target.meeting_id != q.meeting_id or target.status in CLOSED - {S.ANSWERED}:
        raise QuestionError("merge_target")
    _require(q, S.SUBMITTED, S.ACCEPTED, S.SCHEDULED)
    q.merged_into_id = target.id
    target.support_count += q.support_count
    _set_status(session, q, S.MERGED, now or utcnow(), note=f"#{target.id}")
    await session.commit()
    return q


async def schedule(
    session: AsyncSession,
    question_id: int,
    *,
    meeting_id: int | None = None,
    slot: int | None = None,
    now: datetime | None = None,
) -> Question:
    """Assign to a meeting (default: the one asked for) and a slot (default: the next free one)."""
    q = await get(session, question_id)
    _require(q, S.SUBMITTED, S.ACCEPTED, S.SCHEDULED)
    if meeting_id is not None and meeting_id != q.meeting_id:
        m = await session.get(Meeting, meeting_id)
        if m is None or m.deleted or not m.public:
            raise QuestionError("meeting_not_found", 404)
        q.meeting_id, q.agenda_item_id = meeting_id, None
    if slot is None:
        top = (
            await session.execute(
                select(func.max(Question.slot)).where(
                    Question.meeting_id == q.meeting_id,
                    Question.id != q.id,
                    Question.status.in_([S.SCHEDULED, S.ANSWERING, S.ANSWERED]),
                )
            )
        ).scalar_one()
        slot = (top or 0) + 1
    if not 1 <= slot <= 999:
        raise QuestionError("bad_slot", 400, "slot")
    q.slot = slot
    if q.status == S.SUBMITTED:
        _set_status(session, q, S.ACCEPTED, now or utcnow())
    _set_status(session, q, S.SCHEDULED, now or utcnow(), note=str(slot))
    await session.commit()
    return q


async def bulk(
    session: AsyncSession, ids: Iterable[int], action: str, *, reason: str = "other", note: str | None = None
) -> tuple[list[int], list[int]]:
    """Apply one action to many questions; those not in a state for it are skipped (listed back)."""
    done: list[int] = []
    skipped: list[int] = []
    for qid in dict.fromkeys(ids):
        try:
            if action == "accept":
                await accept(session, qid)
            elif action == "reject":
                await reject(session, qid, reason, note)
            elif action == "schedule":
                await schedule(session, qid)
            else:
                raise QuestionError("bad_action", 400)
            done.append(qid)
        except QuestionError as exc:
            if exc.code in ("bad_action", "bad_reason") or exc.field == "note":
                raise
            await session.rollback()
            skipped.append(qid)
    return done, skipped


# --- live: answering in the meeting ------------------------------------------------------------------


def _payload(q: Question) -> dict[str, Any]:
    return {"question_id": q.id, "number": q.slot, "text": q.text if q.published else None}


async def start_answer(
    session: AsyncSession, publisher: Publisher | None, question_id: int, now: datetime | None = None
) -> Question:
    now = now or utcnow()
    q = await get(session, question_id)
    _require(q, S.ACCEPTED, S.SCHEDULED)
    q.answering_at = now
    _set_status(session, q, S.ANSWERING, now)
    await record_event(
        session,
        publisher,
        TimelineEvent(
            meeting_id=q.meeting_id,
            kind=EventKind.QUESTION_ANSWERING,
            at=now,
            agenda_item_id=q.agenda_item_id,
            payload=_payload(q),
        ),
    )
    return q


async def end_answer(
    session: AsyncSession, publisher: Publisher | None, question_id: int, now: datetime | None = None
) -> Question:
    now = now or utcnow()
    q = await get(session, question_id)
    _require(q, S.ANSWERING)
    q.answered_at = now
    _set_status(session, q, S.ANSWERED, now)
    await record_event(
        session,
        publisher,
        TimelineEvent(
            meeting_id=q.meeting_id,
            kind=EventKind.QUESTION_ANSWERED,
            at=now,
            agenda_item_id=q.agenda_item_id,
            payload=_payload(q),
        ),
    )
    return q


async def answer_in_writing(
    session: AsyncSession, question_id: int, text: str | None, now: datetime | None = None
) -> Question:
    now = now or utcnow()
    body = clean_text(text, "answer", max_len=20_000, min_len=1, multiline=True)
    q = await get(session, question_id)
    _require(q, S.ACCEPTED, S.SCHEDULED, S.ANSWERED)
    q.written_answer = body
    if q.status != S.ANSWERED:
        _set_status(session, q, S.ANSWERED, now, note="written")
    else:
        _log(session, q, "written_answer", now)
    await session.commit()
    return q


# --- the resident's own actions ----------------------------------------------------------------------


async def withdraw(session: AsyncSession, token: str, now: datetime | None = None) -> Question:
    q = await by_token(session, token)
    _require(q, S.SUBMITTED, S.ACCEPTED, S.SCHEDULED)
    _set_status(session, q, S.WITHDRAWN, now or utcnow())
    await session.commit()
    return q


async def _clear_personal(session: AsyncSession, q: Question, now: datetime, note: str) -> None:
    q.author_name = None
    q.email = None
    q.email_confirmed = False
    q.person_key = None
    q.personal_data_deleted_at = now
    for optin in (await session.execute(select(EmailOptIn).where(EmailOptIn.question_id == q.id))).scalars():
        await session.delete(optin)
    _log(session, q, "data_deleted", now, note=note)


async def delete_personal_data(session: AsyncSession, token: str, now: datetime | None = None) -> Question:
    """Name, e-mail and the hashes derived from them go; the question's text stays (it may have been
    asked in public). A question not yet answered is withdrawn at the same time: nobody could be
    told about it any more."""
    now = now or utcnow()
    q = await by_token(session, token)
    if q.status in (S.SUBMITTED, S.ACCEPTED, S.SCHEDULED):
        _set_status(session, q, S.WITHDRAWN, now)
    await _clear_personal(session, q, now, "resident")
    await session.commit()
    return q


async def export(session: AsyncSession, token: str) -> dict[str, Any]:
    """Everything stored about the question the token belongs to (GDPR Art. 15/20)."""
    q = await by_token(session, token)
    events = await history(session, q.id)
    supports = (
        await session.execute(
            select(func.count()).select_from(QuestionSupport).where(QuestionSupport.question_id == q.id)
        )
    ).scalar_one()

    def iso(d: datetime | None) -> str | None:
        return d.isoformat() if d else None

    return {
        "id": q.id,
        "meeting_id": q.meeting_id,
        "agenda_item_id": q.agenda_item_id,
        "text": q.text,
        "original_text": q.original_text,
        "name": q.author_name,
        "email": q.email,
        "email_confirmed": q.email_confirmed,
        "consent_publish": q.consent_publish,
        "status": q.status,
        "reject_reason": q.reject_reason,
        "reject_note": q.reject_note,
        "slot": q.slot,
        "written_answer": q.written_answer,
        "submitted": iso(q.created),
        "answering_at": iso(q.answering_at),
        "answered_at": iso(q.answered_at),
        "closed_at": iso(q.closed_at),
        "supports": supports,
        "history": [
            {"status": e.status, "at": iso(e.at), "reason": e.reason, "note": e.note} for e in events
        ],
    }


async def support(session: AsyncSession, question_id: int, browser_hash: str) -> bool:
    """One support per browser: the unique constraint decides; False when this browser already did."""
    q = await get(session, question_id)
    if not q.published or q.status == S.ANSWERED:
        raise QuestionError("not_supportable")
    session.add(QuestionSupport(question_id=q.id, browser_hash=browser_hash))
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        return False
    await session.execute(
        update(Question).where(Question.id == q.id).values(support_count=Question.support_count + 1)
    )
    await session.commit()
    return True


# --- retention ---------------------------------------------------------------------------------------


async def purge(session: AsyncSession, days: int, now: datetime | None = None) -> int:
    """Delete the personal data of questions closed more than ``days`` days before ``now``."""
    now = now or utcnow()
    cutoff = now - timedelta(days=days)
    rows = (
        (
            await session.execute(
                select(Question).where(
                    Question.closed_at.is_not(None),
                    Question.closed_at < cutoff,
                    Question.personal_data_deleted_at.is_(None),
                )
            )
        )
        .scalars()
        .all()
    )
    for q in rows:
        await _clear_personal(session, q, now, "retention")
    await session.commit()
    return len(rows)


# --- reading -----------------------------------------------------------------------------------------


async def published_for_meeting(session: AsyncSession, meeting_id: int) -> Sequence[Question]:
    stmt = (
        select(Question)
        .where(
            Question.meeting_id == meeting_id,
            Question.deleted.is_(False),
            Question.consent_publish.is_(True),
            Question.status.in_([S.ACCEPTED, S.SCHEDULED, S.ANSWERING, S.ANSWERED]),
        )
        .order_by(Question.slot.is_(None), Question.slot, Question.support_count.desc(), Question.id)
    )
    return (await session.execute(stmt)).scalars().all()


async def queue(
    session: AsyncSession, *, status: str | None = None, meeting_id: int | None = None, limit: int = 200
) -> Sequence[Question]:
    stmt = select(Question).where(Question.deleted.is_(False))
    if status:
        stmt = stmt.where(Question.status == status)
    if meeting_id:
        stmt = stmt.where(Question.meeting_id == meeting_id)
    stmt = stmt.order_by(
        Question.meeting_id,
        Question.slot.is_(None),
        Question.slot,
        Question.support_count.desc(),
        Question.id,
    ).limit(limit)
    return (await session.execute(stmt)).scalars().all()


async def question_time_item(session: AsyncSession, meeting_id: int) -> AgendaItem | None:
    """The meeting's public question-time agenda item (Einwohnerfragestunde), if it has one."""
    return (
        await session.execute(
            select(AgendaItem)
            .where(
                AgendaItem.meeting_id == meeting_id,
                AgendaItem.deleted.is_(False),
                AgendaItem.public.is_(True),
                AgendaItem.name.ilike("%fragestunde%"),
            )
            .order_by(AgendaItem.order)
            .limit(1)
        )
    ).scalar_one_or_none()
