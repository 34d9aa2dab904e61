"""Route handlers, one module per area. Each module exports ``routes``."""

from __future__ import annotations

from typing import Any

from web.controllers import (
    account,
    alerts,
    backoffice_meetings,
    backoffice_papers,
    backoffice_subscriptions,
    console,
    documents,
    feeds,
    live,
    media,
    media_rtc,
    motions,
    offline,
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
    workspace,
)

route_handlers: list[Any] = [
    *pages.routes,
    *documents.routes,
    *search.routes,
    *feeds.routes,
    *alerts.routes,
    *offline.routes,
    *live.routes,
    *media.routes,
    *media_rtc.routes,
    *console.routes,
    *backoffice_meetings.routes,
    *stream_panel.routes,
    *votes.routes,
    *questions.routes,
    *transcripts.routes,
    *staff.routes,
    *backoffice_papers.routes,
    *backoffice_subscriptions.routes,
    *motions.routes,
    *account.routes,
    *system.routes,
    *oparl.routes,
    *ops.routes,
    *workspace.routes,
]
