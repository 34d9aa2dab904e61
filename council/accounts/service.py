"""Accounts: create, authenticate (with lockout), disable, and the Viewer of an account.

Login failures are counted per account in the database: after ``MAX_FAILED_LOGINS`` failures in a row
the account is locked for ``LOCKOUT``. Per client address there is a small in-memory sliding window
(``LoginThrottle``); it counts per process — a shared store (database or Redis) replaces it once
several processes serve (the per-account lockout, in the database, already holds across processes).

Every failure path costs one argon2 verification, whether the user exists or not, and ends with the
same generic message in the web layer: no user enumeration.
"""

from __future__ import annotations

import re
import threading
import time
import unicodedata
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from council.accounts import passwords
from council.accounts.models import ROLES, Account
from council.accounts.sessions import delete_account_sessions
from council.core.types import utcnow
from council.records.access import ANONYMOUS, Viewer
from council.records.models import Membership, Organization, Person

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
MAX_USERNAME_LENGTH = 150
_USERNAME_RE = re.compile(r"[\w.@+-]{1,150}")
_TZ = ZoneInfo("Europe/Berlin")


class AccountError(ValueError):
    """A request about accounts that cannot be fulfilled (message fit to show)."""


# --- usernames -----------------------------------------------------------------------------------


def normalize_username(raw: str | None) -> str | None:
    """Lowercased, NFKC-normalised username, or None when it cannot be a username at all
    (empty, too long, control characters, lone surrogates, spaces, …)."""
    if raw is None or len(raw) > MAX_USERNAME_LENGTH * 4:
        return None
    try:
        name = unicodedata.normalize("NFKC", raw).strip().lower()
    except Exception:
        return None
    if not _USERNAME_RE.fullmatch(name):
        return None
    return name


# --- accounts ------------------------------------------------------------------------------------


async def get_account(session: AsyncSession, username: str) -> Account | None:
    name = normalize_username(username)
    if name is None:
        return None
    return (await session.execute(select(Account).where(Account.username == name))).scalar_one_or_none()


def _check_roles(roles: Iterable[str]) -> list[str]:
    out: list[str] = []
    for role in roles:
        if role not in ROLES:
            raise AccountError(f"Unbekannte Rolle: {role!r} (erlaubt: {', '.join(ROLES)})")
        if role not in out:
            out.append(role)
    return out


async def create_account(
    session: AsyncSession,
    username: str,
    password: str,
    roles: Iterable[str],
    *,
    display_name: str | None = None,
    person_id: int | None = None,
) -> Account:
    """Create an account (flushes, the caller commits). Raises AccountError / PasswordTooWeak."""
    name = normalize_username(username)
    if name is None:
        raise AccountError("Ungültiger Benutzername (erlaubt: Buchstaben, Ziffern und . _ @ + -).")
    role_list = _check_roles(roles)
    passwords.check_policy(password)
    if await get_account(session, name) is not None:
        raise AccountError(f"Benutzername {name!r} ist vergeben.")
    if person_id is not None and await session.get(Person, person_id) is None:
        raise AccountError(f"Person {person_id} gibt es nicht.")
    account = Account(
        username=name,
        display_name=(display_name or name).strip()[:300] or name,
        password_hash=passwords.hash_password(password),
        roles=role_list,
        person_id=person_id,
        disabled=False,
        failed_logins=0,
    )
    session.add(account)
    await session.flush()
    return account


async def set_password(
    session: AsyncSession, account: Account, password: str, *, end_sessions: bool = True
) -> None:
    """New password (policy checked); by default every session of the account ends. Caller commits."""
    passwords.check_policy(password)
    account.password_hash = passwords.hash_password(password)
    account.failed_logins = 0
    account.locked_until = None
    if end_sessions:
        await delete_account_sessions(session, account.id)
    await session.flush()


async def disable_account(session: AsyncSession, account: Account) -> None:
    """Disable the account and end all its sessions. Caller commits."""
    account.disabled = True
    await delete_account_sessions(session, account.id)
    await session.flush()


async def enable_account(session: AsyncSession, account: Account) -> None:
    account.disabled = False
    account.failed_logins = 0
    account.locked_until = None
    await session.flush()


async def authenticate(
    session: AsyncSession, username: str | None, password: str | None, *, now: datetime | None = None
) -> Account | None:
    """The account when username and password match and it may sign in; None otherwise.

    Counts failures and locks the account after ``MAX_FAILED_LOGINS`` (for ``LOCKOUT``); resets the
    count and stamps ``last_login`` on success; re-hashes when the hash parameters changed. Flushes;
    the caller commits in both cases (failures must be stored).
    """
    now = now or utcnow()
    password = password or ""
    name = normalize_username(username)
    account = None
    if name is not None:
        account = (
            await session.execute(select(Account).where(Account.username == name))
        ).scalar_one_or_none()
    if account is None or account.deleted or account.disabled:
        passwords.verify_dummy()
        return None
    if account.locked_until is not None and account.locked_until > now:
        passwords.verify_dummy()
        return None
    ok, new_hash = passwords.verify(password, account.password_hash)
    if not ok:
        account.failed_logins = (account.failed_logins or 0) + 1
        if account.failed_logins >= MAX_FAILED_LOGINS:
            account.locked_until = now + LOCKOUT
            account.failed_logins = 0
        await session.flush()
        return None
    if new_hash:
        account.password_hash = new_hash
    account.failed_logins = 0
    account.locked_until = None
    account.last_login = now
    await session.flush()
    return account


# --- the viewer ----------------------------------------------------------------------------------


def local_today() -> date:
    return datetime.now(_TZ).date()


async def active_organization_ids(
    session: AsyncSession, person_id: int, *, today: date | None = None
) -> frozenset[int]:
    """Organizations (council, committees, factions, …) where the person has a membership today."""
    today = today or local_today()
    rows = await session.execute(
        select(Membership.organization_id)
        .join(Organization, Organization.id == Membership.organization_id)
        .where(
            Membership.person_id == person_id,
            Membership.deleted == false(),
            Organization.deleted == false(),
            or_(Membership.start_date.is_(None), Membership.start_date <= today),
            or_(Membership.end_date.is_(None), Membership.end_date >= today),
            or_(Organization.end_date.is_(None), Organization.end_date >= today),
        )
    )
    return frozenset(int(r[0]) for r in rows)


async def viewer_for_account(
    session: AsyncSession, account: Account | None, *, today: date | None = None
) -> Viewer:
    """The Viewer for a signed-in account; anonymous when the account may not be used."""
    if account is None or account.disabled or account.deleted:
        return ANONYMOUS
    org_ids: frozenset[int] = frozenset()
    if account.person_id is not None:
        org_ids = await active_organization_ids(session, account.person_id, today=today)
    return Viewer(
        account_id=account.id,
        person_id=account.person_id,
        name=account.display_name or account.username,
        roles=account.role_set,
        organization_ids=org_ids,
    )


# --- per-address throttle ------------------------------------------------------------------------


class LoginThrottle:
    """Sliding window of failed logins per client address, in memory (one process).

    ``blocked(key)`` is true once ``max_failures`` failures fall within ``window`` seconds. Memory is
    bounded: at most ``max_keys`` addresses are remembered (the least recently failing go first).
    """

    def __init__(
        self,
        max_failures: int = 20,
        window: float = 600.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.max_keys = max_keys
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _prune(self, key: str, now: float) -> deque[float] | None:
        q = self._failures.get(key)
        if q is None:
            return None
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            del self._failures[key]
            return None
        return q

    def blocked(self, key: str) -> bool:
        with self._lock:
            q = self._prune(key, self.clock())
            return q is not None and len(q) >= self.max_failures

    def failure(self, key: str) -> None:
        with self._lock:
            now = self.clock()
            q = self._prune(key, now)
            if q is None:
                q = self._failures[key] = deque(maxlen=self.max_failures * 2)
            q.append(now)
            self._failures.move_to_end(key)
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)

    def reset(self) -> None:
        with self._lock:
            self._failures.clear()


# --- demo ----------------------------------------------------------------------------------------

#: (username, password, roles, display name) of the demo accounts — documented in the README.
DEMO_ACCOUNTS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("clerk", "rathaus-demo-clerk", ("clerk",), "Sitzungsdienst (Demo)"),
    ("admin", "rathaus-demo-admin", ("admin", "clerk"), "Administration (Demo)"),
    ("chair", "rathaus-demo-chair", ("chair", "councillor"), "Sitzungsleitung (Demo)"),
    ("councillor", "rathaus-demo-councillor", ("councillor",), "Ratsmitglied (Demo)"),
)


async def _person_with_membership(
    session: AsyncSession, *conditions: ColumnElement[bool], exclude: set[int]
) -> Person | None:
    today = local_today()
    stmt = (
        select(Person)
        .join(Membership, Membership.person_id == Person.id)
        .join(Organization, Organization.id == Membership.organization_id)
        .where(
            Person.deleted == false(),
            Membership.deleted == false(),
            Organization.deleted == false(),
            or_(Membership.end_date.is_(None), Membership.end_date >= today),
            or_(Membership.start_date.is_(None), Membership.start_date <= today),
            *conditions,
        )
        .order_by(Person.id)
    )
    if exclude:
        stmt = stmt.where(Person.id.notin_(exclude))
    return (await session.execute(stmt.limit(1))).scalars().first()


def _like(column: Any, word: str) -> ColumnElement[bool]:
    return func.lower(column).like(f"%{word}%")


async def ensure_demo_accounts(session: AsyncSession) -> list[tuple[str, str, str]]:
    """Create the demo accounts that do not exist yet and commit. Returns (username, password, roles)
    for all of them. The councillor is linked to the first person with a committee membership, the
    chair to a person chairing the council (or any council member) when such persons exist."""
    used: set[int] = set()
    existing = {a.username: a for a in (await session.execute(select(Account))).scalars()}
    for a in existing.values():
        if a.person_id is not None:
            used.add(a.person_id)
    out: list[tuple[str, str, str]] = []
    committee = or_(
        _like(Organization.classification, "ausschuss"),
        _like(Organization.name, "ausschuss"),
        _like(Organization.organization_type, "ausschuss"),
    )
    council = or_(
        func.lower(Organization.classification) == "rat",
        func.lower(Organization.short_name) == "rat",
        _like(Organization.name, "rat der "),
    )
    for username, password, roles, display_name in DEMO_ACCOUNTS:
        out.append((username, password, ", ".join(roles)))
        if username in existing:
            continue
        person: Person | None = None
        if username == "councillor":
            person = await _person_with_membership(session, committee, exclude=used)
        elif username == "chair":
            person = await _person_with_membership(
                session,
                and_(
                    council, or_(_like(Membership.role, "vorsitz"), _like(Membership.role, "bürgermeister"))
                ),
                exclude=used,
            ) or await _person_with_membership(session, council, exclude=used)
        if person is not None:
            used.add(person.id)
        await create_account(
            session,
            username,
            password,
            roles,
            display_name=person.name if person is not None else display_name,
            person_id=person.id if person is not None else None,
        )
    await session.commit()
    return out
