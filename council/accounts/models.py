"""Accounts and server-side sessions (tables).

``account``: people who sign in — staff (clerk, admin), the chair and councillors. The username is
stored lowercased, so uniqueness is case-insensitive on both SQLite and PostgreSQL. ``roles`` is a JSON
list of role names (see ``ROLES``).

``web_session``: one row per signed-in browser. The primary key is the SHA-256 (hex) of the random
session token that only the browser's cookie holds; a database leak does not hand out sessions.

``account_totp``: the optional second factor (TOTP, RFC 6238) of an account: its secret, encrypted
(``council.accounts.totp``), whether enrolment was confirmed, the last time step used (a code is
accepted once) and the failed attempts in a row. ``account_recovery_code``: one-time recovery codes
(SHA-256 of high-entropy random codes). ``login_challenge``: the short-lived, server-side state between
a correct password and the second factor (keyed by the SHA-256 of the token in its cookie).

``account_audit``: who did what to which account, when (append-only; names are kept as they were).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint, false
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


class AccountTotp(Base):
    """The TOTP second factor of an account (at most one; ``confirmed`` once enrolment succeeded)."""

    __tablename__ = "account_totp"

    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), primary_key=True)
    #: ``v1:`` + base64url(nonce ‖ AES-GCM ciphertext) of the base32 secret; never shown after enrolment.
    secret_encrypted: Mapped[str] = mapped_column(String(500), nullable=False)
    confirmed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    created: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The 30-second time step of the last accepted code: later codes must be of a later step.
    last_step: Mapped[int | None] = mapped_column(Integer)
    #: Wrong codes in a row (not reset by a correct password): the account locks after a few.
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")


class RecoveryCode(Base):
    """A one-time recovery code for the second factor (only its SHA-256 is stored)."""

    __tablename__ = "account_recovery_code"
    __table_args__ = (
        UniqueConstraint("account_id", "code_hash", name="uq_account_recovery_code_account_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("account.id", ondelete="CASCADE"), index=True, nullable=False
    )
    code_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginChallenge(Base):
    """Password accepted, second factor outstanding (short TTL, a few attempts)."""

    __tablename__ = "login_challenge"

    #: SHA-256 hex of the token in the browser's challenge cookie.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("account.id", ondelete="CASCADE"), index=True, nullable=False
    )
    next_path: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    created: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")


class AccountAudit(Base):
    """One administrative or security-relevant change to an account. Rows are never changed."""

    __tablename__ = "account_audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, index=True)
    #: Who did it (None: the system or the command line); the name as it was then.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="SET NULL"), index=True)
    actor_name: Mapped[str] = mapped_column(String(150), nullable=False, default="")
    #: The account it was done to; the username as it was then.
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="SET NULL"), index=True)
    account_name: Mapped[str] = mapped_column(String(150), nullable=False, default="")
    #: e.g. ``account.created``, ``roles.changed``, ``account.disabled``, ``totp.enabled``.
    action: Mapped[str] = mapped_column(String(50), nullable=False)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
