"""Accounts, login, server-side sessions, CSRF and guards — through real HTTP on a real database."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select, update

from council.accounts import passwords, service
from council.accounts.models import Account, WebSession
from council.accounts.sessions import ABSOLUTE_TIMEOUT, SESSION_COOKIE, hash_token
from council.core.types import utcnow
from tests.factories import make_town

PASSWORD = "correct horse battery"
GENERIC = "Benutzername oder Passwort falsch"


# --- helpers ---------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def cheap_argon2(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """argon2id with small parameters, to spare the shared CI cores; the format test uses the real ones."""
    if request.node.name.startswith("test_argon2"):
        yield
        return
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    monkeypatch.setattr(passwords, "_hasher", PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024),)))
    passwords._dummy_hash.cache_clear()
    yield
    monkeypatch.undo()
    passwords._dummy_hash.cache_clear()


async def make_account(
    session: Any, username: str = "clerk1", roles: tuple[str, ...] = ("clerk",), person_id: int | None = None
) -> Account:
    account = await service.create_account(session, username, PASSWORD, roles, person_id=person_id)
    await session.commit()
    return account


async def csrf_token(client: Any, path: str = "/anmelden") -> str:
    r = await client.get(path)
    assert r.status_code == 200, r.text
    m = re.search(r'name="_csrf_token" value="([^"]+)"', r.text)
    assert m, "no CSRF field on the page"
    return m.group(1)


async def login(client: Any, username: str, password: str = PASSWORD, next_path: str | None = None) -> Any:
    data = {"username": username, "password": password, "_csrf_token": await csrf_token(client)}
    if next_path is not None:
        data["next"] = next_path
    return await client.post("/anmelden", data=data, follow_redirects=False)


def session_cookie(response: Any) -> str | None:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{SESSION_COOKIE}="):
            return header
    return None


def use_token(client: Any, token: str | None) -> None:
    """Make the client present exactly this session token (or none)."""
    client.cookies.delete(SESSION_COOKIE)
    if token:
        client.cookies.set(SESSION_COOKIE, token, domain="127.0.0.1")


async def fresh(session: Any, model: Any, key: Any) -> Any:
    return await session.get(model, key, populate_existing=True)


async def sessions_of(session: Any, account_id: int) -> int:
    return int(
        (
            await session.execute(
                select(func.count()).select_from(WebSession).where(WebSession.account_id == account_id)
            )
        ).scalar_one()
    )


# --- passwords -------------------------------------------------------------------------------------


def test_argon2_hash_format_and_rehash() -> None:
    h = passwords.hash_password(PASSWORD)
    assert h.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PASSWORD not in h
    assert passwords.verify(PASSWORD, h) == (True, None)
    assert passwords.verify("wrong password!", h) == (False, None)
    # hostile inputs and corrupt hashes never raise
    assert passwords.verify("\ud800\x00", h)[0] is False
    assert passwords.verify(PASSWORD, "not-a-hash") == (False, None)
    assert passwords.verify("x" * 10_000, h) == (False, None)
    # a hash made with weaker parameters is replaced on the next successful login
    from pwdlib.hashers.argon2 import Argon2Hasher

    old = Argon2Hasher(time_cost=1, memory_cost=8192).hash(PASSWORD)
    ok, new = passwords.verify(PASSWORD, old)
    assert ok and new and new.startswith("$argon2id$") and new != old
    with pytest.raises(passwords.PasswordTooWeak):
        passwords.check_policy("short")
    # long enough is not enough (NIST SP 800-63B): repeated characters, runs, common passwords
    for weak in ("1" * 1000, "abababababab", "123456789012", "0987654321098", "abcdefghijkl", "PASSWORT1234"):
        with pytest.raises(passwords.PasswordTooWeak) as refused:
            passwords.check_policy(weak)
        assert refused.value.reason == "guessable", weak
    for fine in ("correct horse battery staple", "rathaus-demo-clerk", "9223372036854775808", PASSWORD):
        passwords.check_policy(fine)


def test_login_throttle_sliding_window() -> None:
    now = [1000.0]
    t = service.LoginThrottle(max_failures=3, window=60, clock=lambda: now[0])
    for _ in range(2):
        t.failure("1.2.3.4")
    assert not t.blocked("1.2.3.4")
    t.failure("1.2.3.4")
    assert t.blocked("1.2.3.4")
    assert not t.blocked("5.6.7.8")
    now[0] += 61
    assert not t.blocked("1.2.3.4")
    small = service.LoginThrottle(max_failures=1, window=60, max_keys=2, clock=lambda: now[0])
    for ip in ("a", "b", "c"):
        small.failure(ip)
    assert not small.blocked("a") and small.blocked("c")


# --- login -----------------------------------------------------------------------------------------


async def test_login_success_sets_server_side_session(client: Any, session: Any) -> None:
    account = await make_account(session, "Clerk.Meier")
    assert account.username == "clerk.meier"
    r = await login(client, "CLERK.meier")
    assert r.status_code == 303
    assert r.headers["location"] == "/verwaltung"
    cookie = session_cookie(r)
    assert cookie is not None
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=lax" in lowered and "path=/" in lowered
    assert "secure" not in lowered  # settings.secure_cookies is off in tests
    token = client.cookies.get(SESSION_COOKIE)
    rows = (await session.execute(select(WebSession))).scalars().all()
    assert len(rows) == 1
    assert rows[0].id == hashlib.sha256(token.encode()).hexdigest() != token
    assert rows[0].account_id == account.id
    assert rows[0].expires - rows[0].created == ABSOLUTE_TIMEOUT
    acc = await fresh(session, Account, account.id)
    assert acc.last_login is not None and acc.failed_logins == 0

    page = await client.get("/verwaltung")
    assert page.status_code == 200
    assert "Angemeldet als" in page.text and "clerk.meier" in page.text
    assert 'action="/abmelden"' in page.text


async def test_login_failure_is_generic(client: Any, session: Any) -> None:
    await make_account(session)
    wrong = await login(client, "clerk1", "wrong password!!")
    unknown = await login(client, "nobody-here", "wrong password!!")
    for r in (wrong, unknown):
        assert r.status_code == 401
        assert GENERIC in r.text
        assert session_cookie(r) is None
    assert client.cookies.get(SESSION_COOKIE) is None
    assert (await client.get("/verwaltung", follow_redirects=False)).status_code == 303


async def test_lockout_after_five_failures(client: Any, session: Any) -> None:
    account = await make_account(session)
    for i in range(4):
        assert (await login(client, "clerk1", f"wrong password {i}")).status_code == 401
    acc = await fresh(session, Account, account.id)
    assert acc.failed_logins == 4 and acc.locked_until is None
    assert (await login(client, "clerk1", "wrong password 5")).status_code == 401
    acc = await fresh(session, Account, account.id)
    assert acc.locked_until is not None and acc.locked_until > utcnow() + timedelta(minutes=14)
    # the right password does not help while locked, and the answer is the same generic one
    r = await login(client, "clerk1")
    assert r.status_code == 401 and GENERIC in r.text
    # the lock ends
    await session.execute(
        update(Account).where(Account.id == account.id).values(locked_until=utcnow() - timedelta(seconds=1))
    )
    await session.commit()
    r = await login(client, "clerk1")
    assert r.status_code == 303
    acc = await fresh(session, Account, account.id)
    assert acc.locked_until is None and acc.failed_logins == 0


async def test_ip_throttle_answers_429(client: Any, app: Any, session: Any) -> None:
    await make_account(session)
    app.state["login_throttle"] = service.LoginThrottle(max_failures=3, window=600)
    for i in range(3):
        assert (await login(client, f"user{i}", "wrong password!!")).status_code == 401
    r = await login(client, "clerk1")  # even the right password waits
    assert r.status_code == 429
    assert "Zu viele Anmeldeversuche" in r.text


# --- sessions --------------------------------------------------------------------------------------


async def test_session_id_rotates_at_login(client: Any, session: Any) -> None:
    account = await make_account(session)
    # a planted (fixated) token is not adopted
    use_token(client, "planted-token-by-an-attacker")
    assert (await login(client, "clerk1")).status_code == 303
    first = client.cookies.get(SESSION_COOKIE)
    assert first and first != "planted-token-by-an-attacker"
    # logging in again replaces the session: the old id is gone
    assert (await login(client, "clerk1")).status_code == 303
    second = client.cookies.get(SESSION_COOKIE)
    assert second != first
    assert await sessions_of(session, account.id) == 1
    assert await session.get(WebSession, hash_token(first)) is None
    use_token(client, first)
    r = await client.get("/verwaltung", follow_redirects=False)
    assert r.status_code == 303
    # the browser is told to forget the dead cookie
    assert any(
        h.startswith(f"{SESSION_COOKIE}=") and "Max-Age=0" in h for h in r.headers.get_list("set-cookie")
    )
    use_token(client, second)
    assert (await client.get("/verwaltung")).status_code == 200


async def test_logout_deletes_the_session(client: Any, session: Any) -> None:
    account = await make_account(session)
    await login(client, "clerk1")
    token = client.cookies.get(SESSION_COOKIE)
    r = await client.post(
        "/abmelden", data={"_csrf_token": await csrf_token(client, "/verwaltung")}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert await sessions_of(session, account.id) == 0
    use_token(client, token)  # even a copy of the cookie is dead
    r = await client.get("/verwaltung", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/anmelden?next=%2Fverwaltung"


async def test_logout_everywhere(client: Any, session: Any) -> None:
    account = await make_account(session)
    await login(client, "clerk1")
    laptop = client.cookies.get(SESSION_COOKIE)
    use_token(client, None)
    await login(client, "clerk1")
    phone = client.cookies.get(SESSION_COOKIE)
    assert laptop != phone
    assert await sessions_of(session, account.id) == 2
    token = await csrf_token(client, "/verwaltung")
    r = await client.post("/abmelden", data={"_csrf_token": token, "everywhere": "1"}, follow_redirects=False)
    assert r.status_code == 303
    assert await sessions_of(session, account.id) == 0
    for t in (laptop, phone):
        use_token(client, t)
        assert (await client.get("/verwaltung", follow_redirects=False)).status_code == 303


async def test_disabled_account_ends_sessions(client: Any, session: Any) -> None:
    account = await make_account(session)
    await login(client, "clerk1")
    token = client.cookies.get(SESSION_COOKIE)
    acc = await fresh(session, Account, account.id)
    await service.disable_account(session, acc)
    await session.commit()
    assert await sessions_of(session, account.id) == 0
    use_token(client, token)
    assert (await client.get("/verwaltung", follow_redirects=False)).status_code == 303
    # and a disabled account cannot log in (generic answer)
    r = await login(client, "clerk1")
    assert r.status_code == 401 and GENERIC in r.text

    # even if a row survived (e.g. disabled by another process directly in the database): anonymous
    other = await make_account(session, "clerk2")
    await login(client, "clerk2")
    await session.execute(update(Account).where(Account.id == other.id).values(disabled=True))
    await session.commit()
    assert (await client.get("/verwaltung", follow_redirects=False)).status_code == 303
    assert await sessions_of(session, other.id) == 0


async def test_idle_and_absolute_expiry(client: Any, session: Any) -> None:
    account = await make_account(session)
    await login(client, "clerk1")
    key = hash_token(client.cookies.get(SESSION_COOKIE))
    # activity refreshes last_seen (at most once a minute)
    await session.execute(
        update(WebSession).where(WebSession.id == key).values(last_seen=utcnow() - timedelta(minutes=30))
    )
    await session.commit()
    assert (await client.get("/verwaltung")).status_code == 200
    row = await fresh(session, WebSession, key)
    assert utcnow() - row.last_seen < timedelta(minutes=1)
    # idle for more than 2 hours: gone
    await session.execute(
        update(WebSession)
        .where(WebSession.id == key)
        .values(last_seen=utcnow() - timedelta(hours=2, minutes=1))
    )
    await session.commit()
    assert (await client.get("/verwaltung", follow_redirects=False)).status_code == 303
    assert await session.get(WebSession, key, populate_existing=True) is None

    # active all along but past the absolute end: gone
    await login(client, "clerk1")
    key = hash_token(client.cookies.get(SESSION_COOKIE))
    await session.execute(
        update(WebSession)
        .where(WebSession.id == key)
        .values(created=utcnow() - timedelta(hours=12, minutes=1), expires=utcnow() - timedelta(minutes=1))
    )
    await session.commit()
    assert (await client.get("/verwaltung", follow_redirects=False)).status_code == 303
    assert await sessions_of(session, account.id) == 0


# --- CSRF ------------------------------------------------------------------------------------------


async def test_csrf_protects_forms_and_accepts_the_htmx_header(client: Any, session: Any) -> None:
    await make_account(session)
    before = await csrf_token(client)
    # no token at all
    r = await client.post(
        "/anmelden", data={"username": "clerk1", "password": PASSWORD}, follow_redirects=False
    )
    assert r.status_code == 403
    # a forged token
    r = await client.post(
        "/anmelden",
        data={"username": "clerk1", "password": PASSWORD, "_csrf_token": "0" * 128},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert client.cookies.get(SESSION_COOKIE) is None

    r = await login(client, "clerk1")
    assert r.status_code == 303
    # the CSRF cookie is rotated at login: the old token no longer passes
    assert any(h.startswith("csrftoken=") for h in r.headers.get_list("set-cookie"))
    r = await client.post("/abmelden", data={"_csrf_token": before}, follow_redirects=False)
    assert r.status_code == 403
    assert (await client.get("/verwaltung")).status_code == 200  # still signed in
    # logout without a token: refused
    assert (await client.post("/abmelden", follow_redirects=False)).status_code == 403
    # htmx sends the token in the x-csrftoken header (base.html hx-headers)
    page = await client.get("/verwaltung")
    m = re.search(r'hx-headers=\'\{"x-csrftoken": "([0-9a-f]+)"\}\'', page.text)
    assert m, "base.html must carry the CSRF token for htmx"
    r = await client.post(
        "/abmelden", headers={"x-csrftoken": m.group(1), "hx-request": "true"}, follow_redirects=False
    )
    assert r.status_code == 303
    assert (await client.get("/verwaltung", follow_redirects=False)).status_code == 303


# --- redirects and guards --------------------------------------------------------------------------


OFF_SITE = [
    "//evil.example/",
    "https://evil.example/",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "/\r\nSet-Cookie: x=1",
    "evil.example",
    "/anmelden",
    "x" * 5000,
]


async def test_open_redirect_blocked(client: Any, session: Any) -> None:
    await make_account(session)
    for target in OFF_SITE:
        use_token(client, None)
        r = await login(client, "clerk1", next_path=target)
        assert r.status_code == 303
        assert r.headers["location"] == "/verwaltung", target


async def test_next_is_followed_and_guards(client: Any, session: Any) -> None:
    town = await make_town(session)
    await make_account(session, "councillor1", roles=("councillor",), person_id=town.persons[1].id)
    await make_account(session)
    # anonymous → login page with next; the form carries it on
    r = await client.get("/verwaltung?x=1", follow_redirects=False)
    assert r.status_code == 303
    location = r.headers["location"]
    assert parse_qs(urlsplit(location).query)["next"] == ["/verwaltung?x=1"]
    page = await client.get(location)
    assert 'name="next" value="/verwaltung?x=1"' in page.text
    # htmx requests are told where to go instead of swapping the login page in
    r = await client.get("/verwaltung", headers={"hx-request": "true"}, follow_redirects=False)
    assert r.status_code == 401 and r.headers["hx-redirect"].startswith("/anmelden")

    r = await login(client, "councillor1", next_path="/sitzungen?seite=2")
    assert r.status_code == 303 and r.headers["location"] == "/sitzungen?seite=2"
    # a councillor is not staff
    r = await client.get("/verwaltung", follow_redirects=False)
    assert r.status_code == 403
    assert "Kein Zugriff" in r.text
    home = await client.get("/anmelden")
    assert "Angemeldet als" in home.text
    assert "Auf allen Geräten abmelden" in home.text

    use_token(client, None)
    r = await login(client, "councillor1")
    assert r.headers["location"] == "/"


# --- hostile input ---------------------------------------------------------------------------------

HOSTILE = [
    "\x00",
    "clerk1\x00",
    "\u202eclerk1",
    "<script>alert(1)</script>",
    "' OR '1'='1' --",
    "clerk1'; DROP TABLE account; --",
    "x" * 10_000,
    " ",
    "",
]


async def test_hostile_usernames(client: Any, session: Any) -> None:
    await make_account(session)
    for username in HOSTILE:
        r = await login(client, username, password=username or "pw")
        assert 400 <= r.status_code < 500, repr(username[:20])
        assert "<script>alert(1)" not in r.text
    assert (await session.execute(select(func.count()).select_from(Account))).scalar_one() == 1
    assert client.cookies.get(SESSION_COOKIE) is None


async def test_hostile_bytes_and_params(client: Any, session: Any) -> None:
    await make_account(session)
    token = await csrf_token(client)
    # a lone surrogate cannot be sent as UTF-8; send the raw (invalid UTF-8) bytes it would become
    for raw in (b"%ED%A0%80", b"%FF%FE", b"%00", b"clerk1%00"):
        body = b"username=" + raw + b"&password=" + raw + b"&_csrf_token=" + token.encode()
        r = await client.post(
            "/anmelden",
            content=body,
            headers={"content-type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
        assert 400 <= r.status_code < 500, (raw, r.status_code)
    for nxt in ("%00", "%ED%A0%80", "<script>", "%E2%80%AE/x", "x" * 10_000):
        r = await client.get(f"/anmelden?next={nxt}")
        assert r.status_code in (200, 400), (nxt, r.status_code)
        assert "<script>" not in r.text.split("<main", 1)[-1]
    # a junk session cookie is just anonymous
    use_token(client, None)
    for junk in (b"\x7f" * 10, "é".encode() * 50, b"\xff\xfe", b"a" * 5000, b"%00", b'"\\"'):
        r = await client.get(
            "/anmelden", headers={"cookie": b"rathaus_session=" + junk}, follow_redirects=False
        )
        assert r.status_code == 200
        assert "Angemeldet als" not in r.text
    assert service.normalize_username("\ud800") is None
    assert service.normalize_username("Müller.K") == "müller.k"


# --- the viewer ------------------------------------------------------------------------------------


async def test_viewer_organization_ids_from_active_memberships(session: Any) -> None:
    town = await make_town(session)
    chair = await make_account(session, "anna", roles=("councillor",), person_id=town.persons[0].id)
    former = await make_account(session, "maria", roles=("councillor",), person_id=town.persons[4].id)
    clerk = await make_account(session, "clerk1")

    v = await service.viewer_for_account(session, chair)
    assert v.account_id == chair.id and v.person_id == town.persons[0].id
    assert v.organization_ids == {town.council.id, town.committee.id, town.faction.id}
    assert v.roles == {"councillor"} and not v.is_staff
    # Maria left the committee in 2025: only council and faction
    v = await service.viewer_for_account(session, former)
    assert v.organization_ids == {town.council.id, town.faction.id}
    v = await service.viewer_for_account(session, clerk)
    assert v.is_staff and v.organization_ids == frozenset()
    chair.disabled = True
    assert not (await service.viewer_for_account(session, chair)).is_authenticated


async def test_demo_accounts(session: Any) -> None:
    town = await make_town(session)
    created = await service.ensure_demo_accounts(session)
    names = [c[0] for c in created]
    assert {"clerk", "chair", "councillor"} <= set(names)
    assert ("clerk", "rathaus-demo-clerk", "clerk") in created
    councillor = await service.get_account(session, "councillor")
    assert councillor is not None and councillor.person_id is not None
    v = await service.viewer_for_account(session, councillor)
    assert v.organization_ids & {town.committee.id, town.other_committee.id}
    chair = await service.get_account(session, "chair")
    assert chair is not None and chair.person_id != councillor.person_id
    assert await service.authenticate(session, "clerk", "rathaus-demo-clerk") is not None
    # idempotent
    again = await service.ensure_demo_accounts(session)
    assert again == created
    assert (await session.execute(select(func.count()).select_from(Account))).scalar_one() == len(created)


# --- CLI -------------------------------------------------------------------------------------------


def test_cli_users(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from council.core.db import Database
    from web.cli import main
    from web.cli import users as users_cli

    monkeypatch.setattr(users_cli, "get_settings", lambda: settings)
    runner = CliRunner()
    r = runner.invoke(
        main, ["users", "add", "Schmidt", "--role", "clerk", "--password-stdin"], input="too short\n"
    )
    assert r.exit_code != 0 and "mindestens 12" in r.output
    r = runner.invoke(
        main,
        ["users", "add", "Schmidt", "--role", "clerk", "--role", "admin", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        main, ["users", "add", "schmidt", "--role", "clerk", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert r.exit_code != 0 and "vergeben" in r.output
    r = runner.invoke(
        main, ["users", "add", "x", "--role", "mayor", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert r.exit_code != 0
    r = runner.invoke(
        main, ["users", "add", "neu", "--role", "clerk"], input="Ratssaal am Markt 1\nRatssaal am Markt 1\n"
    )
    assert r.exit_code == 0, r.output

    async def check(password: str) -> tuple[list[str] | None, bool, bool]:
        """(roles, disabled, password accepted) of the account "schmidt"."""
        db = Database(settings)
        try:
            async with db.sessionmaker() as s:
                acc = await service.get_account(s, "schmidt")
                assert acc is not None
                roles, disabled = list(acc.roles), acc.disabled
                ok = await service.authenticate(s, "schmidt", password) is not None
                await s.rollback()
                return roles, disabled, ok
        finally:
            await db.dispose()

    assert asyncio.run(check(PASSWORD)) == (["clerk", "admin"], False, True)

    new_password = "another long passphrase"
    r = runner.invoke(
        main, ["users", "reset-password", "SCHMIDT", "--password-stdin"], input=new_password + "\n"
    )
    assert r.exit_code == 0, r.output
    assert asyncio.run(check(PASSWORD))[2] is False
    assert asyncio.run(check(new_password))[2] is True
    r = runner.invoke(main, ["users", "disable", "schmidt"])
    assert r.exit_code == 0, r.output
    assert asyncio.run(check(new_password)) == (["clerk", "admin"], True, False)
    r = runner.invoke(main, ["users", "disable", "nobody"])
    assert r.exit_code != 0
    r = runner.invoke(main, ["users", "list"])
    assert "schmidt" in r.output and "disabled" in r.output


async def test_signed_in_viewer_reaches_the_pages(client: Any, session: Any) -> None:
    """provide_viewer feeds the access clauses: non-public papers for their committee's members and staff."""
    town = await make_town(session)
    await make_account(
        session, "anna", roles=("councillor",), person_id=town.persons[0].id
    )  # committee member
    await make_account(session, "karl", roles=("councillor",), person_id=town.persons[3].id)  # council only
    await make_account(session)
    secret = f"/vorlagen/{town.secret_paper.id}"
    assert (await client.get(secret)).status_code == 404
    expected = {"anna": 200, "karl": 404, "clerk1": 200}
    for username, status in expected.items():
        use_token(client, None)
        assert (await login(client, username)).status_code == 303
        r = await client.get(secret)
        assert r.status_code == status, username
        if status == 200:
            assert "Geheimweg" in r.text
    use_token(client, None)
    assert (await client.get(secret)).status_code == 404


async def test_session_cookie_secure_behind_https(client: Any, session: Any, settings: Any) -> None:
    await make_account(session)
    settings.secure_cookies = True  # the app reads it per request
    r = await login(client, "clerk1")
    assert r.status_code == 303
    cookie = session_cookie(r)
    assert cookie is not None and "secure" in cookie.lower()
