"""Litestar guards for signed-in areas.

``require_login``: anonymous visitors are sent to ``/anmelden?next=…`` (303; htmx requests get a 401
with ``HX-Redirect``). ``require_staff``: signed-in non-staff get 403. ``require_role("chair", …)``
builds a guard for any of the given roles (staff always pass). ``require_admin``: the role ``admin``
itself (account management).

    @get("/verwaltung", guards=[require_staff])

The guards are coroutines: Litestar runs a plain-function guard in a worker thread on every request
(a thread hop per request for checks that only read the already-loaded viewer).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlencode

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Redirect

from web import i18n
from web.deps import viewer_from_connection

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]

LOGIN_PATH = "/anmelden"


class LoginRequired(NotAuthorizedException):
    """Raised by guards for anonymous visitors; answered with a redirect to the login page."""

    def __init__(self, next_path: str = "/") -> None:
        super().__init__(detail=i18n.gettext("Bitte melden Sie sich an."))
        self.next_path = next_path


def _here(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    path = quote(connection.scope.get("path", "/") or "/", safe="/-._~%!$&'()*+,;=:@")
    qs = connection.scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{qs}" if qs else path


def login_url(next_path: str) -> str:
    return f"{LOGIN_PATH}?{urlencode({'next': next_path})}" if next_path and next_path != "/" else LOGIN_PATH


def check_login(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    if not viewer_from_connection(connection).is_authenticated:
        raise LoginRequired(_here(connection))


async def require_login(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    check_login(connection)


async def require_staff(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    check_login(connection)
    if not viewer_from_connection(connection).is_staff:
        raise PermissionDeniedException(detail=i18n.gettext("Dieser Bereich ist der Verwaltung vorbehalten."))


def require_role(*roles: str) -> Guard:
    wanted = frozenset(roles)

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        check_login(connection)
        viewer = viewer_from_connection(connection)
        if not (viewer.is_staff or viewer.roles & wanted):
            raise PermissionDeniedException(
                detail=i18n.gettext("Für diesen Bereich fehlt Ihnen die Berechtigung.")
            )

    return guard


async def require_admin(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Only accounts with the role ``admin`` (a clerk is staff but manages no accounts)."""
    check_login(connection)
    if "admin" not in viewer_from_connection(connection).roles:
        raise PermissionDeniedException(
            detail=i18n.gettext("Dieser Bereich ist der Administration vorbehalten.")
        )


def login_required_handler(request: Request[Any, Any, Any], exc: LoginRequired) -> Response[Any]:
    target = login_url(getattr(exc, "next_path", "/"))
    if request.headers.get("hx-request") == "true":
        return Response(content="", status_code=401, headers={"HX-Redirect": target})
    return Redirect(path=target, status_code=303)


#: Merged into the app's exception handlers by ``web.app.create_app``.
exception_handlers: dict[Any, Any] = {LoginRequired: login_required_handler}
