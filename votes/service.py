"""The poll lifecycle and ballots.

Lifecycle: draft → open → closed, and any of them → annulled (with a reason). Settings (kind, majority
rule, question) can be changed only in draft. Ballots are accepted only while the poll is open, only from
present members with voting right who have not declared a conflict of interest for the agenda item
(derived from the timeline, ``council.live.attendance``), and only once per voter and poll — the database
enforces that with a unique constraint; the service checks first, under the poll's lock, to answer 409.

Every state change and every ballot is one transaction that starts by locking the poll row (an UPDATE:
a row lock on PostgreSQL, the write lock on SQLite), so ballots, closing and annulling of one poll are
serialised and a ballot can never slip in after the close. Each appends to the hash-chained log
(``votes.log``) in the same transaction. Opening, closing and annulling record timeline events
(``vote.opened`` / ``vote.closed`` / ``vote.annulled``) through ``council.live.bus.record_event``, which
commits and then publishes on the event bus.

Secret ballots: ``secret_participation`` says who took part; ``secret_choice`` holds one counter per
option. The log records secret ballots as participation only, and the idempotency record of a secret
ballot holds neither the choice nor anything derived from it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists, func, or_, select, update
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
    """``eligibility`` narrowed to one person, in one statement (after the meeting): this runs for
    every ballot, so it must not load every membership and attendance event of the meeting."""
    from zoneinfo import ZoneInfo

    meeting = await session.get(Meeting, poll.meeting_id)
    assert meeting is not None
    day = (meeting.start or utcnow()).astimezone(ZoneInfo("Europe/Berlin")).date()
    org_ids = select(meeting_organization.c.organization_id).where(
        meeting_organization.c.meeting_id == meeting.id
    )
    voting = exists(
        select(Membership.id).where(
            Membership.person_id == person_id,
            Membership.organization_id.in_(org_ids),
            Membership.deleted.is_(False),
            Membership.voting_right.is_(True),
            or_(Membership.start_date.is_(None), Membership.start_date <= day),
            or_(Membership.end_date.is_(None), Membership.end_date >= day),
        )
    )

    def last_kind(kinds: list[str], *conds: Any) -> Any:
        return (
            select(TimelineEvent.kind)
            .where(
                TimelineEvent.meeting_id == poll.meeting_id,
                TimelineEvent.person_id == person_id,
                TimelineEvent.kind.in_(kinds),
                *conds,
            )
            .order_by(TimelineEvent.id.desc())
            .limit(1)
            .scalar_subquery()
        )

    row = (
        await session.execute(
            select(
                voting.label("voting"),
                last_kind([EventKind.ATTENDANCE_JOINED, EventKind.ATTENDANCE_LEFT]).label("attendance"),
                last_kind(
                    [EventKind.CONFLICT_DECLARED, EventKind.CONFLICT_WITHDRAWN],
                    TimelineEvent.agenda_item_id == poll.agenda_item_id,
                ).label("conflict"),
            )
        )
    ).one()
    return Eligibility(
        voting={person_id} if row.voting else set(),
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


def _fingerprint(poll: Poll | None, poll_id: int, choice: Choice) -> str:
    # Never the choice of a secret ballot: the key's row names the account.
    if poll is not None and poll.kind == PollKind.SECRET:
        return f"{poll_id}:secret"
    return f"{poll_id}:{choice}"


async def _stored(session: AsyncSession, account_id: int, key: str) -> IdempotencyKey | None:
    return (
        await session.execute(
            select(IdempotencyKey).where(IdempotencyKey.account_id == account_id, IdempotencyKey.key == key)
        )
    ).scalar_one_or_none()


def _replay(row: IdempotencyKey, fingerprint: str) -> Answer:
    if row.fingerprint != fingerprint:
        return Answer(
            422,
            {
                "accepted": False,
                "code": "key_reused",
                "detail": _("Dieser Idempotenzschlüssel wurde schon für eine andere Anfrage benutzt."),
            },
        )
    return Answer(row.status_code, dict(row.response))


async def cast_ballot(
    session: AsyncSession,
    poll_id: int,
    *,
    person_id: int | None,
    account_id: int,
    choice: Any,
    idempotency_key: str | None = None,
) -> Answer:
    """Cast one ballot; never raises for a refusal — the answer says 201, 400, 403, 404, 409 or 422.

    With an idempotency key, the answer is stored (an accepted ballot in the same transaction as the
    ballot) and a retry with the same key gets it again.
    """
    try:
        ch = parse_choice(choice)
    except VoteError as exc:
        return Answer(exc.status, {"accepted": False, "code": exc.code, "detail": exc.message})
    key = valid_key(idempotency_key)
    if key is not None:
        prior = await _stored(session, account_id, key)
        if prior is not None:
            poll = await session.get(Poll, poll_id)
            answer = _replay(prior, _fingerprint(poll, poll_id, ch))
            await session.rollback()
            return answer
        await session.rollback()
    try:
        answer = await _cast(session, poll_id, person_id=person_id, account_id=account_id, choice=ch, key=key)
    except IntegrityError:
        # Lost a race: the same key from a parallel request, or (never expected) the unique ballot.
        await session.rollback()
        if key is not None:
            prior = await _stored(session, account_id, key)
            if prior is not None:
                poll = await session.get(Poll, poll_id)
                answer = _replay(prior, _fingerprint(poll, poll_id, ch))
                await session.rollback()
                return answer
        answer = Answer(
            409, {"accepted": False, "code": "already_voted", "detail": _("Sie haben bereits abgestimmt.")}
        )
    if not answer.accepted and key is not None and answer.status in (403, 409):
        await _remember_refusal(session, account_id, key, poll_id, ch, answer)
    return answer


async def _remember_refusal(
    session: AsyncSession, account_id: int, key: str, poll_id: int, choice: Choice, answer: Answer
) -> None:
    try:
        poll = await session.get(Poll, poll_id)
        session.add(
            IdempotencyKey(
                account_id=account_id,
                key=key,
                fingerprint=_fingerprint(poll, poll_id, choice),
                status_code=answer.status,
                response=answer.body,
                created=utcnow(),
            )
        )
        await session.commit()
    except IntegrityError:
        await session.rollback()


async def _cast(
    session: AsyncSession,
    poll_id: int,
    *,
    person_id: int | None,
    account_id: int,
    choice: Choice,
    key: str | None,
) -> Answer:
    def refuse(exc: VoteError) -> Answer:
        return Answer(exc.status, {"accepted": False, "code": exc.code, "detail": exc.message})

    # 1. Checks on a read snapshot, outside the write lock (keeps the serialised part short): the poll is
    #    open and takes device ballots, the voter is present with voting right and not in conflict.
    poll = await session.get(Poll, poll_id)
    if poll is None:
        await session.rollback()
        return refuse(PollNotFound(_("Diese Abstimmung gibt es nicht.")))
    refusal: VoteError | None = None
    if poll.state != PollState.OPEN:
        refusal = _refuse(poll.state)
    elif poll.kind == PollKind.HANDS:
        refusal = VoteError(_("Bei dieser Abstimmung wird per Handzeichen abgestimmt."), code="hands")
    elif person_id is None:
        refusal = NotEligible(_("Ihr Konto ist keinem Ratsmitglied zugeordnet."))
    else:
        elig = await voter_eligibility(session, poll, person_id)
        if person_id not in elig.eligible:
            if person_id not in elig.voting:
                why = _("Sie sind in diesem Gremium nicht stimmberechtigt.")
            elif person_id in elig.conflicted:
                why = _(
                    "Sie haben sich für diesen Tagesordnungspunkt für befangen erklärt und stimmen nicht mit."
                )
            else:
                why = _("Sie sind nicht als anwesend erfasst.")
            refusal = NotEligible(why)
    await session.rollback()  # end the read snapshot
    if refusal is not None:
        return refuse(refusal)
    assert person_id is not None
    # 2. The write transaction, serialised per poll by the lock: re-check what can change meanwhile
    #    (the poll closed; a parallel request of the same voter won) — the unique constraint backs it.
    try:
        poll = await _lock_poll(session, poll_id, count_ballot=True)
    except VoteError as exc:
        return refuse(exc)
    if poll.state != PollState.OPEN:
        refusal = _refuse(poll.state)
        await session.rollback()
        return refuse(refusal)
    if await has_voted(session, poll, person_id):
        await session.rollback()
        return refuse(VoteError(_("Sie haben bereits abgestimmt."), code="already_voted"))
    now = utcnow()
    if poll.kind == PollKind.NAMED:
        session.add(Ballot(poll_id=poll.id, person_id=person_id, choice=str(choice), created=now))
        body_log: dict[str, Any] = {"person_id": person_id, "choice": str(choice)}
        kind = "ballot"
    else:
        session.add(SecretParticipation(poll_id=poll.id, person_id=person_id, created=now))
        await session.execute(
            update(SecretChoice)
            .where(SecretChoice.poll_id == poll.id, SecretChoice.choice == str(choice))
            .values(count=SecretChoice.count + 1)
            .execution_options(synchronize_session=False)
        )
        body_log = {"person_id": person_id}
        kind = "participation"
    await session.flush()
    entry = await log.append(session, kind, poll_id=poll.id, meeting_id=poll.meeting_id, body=body_log)
    body: dict[str, Any] = {"accepted": True, "poll_id": poll.id, "receipt": entry.hash, "seq": entry.seq}
    if poll.kind == PollKind.NAMED:
        body["choice"] = str(choice)
    if key is not None:
        session.add(
            IdempotencyKey(
                account_id=account_id,
                key=key,
                fingerprint=_fingerprint(poll, poll_id, choice),
                status_code=201,
                response=body,
                created=now,
            )
        )
    await session.commit()
    return Answer(201, body)


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
