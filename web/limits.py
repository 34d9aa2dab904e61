"""What the public forms (question time, search alerts, invitation subscriptions) share: the client's
address and one rate limiter per app (``council.questions.ratelimit``: Redis-shared when the app runs
on the Redis bus, else per process), closed when the app shuts down. Each form counts under its own
scope names ("q-ip", "alert-mail", …), so one limiter serves them all."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request

from council.core.settings import Settings
from council.questions.ratelimit import Limiter, make_limiter

_STATE_KEY = "form_limiter"


def client_address(request: Request[Any, Any, Any]) -> str:
    client = request.scope.get("client")
    return str(client[0]) if client else "unknown"


def form_limiter(request: Request[Any, Any, Any]) -> Limiter:
    state = request.app.state
    limiter = state.get(_STATE_KEY)
    if limiter is None:
        settings: Settings = state.settings
        limiter = make_limiter(settings)
        state[_STATE_KEY] = limiter
    return limiter  # type: ignore[no-any-return]


async def close_form_limiter(app: Litestar) -> None:
    limiter: Limiter | None = app.state.get(_STATE_KEY)
    if limiter is not None:
        app.state[_STATE_KEY] = None
        await limiter.close()
