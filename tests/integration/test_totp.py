"""The optional second factor (TOTP, RFC 6238): codes, enrolment at /konto/2fa, the login's second step,
recovery codes, replay protection, lockout and throttling — through real HTTP on a real database."""

from __future__ import annotations

import base64
import re
import time
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import func, select, update

from council.accounts import service, totp
from council.accounts.models import (
    Account,
    AccountAudit,
    AccountTotp,
    LoginChallenge,
    RecoveryCode,
    WebSession,
)
from council.accounts.sessions import SESSION_COOKIE
from council.core.types import utcnow
from tests.integration.test_accounts import (  # noqa: F401  (cheap_argon2 is an autouse fixture)
    GENERIC,
    PASSWORD,
    cheap_argon2,
    csrf_token,
    fresh,
    login,
    make_account,
    use_token,
)

HOSTILE_CODES = [
    "\x00",
    "123456\x00",
    "\u202e123456",
    "\ud800",
    "<script>alert(1)</script>",
    "' OR '1'='1' --",
    "１２３４５６",  # full-width digits are not ASCII digits
    "x" * 10_000,
    " ",
    "",
]


# --- the algorithm ----------------------------------------------------------------------------------


def test_rfc6238_vectors_and_window() -> None:
    secret = base64.b32encode(b"12345678901234567890").decode()
    vectors = {
        59: "94287082",
        1111111109: "07081804",
        1111111111: "14050471",
        1234567890: "89005924",
        2000000000: "69279037",
        20000000000: "65353130",
    }
    for at, expected in vectors.items():
        assert totp.totp(secret, at, digits=8) == expected
    # RFC 4226 appendix D (HOTP, 6 digits)
    assert [totp.hotp(secret, c) for c in range(3)] == ["755224", "287082", "359152"]

    now = 1_700_000_000.0
    step = totp.time_step(now)
    code = totp.totp(secret, now)
    assert totp.match_step(secret, code, at=now) == step
    assert totp.match_step(secret, f"{code[:3]} {code[3:]}", at=now) == step  # typed with a space
    assert totp.match_step(secret, code, at=now + 30) == step  # one step of drift
    assert totp.match_step(secret, code, at=now - 30) == step
    assert totp.match_step(secret, code, at=now + 90) is None  # too old
    # replay: a code of an already used step is refused
    assert totp.match_step(secret, code, at=now, after=step) is None
    assert totp.match_step(secret, totp.hotp(secret, step + 1), at=now, after=step) == step + 1
    for hostile in HOSTILE_CODES:
        assert totp.match_step(secret, hostile, at=now) is None
        assert totp.normalize_recovery_code(hostile) is None
    assert totp.match_step(secret, None, at=now) is None


def test_secret_encryption_and_uri() -> None:
    secret = totp.generate_secret()
    assert len(secret) == 32 and re.fullmatch(r"[A-Z2-7]+", secret)
    blob = totp.encrypt_secret(secret, "key-one", 7)
    assert secret not in blob and blob.startswith("v1:")
    assert totp.encrypt_secret(secret, "key-one", 7) != blob  # random nonce
    assert totp.decrypt_secret(blob, "key-one", 7) == secret
    assert totp.decrypt_secret(blob, "key-two", 7) is None  # another server key
    assert totp.decrypt_secret(blob, "key-one", 8) is None  # copied to another account
    assert totp.decrypt_secret("v1:garbage!!", "key-one", 7) is None
    assert totp.decrypt_secret("", "key-one", 7) is None
    uri = totp.provisioning_uri(secret, "anna.müller")
    assert uri.startswith("otpauth://totp/Rathaus:anna.m%C3%BCller?secret=" + secret)
    assert "issuer=Rathaus" in uri and "digits=6" in uri and "period=30" in uri
    qr = totp.qr_data_uri(uri)
    assert qr is not None and qr.startswith("data:image/svg+xml")
    code = totp.new_recovery_code()
    assert re.fullmatch(r"[a-z2-7]{4}(-[a-z2-7]{4}){3}", code)
    assert totp.normalize_recovery_code(code.upper()) == code.replace("-", "")


# --- helpers ----------------------------------------------------------------------------------------


def page_secret(html: str) -> str:
    m = re.search(r'<code class="totp-secret">([A-Z2-7 ]+)</code>', html)
    assert m, "the enrolment page shows the secret"
    return m.group(1).replace(" ", "")


def page_codes(html: str) -> list[str]:
    return re.findall(r"<li><code>([a-z2-7-]{19})</code></li>", html)


def code_for(secret: str, offset: int = 0) -> str:
    return totp.hotp(secret, totp.time_step() + offset)


def form_body(data: dict[str, Any]) -> bytes:
    """URL-encoded form; lone surrogates go out as the (invalid UTF-8) bytes they would become."""
    parts = []
    for key, value in data.items():
        for v in value if isinstance(value, list) else [value]:
            raw = str(v).encode("utf-8", "surrogatepass")
            parts.append(quote(key) + "=" + quote(raw, safe=""))
    return "&".join(parts).encode("ascii")


async def send(client: Any, path: str, data: dict[str, Any], token: str) -> Any:
    return await client.post(
        path,
        content=form_body({**data, "_csrf_token": token}),
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )


async def post(client: Any, path: str, data: dict[str, Any], csrf_from: str = "/konto") -> Any:
    return await send(client, path, data, await csrf_token(client, csrf_from))


async def enrol(client: Any, session: Any, username: str = "clerk1") -> tuple[Account, str, list[str]]:
    """Account with a confirmed second factor; returns (account, secret, recovery codes). Signed in."""
    account = await make_account(session, username)
    assert (await login(client, username)).status_code == 303
    r = await post(client, "/konto/2fa/einrichten", {"password": PASSWORD})
    assert r.status_code == 303 and r.headers["location"] == "/konto/2fa"
    page = await client.get("/konto/2fa")
    secret = page_secret(page.text)
    r = await post(client, "/konto/2fa/bestaetigen", {"code": code_for(secret)})
    assert r.status_code == 200, r.text
    codes = page_codes(r.text)
    assert len(codes) == totp.RECOVERY_CODES
    return account, secret, codes


async def password_step(client: Any, username: str = "clerk1", next_path: str | None = None) -> Any:
    use_token(client, None)
    r = await login(client, username, next_path=next_path)
    return r


async def count(session: Any, model: Any, *where: Any) -> int:
    return int((await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one())


# --- enrolment --------------------------------------------------------------------------------------


async def test_enrolment(client: Any, session: Any, settings: Any) -> None:
    account = await make_account(session)
    # signed out: the page is for signed-in people only
    r = await client.get("/konto/2fa", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/anmelden")
    await login(client, "clerk1")
    page = await client.get("/konto/2fa")
    assert page.status_code == 200 and 'action="/konto/2fa/einrichten"' in page.text
    # starting needs the password
    r = await post(client, "/konto/2fa/einrichten", {"password": "wrong password!!"})
    assert r.status_code == 400 and "Das Passwort ist falsch" in r.text
    assert await count(session, AccountTotp) == 0
    r = await post(client, "/konto/2fa/einrichten", {"password": PASSWORD})
    assert r.status_code == 303
    page = await client.get("/konto/2fa")
    assert page.headers["cache-control"] == "no-store"
    secret = page_secret(page.text)
    assert 'src="data:image/svg+xml' in page.text  # the QR code, an image (no inline SVG/script)
    assert "otpauth://totp/Rathaus:clerk1?secret=" + secret in page.text.replace("&amp;", "&")
    row = await session.get(AccountTotp, account.id, populate_existing=True)
    assert row is not None and not row.confirmed
    assert secret not in row.secret_encrypted  # stored encrypted
    assert totp.decrypt_secret(row.secret_encrypted, settings.secret_key, account.id) == secret
    # not enabled yet: the login asks for no code
    assert not await totp.is_enabled(session, account.id)

    # a wrong code does not confirm; hostile codes are answered, never a 5xx
    r = await post(
        client, "/konto/2fa/bestaetigen", {"code": "000000" if code_for(secret) != "000000" else "111111"}
    )
    assert r.status_code == 400 and "Der Code ist falsch" in r.text
    for hostile in HOSTILE_CODES:
        r = await post(client, "/konto/2fa/bestaetigen", {"code": hostile})
        assert r.status_code == 400, hostile
    r = await post(client, "/konto/2fa/bestaetigen", {"code": code_for(secret)})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    codes = page_codes(r.text)
    assert len(codes) == 10 and len(set(codes)) == 10
    stored = (await session.execute(select(RecoveryCode.code_hash))).scalars().all()
    assert len(stored) == 10 and not any(c in s for c in codes for s in stored)  # only hashes
    # the secret is never shown again
    page = await client.get("/konto/2fa")
    assert secret not in page.text and "totp-secret" not in page.text
    assert "Unbenutzte Wiederherstellungscodes: 10" in page.text
    assert await totp.is_enabled(session, account.id)
    # starting again while enabled is refused
    r = await post(client, "/konto/2fa/einrichten", {"password": PASSWORD})
    assert r.status_code == 409
    actions = (await session.execute(select(AccountAudit.action))).scalars().all()
    assert actions == ["totp.enabled"]
    # the account page says so
    assert "eingerichtet" in (await client.get("/konto")).text


async def test_unfinished_enrolment_can_be_cancelled(client: Any, session: Any) -> None:
    account = await make_account(session)
    await login(client, "clerk1")
    await post(client, "/konto/2fa/einrichten", {"password": PASSWORD})
    r = await post(client, "/konto/2fa/abschalten", {})
    assert r.status_code == 303
    assert await session.get(AccountTotp, account.id, populate_existing=True) is None
    r = await post(client, "/konto/2fa/bestaetigen", {"code": "123456"})
    assert r.status_code == 409


# --- the login's second step -----------------------------------------------------------------------


async def test_login_asks_for_the_code(client: Any, session: Any, app: Any) -> None:
    account, secret, _codes = await enrol(client, session)
    before = await count(session, WebSession, WebSession.account_id == account.id)
    r = await password_step(client, next_path="/sitzungen?seite=2")
    assert r.status_code == 303 and r.headers["location"] == "/anmelden/2fa"
    # no session yet: only the challenge, in its own cookie
    assert client.cookies.get(SESSION_COOKIE) is None
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("rathaus_2fa="))
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=strict" in lowered and "path=/anmelden/2fa" in lowered
    assert await count(session, WebSession, WebSession.account_id == account.id) == before
    assert await count(session, LoginChallenge) == 1
    assert (await client.get("/verwaltung", follow_redirects=False)).status_code == 303
    page = await client.get("/anmelden/2fa")
    assert page.status_code == 200 and 'autocomplete="one-time-code"' in page.text

    token = await csrf_token(client, "/anmelden/2fa")
    wrong = "000000" if code_for(secret, 1) != "000000" else "111111"
    r = await client.post("/anmelden/2fa", data={"code": wrong, "_csrf_token": token}, follow_redirects=False)
    assert r.status_code == 401 and "Der Code ist falsch" in r.text
    assert client.cookies.get(SESSION_COOKIE) is None
    # the code of the step after the one used at enrolment: accepted, session created, next followed
    code = code_for(secret, 1)
    r = await client.post("/anmelden/2fa", data={"code": code, "_csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/sitzungen?seite=2"
    assert client.cookies.get(SESSION_COOKIE)
    assert any(h.startswith("rathaus_2fa=") and "Max-Age=0" in h for h in r.headers.get_list("set-cookie"))
    assert await count(session, LoginChallenge) == 0
    assert (await client.get("/verwaltung")).status_code == 200
    row = await session.get(AccountTotp, account.id, populate_existing=True)
    assert row.failures == 0 and row.last_step is not None

    # the same code again (replay, e.g. shoulder-surfed): refused
    r = await password_step(client)
    assert r.headers["location"] == "/anmelden/2fa"
    token = await csrf_token(client, "/anmelden/2fa")
    r = await client.post("/anmelden/2fa", data={"code": code, "_csrf_token": token}, follow_redirects=False)
    assert r.status_code == 401
    assert client.cookies.get(SESSION_COOKIE) is None


async def test_recovery_code_works_once(client: Any, session: Any) -> None:
    account, _secret, codes = await enrol(client, session)
    for expected in (303, 401):
        await password_step(client)
        token = await csrf_token(client, "/anmelden/2fa")
        r = await client.post(
            "/anmelden/2fa", data={"code": codes[0].upper(), "_csrf_token": token}, follow_redirects=False
        )
        assert r.status_code == expected
    assert await totp.remaining_recovery_codes(session, account.id) == 9
    actions = (await session.execute(select(AccountAudit.action).order_by(AccountAudit.id))).scalars().all()
    assert "login.recovery_code" in actions


async def test_challenge_ends_after_ttl_and_attempts(client: Any, session: Any) -> None:
    await enrol(client, session)
    await password_step(client)
    await session.execute(update(LoginChallenge).values(expires=utcnow() - timedelta(seconds=1)))
    await session.commit()
    token = await csrf_token(client, "/anmelden")
    r = await client.post(
        "/anmelden/2fa", data={"code": "123456", "_csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 401 and "abgelaufen" in r.text
    assert await count(session, LoginChallenge) == 0
    r = await client.get("/anmelden/2fa", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/anmelden"

    # five wrong codes end the challenge (a fresh password step is needed)
    await password_step(client)
    token = await csrf_token(client, "/anmelden/2fa")
    for i in range(totp.CHALLENGE_ATTEMPTS):
        r = await client.post(
            "/anmelden/2fa",
            data={"code": f"{i}{i}{i}{i}{i}{i}", "_csrf_token": token},
            follow_redirects=False,
        )
        assert r.status_code == 401
    assert "abgelaufen" in r.text
    assert await count(session, LoginChallenge) == 0


async def test_wrong_codes_lock_the_account(client: Any, session: Any) -> None:
    account, secret, _codes = await enrol(client, session)
    # the correct password does not reset the count of wrong codes
    for i in range(totp.MAX_FAILURES):
        await password_step(client)
        token = await csrf_token(client, "/anmelden/2fa")
        await client.post("/anmelden/2fa", data={"code": "99999" + str(i), "_csrf_token": token})
    acc = await fresh(session, Account, account.id)
    assert acc.locked_until is not None and acc.locked_until > utcnow() + timedelta(minutes=14)
    # locked: the password step answers generically
    r = await password_step(client)
    assert r.status_code == 401 and GENERIC in r.text
    actions = (await session.execute(select(AccountAudit.action))).scalars().all()
    assert "login.locked" in actions
    # the admin (or time) unlocks: then the code works
    await session.execute(update(Account).where(Account.id == account.id).values(locked_until=None))
    await session.commit()
    await password_step(client)
    token = await csrf_token(client, "/anmelden/2fa")
    r = await client.post(
        "/anmelden/2fa", data={"code": code_for(secret, 1), "_csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303


async def test_second_step_is_throttled_per_address(client: Any, session: Any, app: Any) -> None:
    _account, secret, _codes = await enrol(client, session)
    app.state["login_throttle"] = service.LoginThrottle(max_failures=2, window=600)
    await password_step(client)
    token = await csrf_token(client, "/anmelden/2fa")
    for _ in range(2):
        await client.post("/anmelden/2fa", data={"code": "000001", "_csrf_token": token})
    r = await client.post(
        "/anmelden/2fa", data={"code": code_for(secret, 1), "_csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 429 and "Zu viele Anmeldeversuche" in r.text


async def test_hostile_second_step(client: Any, session: Any) -> None:
    await enrol(client, session)
    # hostile challenge cookies: back to the login, never a 5xx
    use_token(client, None)
    for bad in (b"x" * 5000, "\u202e".encode(), b"' OR 1=1 --", b"%00", b"\xff\xfe"):
        r = await client.get(
            "/anmelden/2fa", headers={"cookie": b"rathaus_2fa=" + bad}, follow_redirects=False
        )
        assert r.status_code == 303
    # hostile codes on a live challenge
    await password_step(client)
    token = await csrf_token(client, "/anmelden/2fa")
    for hostile in HOSTILE_CODES[:4]:
        r = await send(client, "/anmelden/2fa", {"code": hostile}, token)
        assert r.status_code == 401, hostile
    # without a CSRF token: refused
    r = await client.post("/anmelden/2fa", data={"code": "123456"}, follow_redirects=False)
    assert r.status_code == 403


async def test_disable_needs_password_and_code(client: Any, session: Any) -> None:
    account, secret, codes = await enrol(client, session)
    r = await post(
        client, "/konto/2fa/abschalten", {"password": "wrong password!!", "code": code_for(secret, 1)}
    )
    assert r.status_code == 400 and await totp.is_enabled(session, account.id)
    r = await post(client, "/konto/2fa/abschalten", {"password": PASSWORD, "code": "12345x"})
    assert r.status_code == 400 and await totp.is_enabled(session, account.id)
    # new recovery codes: the old ones stop working
    r = await post(client, "/konto/2fa/wiederherstellungscodes", {"password": PASSWORD, "code": codes[1]})
    assert r.status_code == 200
    fresh_codes = page_codes(r.text)
    assert len(fresh_codes) == 10 and not set(fresh_codes) & set(codes)
    r = await post(client, "/konto/2fa/abschalten", {"password": PASSWORD, "code": codes[2]})
    assert r.status_code == 400
    r = await post(client, "/konto/2fa/abschalten", {"password": PASSWORD, "code": fresh_codes[0]})
    assert r.status_code == 303 and r.headers["location"] == "/konto/2fa?erledigt=2fa-aus"
    assert not await totp.is_enabled(session, account.id)
    assert await count(session, RecoveryCode) == 0
    # the login asks for no code any more
    r = await password_step(client)
    assert r.status_code == 303 and r.headers["location"] == "/verwaltung"
    actions = (await session.execute(select(AccountAudit.action).order_by(AccountAudit.id))).scalars().all()
    assert actions == ["totp.enabled", "recovery_codes.renewed", "totp.disabled"]


async def test_unreadable_secret_falls_back_to_recovery_codes(client: Any, session: Any) -> None:
    """When the server's secret key changes, stored secrets cannot be read: recovery codes still work."""
    account, secret, codes = await enrol(client, session)
    other = totp.encrypt_secret(secret, "another-secret-key", account.id)
    await session.execute(update(AccountTotp).values(secret_encrypted=other))
    await session.commit()
    await password_step(client)
    token = await csrf_token(client, "/anmelden/2fa")
    r = await client.post(
        "/anmelden/2fa", data={"code": code_for(secret, 1), "_csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 401
    r = await client.post(
        "/anmelden/2fa", data={"code": codes[3], "_csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303


async def test_code_check_is_single_use_under_concurrency(db: Any, session: Any, settings: Any) -> None:
    """Two requests with the same code at the same moment: the conditional update lets one through."""
    import asyncio

    account = await make_account(session)
    secret = await totp.begin_enrolment(session, account, settings.secret_key)
    now = time.time()
    await totp.confirm_enrolment(session, account, totp.totp(secret, now), settings.secret_key, at=now)
    await session.commit()
    code = totp.totp(secret, now + 30)

    async def attempt() -> bool:
        async with db.sessionmaker() as s:
            acc = await s.get(Account, account.id)
            result = await totp.check_code(s, acc, code, settings.secret_key, at=now + 30)
            await s.commit()
            return result.ok

    results = await asyncio.gather(*(attempt() for _ in range(4)), return_exceptions=True)
    assert [r for r in results if r is True] == [True], results


def test_cli_reset_2fa(settings: Any, monkeypatch: Any) -> None:
    """The way back when the only admin lost their phone and recovery codes: ``rathaus users reset-2fa``."""
    from click.testing import CliRunner

    from council.core.db import Database
    from web.cli import main, run_async
    from web.cli import users as users_cli

    async def setup() -> None:
        db = Database(settings)
        try:
            async with db.sessionmaker() as s:
                account = await service.create_account(s, "boss", PASSWORD, ["admin"])
                secret = await totp.begin_enrolment(s, account, settings.secret_key)
                await totp.confirm_enrolment(s, account, totp.totp(secret), settings.secret_key)
                await s.commit()
        finally:
            await db.dispose()

    async def state() -> tuple[bool, list[tuple[str, str]]]:
        db = Database(settings)
        try:
            async with db.sessionmaker() as s:
                account = await service.get_account(s, "boss")
                assert account is not None
                rows = (await s.execute(select(AccountAudit.action, AccountAudit.actor_name))).all()
                return await totp.is_enabled(s, account.id), [tuple(r) for r in rows]
        finally:
            await db.dispose()

    run_async(setup)
    assert run_async(state) == (True, [])
    monkeypatch.setattr(users_cli, "get_settings", lambda: settings)
    r = CliRunner().invoke(main, ["users", "reset-2fa", "BOSS"])
    assert r.exit_code == 0, r.output
    assert run_async(state) == (False, [("totp.reset", "cli")])
    r = CliRunner().invoke(main, ["users", "reset-2fa", "nobody"])
    assert r.exit_code != 0
