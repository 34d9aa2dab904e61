"""The back-office change/audit log: ``record_change`` adds one entry to the caller's transaction.

Shared by meetings/agenda (K1) and papers/motions (K2). Entries are only ever added; values are clipped
to small JSON-safe data so hostile input cannot bloat the log.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council.accounts.audit import _clip
from council.backoffice.models import ChangeLog
from council.core.types import utcnow


async def record_change(
    session: AsyncSession,
    actor_id: int | None,
    entity: str,
    entity_id: int,
    action: str,
    diff: dict[str, Any] | None = None,
    *,
    actor_name: str | None = None,
    meeting_id: int | None = None,
    visible: bool = False,
) -> ChangeLog:
    """Record who changed what; committed together with the change it describes."""
    entry = ChangeLog(
        at=utcnow(),
        actor_id=actor_id,
        actor_name=(actor_name or "")[:200] or None,
        entity=entity[:50],
        entity_id=int(entity_id),
        action=action[:50],
        diff=_clip(dict(diff or {})),
        meeting_id=meeting_id,
        visible=visible,
    )
    session.add(entry)
    return entry


def diff_of(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[Any]]:
    """Field → [old, new] for the fields that changed."""
    return {k: [old.get(k), v] for k, v in new.items() if old.get(k) != v}


async def changes_for(
    session: AsyncSession,
    entity: str,
    entity_id: int,
    *,
    limit: int = 200,
) -> Sequence[ChangeLog]:
    """The newest entries for one record."""
    stmt = (
        select(ChangeLog)
        .where(ChangeLog.entity == entity, ChangeLog.entity_id == entity_id)
        .order_by(ChangeLog.id.desc())
        .limit(limit)
    )
    return (await session.execute(stmt)).scalars().all()


async def meeting_changes(
    session: AsyncSession, meeting_id: int, *, visible_only: bool = False, limit: int = 500
) -> Sequence[ChangeLog]:
    """A meeting's and its agenda's entries, oldest first (the agenda's change log)."""
    stmt = select(ChangeLog).where(ChangeLog.meeting_id == meeting_id)
    if visible_only:
        stmt = stmt.where(ChangeLog.visible.is_(True))
    return (await session.execute(stmt.order_by(ChangeLog.id).limit(limit))).scalars().all()


__all__ = ["ChangeLog", "changes_for", "diff_of", "meeting_changes", "record_change", "utcnow"]
