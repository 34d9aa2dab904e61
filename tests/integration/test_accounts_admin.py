"""Account administration (/verwaltung/konten), the own account page (/konto) and the cookie flags behind
HTTPS — through real HTTP on a real database, with hostile input on every form field."""

from __future__ import annotations

import re
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from council.accounts import service, totp
from council.accounts.models import Account, AccountAudit, AccountTotp, WebSession
from council.accounts.sessions import SESSION_COOKIE
from tests.factories import make_town
from tests.integration.test_accounts import (  # noqa: F401  (cheap_argon2 is an autouse fixture)
    GENERIC,
    PASSWORD,
    cheap_argon2,
    csrf_token,
    fresh,
    login,
    make_account,
    sessions_of,
    use_token,
)
from tests.integration.test_totp import form_body, send

HOSTILE = [
    "\x00",
    "a\x00b",
    "\ud800",
    "\u202eevil",
    "<script>alert(1)</script>",
    "' OR '1'='1' --",
    "'; DROP TABLE account; --",
    "x" * 10_000,
    " ",
    "",
    "-1",
    "99999999999999999999",
    "1e3",
]


async def as_admin(client: Any, session: Any) -> Account:
    admin = await make_account(session, "admin1", roles=("admin",))
    assert (await login(client, "admin1")).status_code == 303
    return admin


async def admin_post(client: Any, path: str, data: dict[str, Any]) -> Any:
    return await send(client, path, data, await csrf_token(client, "/anmelden"))


async def audit_actions(session: Any, account_id: int | None = None) -> list[str]:
    stmt = select(AccountAudit.action).order_by(AccountAudit.id)
    if account_id is not None:
        stmt = stmt.where(AccountAudit.account_id == account_id)
    return list((await session.execute(stmt)).scalars())


async def by_name(session: Any, username: str) -> Account | None:
    stmt = select(Account).where(Account.username == username).execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


# --- access ---------------------------------------------------------------------------------------


async def test_only_admins_manage_accounts(client: Any, session: Any) -> None:
    await make_account(session, "clerk1", roles=("clerk",))
    await make_account(session, "admin1", roles=("admin",))
    r = await client.get("/verwaltung/konten", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/anmelden?next=%2Fverwaltung%2Fkonten"
    # a clerk is staff, but manages no accounts
    await login(client, "clerk1")
    r = await client.get("/verwaltung/konten", follow_redirects=False)
    assert r.status_code == 403
    r = await admin_post(client, "/verwaltung/konten", {"username": "x1", "roles": ["admin"]})
    assert r.status_code == 403
    assert "/verwaltung/konten" not in (await client.get("/verwaltung")).text
    use_token(client, None)
    await login(client, "admin1")
    page = await client.get("/verwaltung/konten")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "clerk1" in page.text and "admin1" in page.text
    assert 'href="/verwaltung/konten"' in (await client.get("/verwaltung")).text


# --- create -----------------------------------------------------------------------------------------


async def test_create_with_generated_password(client: Any, session: Any) -> None:
    admin = await as_admin(client, session)
    town = await make_town(session)
    person = town.persons[0]
    person_id, person_name, secret_paper_id = person.id, person.name, town.secret_paper.id
    r = await admin_post(
        client,
        "/verwaltung/konten",
        {
            "username": "Anna.Rat",
            "display_name": "Anna Rat",
            "roles": ["councillor", "chair"],
            "person_id": str(person_id),
            "password": "",
        },
    )
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    m = re.search(r'<code class="shown-password">([^<]+)</code>', r.text)
    assert m, "the generated password is shown once"
    password = m.group(1)
    assert len(password) >= 16
    account = await by_name(session, "anna.rat")
    assert account is not None and account.roles == ["councillor", "chair"] and account.person_id == person_id
    assert password not in account.password_hash
    # shown once: the account page does not show it again
    assert password not in (await client.get(f"/verwaltung/konten/{account.id}")).text
    assert await audit_actions(session, account.id) == ["account.created"]
    entry = (await session.execute(select(AccountAudit))).scalar_one()
    assert entry.actor_id == admin.id and entry.actor_name == "admin1" and entry.account_name == "anna.rat"
    assert entry.detail == {"roles": ["councillor", "chair"], "person_id": person_id}
    # the new account can sign in with it and sees its committee's non-public paper
    use_token(client, None)
    assert (await login(client, "anna.rat", password)).status_code == 303
    assert (await client.get(f"/vorlagen/{secret_paper_id}")).status_code == 200
    # and it appears in the list with its person and roles
    use_token(client, None)
    await login(client, "admin1")
    page = await client.get("/verwaltung/konten")
    assert "anna.rat" in page.text and "Sitzungsleitung" in page.text and person_name in page.text


async def test_create_with_given_password_and_errors(client: Any, session: Any) -> None:
    await as_admin(client, session)
    data = {"username": "k.schmidt", "display_name": "Karl Schmidt", "roles": ["clerk"], "password": PASSWORD}
    r = await admin_post(client, "/verwaltung/konten", data)
    assert r.status_code == 303
    account = await by_name(session, "k.schmidt")
    assert r.headers["location"] == f"/verwaltung/konten/{account.id}?erledigt=angelegt"
    assert "Das Konto wurde angelegt" in (await client.get(r.headers["location"])).text
    # taken (case-insensitively), weak password, unknown role, unknown person: 400 with a message
    cases = [
        ({**data, "username": "K.Schmidt"}, "vergeben"),
        ({**data, "username": "other", "password": "short"}, "mindestens 12 Zeichen"),
        ({**data, "username": "other", "roles": ["superuser"]}, "Unbekannte Rolle"),
        ({**data, "username": "other", "person_id": "424242"}, "Ungültige Auswahl"),
        ({**data, "username": "has space"}, "Ungültiger Benutzername"),
    ]
    for values, message in cases:
        r = await admin_post(client, "/verwaltung/konten", values)
        assert r.status_code == 400, values
        assert message in r.text, (values, message)
    assert (await session.execute(select(func.count()).select_from(Account))).scalar_one() == 2


async def test_hostile_values_in_every_admin_field(client: Any, session: Any) -> None:
    admin = await as_admin(client, session)
    target = await make_account(session, "target", roles=("councillor",))
    fields = ["username", "display_name", "roles", "person_id", "password"]
    base = {
        "username": "newuser",
        "display_name": "Neu",
        "roles": ["clerk"],
        "person_id": "",
        "password": PASSWORD,
    }
    for field in fields:
        for i, value in enumerate(HOSTILE):
            values = {**base, "username": f"new{field[:4]}{i}", field: value}
            r = await admin_post(client, "/verwaltung/konten", values)
            assert r.status_code in (201, 303, 400), (field, value[:20], r.status_code)
            assert "<script>alert(1)" not in r.text
    for field in ["display_name", "roles", "person_id"]:
        for value in HOSTILE:
            r = await admin_post(
                client,
                f"/verwaltung/konten/{target.id}",
                {"display_name": "T", "roles": ["councillor"], "person_id": "", field: value},
            )
            assert r.status_code in (303, 400), (field, value[:20], r.status_code)
            assert "<script>alert(1)" not in r.text
    for value in HOSTILE:
        r = await admin_post(client, f"/verwaltung/konten/{target.id}/passwort", {"password": value})
        assert r.status_code in (200, 400), (value[:20], r.status_code)
    # stored names carry no control or bidi-override characters
    for account in (await session.execute(select(Account))).scalars():
        assert "\x00" not in account.display_name and "\u202e" not in account.display_name
        assert len(account.display_name) <= 300
    # hostile ids in the path
    for bad in ("0", "-1", "99999999999999999999", "abc", "%00", "1%20OR%201=1"):
        r = await client.get(f"/verwaltung/konten/{bad}", follow_redirects=False)
        assert r.status_code in (400, 404), (bad, r.status_code)
        r = await admin_post(client, f"/verwaltung/konten/{bad}/sperren", {})
        assert r.status_code in (400, 404, 405), (bad, r.status_code)
    assert (await client.get("/verwaltung/konten/4242")).status_code == 404
    # the admin is still fine
    assert (await fresh(session, Account, admin.id)).disabled is False


# --- edit -------------------------------------------------------------------------------------------


async def test_edit_roles_person_and_name(client: Any, session: Any) -> None:
    admin = await as_admin(client, session)
    town = await make_town(session)
    target = await make_account(session, "target", roles=("councillor",))
    r = await admin_post(
        client,
        f"/verwaltung/konten/{target.id}",
        {
            "display_name": "Tanja Target",
            "roles": ["councillor", "chair"],
            "person_id": str(town.persons[2].id),
        },
    )
    assert r.status_code == 303 and r.headers["location"].endswith("?erledigt=gespeichert")
    acc = await fresh(session, Account, target.id)
    assert acc.roles == ["councillor", "chair"] and acc.person_id == town.persons[2].id
    assert acc.display_name == "Tanja Target"
    assert await audit_actions(session, target.id) == ["roles.changed", "person.changed", "account.updated"]
    page = await client.get(f"/verwaltung/konten/{target.id}")
    assert "Rollen geändert" in page.text and "Ratsmitglied → Ratsmitglied, Sitzungsleitung" in page.text
    # nothing changed: nothing audited
    r = await admin_post(
        client,
        f"/verwaltung/konten/{target.id}",
        {
            "display_name": "Tanja Target",
            "roles": ["councillor", "chair"],
            "person_id": str(town.persons[2].id),
        },
    )
    assert r.status_code == 303
    assert len(await audit_actions(session, target.id)) == 3
    # an admin cannot drop their own admin role
    r = await admin_post(client, f"/verwaltung/konten/{admin.id}", {"display_name": "A", "roles": ["clerk"]})
    assert r.status_code == 400 and "nicht selbst entziehen" in r.text
    assert (await fresh(session, Account, admin.id)).roles == ["admin"]
    # the last active admin keeps the role (another admin tries to demote them)
    other = await make_account(session, "admin2", roles=("admin",))
    r = await admin_post(client, f"/verwaltung/konten/{other.id}", {"display_name": "B", "roles": ["clerk"]})
    assert r.status_code == 303  # admin1 remains
    use_token(client, None)
    await login(client, "admin1")
    r = await admin_post(client, f"/verwaltung/konten/{admin.id}", {"display_name": "A", "roles": []})
    assert r.status_code == 400


async def sign_in_elsewhere(client: Any, username: str, password: str = PASSWORD) -> tuple[Any, str | None]:
    """Sign in as if from another browser (returns its response and session token); the client keeps
    its own session."""
    mine = client.cookies.get(SESSION_COOKIE)
    use_token(client, None)
    r = await login(client, username, password)
    theirs = client.cookies.get(SESSION_COOKIE)
    use_token(client, mine)
    return r, theirs


async def get_as(client: Any, token: str | None, path: str) -> Any:
    """GET with another browser's session token."""
    mine = client.cookies.get(SESSION_COOKIE)
    use_token(client, token)
    try:
        return await client.get(path, follow_redirects=False)
    finally:
        use_token(client, mine)


async def test_disable_enable_and_end_sessions(client: Any, session: Any) -> None:
    admin = await as_admin(client, session)
    target = await make_account(session, "target", roles=("clerk",))
    r, token = await sign_in_elsewhere(client, "target")
    assert r.status_code == 303
    assert (await get_as(client, token, "/verwaltung")).status_code == 200
    assert await sessions_of(session, target.id) == 1

    r = await admin_post(client, f"/verwaltung/konten/{target.id}/sitzungen-beenden", {})
    assert r.status_code == 303 and r.headers["location"].endswith("?erledigt=sitzungen"), r.headers
    assert await sessions_of(session, target.id) == 0
    assert (await get_as(client, token, "/verwaltung")).status_code == 303

    r, token = await sign_in_elsewhere(client, "target")
    assert r.status_code == 303
    r = await admin_post(client, f"/verwaltung/konten/{target.id}/sperren", {})
    assert r.status_code == 303 and r.headers["location"].endswith("?erledigt=gesperrt")
    assert (await fresh(session, Account, target.id)).disabled
    assert await sessions_of(session, target.id) == 0
    assert (await get_as(client, token, "/verwaltung")).status_code == 303
    r, _ = await sign_in_elsewhere(client, "target")
    assert r.status_code == 401 and GENERIC in r.text
    page = await client.get("/verwaltung/konten")
    assert "gesperrt" in page.text

    r = await admin_post(client, f"/verwaltung/konten/{target.id}/entsperren", {})
    assert r.status_code == 303
    assert not (await fresh(session, Account, target.id)).disabled
    assert (await sign_in_elsewhere(client, "target"))[0].status_code == 303
    # an admin cannot disable themself
    r = await admin_post(client, f"/verwaltung/konten/{admin.id}/sperren", {})
    assert r.status_code == 400 and not (await fresh(session, Account, admin.id)).disabled
    assert await audit_actions(session, target.id) == [
        "sessions.ended",
        "account.disabled",
        "account.enabled",
    ]


async def test_reset_password_and_second_factor(client: Any, session: Any, settings: Any) -> None:
    await as_admin(client, session)
    target = await make_account(session, "target", roles=("clerk",))
    secret = await totp.begin_enrolment(session, target, settings.secret_key)
    await totp.confirm_enrolment(session, target, totp.totp(secret), settings.secret_key)
    await session.commit()
    page = await client.get("/verwaltung/konten")
    row = re.search(r"target</a></th>(.*?)</tr>", page.text, re.S)
    assert row and "<td>ja</td>" in row.group(1)  # 2FA on

    r = await admin_post(client, f"/verwaltung/konten/{target.id}/passwort", {"password": ""})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    new_password = re.search(r'<code class="shown-password">([^<]+)</code>', r.text).group(1)
    assert (await sign_in_elsewhere(client, "target", PASSWORD))[0].status_code == 401
    r, _ = await sign_in_elsewhere(client, "target", new_password)
    assert r.status_code == 303 and r.headers["location"] == "/anmelden/2fa"  # still the second factor
    r = await admin_post(client, f"/verwaltung/konten/{target.id}/2fa-zuruecksetzen", {})
    assert r.status_code == 303 and r.headers["location"].endswith("?erledigt=2fa-zurueckgesetzt")
    assert await session.get(AccountTotp, target.id, populate_existing=True) is None
    r, _ = await sign_in_elsewhere(client, "target", new_password)
    assert r.status_code == 303 and r.headers["location"] == "/verwaltung"
    # a chosen password must meet the policy
    r = await admin_post(client, f"/verwaltung/konten/{target.id}/passwort", {"password": "short"})
    assert r.status_code == 400
    assert await audit_actions(session, target.id) == ["password.reset", "totp.reset"]


# --- /konto ------------------------------------------------------------------------------------------


async def test_own_account_page_and_password_change(client: Any, session: Any) -> None:
    account = await make_account(session, "rat1", roles=("councillor",))
    r = await client.get("/konto", follow_redirects=False)
    assert r.status_code == 303
    await login(client, "rat1")
    page = await client.get("/konto")
    assert page.status_code == 200 and "rat1" in page.text and "Ratsmitglied" in page.text
    assert 'href="/konto"' in page.text  # the header links here
    first = client.cookies.get(SESSION_COOKIE)
    # a second device
    _, other = await sign_in_elsewhere(client, "rat1")
    assert await sessions_of(session, account.id) == 2
    page = await client.get("/konto")
    assert page.text.count("<td>ja</td>") == 1  # this device is marked

    token = await csrf_token(client, "/konto")
    cases = [
        ({"current": "wrong password!!", "new": "a new password 1", "repeat": "a new password 1"}, "falsch"),
        ({"current": PASSWORD, "new": "a new password 1", "repeat": "a new password 2"}, "stimmen nicht"),
        ({"current": PASSWORD, "new": "short", "repeat": "short"}, "mindestens 12"),
        # long enough, but guessable: one character 40 times, a run of digits, a common password
        ({"current": PASSWORD, "new": "9" * 40, "repeat": "9" * 40}, "zu leicht zu erraten"),
        ({"current": PASSWORD, "new": "1234567890123", "repeat": "1234567890123"}, "zu leicht zu erraten"),
        ({"current": PASSWORD, "new": "Passwort1234", "repeat": "Passwort1234"}, "zu leicht zu erraten"),
        ({"current": PASSWORD, "new": "x" * 1025, "repeat": "x" * 1025}, "höchstens 1024"),
    ]
    for data, message in cases:
        r = await send(client, "/konto/passwort", data, token)
        assert r.status_code == 400 and message in r.text
    for value in HOSTILE:
        r = await send(client, "/konto/passwort", {"current": value, "new": value, "repeat": value}, token)
        assert r.status_code in (400, 429), (value[:10], r.status_code)
    client.app.state["login_throttle"] = service.LoginThrottle()
    r = await send(
        client,
        "/konto/passwort",
        {"current": PASSWORD, "new": "a new password 1", "repeat": "a new password 1"},
        token,
    )
    assert r.status_code == 303 and r.headers["location"] == "/konto?erledigt=passwort"
    # this device continues with a new session id, the other one is signed out
    assert client.cookies.get(SESSION_COOKIE) != first
    assert (await client.get("/konto")).status_code == 200
    assert (await get_as(client, other, "/konto")).status_code == 303
    assert await sessions_of(session, account.id) == 1
    use_token(client, None)
    assert (await login(client, "rat1")).status_code == 401
    assert (await login(client, "rat1", "a new password 1")).status_code == 303
    assert await audit_actions(session, account.id) == ["password.changed"]


async def test_password_check_on_account_page_is_throttled(client: Any, session: Any, app: Any) -> None:
    await make_account(session, "rat1", roles=("councillor",))
    await login(client, "rat1")
    app.state["login_throttle"] = service.LoginThrottle(max_failures=2, window=600)
    token = await csrf_token(client, "/konto")
    for _ in range(2):
        await send(client, "/konto/passwort", {"current": "nope nope nope", "new": "x", "repeat": "x"}, token)
    r = await send(
        client,
        "/konto/passwort",
        {"current": PASSWORD, "new": "a new password 1", "repeat": "a new password 1"},
        token,
    )
    assert r.status_code == 429


async def test_end_all_my_sessions(client: Any, session: Any) -> None:
    account = await make_account(session, "rat1", roles=("councillor",))
    await login(client, "rat1")
    laptop = client.cookies.get(SESSION_COOKIE)
    use_token(client, None)
    await login(client, "rat1")
    assert await sessions_of(session, account.id) == 2
    r = await send(client, "/konto/sitzungen-beenden", {}, await csrf_token(client, "/konto"))
    assert r.status_code == 303 and r.headers["location"] == "/anmelden"
    assert await sessions_of(session, account.id) == 0
    use_token(client, laptop)
    assert (await client.get("/konto", follow_redirects=False)).status_code == 303
    # without the CSRF token nothing happens
    use_token(client, None)
    await login(client, "rat1")
    r = await client.post("/konto/sitzungen-beenden", content=form_body({}), follow_redirects=False)
    assert r.status_code == 403 and await sessions_of(session, account.id) == 1
    assert await audit_actions(session, account.id) == ["sessions.ended"]


# --- cookie flags -------------------------------------------------------------------------------------


async def test_cookie_flags_behind_https(settings: Any, session: Any) -> None:
    """With secure_cookies: session, CSRF and second-step cookies are Secure; session and second-step
    cookies are HttpOnly; all are SameSite."""
    from web.app import create_app

    settings.secure_cookies = True
    app = create_app(settings)
    await make_account(session)
    two = await make_account(session, "two", roles=("clerk",))
    # https base URL: the client keeps and sends Secure cookies
    async with AsyncTestClient(app=app, base_url="https://127.0.0.1:8443") as client:
        r = await client.get("/anmelden")
        csrf = next(h for h in r.headers.get_list("set-cookie") if h.startswith("csrftoken="))
        assert "secure" in csrf.lower() and "samesite=lax" in csrf.lower()
        r = await login(client, "clerk1")
        assert r.status_code == 303
        cookies = r.headers.get_list("set-cookie")
        session_cookie = next(h for h in cookies if h.startswith(f"{SESSION_COOKIE}="))
        lowered = session_cookie.lower()
        assert "secure" in lowered and "httponly" in lowered and "samesite=lax" in lowered
        rotated = next(h for h in cookies if h.startswith("csrftoken="))
        assert "secure" in rotated.lower() and "samesite=lax" in rotated.lower()
        # logout clears the session cookie with the same flags
        r = await send(client, "/abmelden", {}, await csrf_token(client, "/konto"))
        cleared = next(h for h in r.headers.get_list("set-cookie") if h.startswith(f"{SESSION_COOKIE}="))
        assert "max-age=0" in cleared.lower() and "secure" in cleared.lower()
    # the second step's cookie
    secret = await totp.begin_enrolment(session, two, settings.secret_key)
    await totp.confirm_enrolment(session, two, totp.totp(secret), settings.secret_key)
    await session.commit()
    async with AsyncTestClient(app=app, base_url="https://127.0.0.1:8443") as client:
        r = await login(client, "two")
        assert r.headers["location"] == "/anmelden/2fa"
        challenge = next(h for h in r.headers.get_list("set-cookie") if h.startswith("rathaus_2fa="))
        lowered = challenge.lower()
        assert "secure" in lowered and "httponly" in lowered and "samesite=strict" in lowered
    assert (await session.execute(select(func.count()).select_from(WebSession))).scalar_one() == 0


# --- every account template renders -------------------------------------------------------------------

ACCOUNT_TEMPLATES = {
    "account/_account_fields.html",
    "account/_audit.html",
    "account/account.html",
    "account/admin_detail.html",
    "account/admin_list.html",
    "account/login_2fa.html",
    "account/totp.html",
}


async def test_account_templates_render(app: Any, client: Any, session: Any) -> None:
    from tests.integration.test_templates import RecordingLoader
    from tests.integration.test_totp import code_for, page_secret

    env = app.template_engine.engine
    recorder = RecordingLoader(env.loader)
    env.loader = recorder
    env.cache = None
    admin = await as_admin(client, session)
    await make_account(session, "rat1", roles=("councillor",))
    for path in ("/konto", "/konto/2fa", "/verwaltung/konten", f"/verwaltung/konten/{admin.id}"):
        assert (await client.get(path)).status_code == 200, path
    await send(client, "/konto/2fa/einrichten", {"password": PASSWORD}, await csrf_token(client, "/konto"))
    secret = page_secret((await client.get("/konto/2fa")).text)
    r = await send(
        client, "/konto/2fa/bestaetigen", {"code": code_for(secret)}, await csrf_token(client, "/konto")
    )
    assert r.status_code == 200
    assert (await sign_in_elsewhere(client, "admin1"))[0].headers["location"] == "/anmelden/2fa"
    use_token(client, None)
    await login(client, "admin1")
    assert (await client.get("/anmelden/2fa")).status_code == 200
    assert {n for n in recorder.loaded if n.startswith("account/")} == ACCOUNT_TEMPLATES
