"""The hash-chained vote log: one global chain of canonical-JSON entries, each carrying the SHA-256 of
the previous one (the first carries ``GENESIS``). Appending takes the chain lock: a transaction-scoped
advisory lock on PostgreSQL; on SQLite the database write lock, which the caller's transaction already
holds because it wrote before appending (every caller updates or inserts a poll row first).

The head is read and the entry inserted with plain Core statements built once (no ORM unit of work):
appending is inside every ballot's serialised section, so it is kept to two statements (three on
PostgreSQL, with the advisory lock).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from council.core.types import utcnow
from votes.models import HashLogEntry

GENESIS = "0" * 64
#: Key of the PostgreSQL advisory lock that serialises appends to the chain.
CHAIN_LOCK_KEY = 0x766F7465  # "vote"


def canonical(obj: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, UTF-8 characters as they are."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(data: str) -> str:
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


_LOG = cast(Table, HashLogEntry.__table__)
_HEAD = select(_LOG.c.seq, _LOG.c.hash).order_by(_LOG.c.seq.desc()).limit(1)
_INSERT = insert(_LOG)
_LOCK = text("SELECT pg_advisory_xact_lock(:k)")


@dataclass(frozen=True)
class Appended:
    """The entry just appended: its place in the chain and its hash (the receipt of a ballot)."""

    seq: int
    hash: str
    data: str


async def chain_head(session: AsyncSession) -> tuple[int, str]:
    """(seq, hash) of the last entry; (0, GENESIS) for an empty log."""
    row = (await session.execute(_HEAD)).first()
    if row is None:
        return 0, GENESIS
    return int(row[0]), str(row[1])


async def append(
    session: AsyncSession,
    kind: str,
    *,
    poll_id: int | None,
    meeting_id: int | None,
    body: dict[str, Any],
    chain_locked: bool = False,
    head: tuple[int, str] | None = None,
) -> Appended:
    """Append an entry in the caller's transaction (the caller commits).

    ``chain_locked``: the caller took the PostgreSQL advisory lock already. ``head``: (seq, hash) of the
    last entry, read by the caller *while holding the chain lock* (SQLite: in the statement that took
    the write lock)."""
    if not chain_locked and session.get_bind().dialect.name == "postgresql":
        await session.execute(_LOCK, {"k": CHAIN_LOCK_KEY})
    seq, prev = head if head is not None else await chain_head(session)
    record = {
        **body,
        "seq": seq + 1,
        "prev": prev,
        "kind": kind,
        "poll_id": poll_id,
        "meeting_id": meeting_id,
        "at": utcnow().isoformat(),
    }
    data = canonical(record)
    digest = entry_hash(data)
    await session.execute(
        _INSERT,
        {
            "seq": seq + 1,
            "poll_id": poll_id,
            "meeting_id": meeting_id,
            "kind": kind,
            "data": data,
            "prev_hash": prev,
            "hash": digest,
        },
    )
    return Appended(seq=seq + 1, hash=digest, data=data)
