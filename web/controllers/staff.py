"""Sign in, sign out, and the staff landing page (/verwaltung).

The login form is protected by Litestar's CSRF middleware (form field ``_csrf_token``) like every POST.
A successful login rotates both the session id (new row, old one deleted) and the CSRF cookie.

Accounts with a second factor (``council.accounts.totp``): the right password leads to
``/anmelden/2fa`` instead of a session. The state in between is a server-side ``LoginChallenge``
(5 minutes, 5 attempts) whose token is in the cookie ``rathaus_2fa`` (HttpOnly, SameSite=Strict,
path /anmelden/2fa); the code (or a recovery code) ends it and creates the session. The second step is
throttled per client address like the first, and wrong codes lock the account like wrong passwords.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

from litestar import Request, get, post
from litestar.datastructures import Cookie
from litestar.middleware.csrf import generate_csrf_token
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from council.accounts import audit, service, totp
from council.accounts.sessions import (
    ABSOLUTE_TIMEOUT,
    SESSION_COOKIE,
    create_session,
    delete_account_sessions,
    delete_session,
)
from council.records.access import Viewer
from web import i18n
from web.controllers.system import _safe_next
from web.deps import SESSION_KEY, expired_cookie
from web.guards import LOGIN_PATH, require_staff

_ = i18n.gettext

#: Form fields longer than this are not looked at (the username is at most 150 characters).
_MAX_FIELD = 4096


def safe_next(target: Any) -> str:
    """A same-site path to go to after login, or "" when the target is not acceptable."""
    if not isinstance(target, str) or not target or len(target) > 2000:
        return ""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in target) or "\\" in target:
        return ""
    if not target.isascii():
        try:
            target = quote(target, safe="/?&=%#:@!$'()*+,;~-._")
        except UnicodeEncodeError:  # lone surrogates
            return ""
    result = _safe_next(target)
    if result == "/" and target != "/":
        return ""
    if result.startswith(("/anmelden", "/abmelden")):
        return ""
    return result


def _client_key(request: Request[Any, Any, Any]) -> str:
    client = request.scope.get("client")
    return str(client[0]) if client else "unknown"


def _throttle(request: Request[Any, Any, Any]) -> service.LoginThrottle:
    state = request.app.state
    throttle = state.get("login_throttle")
    if throttle is None:
        throttle = service.LoginThrottle()
        state["login_throttle"] = throttle
    return throttle  # type: ignore[no-any-return]


def _field(form: Any, name: str) -> str:
    value = form.get(name) if form is not None else None
    if not isinstance(value, str):
        return ""
    return value[:_MAX_FIELD]


def _auth_cookies(request: Request[Any, Any, Any], session_token: str | None) -> list[Cookie]:
    """The session cookie (set or cleared) and a fresh CSRF cookie (rotated at login and logout)."""
    settings = request.app.state.settings
    cookies: list[Cookie] = []
    if session_token:
        cookies.append(
            Cookie(
                key=SESSION_COOKIE,
                value=session_token,
                max_age=int(ABSOLUTE_TIMEOUT / timedelta(seconds=1)),
                path="/",
                httponly=True,
                samesite="lax",
                secure=settings.secure_cookies,
            )
        )
    else:
        cookies.append(expired_cookie(settings.secure_cookies))
    csrf = request.app.csrf_config
    if csrf is not None:
        cookies.append(
            Cookie(
                key=csrf.cookie_name,
                value=generate_csrf_token(csrf.secret),
                path=csrf.cookie_path,
                secure=csrf.cookie_secure,
                httponly=csrf.cookie_httponly,
                samesite=csrf.cookie_samesite,
                domain=csrf.cookie_domain,
            )
        )
    return cookies


def _login_page(
    viewer: Viewer, next_path: str, *, error: str | None = None, username: str = "", status: int = 200
) -> Template:
    return Template(
        template_name="staff/login.html",
        context={"viewer": viewer, "next": next_path, "error": error, "username": username},
        status_code=status,
    )


@get("/anmelden", name="login", cache=False)
async def login_form(viewer: Viewer, next: str | None = None) -> Template:
    return _login_page(viewer, safe_next(next))


@post("/anmelden", name="login_submit", cache=False)
async def login_submit(request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer) -> Any:
    form = await request.form()
    username = _field(form, "username")
    password = _field(form, "password")
    next_path = safe_next(_field(form, "next"))
    shown_name = username if service.normalize_username(username) is not None else ""
    throttle = _throttle(request)
    key = _client_key(request)
    if throttle.blocked(key):
        return _login_page(
            viewer,
            next_path,
            error=_(
                "Zu viele Anmeldeversuche von Ihrem Anschluss. "
                "Bitte versuchen Sie es in einigen Minuten erneut."
            ),
            username=shown_name,
            status=429,
        )
    account = await service.authenticate(db_session, username, password)
    if account is None:
        await db_session.commit()  # failures count (lockout)
        throttle.failure(key)
        return _login_page(
            viewer,
            next_path,
            error=_(
                "Benutzername oder Passwort falsch. Nach mehreren Fehlversuchen wird ein Konto "
                "vorübergehend gesperrt."
            ),
            username=shown_name,
            status=401,
        )
    if await totp.is_enabled(db_session, account.id):
        challenge = await totp.create_challenge(db_session, account.id, next_path)
        await db_session.commit()
        return Redirect(
            path="/anmelden/2fa", status_code=303, cookies=[_challenge_cookie(request, challenge)]
        )
    return await _signed_in(request, db_session, account, next_path)


async def _signed_in(
    request: Request[Any, Any, Any], db_session: AsyncSession, account: Any, next_path: str
) -> Redirect:
    """Create the session (rotating the id) and send the browser on."""
    token = await create_session(db_session, account.id, replaces=request.cookies.get(SESSION_COOKIE))
    await db_session.commit()
    staff = bool(account.role_set & {"clerk", "admin"})
    target = next_path or ("/verwaltung" if staff else "/")
    return Redirect(path=target, status_code=303, cookies=_auth_cookies(request, token))


def _challenge_cookie(request: Request[Any, Any, Any], token: str | None) -> Cookie:
    return Cookie(
        key=totp.CHALLENGE_COOKIE,
        value=token or "",
        max_age=int(totp.CHALLENGE_TTL / timedelta(seconds=1)) if token else 0,
        path=LOGIN_2FA_PATH,
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.secure_cookies,
    )


LOGIN_2FA_PATH = "/anmelden/2fa"


def _second_step_page(
    viewer: Viewer, *, error: str | None = None, status: int = 200, cookies: list[Cookie] | None = None
) -> Template:
    return Template(
        template_name="account/login_2fa.html",
        context={"viewer": viewer, "error": error},
        status_code=status,
        cookies=cookies or [],
        headers={"Cache-Control": "no-store"},
    )


def _expired_second_step(request: Request[Any, Any, Any], viewer: Viewer) -> Template:
    template = _login_page(
        viewer,
        "",
        error=_("Die Anmeldung ist abgelaufen oder wurde abgebrochen. Bitte melden Sie sich erneut an."),
        status=401,
    )
    template.cookies = [*template.cookies, _challenge_cookie(request, None)]
    return template


@get(LOGIN_2FA_PATH, name="login_2fa", cache=False)
async def login_2fa_form(request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer) -> Any:
    loaded = await totp.load_challenge(db_session, request.cookies.get(totp.CHALLENGE_COOKIE))
    await db_session.commit()
    if loaded is None:
        return Redirect(path=LOGIN_PATH, status_code=303, cookies=[_challenge_cookie(request, None)])
    return _second_step_page(viewer)


@post(LOGIN_2FA_PATH, name="login_2fa_submit", cache=False)
async def login_2fa_submit(request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer) -> Any:
    form = await request.form()
    code = _field(form, "code")
    throttle = _throttle(request)
    key = _client_key(request)
    if throttle.blocked(key):
        return _second_step_page(
            viewer,
            error=_(
                "Zu viele Anmeldeversuche von Ihrem Anschluss. "
                "Bitte versuchen Sie es in einigen Minuten erneut."
            ),
            status=429,
        )
    loaded = await totp.load_challenge(db_session, request.cookies.get(totp.CHALLENGE_COOKIE))
    if loaded is None:
        await db_session.commit()
        return _expired_second_step(request, viewer)
    challenge, account = loaded
    check = await totp.check_code(db_session, account, code, request.app.state.settings.secret_key)
    if check.ok:
        next_path = safe_next(challenge.next_path)
        await totp.end_challenge(db_session, challenge.id)
        if check.method == "recovery":
            await audit.record(db_session, "login.recovery_code", actor=account, account=account)
        response = await _signed_in(request, db_session, account, next_path)
        response.cookies.append(_challenge_cookie(request, None))
        return response
    throttle.failure(key)
    challenge.attempts = (challenge.attempts or 0) + 1
    if check.locked:
        await audit.record(db_session, "login.locked", actor=account, account=account)
    if check.locked or challenge.attempts >= totp.CHALLENGE_ATTEMPTS:
        await totp.end_challenge(db_session, challenge.id)
        await db_session.commit()
        return _expired_second_step(request, viewer)
    await db_session.commit()
    return _second_step_page(
        viewer,
        error=_("Der Code ist falsch oder wurde schon verwendet. Bitte versuchen Sie es erneut."),
        status=401,
    )


@post("/abmelden", name="logout", cache=False)
async def logout(request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer) -> Redirect:
    form = await request.form()
    everywhere = _field(form, "everywhere") in ("1", "true", "on")
    if everywhere and viewer.account_id is not None:
        await delete_account_sessions(db_session, viewer.account_id)
    else:
        await delete_session(db_session, request.cookies.get(SESSION_COOKIE))
    await db_session.commit()
    request.scope.get("state", {}).pop(SESSION_KEY, None)
    # Offline copies of non-public documents (service worker caches) leave the device with the session.
    return Redirect(
        path="/",
        status_code=303,
        cookies=_auth_cookies(request, None),
        headers={"Clear-Site-Data": '"cache", "storage"'},
    )


@get("/verwaltung", name="staff_index", guards=[require_staff], cache=False)
async def staff_index(viewer: Viewer) -> Template:
    tasks = [
        {
            "href": "/verwaltung/dokumente/neu",
            "title": _("Dokument hochladen"),
            "text": _("PDF-Dokumente zu Sitzungen, Tagesordnungspunkten und Vorlagen hochladen."),
        },
        {
            "href": "/verwaltung/sitzungsdienst",
            "title": _("Sitzungsdienst"),
            "text": _("Sitzungen anlegen, Tagesordnungen bauen, einladen und Niederschriften freigeben."),
        },
        {
            "href": "/verwaltung/vorlagen",
            "title": _("Vorlagen und Anträge"),
            "text": _("Eingereichte Anträge annehmen, Vorlagen anlegen, Beratungsfolgen terminieren."),
        },
        {
            "href": "/verwaltung/fragen",
            "title": _("Einwohnerfragen"),
            "text": _("Fragen für die Einwohnerfragestunde prüfen, zulassen und beantworten."),
        },
        {
            "href": "/sitzungen",
            "title": _("Sitzungen"),
            "text": _("Alle Sitzungen einschließlich der nichtöffentlichen ansehen."),
        },
        {
            "href": "/vorlagen",
            "title": _("Vorlagen"),
            "text": _("Alle Vorlagen einschließlich der nichtöffentlichen ansehen."),
        },
    ]
    if "admin" in viewer.roles:
        tasks.append(
            {
                "href": "/verwaltung/konten",
                "title": _("Konten"),
                "text": _("Konten anlegen, Rollen vergeben, sperren und Passwörter zurücksetzen."),
            }
        )
    tasks.append(
        {
            "href": "/konto",
            "title": _("Mein Konto"),
            "text": _("Passwort ändern, Zwei-Faktor-Anmeldung einrichten, Sitzungen beenden."),
        }
    )
    return Template(template_name="staff/index.html", context={"viewer": viewer, "tasks": tasks})


routes: list[Any] = [login_form, login_submit, login_2fa_form, login_2fa_submit, logout, staff_index]
