"""Sign in, sign out, and the staff landing page (/verwaltung).

The login form is protected by Litestar's CSRF middleware (form field ``_csrf_token``) like every POST.
A successful login rotates both the session id (new row, old one deleted) and the CSRF cookie.
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

from council.accounts import service
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
from web.guards import require_staff

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
    token = await create_session(db_session, account.id, replaces=request.cookies.get(SESSION_COOKIE))
    await db_session.commit()
    staff = bool(account.role_set & {"clerk", "admin"})
    target = next_path or ("/verwaltung" if staff else "/")
    return Redirect(path=target, status_code=303, cookies=_auth_cookies(request, token))


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
    return Redirect(path="/", status_code=303, cookies=_auth_cookies(request, None))


@get("/verwaltung", name="staff_index", guards=[require_staff], cache=False)
async def staff_index(viewer: Viewer) -> Template:
    tasks = [
        {
            "href": "/verwaltung/dokumente/neu",
            "title": _("Dokument hochladen"),
            "text": _("PDF-Dokumente zu Sitzungen, Tagesordnungspunkten und Vorlagen hochladen."),
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
    return Template(template_name="staff/index.html", context={"viewer": viewer, "tasks": tasks})


routes: list[Any] = [login_form, login_submit, logout, staff_index]
