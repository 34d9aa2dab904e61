"""Every guarded route of the app, found by walking ``app.routes`` (so routes added later are covered):

- anonymous GET → 303 to the login page (htmx: 401 with HX-Redirect); anonymous POST/PUT/PATCH/DELETE
  (with a valid CSRF token, so that the guard and not the CSRF check answers) → 303 to login or 401;
- signed in with a role the route's guards refuse → 403, for every method.

Which roles a route refuses is read from its guards themselves: each guard is called with a
connection carrying a Viewer of each role combination. Routes under /verwaltung and /konto must have
guards at all.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.routes import HTTPRoute

from council.records.access import Viewer
from tests.integration.test_accounts import (  # noqa: F401  (cheap_argon2 is an autouse fixture)
    cheap_argon2,
    csrf_token,
    login,
    make_account,
    use_token,
)
from web.deps import VIEWER_KEY

#: Role combinations tried against each guard; every refused one is then tried over HTTP.
ROLE_SETS: list[tuple[str, ...]] = [(), ("councillor",), ("chair",), ("clerk",), ("admin",)]
PROTECTED_PREFIXES = ("/verwaltung", "/konto")
SKIP_METHODS = {"HEAD", "OPTIONS", "TRACE"}


@dataclass
class GuardedRoute:
    path: str  # concrete path with parameters filled in
    template: str
    method: str
    handler: Any
    refused: list[tuple[str, ...]]  # the role combinations the guards refuse with 403


def _fill(route: HTTPRoute) -> str:
    path = route.path
    for definition in route.path_parameters.values():
        kind = definition.type
        if kind is int:
            value = "1"
        elif kind is uuid.UUID:
            value = str(uuid.uuid4())
        elif kind is float:
            value = "1.0"
        else:
            value = "x"
        path = path.replace("{" + definition.full + "}", value)
    return path


async def refuses(app: Any, handler: Any, path: str, roles: tuple[str, ...]) -> bool:
    """True when the handler's guards refuse a signed-in viewer with these roles (403)."""
    viewer = Viewer(account_id=1, person_id=None, name="probe", roles=frozenset(roles))
    scope = {
        "type": "http",
        "path": path,
        "query_string": b"",
        "headers": [],
        "state": {VIEWER_KEY: viewer},
        "app": app,
        "litestar_app": app,
    }
    connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope)  # type: ignore[arg-type]
    try:
        for guard in handler.resolve_guards():
            await guard(connection, handler)
    except PermissionDeniedException:
        return True
    except NotAuthorizedException:
        pytest.fail(f"{path}: a signed-in viewer was treated as anonymous")
    return False


async def guarded_routes(app: Any) -> list[GuardedRoute]:
    out: list[GuardedRoute] = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.resolve_guards():
                continue
            path = _fill(route)
            refused = [roles for roles in ROLE_SETS if await refuses(app, handler, path, roles)]
            for method in sorted(handler.http_methods - SKIP_METHODS):
                out.append(GuardedRoute(path, route.path, method, handler, refused))
    return out


def test_staff_and_account_areas_are_all_guarded(app: Any) -> None:
    unguarded = [
        route.path
        for route in app.routes
        if isinstance(route, HTTPRoute) and route.path.startswith(PROTECTED_PREFIXES)
        for handler in route.route_handlers
        if handler.http_methods - SKIP_METHODS and not handler.resolve_guards()
    ]
    assert unguarded == []


async def _request(client: Any, route: GuardedRoute, token: str, htmx: bool) -> Any:
    headers = {"x-csrftoken": token}
    if htmx:
        headers["hx-request"] = "true"
    if route.method == "GET":
        return await client.get(route.path, headers=headers, follow_redirects=False)
    return await client.request(
        route.method,
        route.path,
        headers={**headers, "content-type": "application/x-www-form-urlencoded"},
        content=b"x=1",
        follow_redirects=False,
    )


async def test_every_guarded_route_refuses_anonymous_and_wrong_roles(
    client: Any, app: Any, session: Any
) -> None:
    routes = await guarded_routes(app)
    templates = {r.template for r in routes}
    # the walk finds the known guarded areas (and whatever was added since)
    assert {"/verwaltung", "/verwaltung/konten", "/konto", "/konto/2fa"} <= templates
    assert any(r.method == "POST" for r in routes)

    # anonymous
    token = await csrf_token(client, "/anmelden")
    for route in routes:
        for htmx in (False, True):
            r = await _request(client, route, token, htmx)
            where = f"{route.method} {route.path} htmx={htmx}"
            if htmx:
                assert r.status_code == 401, where
                assert r.headers.get("hx-redirect", "").startswith("/anmelden"), where
            elif route.method == "GET":
                assert r.status_code == 303, where
                assert r.headers["location"].startswith("/anmelden"), where
            else:
                assert r.status_code in (303, 401), where
                if r.status_code == 303:
                    assert r.headers["location"].startswith("/anmelden"), where

    # signed in with a refused role
    accounts: dict[tuple[str, ...], str] = {}
    for i, roles in enumerate(ROLE_SETS):
        name = f"probe{i}"
        await make_account(session, name, roles=roles)
        accounts[roles] = name
    checked = 0
    for roles, name in accounts.items():
        mine = [r for r in routes if roles in r.refused]
        if not mine:
            continue
        use_token(client, None)
        assert (await login(client, name)).status_code == 303
        token = await csrf_token(client, "/anmelden")
        for route in mine:
            for htmx in (False, True):
                r = await _request(client, route, token, htmx)
                assert r.status_code == 403, (
                    f"{route.method} {route.path} as {roles} htmx={htmx}: {r.status_code}"
                )
                assert "CSRF token verification failed" not in r.text  # the guard answered
                checked += 1
    # at least the staff area, the console and the account administration refuse someone
    assert checked > 0
    refused_templates = {r.template for r in routes if r.refused}
    assert {"/verwaltung", "/verwaltung/konten"} <= refused_templates


async def test_role_probe_matches_the_guards(app: Any) -> None:
    """Sanity of the probe itself: the admin area refuses everyone but admins (clerks too), the staff
    area councillors and chairs, the own account page nobody signed in."""
    routes = {(r.template, r.method): r for r in await guarded_routes(app)}
    assert routes[("/verwaltung/konten", "GET")].refused == [(), ("councillor",), ("chair",), ("clerk",)]
    assert routes[("/verwaltung/konten/{account_id:int}/sperren", "POST")].refused == [
        (),
        ("councillor",),
        ("chair",),
        ("clerk",),
    ]
    assert routes[("/verwaltung", "GET")].refused == [(), ("councillor",), ("chair",)]
    assert routes[("/konto", "GET")].refused == []
