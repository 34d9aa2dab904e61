"""Dependencies handed to route handlers: a database session per request and the viewer.

Who is looking is settled once per request by ``session_middleware``: it reads the session cookie,
loads the session and its account from the database (``council.accounts.sessions``) and puts the
``Viewer`` into the connection state, where ``provide_viewer``, the guards (``web.guards``) and the
templates (``request.state.rathaus_viewer``) find it. Nothing is cached across requests.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders, State
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncSession

from council.accounts.service import viewer_for_account
from council.accounts.sessions import SESSION_COOKIE, load_session
from council.records.access import ANONYMOUS, Viewer

log = logging.getLogger(__name__)

#: Keys in the connection state (``scope["state"]``).
VIEWER_KEY = "rathaus_viewer"
SESSION_KEY = "rathaus_session_id"
#: Paths that never need to know who is asking.
#: ``/medien/`` settles its viewer itself, only when a file needs it, with a short cache (web.media_files).
_SKIP_PREFIXES = ("/static/", "/healthz", "/readyz", "/medien/")


async def provide_db_session(state: State) -> AsyncIterator[AsyncSession]:
    async with state.db.sessionmaker() as session:
        try:
            yield session
        except Exception:
            await session.rollback()
            raise


def session_token(headers: Any) -> str | None:
    """The value of the first ``rathaus_session`` cookie in raw ASGI headers."""
    for key, value in headers:
        if key.lower() != b"cookie":
            continue
        for part in value.decode("latin-1").split(";"):
            name, _, val = part.strip().partition("=")
            if name == SESSION_COOKIE and val:
                return val.strip('"')
    return None


async def load_viewer(db: Any, token: str | None) -> tuple[Viewer, str | None]:
    """(viewer, session id hash) for a session token; anonymous when the session is not valid."""
    if not token:
        return ANONYMOUS, None
    async with db.sessionmaker() as s:
        loaded = await load_session(s, token)
        if loaded is None:
            return ANONYMOUS, None
        return await viewer_for_account(s, loaded.account), loaded.id


def viewer_from_connection(connection: ASGIConnection[Any, Any, Any, Any]) -> Viewer:
    state = connection.scope.get("state") or {}
    viewer = state.get(VIEWER_KEY)
    return viewer if isinstance(viewer, Viewer) else ANONYMOUS


def expired_cookie(secure: bool) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE, value="", max_age=0, path="/", httponly=True, samesite="lax", secure=secure
    )


def session_middleware(app: ASGIApp) -> ASGIApp:
    """Settle the viewer of every HTTP request; tell the browser to drop a cookie that is no longer valid."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "").startswith(_SKIP_PREFIXES):
            await app(scope, receive, send)
            return
        token = session_token(scope.get("headers", []))
        viewer, session_id = ANONYMOUS, None
        if token:
            litestar_app = scope.get("litestar_app") or scope.get("app")
            db = getattr(litestar_app.state, "db", None) if litestar_app is not None else None
            if db is not None:
                try:
                    viewer, session_id = await load_viewer(db, token)
                except Exception:  # a broken session store must not open anything: stay anonymous
                    log.exception("could not load the session")
                    viewer, session_id = ANONYMOUS, None
        state = scope.setdefault("state", {})  # type: ignore[typeddict-item]
        state[VIEWER_KEY] = viewer
        state[SESSION_KEY] = session_id
        if not token or session_id is not None:
            await app(scope, receive, send)
            return

        secure = bool(getattr(getattr(litestar_app.state, "settings", None), "secure_cookies", False))

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                sets_own = any(
                    v.lstrip().startswith(f"{SESSION_COOKIE}=") for v in headers.getall("set-cookie", [])
                )
                if not sets_own:
                    headers.add("set-cookie", expired_cookie(secure).to_header(header=""))
            await send(message)

        await app(scope, receive, send_wrapper)

    return middleware


async def provide_viewer(request: Request[Any, Any, Any]) -> Viewer:
    """The viewer settled by ``session_middleware`` (anonymous when there is no valid session)."""
    state = request.scope.get("state") or {}
    if VIEWER_KEY in state:
        return viewer_from_connection(request)
    # Not behind the middleware (an app assembled differently): settle it here.
    viewer, _ = await load_viewer(request.app.state.db, request.cookies.get(SESSION_COOKIE))
    return viewer
