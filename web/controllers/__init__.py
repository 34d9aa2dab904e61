"""Route handlers, one module per area. Each module exports ``routes``."""

from __future__ import annotations

from typing import Any

from web.controllers import (
    account,
    console,
    documents,
    feeds,
    live,
    media,
    media_rtc,
    oparl,
    ops,
    pages,
    questions,
    search,
    staff,
    stream_panel,
    system,
    transcripts,
    votes,
)

route_handlers: list[Any] = [
    *pages.routes,
    *documents.routes,
    *search.routes,
    *feeds.routes,
    *live.routes,
    *media.routes,
    *media_rtc.routes,
    *console.routes,
    *stream_panel.routes,
    *votes.routes,
    *questions.routes,
    *transcripts.routes,
    *staff.routes,
    *account.routes,
    *system.routes,
    *oparl.routes,
    *ops.routes,
]
