"""Route handlers, one module per area. Each module exports ``routes``."""

from __future__ import annotations

from typing import Any

from web.controllers import (
    account,
    console,
    documents,
    feeds,
    live,
    oparl,
    pages,
    search,
    staff,
    system,
    votes,
)

route_handlers: list[Any] = [
    *pages.routes,
    *documents.routes,
    *search.routes,
    *feeds.routes,
    *live.routes,
    *console.routes,
    *votes.routes,
    *staff.routes,
    *account.routes,
    *system.routes,
    *oparl.routes,
]
