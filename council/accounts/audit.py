"""The account audit log: who changed which account, when, and what (table ``account_audit``).

Entries are only ever added. Names are stored as they were at the time, so the log stays readable
after an account is renamed or deleted. ``record`` adds an entry to the caller's transaction (it is
committed together with the change it describes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from council.accounts.models import Account, AccountAudit
from council.core.types import utcnow

#: The actions recorded (the web layer has their labels).
ACTIONS = frozenset(
    {
        "account.created",
        "account.updated",
        "roles.changed",
        "person.changed",
        "account.disabled",
        "account.enabled",
        "password.reset",
        "password.changed",
        "sessions.ended",
        "totp.enabled",
        "totp.disabled",
        "totp.reset",
        "recovery_codes.renewed",
        "login.recovery_code",
        "login.locked",
    }
)


def _clip(value: Any) -> Any:
    """Keep details small and JSON-safe (strings clipped, lone surrogates replaced)."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")[:300]
    if isinstance(value, list | tuple):
        return [_clip(v) for v in list(value)[:20]]
    if isinstance(value, dict):
        return {str(k)[:50]: _clip(v) for k, v in list(value.items())[:20]}
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)[:300]


async def record(
    session: AsyncSession,
    action: str,
    *,
    actor: Account | None = None,
    actor_id: int | None = None,
    actor_name: str | None = None,
    account: Account | None = None,
    detail: dict[str, Any] | None = None,
) -> AccountAudit:
    """Add an entry (flushes; the caller commits with the change)."""
    if actor is not None:
        actor_id = actor.id
        actor_name = actor.username
    entry = AccountAudit(
        at=utcnow(),
        actor_id=actor_id,
        actor_name=(actor_name or "")[:150],
        account_id=account.id if account is not None else None,
        account_name=(account.username if account is not None else "")[:150],
        action=action[:50],
        detail=_clip(detail or {}),
    )
    session.add(entry)
    await session.flush()
    return entry


async def entries(
    session: AsyncSession, *, account_id: int | None = None, limit: int = 50
) -> Sequence[AccountAudit]:
    """Newest first; for one account: what was done to it and what it did."""
    stmt = select(AccountAudit).order_by(AccountAudit.at.desc(), AccountAudit.id.desc()).limit(limit)
    if account_id is not None:
        stmt = stmt.where(or_(AccountAudit.account_id == account_id, AccountAudit.actor_id == account_id))
    return (await session.execute(stmt)).scalars().all()
