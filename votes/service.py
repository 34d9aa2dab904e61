"""The poll lifecycle and ballots.

Lifecycle: draft → open → closed, and any of them → annulled (with a reason). Settings (kind, majority
rule, question) can be changed only in draft. Ballots are accepted only while the poll is open, only from
present members with voting right who have not declared a conflict of interest for the agenda item
(derived from the timeline, ``council.live.attendance``), and only once per voter and poll — the database
enforces that with a unique constraint, and the ballot's insert asks it (``ON CONFLICT DO NOTHING``) to
answer 409 without an error.

Every state change and every ballot is one transaction that starts by locking the poll row (an UPDATE:
a row lock on PostgreSQL, the write lock on SQLite), so ballots, closing and annulling of one poll are
serialised and a ballot can never slip in after the close. A ballot is the hot path: one read, then a
short write of plain statements (see "the ballot path" below). Each appends to the hash-chained log
(``votes.log``) in the same transaction. Opening, closing and annulling record timeline events
(``vote.opened`` / ``vote.closed`` / ``vote.annulled``) through ``council.live.bus.record_event``, which
commits and then publishes on the event bus.

Secret ballots: ``secret_participation`` says who took part; ``secret_choice`` holds one counter per
option. The log records secret ballots as participation only, and the idempotency record of a secret
ballot holds neither the choice nor anything derived from it.
"""

from __future__ import annotations

import asyncio
import functools
import re
import unicodedata
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from typing import Any, Concatenate, ParamSpec, TypeVar, cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    String,
    Table,
    bindparam,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from council.core.types import utcnow
from council.live.attendance import conflicted_person_ids, present_person_ids, quorum, voting_member_ids
from council.live.bus import Publisher, record_event
from council.live.models import EventKind, TimelineEvent
from council.records.models import AgendaItem, Meeting, Membership, Person, meeting_organization
from votes import log
from votes.models import (
    CHOICES,
    Ballot,
    Choice,
    HashLogEntry,
    IdempotencyKey,
    Poll,
    PollKind,
    PollState,
    SecretChoice,
    SecretParticipation,
)
from votes.rules import RULES, Tally, decide, quorum_text

MAX_QUESTION = 1000
MAX_REASON = 1000
MAX_KEY = 100
_KEY_RE = re.compile(r"[A-Za-z0-9._~:+/=-]{8,100}")
_BIDI = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C])

KIND_LABELS = {
    PollKind.NAMED: "Namentliche Abstimmung",
    PollKind.SECRET: "Geheime Abstimmung",
    PollKind.HANDS: "Abstimmung per Handzeichen",
}
STATE_LABELS = {
    PollState.DRAFT: "Entwurf",
    PollState.OPEN: "geöffnet",
    PollState.CLOSED: "abgeschlossen",
    PollState.ANNULLED: "aufgehoben",
}


def _(message: str) -> str:
    """Marks a message for the UI catalog (the web layer translates it); returns it unchanged."""
    return message


CHOICE_LABELS = {Choice.YES: "Ja", Choice.NO: "Nein", Choice.ABSTAIN: "Enthaltung"}


# --- errors ----------------------------------------------------------------------------------------


class VoteError(Exception):
    """A request the vote service refuses; ``status`` is the HTTP status, ``message`` fit to show."""

    status = 409
    code = "conflict"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status


class PollNotFound(VoteError):
    status = 404
    code = "not_found"


class InvalidVoteInput(VoteError):
    status = 400
    code = "invalid"


class NotEligible(VoteError):
    status = 403
    code = "not_eligible"


# --- input -----------------------------------------------------------------------------------------


def clean_text(value: Any, limit: int) -> str:
    """User text made safe to store on both databases: valid UTF-8 (lone surrogates replaced), no NUL or
    other control characters but newlines and tabs, no bidi overrides; NFC; stripped; at most ``limit``."""
    if value is None:
        return ""
    s = str(value)[: limit * 4]
    s = s.encode("utf-8", "replace").decode("utf-8")
    s = "".join(ch for ch in s if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    s = unicodedata.normalize("NFC", s.translate(_BIDI)).strip()
    return s[:limit]


def parse_choice(value: Any) -> Choice:
    aliases = {"ja": Choice.YES, "nein": Choice.NO, "enthaltung": Choice.ABSTAIN}
    raw = str(value or "").strip().lower()
    raw = aliases.get(raw, raw)
    try:
        return Choice(raw)
    except ValueError:
        raise InvalidVoteInput(_("Ungültige Stimme: erlaubt sind Ja, Nein und Enthaltung.")) from None


def valid_key(value: Any) -> str | None:
    """An idempotency key as given, or None when it is not a plausible key."""
    if not isinstance(value, str) or not _KEY_RE.fullmatch(value):
        return None
    return value


# --- reading ---------------------------------------------------------------------------------------


@dataclass
class Eligibility:
    voting: set[int]
    present: set[int]
    conflicted: set[int]

    @property
    def eligible(self) -> set[int]:
        return (self.present & self.voting) - self.conflicted

    @property
    def excluded(self) -> set[int]:
        """Members with voting right excluded for a conflict of interest (Befangenheit)."""
        return self.conflicted & self.voting


async def eligibility(session: AsyncSession, poll: Poll) -> Eligibility:
    meeting = await session.get(Meeting, poll.meeting_id)
    assert meeting is not None
    return Eligibility(
        voting=await voting_member_ids(session, meeting),
        present=await present_person_ids(session, poll.meeting_id),
        conflicted=await conflicted_person_ids(session, poll.meeting_id, poll.agenda_item_id),
    )


async def voter_eligibility(session: AsyncSession, poll: Poll, person_id: int) -> Eligibility:
    """``eligibility`` narrowed to one person, in one statement (two when the meeting is not today): the
    ballot asks it on every device refresh, so it must not load every membership and attendance event."""
    day = _DAYS.get(poll.id) or meeting_day(None)
    params = {
        "meeting_ref": poll.meeting_id,
        "item_ref": poll.agenda_item_id,
        "person_ref": person_id,
        "day_ref": day,
    }
    row = (await session.execute(_VOTER, params)).one()
    voting = bool(row.voting)
    true_day = meeting_day(row.meeting_start)
    if true_day != day:
        voting = bool((await session.execute(_VOTING, {**params, "day_ref": true_day})).scalar())
    _remember_day(poll.id, true_day)
    return Eligibility(
        voting={person_id} if voting else set(),
        present={person_id} if row.attendance == EventKind.ATTENDANCE_JOINED else set(),
        conflicted={person_id} if row.conflict == EventKind.CONFLICT_DECLARED else set(),
    )


async def person_names(session: AsyncSession, ids: set[int] | list[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.execute(select(Person.id, Person.name).where(Person.id.in_(list(ids))))
    return {int(pid): name or f"#{pid}" for pid, name in rows}


async def get_poll(session: AsyncSession, poll_id: int) -> Poll:
    poll = await session.get(Poll, poll_id)
    if poll is None:
        raise PollNotFound(_("Diese Abstimmung gibt es nicht."))
    return poll


async def open_poll_of_meeting(session: AsyncSession, meeting_id: int) -> Poll | None:
    return (
        await session.execute(select(Poll).where(Poll.meeting_id == meeting_id, Poll.state == PollState.OPEN))
    ).scalar_one_or_none()


async def tally_of(session: AsyncSession, poll: Poll) -> Tally:
    """The current tally from the ballot tables (hands: the counts the clerk entered)."""
    if poll.kind == PollKind.HANDS:
        t = (poll.result or {}).get("tally") or {}
        return Tally(int(t.get("yes", 0)), int(t.get("no", 0)), int(t.get("abstain", 0)))
    if poll.kind == PollKind.SECRET:
        rows = await session.execute(
            select(SecretChoice.choice, SecretChoice.count).where(SecretChoice.poll_id == poll.id)
        )
    else:
        rows = await session.execute(
            select(Ballot.choice, func.count()).where(Ballot.poll_id == poll.id).group_by(Ballot.choice)
        )
    counts = {str(c): int(n) for c, n in rows}
    return Tally(counts.get("yes", 0), counts.get("no", 0), counts.get("abstain", 0))


async def participants(session: AsyncSession, poll: Poll) -> set[int]:
    """Who has voted so far (named or secret)."""
    if poll.kind == PollKind.SECRET:
        q = select(SecretParticipation.person_id).where(SecretParticipation.poll_id == poll.id)
    elif poll.kind == PollKind.NAMED:
        q = select(Ballot.person_id).where(Ballot.poll_id == poll.id)
    else:
        return set()
    return {int(r) for r in (await session.execute(q)).scalars()}


async def has_voted(session: AsyncSession, poll: Poll, person_id: int) -> bool:
    if poll.kind == PollKind.SECRET:
        q = select(SecretParticipation.id).where(
            SecretParticipation.poll_id == poll.id, SecretParticipation.person_id == person_id
        )
    elif poll.kind == PollKind.NAMED:
        q = select(Ballot.id).where(Ballot.poll_id == poll.id, Ballot.person_id == person_id)
    else:
        return False
    return (await session.execute(q)).first() is not None


# --- locking ---------------------------------------------------------------------------------------


async def _lock_poll(session: AsyncSession, poll_id: int, *, count_ballot: bool = False) -> Poll:
    """Start the transaction by writing the poll row (row lock / SQLite write lock), then read it fresh."""
    values: dict[str, Any] = {"ballots_cast": Poll.ballots_cast + (1 if count_ballot else 0)}
    result = await session.execute(
        update(Poll).where(Poll.id == poll_id).values(**values).execution_options(synchronize_session=False)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        await session.rollback()
        raise PollNotFound(_("Diese Abstimmung gibt es nicht."))
    poll = (
        await session.execute(
            select(Poll).where(Poll.id == poll_id).execution_options(populate_existing=True)
        )
    ).scalar_one()
    return poll


def _refuse(state: str) -> VoteError:
    if state == PollState.DRAFT:
        return VoteError(_("Die Abstimmung ist noch nicht geöffnet."), code="not_open")
    if state == PollState.CLOSED:
        return VoteError(_("Die Abstimmung ist bereits abgeschlossen."), code="closed")
    if state == PollState.ANNULLED:
        return VoteError(_("Die Abstimmung wurde aufgehoben."), code="annulled")
    return VoteError(_("Die Abstimmung ist bereits geöffnet."), code="open")


# --- one writer at a time on SQLite ---------------------------------------------------------------
#
# SQLite has one write lock per database; a writer that finds it taken sleeps in SQLite's busy handler,
# with growing pauses (up to 100 ms), however soon the lock is free again. Under a burst of ballots
# those pauses, not the work, made the acknowledgements slow. So in one process the vote writes queue
# on an asyncio lock (per event loop and database) and each starts as soon as the previous commits;
# across processes the busy handler still decides, and the database lock is what makes it correct.

_P_ = ParamSpec("_P_")
_R = TypeVar("_R")
_WRITE_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _write_turn(session: AsyncSession) -> AbstractAsyncContextManager[Any]:
    """Hold this while a vote write transaction runs: the process's SQLite writer lock, or nothing."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return nullcontext()
    locks = _WRITE_LOCKS.setdefault(asyncio.get_running_loop(), {})
    key = str(bind.engine.url)
    lock = locks.get(key)
    if lock is None:
        lock = locks[key] = asyncio.Lock()
    return lock


def _serialised(
    fn: Callable[Concatenate[AsyncSession, _P_], Awaitable[_R]],
) -> Callable[Concatenate[AsyncSession, _P_], Awaitable[_R]]:
    """Run a lifecycle step (one write transaction on ``session``) in its turn (``_write_turn``)."""

    @functools.wraps(fn)
    async def step(session: AsyncSession, *args: _P_.args, **kwargs: _P_.kwargs) -> _R:
        async with _write_turn(session):
            try:
                return await fn(session, *args, **kwargs)
            except Exception:
                await session.rollback()  # (mostly done already) before the next writer's turn
                raise

    return step


# --- the lifecycle ---------------------------------------------------------------------------------


def _check_settings(kind: Any, majority: Any) -> tuple[str, str]:
    try:
        k = PollKind(str(kind or ""))
    except ValueError:
        raise InvalidVoteInput(_("Unbekannte Art der Abstimmung.")) from None
    m = str(majority or "")
    if m not in RULES:
        raise InvalidVoteInput(_("Unbekannte Mehrheitsregel."))
    return str(k), m


@_serialised
async def create_poll(
    session: AsyncSession,
    *,
    meeting_id: int,
    agenda_item_id: int,
    kind: str = PollKind.NAMED,
    majority: str = "simple",
    question: str = "",
) -> Poll:
    """A new poll in draft (committed)."""
    k, m = _check_settings(kind, majority)
    item = await session.get(AgendaItem, agenda_item_id)
    if item is None or item.deleted or item.meeting_id != meeting_id:
        raise InvalidVoteInput(_("Dieser Tagesordnungspunkt gehört nicht zu der Sitzung."))
    poll = Poll(
        meeting_id=meeting_id,
        agenda_item_id=agenda_item_id,
        kind=k,
        majority=m,
        question=clean_text(question, MAX_QUESTION),
        state=PollState.DRAFT,
        ballots_cast=0,
        created=utcnow(),
    )
    session.add(poll)
    await session.flush()
    await log.append(
        session,
        "poll.created",
        poll_id=poll.id,
        meeting_id=meeting_id,
        body={"agenda_item_id": agenda_item_id, "kind": k, "majority": m, "question": poll.question},
    )
    await session.commit()
    return poll


@_serialised
async def update_poll(
    session: AsyncSession,
    poll_id: int,
    *,
    kind: str | None = None,
    majority: str | None = None,
    question: str | None = None,
) -> Poll:
    """Change the settings of a draft; refused once the poll is open."""
    poll = await _lock_poll(session, poll_id)
    if poll.state != PollState.DRAFT:
        await session.rollback()
        raise VoteError(
            _("Die Einstellungen sind gesperrt, sobald die Abstimmung geöffnet ist."), code="locked"
        )
    k, m = _check_settings(kind or poll.kind, majority or poll.majority)
    poll.kind, poll.majority = k, m
    if question is not None:
        poll.question = clean_text(question, MAX_QUESTION)
    await log.append(
        session,
        "poll.updated",
        poll_id=poll.id,
        meeting_id=poll.meeting_id,
        body={"kind": k, "majority": m, "question": poll.question},
    )
    await session.commit()
    return poll


async def _item(session: AsyncSession, poll: Poll) -> AgendaItem:
    item = await session.get(AgendaItem, poll.agenda_item_id)
    assert item is not None
    return item


@_serialised
async def open_poll(session: AsyncSession, publisher: Publisher | None, poll_id: int) -> Poll:
    """draft → open. Refused without a quorum (§ 49 GO NRW) or while another poll of the meeting is open."""
    poll = await _lock_poll(session, poll_id)
    if poll.state != PollState.DRAFT:
        refusal = _refuse(poll.state)
        await session.rollback()
        raise refusal
    q = await quorum(session, poll.meeting_id)
    q_dict = {
        "statutory": q.statutory,
        "present_voting": q.present_voting,
        "required": q.required,
        "reached": q.reached,
        "text": quorum_text(q.statutory, q.present_voting, q.required),
    }
    if not q.reached:
        await session.rollback()
        raise VoteError(str(q_dict["text"]), code="no_quorum")
    poll.state = PollState.OPEN
    poll.opened_at = utcnow()
    poll.quorum_open = q_dict
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise VoteError(
            _("In dieser Sitzung ist bereits eine Abstimmung geöffnet."), code="other_open"
        ) from None
    if poll.kind == PollKind.SECRET:
        session.add_all([SecretChoice(poll_id=poll.id, choice=str(c), count=0) for c in CHOICES])
    await log.append(
        session,
        "poll.opened",
        poll_id=poll.id,
        meeting_id=poll.meeting_id,
        body={
            "agenda_item_id": poll.agenda_item_id,
            "kind": poll.kind,
            "majority": poll.majority,
            "question": poll.question,
            "quorum": q_dict,
        },
    )
    item = await _item(session, poll)
    payload: dict[str, Any] = {"poll_id": poll.id, "state": poll.state, "kind": poll.kind}
    if item.public:
        payload.update({"question": poll.question, "majority": poll.majority, "quorum": q_dict})
    await record_event(
        session,
        publisher,
        TimelineEvent(
            meeting_id=poll.meeting_id,
            kind=EventKind.VOTE_OPENED,
            agenda_item_id=poll.agenda_item_id,
            payload=payload,
        ),
    )
    return poll


@dataclass
class Answer:
    """The answer to a ballot request (also what is replayed for a retried idempotency key)."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return self.status == 201


def _fingerprint(kind: str | None, poll_id: int, choice: Choice) -> str:
    # Never the choice of a secret ballot: the key's row names the account.
    if kind == PollKind.SECRET:
        return f"{poll_id}:secret"
    return f"{poll_id}:{choice}"


def _replay(row: Any, fingerprint: str) -> Answer:
    """The stored answer for a retried key (``row``: fingerprint, status_code, response)."""
    if row.fingerprint != fingerprint:
        return Answer(
            422,
            {
                "accepted": False,
                "code": "key_reused",
                "detail": _("Dieser Idempotenzschlüssel wurde schon für eine andere Anfrage benutzt."),
            },
        )
    return Answer(int(row.status_code), dict(row.response))


def _refusal(exc: VoteError) -> Answer:
    return Answer(exc.status, {"accepted": False, "code": exc.code, "detail": exc.message})


# --- the ballot path -------------------------------------------------------------------------------
#
# A whole council votes within a second or two, so a ballot is a handful of plain Core statements built
# once (no ORM identity map, no unit of work), on one connection:
#
# 1. one read, outside any lock: the poll's state and kind, whether the viewer may see it, whether the
#    voter has voting right on the meeting day, is present and not in conflict for the item (all from the
#    timeline and the memberships, exact at this moment), has voted already, and whether the idempotency
#    key has an answer stored;
# 2. the write, serialised per poll: ``UPDATE poll … RETURNING state`` takes the lock (row lock /
#    SQLite write lock) and re-reads the state; ``INSERT … ON CONFLICT DO NOTHING RETURNING id`` is the
#    re-check of "has voted" (the unique constraint decides); the log entry (``votes.log``); the answer
#    under its idempotency key; one commit.

_P = cast(Table, Poll.__table__)
_AI = cast(Table, AgendaItem.__table__)
_M = cast(Table, Meeting.__table__)
_MS = cast(Table, Membership.__table__)
_MO = meeting_organization
_TE = cast(Table, TimelineEvent.__table__)
_B = cast(Table, Ballot.__table__)
_SP = cast(Table, SecretParticipation.__table__)
_SC = cast(Table, SecretChoice.__table__)
_IK = cast(Table, IdempotencyKey.__table__)

_POLL = bindparam("poll_ref", type_=Integer())
_PERSON = bindparam("person_ref", type_=Integer())
_ACCOUNT = bindparam("account_ref", type_=Integer())
_KEY = bindparam("key_ref", type_=String())
_DAY = bindparam("day_ref", type_=Date())
_CHOICE = bindparam("choice_ref", type_=String())
_BERLIN = ZoneInfo("Europe/Berlin")


def meeting_day(start: datetime | None) -> date:
    """The calendar day (Europe/Berlin) on which memberships are judged for a meeting."""
    return (start or utcnow()).astimezone(_BERLIN).date()


def _voting_right(meeting_id: Any, person_id: Any, day: Any) -> Any:
    """EXISTS: the person has voting right in (one of) the meeting's organizations on ``day``."""
    return exists(
        select(_MS.c.id).where(
            _MS.c.person_id == person_id,
            _MS.c.organization_id.in_(
                # correlated to the poll two levels up: say so, auto-correlation looks one level only
                select(_MO.c.organization_id).where(_MO.c.meeting_id == meeting_id).correlate_except(_MO)
            ),
            _MS.c.deleted.is_(False),
            _MS.c.voting_right.is_(True),
            or_(_MS.c.start_date.is_(None), _MS.c.start_date <= day),
            or_(_MS.c.end_date.is_(None), _MS.c.end_date >= day),
        )
    )


def _last_kind(meeting_id: Any, person_id: Any, kinds: list[str], *conds: Any) -> Any:
    """The kind of the person's last timeline event among ``kinds`` in the meeting (NULL: none)."""
    return (
        select(_TE.c.kind)
        .where(_TE.c.meeting_id == meeting_id, _TE.c.person_id == person_id, _TE.c.kind.in_(kinds), *conds)
        .order_by(_TE.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


_READ_COLUMNS = (
    _P.c.state,
    _P.c.kind,
    _P.c.meeting_id,
    select(_M.c.start).where(_M.c.id == _P.c.meeting_id).scalar_subquery().label("meeting_start"),
    _voting_right(_P.c.meeting_id, _PERSON, _DAY).label("voting"),
    _last_kind(_P.c.meeting_id, _PERSON, [EventKind.ATTENDANCE_JOINED, EventKind.ATTENDANCE_LEFT]).label(
        "attendance"
    ),
    _last_kind(
        _P.c.meeting_id,
        _PERSON,
        [EventKind.CONFLICT_DECLARED, EventKind.CONFLICT_WITHDRAWN],
        _TE.c.agenda_item_id == _P.c.agenda_item_id,
    ).label("conflict"),
    or_(
        exists(select(_B.c.id).where(_B.c.poll_id == _P.c.id, _B.c.person_id == _PERSON)),
        exists(select(_SP.c.id).where(_SP.c.poll_id == _P.c.id, _SP.c.person_id == _PERSON)),
    ).label("voted"),
    select(_IK.c.id).where(_IK.c.account_id == _ACCOUNT, _IK.c.key == _KEY).scalar_subquery().label("stored"),
)
_READ = select(*_READ_COLUMNS).where(_P.c.id == _POLL)
_MEETING = bindparam("meeting_ref", type_=Integer())
_ITEM = bindparam("item_ref", type_=Integer())
_VOTING = select(_voting_right(_MEETING, _PERSON, _DAY))
_VOTER = select(
    select(_M.c.start).where(_M.c.id == _MEETING).scalar_subquery().label("meeting_start"),
    _voting_right(_MEETING, _PERSON, _DAY).label("voting"),
    _last_kind(_MEETING, _PERSON, [EventKind.ATTENDANCE_JOINED, EventKind.ATTENDANCE_LEFT]).label(
        "attendance"
    ),
    _last_kind(
        _MEETING,
        _PERSON,
        [EventKind.CONFLICT_DECLARED, EventKind.CONFLICT_WITHDRAWN],
        _TE.c.agenda_item_id == _ITEM,
    ).label("conflict"),
)
_STORED = select(_IK.c.fingerprint, _IK.c.status_code, _IK.c.response).where(
    _IK.c.account_id == _ACCOUNT, _IK.c.key == _KEY
)
_LOCK_FOR_BALLOT = update(_P).where(_P.c.id == _POLL).values(ballots_cast=_P.c.ballots_cast + 1)
_LOG_HEAD = cast(Table, HashLogEntry.__table__)
_COUNT_SECRET = (
    update(_SC).where(_SC.c.poll_id == _POLL, _SC.c.choice == _CHOICE).values(count=_SC.c.count + 1)
)
_INSERT_KEY = insert(_IK)

#: poll id → the meeting day its last ballot was judged on (validated by every read; bounded)
_DAYS: OrderedDict[int, date] = OrderedDict()
_DAYS_MAX = 256


@cache
def _lock_for_ballot(dialect: str) -> Any:
    """The ballot's lock: bump ``ballots_cast`` and return the poll's state, kind and meeting — and the
    chain's head in the same statement (SQLite: the write lock is held once the row is written, so the
    head read there is the latest), or the chain's advisory lock (PostgreSQL: taken after the row lock,
    the order every writer keeps; the head is then read in a statement of its own, with a fresh snapshot)."""
    if dialect == "postgresql":
        extra = [func.pg_advisory_xact_lock(log.CHAIN_LOCK_KEY).label("chain_locked")]
    else:
        head = select(_LOG_HEAD.c.seq, _LOG_HEAD.c.hash).order_by(_LOG_HEAD.c.seq.desc()).limit(1)
        extra = [
            head.with_only_columns(_LOG_HEAD.c.seq).scalar_subquery().label("head_seq"),
            head.with_only_columns(_LOG_HEAD.c.hash).scalar_subquery().label("head_hash"),
        ]
    return _LOCK_FOR_BALLOT.returning(_P.c.state, _P.c.kind, _P.c.meeting_id, *extra)


def _remember_day(poll_id: int, day: date) -> None:
    _DAYS[poll_id] = day
    _DAYS.move_to_end(poll_id)
    while len(_DAYS) > _DAYS_MAX:
        _DAYS.popitem(last=False)


#: id(visibility clause) → (the clause, the read statement with it); the clause is kept, so its id stays
#: its own while cached. Callers pass the same clause object for the same viewer (web caches it per viewer).
_READS: OrderedDict[int, tuple[Any, Any]] = OrderedDict()
_READS_MAX = 1024


def _read_statement(visible: ColumnElement[bool] | None) -> Any:
    if visible is None:
        return _READ
    hit = _READS.get(id(visible))
    if hit is not None and hit[0] is visible:
        _READS.move_to_end(id(visible))
        return hit[1]
    stmt = (
        select(*_READ_COLUMNS)
        .select_from(_P.join(_AI, _AI.c.id == _P.c.agenda_item_id))
        .where(_P.c.id == _POLL, visible)
    )
    _READS[id(visible)] = (visible, stmt)
    while len(_READS) > _READS_MAX:
        _READS.popitem(last=False)
    return stmt


@cache
def _insert_once(dialect: str, table_name: str) -> Any:
    """``INSERT … ON CONFLICT (its unique key) DO NOTHING RETURNING id`` for the dialect."""
    from sqlalchemy.dialects import postgresql, sqlite

    table = {t.name: t for t in (_B, _SP, _IK)}[table_name]
    elements = ["account_id", "key"] if table is _IK else ["poll_id", "person_id"]
    if dialect == "postgresql":
        pg = postgresql.insert(table).on_conflict_do_nothing(index_elements=elements)
        return pg.returning(table.c.id)
    lite = sqlite.insert(table).on_conflict_do_nothing(index_elements=elements)
    return lite.returning(table.c.id)


async def cast_ballot(
    session: AsyncSession,
    poll_id: int,
    *,
    person_id: int | None,
    account_id: int,
    choice: Any,
    idempotency_key: str | None = None,
    visible: ColumnElement[bool] | None = None,
) -> Answer:
    """Cast one ballot; never raises for a refusal — the answer says 201, 400, 403, 404, 409 or 422.

    ``visible``: a clause on ``AgendaItem`` (``council.records.access.agenda_item_visible``); a poll on
    an item the viewer cannot see is answered 404, as if it did not exist. With an idempotency key, the
    answer is stored (an accepted ballot in the same transaction as the ballot) and a retry with the same
    key gets it again.
    """
    key = valid_key(idempotency_key)
    try:
        answer, fingerprint = await _cast(
            session,
            poll_id,
            person_id=person_id,
            account_id=account_id,
            choice=choice,
            key=key,
            visible=visible,
        )
    except IntegrityError:
        # Never expected (the inserts skip conflicts): answer as a lost race, from the stored key if any.
        await session.rollback()
        fingerprint = None
        stored = await _stored_answer(session, account_id, key, None) if key else None
        answer = stored or _refusal(VoteError(_("Sie haben bereits abgestimmt."), code="already_voted"))
    if fingerprint is not None and key is not None and answer.status in (403, 409):
        await _remember_refusal(session, account_id, key, fingerprint, answer)
    return answer


async def _stored_answer(
    session: AsyncSession, account_id: int, key: str, fingerprint: str | None
) -> Answer | None:
    row = (await session.execute(_STORED, {"account_ref": account_id, "key_ref": key})).first()
    await session.rollback()
    if row is None:
        return None
    if fingerprint is None:
        return Answer(int(row.status_code), dict(row.response))
    return _replay(row, fingerprint)


async def _remember_refusal(
    session: AsyncSession, account_id: int, key: str, fingerprint: str, answer: Answer
) -> None:
    """Store a refusal under its key (a retry gets the same refusal); a key already taken stays as is."""
    stmt = _insert_once(session.get_bind().dialect.name, _IK.name)
    await session.execute(
        stmt,
        {
            "account_id": account_id,
            "key": key,
            "fingerprint": fingerprint,
            "status_code": answer.status,
            "response": answer.body,
            "created": utcnow(),
        },
    )
    await session.commit()


async def _cast(
    session: AsyncSession,
    poll_id: int,
    *,
    person_id: int | None,
    account_id: int,
    choice: Any,
    key: str | None,
    visible: ColumnElement[bool] | None,
) -> tuple[Answer, str | None]:
    """The answer and, for a refusal worth remembering under the key, the request's fingerprint."""
    # 1. The read (outside the lock; keeps the serialised part short).
    day = _DAYS.get(poll_id) or meeting_day(None)
    params = {
        "poll_ref": poll_id,
        "person_ref": person_id,
        "account_ref": account_id,
        "key_ref": key,
        "day_ref": day,
    }
    row = (await session.execute(_read_statement(visible), params)).first()
    if row is None:
        await session.rollback()
        return _refusal(PollNotFound(_("Diese Abstimmung gibt es nicht."))), None
    try:
        ch = parse_choice(choice)
    except VoteError as exc:
        await session.rollback()
        return _refusal(exc), None
    fingerprint = _fingerprint(row.kind, poll_id, ch)
    if key is not None and row.stored is not None:
        return await _stored_answer(session, account_id, key, fingerprint) or _refusal(
            VoteError(_("Die Stimme konnte nicht angenommen werden."))
        ), None
    refusal: VoteError | None = None
    if row.state != PollState.OPEN:
        refusal = _refuse(row.state)
    elif row.kind == PollKind.HANDS:
        refusal = VoteError(_("Bei dieser Abstimmung wird per Handzeichen abgestimmt."), code="hands")
    elif person_id is None:
        refusal = NotEligible(_("Ihr Konto ist keinem Ratsmitglied zugeordnet."))
    elif row.voted:
        refusal = VoteError(_("Sie haben bereits abgestimmt."), code="already_voted")
    else:
        voting = bool(row.voting)
        true_day = meeting_day(row.meeting_start)
        if true_day != day:  # the meeting is not today: judge the memberships on its day
            voting = bool(
                (
                    await session.execute(
                        _VOTING,
                        {"meeting_ref": row.meeting_id, "person_ref": person_id, "day_ref": true_day},
                    )
                ).scalar()
            )
        _remember_day(poll_id, true_day)
        if not voting:
            refusal = NotEligible(_("Sie sind in diesem Gremium nicht stimmberechtigt."))
        elif row.conflict == EventKind.CONFLICT_DECLARED:
            refusal = NotEligible(
                _("Sie haben sich für diesen Tagesordnungspunkt für befangen erklärt und stimmen nicht mit.")
            )
        elif row.attendance != EventKind.ATTENDANCE_JOINED:
            refusal = NotEligible(_("Sie sind nicht als anwesend erfasst."))
    if refusal is not None:
        await session.rollback()
        return _refusal(refusal), fingerprint
    assert person_id is not None
    async with _write_turn(session):
        try:
            return await _write_ballot(
                session,
                poll_id,
                person_id=person_id,
                account_id=account_id,
                choice=ch,
                key=key,
                fingerprint=fingerprint,
            )
        except Exception:
            await session.rollback()  # before the next writer's turn
            raise


async def _write_ballot(
    session: AsyncSession,
    poll_id: int,
    *,
    person_id: int,
    account_id: int,
    choice: Choice,
    key: str | None,
    fingerprint: str,
) -> tuple[Answer, str | None]:
    # 2. The write, serialised per poll by the lock; it re-reads what can change meanwhile (the poll
    #    closed; a parallel request of the same voter won — the unique constraint decides that).
    dialect = session.get_bind().dialect.name
    locked = (await session.execute(_lock_for_ballot(dialect), {"poll_ref": poll_id})).first()
    if locked is None:
        await session.rollback()
        return _refusal(PollNotFound(_("Diese Abstimmung gibt es nicht."))), None
    if locked.state != PollState.OPEN:
        await session.rollback()
        return _refusal(_refuse(locked.state)), fingerprint
    now = utcnow()
    secret = locked.kind == PollKind.SECRET
    values: dict[str, Any] = {"poll_id": poll_id, "person_id": person_id, "created": now}
    if not secret:
        values["choice"] = str(choice)
    inserted = (await session.execute(_insert_once(dialect, (_SP if secret else _B).name), values)).first()
    if inserted is None:
        await session.rollback()
        if key is not None:  # the parallel winner may have been this very request, retried
            replay = await _stored_answer(session, account_id, key, fingerprint)
            if replay is not None:
                return replay, None
        return _refusal(VoteError(_("Sie haben bereits abgestimmt."), code="already_voted")), fingerprint
    if secret:
        await session.execute(_COUNT_SECRET, {"poll_ref": poll_id, "choice_ref": str(choice)})
        body_log: dict[str, Any] = {"person_id": person_id}
    else:
        body_log = {"person_id": person_id, "choice": str(choice)}
    entry = await log.append(
        session,
        "participation" if secret else "ballot",
        poll_id=poll_id,
        meeting_id=locked.meeting_id,
        body=body_log,
        chain_locked=dialect == "postgresql",
        head=None
        if dialect == "postgresql"
        else (int(locked.head_seq or 0), str(locked.head_hash or log.GENESIS)),
    )
    body: dict[str, Any] = {"accepted": True, "poll_id": poll_id, "receipt": entry.hash, "seq": entry.seq}
    if not secret:
        body["choice"] = str(choice)
    if key is not None:
        await session.execute(
            _INSERT_KEY,
            {
                "account_id": account_id,
                "key": key,
                "fingerprint": fingerprint,
                "status_code": 201,
                "response": body,
                "created": now,
            },
        )
    await session.commit()
    return Answer(201, body), None


@_serialised
async def close_poll(
    session: AsyncSession, publisher: Publisher | None, poll_id: int, *, hands: Tally | None = None
) -> Poll:
    """open → closed: count, check the quorum again, decide by the majority rule, write the result into
    the agenda item, log it and publish ``vote.closed`` with the tally (and who voted how, if named)."""
    poll = await _lock_poll(session, poll_id)
    if poll.state != PollState.OPEN:
        refusal = _refuse(poll.state)
        await session.rollback()
        raise refusal
    elig = await eligibility(session, poll)
    if poll.kind == PollKind.HANDS:
        if hands is None or min(hands.yes, hands.no, hands.abstain) < 0:
            await session.rollback()
            raise InvalidVoteInput(
                _("Bitte geben Sie die Zahl der Ja- und Nein-Stimmen und Enthaltungen an.")
            )
        if hands.total > len(elig.eligible):
            await session.rollback()
            raise InvalidVoteInput(
                f"Es sind nur {len(elig.eligible)} stimmberechtigte Mitglieder anwesend, "
                f"aber {hands.total} Stimmen angegeben."
            )
        tally = hands
    else:
        tally = await tally_of(session, poll)
    q = await quorum(session, poll.meeting_id)
    q_dict = {
        "statutory": q.statutory,
        "present_voting": q.present_voting,
        "required": q.required,
        "reached": q.reached,
        "text": quorum_text(q.statutory, q.present_voting, q.required),
    }
    decision = decide(poll.majority, tally, statutory=q.statutory)
    adopted = decision.adopted and q.reached
    if q.reached:
        outcome, explanation = decision.outcome, decision.explanation
        summary = decision.summary()
    else:
        outcome = "nicht beschlussfähig"
        explanation = f"{q_dict['text']} Ein Beschluss ist nicht zustande gekommen."
        summary = (
            f"kein Beschluss – nicht beschlussfähig ({tally.yes} Ja, {tally.no} Nein, "
            f"{tally.abstain} Enthaltungen)"
        )
    names = await person_names(session, elig.voting | elig.present)
    votes_list: list[dict[str, Any]] = []
    if poll.kind == PollKind.NAMED:
        rows = (
            await session.execute(select(Ballot.person_id, Ballot.choice).where(Ballot.poll_id == poll.id))
        ).all()
        votes_list = sorted(
            ({"person_id": int(p), "name": names.get(int(p), f"#{p}"), "choice": str(c)} for p, c in rows),
            key=lambda v: (v["name"], v["person_id"]),
        )
    voted = await participants(session, poll)
    result: dict[str, Any] = {
        "tally": tally.as_dict(),
        "rule": poll.majority,
        "rule_label": RULES[poll.majority].label,
        "adopted": adopted,
        "outcome": outcome,
        "summary": summary,
        "explanation": explanation,
        "statutory": q.statutory,
        "required_yes": decision.required_yes,
        "quorum_open": poll.quorum_open,
        "quorum_close": q_dict,
        "eligible": len(elig.eligible),
        "participants": len(voted) if poll.kind != PollKind.HANDS else tally.total,
        "votes": votes_list,
        "excluded": sorted(
            ({"person_id": p, "name": names.get(p, f"#{p}")} for p in elig.excluded), key=lambda v: v["name"]
        ),
        "not_voted": sorted(names.get(p, f"#{p}") for p in elig.eligible - voted)
        if poll.kind == PollKind.NAMED
        else [],
    }
    item = await _item(session, poll)
    poll.previous_item_result = {"result": item.result, "resolution_text": item.resolution_text}
    item.result = summary[:300]
    if adopted and poll.question and not item.resolution_text:
        item.resolution_text = poll.question
    entry = await log.append(
        session,
        "poll.closed",
        poll_id=poll.id,
        meeting_id=poll.meeting_id,
        body={
            "tally": tally.as_dict(),
            "rule": poll.majority,
            "adopted": adopted,
            "outcome": outcome,
            "statutory": q.statutory,
            "quorum": q_dict,
            "participants": result["participants"],
            "votes": [{"person_id": v["person_id"], "choice": v["choice"]} for v in votes_list],
        },
    )
    result["chain_head"] = entry.hash
    result["seq"] = entry.seq
    poll.state = PollState.CLOSED
    poll.closed_at = utcnow()
    poll.chain_head = entry.hash
    poll.result = result
    await record_event(
        session,
        publisher,
        TimelineEvent(
            meeting_id=poll.meeting_id,
            kind=EventKind.VOTE_CLOSED,
            agenda_item_id=poll.agenda_item_id,
            payload=public_payload(poll, item),
        ),
    )
    return poll


@_serialised
async def annul_poll(session: AsyncSession, publisher: Publisher | None, poll_id: int, reason: str) -> Poll:
    """Any state but annulled → annulled, with a reason. A closed poll's result leaves the agenda item."""
    text = clean_text(reason, MAX_REASON)
    if not text:
        raise InvalidVoteInput(_("Bitte geben Sie einen Grund für die Aufhebung an."))
    poll = await _lock_poll(session, poll_id)
    if poll.state == PollState.ANNULLED:
        refusal = _refuse(poll.state)
        await session.rollback()
        raise refusal
    previous = poll.state
    item = await _item(session, poll)
    if previous == PollState.CLOSED and poll.previous_item_result is not None:
        item.result = poll.previous_item_result.get("result")
        item.resolution_text = poll.previous_item_result.get("resolution_text")
    entry = await log.append(
        session,
        "poll.annulled",
        poll_id=poll.id,
        meeting_id=poll.meeting_id,
        body={"reason": text, "previous_state": previous},
    )
    poll.state = PollState.ANNULLED
    poll.annulled_at = utcnow()
    poll.annul_reason = text
    poll.chain_head = entry.hash
    payload: dict[str, Any] = {"poll_id": poll.id, "state": poll.state, "previous_state": previous}
    if item.public:
        payload.update({"reason": text, "question": poll.question, "chain_head": entry.hash})
    await record_event(
        session,
        publisher,
        TimelineEvent(
            meeting_id=poll.meeting_id,
            kind=EventKind.VOTE_ANNULLED,
            agenda_item_id=poll.agenda_item_id,
            payload=payload,
        ),
    )
    return poll


def public_payload(poll: Poll, item: AgendaItem) -> dict[str, Any]:
    """What ``vote.closed`` carries on the bus. A non-public agenda item's result stays off the bus
    (the public meeting page listens there); members see it on the results page."""
    payload: dict[str, Any] = {"poll_id": poll.id, "state": poll.state, "kind": poll.kind}
    if not item.public:
        return payload
    r = poll.result or {}
    payload.update(
        {
            "question": poll.question,
            "item_name": item.name,
            "item_number": item.number,
            "majority": poll.majority,
            "rule_label": r.get("rule_label"),
            "tally": r.get("tally"),
            "adopted": r.get("adopted"),
            "outcome": r.get("outcome"),
            "summary": r.get("summary"),
            "explanation": r.get("explanation"),
            "votes": [{"name": v["name"], "choice": v["choice"]} for v in r.get("votes", [])]
            if poll.kind == PollKind.NAMED
            else [],
            "excluded": [v["name"] for v in r.get("excluded", [])],
            "chain_head": poll.chain_head,
            "seq": r.get("seq"),
        }
    )
    return payload
