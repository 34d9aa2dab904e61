"""The hash-chained vote log: one global chain of canonical-JSON entries, each carrying the SHA-256 of
the previous one (the first carries ``GENESIS``). Appending takes the chain lock: a transaction-scoped
advisory lock on PostgreSQL; on SQLite the database write lock, which the caller's transaction already
holds because it wrote before appending (every caller updates or inserts a poll row first).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select, text
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


async def chain_head(session: AsyncSession) -> tuple[int, str]:
    """(seq, hash) of the last entry; (0, GENESIS) for an empty log."""
    row = (
        await session.execute(
            select(HashLogEntry.seq, HashLogEntry.hash).order_by(HashLogEntry.seq.desc()).limit(1)
        )
    ).first()
    if row is None:
        return 0, GENESIS
    return int(row[0]), str(row[1])


async def append(
    session: AsyncSession, kind: str, *, poll_id: int | None, meeting_id: int | None, body: dict[str, Any]
) -> HashLogEntry:
    """Append an entry in the caller's transaction (the caller commits)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK_KEY})
    seq, prev = await chain_head(session)
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
    entry = HashLogEntry(
        seq=seq + 1,
        poll_id=poll_id,
        meeting_id=meeting_id,
        kind=kind,
        data=data,
        prev_hash=prev,
        hash=entry_hash(data),
    )
    session.add(entry)
    await session.flush()
    return entry
