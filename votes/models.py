"""Tables of council votes.

``poll``                 one vote on an agenda item: kind (named roll-call, secret ballot, show of hands),
                         majority rule, lifecycle draft → open → closed (→ annulled), result.
``ballot``               a named (roll-call) ballot: who chose what. One per voter and poll (unique).
``secret_participation`` who took part in a secret ballot — and nothing about the choice. One per voter
                         and poll (unique).
``secret_choice``        what was chosen in a secret ballot, as one counter row per option
                         (poll, choice, count), incremented in the ballot's transaction. No voter key, no
                         timestamp, no row per ballot, hence no insertion order or autoincrement id that
                         could be matched against the participation rows.
``vote_log``             the append-only, hash-chained log of every poll event and every ballot (one
                         global chain; each entry holds the SHA-256 of the previous one; canonical JSON).
                         Secret ballots appear in it as participation only.
``vote_idempotency``     the answer given to a ballot request with an idempotency key, so that a retried
                         request gets the same answer.

Append-only is enforced twice: ORM events refuse updates and deletes of log rows, and database
triggers (``install_ddl``) refuse them for raw SQL as well.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    DDL,
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column

from council.core.base import Base
from council.core.types import UTCDateTime, utcnow


class PollKind(enum.StrEnum):
    NAMED = "named"  # roll-call on councillors' devices; who voted how is published
    SECRET = "secret"  # noqa: S105 (secret ballot on devices, not a password)
    HANDS = "hands"  # show of hands; the clerk enters the counts


class PollState(enum.StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"
    ANNULLED = "annulled"


class Choice(enum.StrEnum):
    YES = "yes"
    NO = "no"
    ABSTAIN = "abstain"


CHOICES = (Choice.YES, Choice.NO, Choice.ABSTAIN)


class Poll(Base):
    __tablename__ = "poll"
    __table_args__ = (
        # At most one open poll per meeting (the councillors' devices show "the" open poll).
        Index(
            "uq_poll_open_per_meeting",
            "meeting_id",
            unique=True,
            postgresql_where=text("state = 'open'"),
            sqlite_where=text("state = 'open'"),
        ),
        CheckConstraint("state IN ('draft', 'open', 'closed', 'annulled')", name="state"),
        CheckConstraint("kind IN ('named', 'secret', 'hands')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meeting.id"), index=True)
    agenda_item_id: Mapped[int] = mapped_column(ForeignKey("agenda_item.id"), index=True)
    #: The motion put to the vote (shown to voters and in the result).
    question: Mapped[str] = mapped_column(String(1000), default="")
    kind: Mapped[str] = mapped_column(String(10), default=PollKind.NAMED)
    #: A rule name from ``votes.rules.RULES``.
    majority: Mapped[str] = mapped_column(String(30), default="simple")
    state: Mapped[str] = mapped_column(String(10), default=PollState.DRAFT)
    #: Ballots accepted so far (bumped in each ballot's transaction; that update also serialises them).
    ballots_cast: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    annulled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    annul_reason: Mapped[str | None] = mapped_column(String(1000))
    #: Quorum at opening: {statutory, present_voting, required, reached}.
    quorum_open: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: The result (tally, decision, explanation, who voted how for named polls) once closed.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: The agenda item's result/resolution text before this poll wrote them (restored on annulment).
    previous_item_result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: Hash of the log entry that closed (or annulled) the poll — the chain head published with it.
    chain_head: Mapped[str | None] = mapped_column(String(64))


class Ballot(Base):
    """A named ballot."""

    __tablename__ = "ballot"
    __table_args__ = (UniqueConstraint("poll_id", "person_id", name="uq_ballot_poll_person"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("poll.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    choice: Mapped[str] = mapped_column(String(10))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SecretParticipation(Base):
    """That a person took part in a secret ballot (never what they chose)."""

    __tablename__ = "secret_participation"
    __table_args__ = (UniqueConstraint("poll_id", "person_id", name="uq_secret_participation_poll_person"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("poll.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SecretChoice(Base):
    """Per-option counters of a secret ballot: (poll, choice) → count. Nothing else, on purpose."""

    __tablename__ = "secret_choice"
    __table_args__ = (
        PrimaryKeyConstraint("poll_id", "choice", name="pk_secret_choice"),
        CheckConstraint("count >= 0", name="count"),
    )

    poll_id: Mapped[int] = mapped_column(ForeignKey("poll.id"))
    choice: Mapped[str] = mapped_column(String(10))
    count: Mapped[int] = mapped_column(Integer, default=0)


class HashLogEntry(Base):
    """One entry of the hash-chained vote log. ``data`` is the canonical JSON that was hashed; it holds
    ``seq`` and ``prev`` (the previous entry's hash) itself, so the chain is checkable from ``data`` alone."""

    __tablename__ = "vote_log"
    __table_args__ = (
        UniqueConstraint("seq", name="uq_vote_log_seq"),
        UniqueConstraint("prev_hash", name="uq_vote_log_prev_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    poll_id: Mapped[int | None] = mapped_column(ForeignKey("poll.id"), index=True)
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meeting.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    data: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class IdempotencyKey(Base):
    """The answer to a ballot request, by (account, key)."""

    __tablename__ = "vote_idempotency"
    __table_args__ = (UniqueConstraint("account_id", "key", name="uq_vote_idempotency_account_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(100))
    #: What was asked (poll and choice), so that a key reused for another request is refused.
    fingerprint: Mapped[str] = mapped_column(String(200))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- append-only ----------------------------------------------------------------------------------


@event.listens_for(HashLogEntry, "before_update")
def _log_no_update(mapper: Any, connection: Any, target: HashLogEntry) -> None:
    raise RuntimeError("the vote log is append-only")


@event.listens_for(HashLogEntry, "before_delete")
def _log_no_delete(mapper: Any, connection: Any, target: HashLogEntry) -> None:
    raise RuntimeError("the vote log is append-only")


_SQLITE_TRIGGERS = [
    "CREATE TRIGGER IF NOT EXISTS vote_log_no_update BEFORE UPDATE ON vote_log "
    "BEGIN SELECT RAISE(ABORT, 'the vote log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS vote_log_no_delete BEFORE DELETE ON vote_log "
    "BEGIN SELECT RAISE(ABORT, 'the vote log is append-only'); END",
]
_PG_TRIGGERS = [
    "CREATE OR REPLACE FUNCTION vote_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'the vote log is append-only'; END $$",
    "DROP TRIGGER IF EXISTS vote_log_append_only ON vote_log",
    "CREATE TRIGGER vote_log_append_only BEFORE UPDATE OR DELETE ON vote_log "
    "FOR EACH ROW EXECUTE FUNCTION vote_log_append_only()",
]


def install_ddl(connection: Connection) -> None:
    """Triggers that make ``vote_log`` append-only for any SQL (for migrations; ``create_all`` runs it)."""
    statements = _PG_TRIGGERS if connection.dialect.name == "postgresql" else _SQLITE_TRIGGERS
    for sql in statements:
        connection.execute(DDL(sql))


@event.listens_for(HashLogEntry.__table__, "after_create")
def _after_create(target: Any, connection: Connection, **kw: Any) -> None:
    install_ddl(connection)
