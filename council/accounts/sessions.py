"""Server-side sessions in our own database (table ``web_session``).

The browser holds a random token (``secrets.token_urlsafe(32)``, 256 bits) in the cookie
``rathaus_session`` (HttpOnly, SameSite=Lax, Path=/, Secure behind HTTPS); the table holds only its
SHA-256. A session ends

- after ``IDLE_TIMEOUT`` without a request (``last_seen`` is refreshed at most every ``TOUCH_INTERVAL``
  to spare the database a write per request),
- at ``expires`` (``ABSOLUTE_TIMEOUT`` after login), whatever the activity,
- at logout (its row is deleted), at "logout everywhere" and when the account is disabled (all rows
  of the account are deleted).

A login always creates a new token (the old one, if the browser sent one, is deleted): no session
fixation. Nothing here is cached in memory, so several processes share sessions through the database.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from council.accounts.models import Account, WebSession
from council.core.types import utcnow

SESSION_COOKIE = "rathaus_session"
IDLE_TIMEOUT = timedelta(hours=2)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
TOUCH_INTERVAL = timedelta(minutes=1)
#: Tokens we issue are 43 characters; anything far off that is not ours and is not looked up.
_MAX_TOKEN_LENGTH = 128


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _plausible(token: str | None) -> bool:
    return token is not None and 0 < len(token) <= _MAX_TOKEN_LENGTH and token.isascii()


@dataclass(frozen=True)
class LoadedSession:
    """A valid session and its account (with ``person`` not loaded)."""

    id: str
    account: Account
    data: dict[str, Any]
    expires: datetime


async def create_session(
    session: AsyncSession,
    account_id: int,
    *,
    data: dict[str, Any] | None = None,
    replaces: str | None = None,
    now: datetime | None = None,
) -> str:
    """Create a session row and return the token for the cookie. ``replaces``: the token the browser
    sent before (deleted — the id is rotated at login). The caller commits."""
    now = now or utcnow()
    if _plausible(replaces):
        await session.execute(delete(WebSession).where(WebSession.id == hash_token(replaces)))  # type: ignore[arg-type]
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            id=hash_token(token),
            account_id=account_id,
            data=dict(data or {}),
            created=now,
            last_seen=now,
            expires=now + ABSOLUTE_TIMEOUT,
        )
    )
    await session.flush()
    return token


async def load_session(
    session: AsyncSession, token: str | None, *, now: datetime | None = None
) -> LoadedSession | None:
    """The valid session for ``token`` or None. Expired rows and rows of disabled/deleted accounts are
    deleted; ``last_seen`` is refreshed. Commits when it wrote something."""
    if not _plausible(token):
        return None
    assert token is not None
    now = now or utcnow()
    key = hash_token(token)
    row = (
        await session.execute(
            select(WebSession).options(selectinload(WebSession.account)).where(WebSession.id == key)
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    account = row.account
    if (
        now >= row.expires
        or now - row.last_seen >= IDLE_TIMEOUT
        or account is None
        or account.disabled
        or account.deleted
    ):
        await session.execute(delete(WebSession).where(WebSession.id == key))
        await session.commit()
        return None
    if now - row.last_seen >= TOUCH_INTERVAL:
        row.last_seen = now
        await session.commit()
    return LoadedSession(id=key, account=account, data=dict(row.data or {}), expires=row.expires)


async def delete_session(session: AsyncSession, token: str | None) -> None:
    """Logout: the row goes. The caller commits."""
    if _plausible(token):
        await session.execute(delete(WebSession).where(WebSession.id == hash_token(token)))  # type: ignore[arg-type]


async def delete_account_sessions(session: AsyncSession, account_id: int) -> int:
    """Logout everywhere / account disabled: every session of the account goes. The caller commits."""
    result = await session.execute(delete(WebSession).where(WebSession.account_id == account_id))
    return int(getattr(result, "rowcount", 0) or 0)


async def purge_expired(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Housekeeping: delete sessions past their absolute or idle end. The caller commits."""
    now = now or utcnow()
    result = await session.execute(
        delete(WebSession).where(or_(WebSession.expires <= now, WebSession.last_seen <= now - IDLE_TIMEOUT))
    )
    return int(getattr(result, "rowcount", 0) or 0)
