"""Accounts and server-side sessions (tables).

``account``: people who sign in — staff (clerk, admin), the chair and councillors. The username is
stored lowercased, so uniqueness is case-insensitive on both SQLite and PostgreSQL. ``roles`` is a JSON
list of role names (see ``ROLES``).

``web_session``: one row per signed-in browser. The primary key is the SHA-256 (hex) of the random
session token that only the browser's cookie holds; a database leak does not hand out sessions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from council.core.base import Base, Record
from council.core.types import UTCDateTime, utcnow

#: Role names. ``clerk`` and ``admin`` are staff (see ``council.records.access.STAFF_ROLES``).
ROLES = ("councillor", "clerk", "chair", "admin")


class Account(Record):
    __tablename__ = "account"

    #: Lowercased, unique (case-insensitive by construction).
    username: Mapped[str] = mapped_column(String(150), unique=True, nullable=False)
    display_name: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    #: pwdlib/argon2 hash (``$argon2id$…``).
    password_hash: Mapped[str] = mapped_column(String(500), nullable=False)
    roles: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"), index=True)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    failed_logins: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login: Mapped[datetime | None] = mapped_column(UTCDateTime)

    sessions: Mapped[list[WebSession]] = relationship(
        back_populates="account", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def role_set(self) -> frozenset[str]:
        return frozenset(self.roles or ())

    def __repr__(self) -> str:
        return f"<Account {self.id} {self.username!r} roles={self.roles!r}>"


class WebSession(Base):
    __tablename__ = "web_session"

    #: SHA-256 hex digest of the session token (the token itself is never stored).
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("account.id", ondelete="CASCADE"), index=True, nullable=False
    )
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    created: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    #: Absolute end of the session, whatever the activity.
    expires: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)

    account: Mapped[Account] = relationship(back_populates="sessions")
