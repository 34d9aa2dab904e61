"""The live meeting in the browser: a timeline event recorded through the bus arrives over SSE.

Runs on a fresh database with the test town (not the shared demo, which must stay unchanged) and
serves the app on the test's own event loop, so the test can record events through the app's bus.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from litestar.channels import ChannelsPlugin

from council.live.bus import record_event
from council.live.models import EventKind, TimelineEvent
from tests.e2e.conftest import _new_page, serve_in_loop
from tests.factories import make_town

pytestmark = pytest.mark.e2e

SUBSCRIBE = """(path) => {
    window.__state = null;
    window.__events = [];
    const source = new EventSource(path);
    source.addEventListener('state', (e) => { window.__state = JSON.parse(e.data); });
    source.addEventListener('timeline', (e) => { window.__events.push(JSON.parse(e.data)); });
    window.__source = source;
}"""


async def _until(page: Any, predicate: str, seconds: float) -> bool:
    """Poll a JS predicate (``wait_for_function`` evaluates strings with eval; the CSP forbids that)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        if await page.evaluate(predicate):
            return True
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.05)


async def test_timeline_event_reaches_the_browser(
    browser: Any, app: Any, db: Any, request: pytest.FixtureRequest
) -> None:
    async with db.sessionmaker() as session:
        town = await make_town(session)
        meeting_id = town.past_meeting.id
        item_id = town.public_item.id

    async with serve_in_loop(app) as url:
        channels = app.plugins.get(ChannelsPlugin)
        async for page in _new_page(browser, url, request):
            await page.goto(f"/sitzungen/{meeting_id}")
            await page.evaluate(SUBSCRIBE, f"/sitzungen/{meeting_id}/live")
            assert await _until(page, "() => window.__state !== null", 15.0), "no state event over SSE"

            # The stream subscribes to the bus just after sending the state: record again until one arrives.
            for _attempt in range(10):
                async with db.sessionmaker() as session:
                    await record_event(
                        session,
                        channels,
                        TimelineEvent(
                            meeting_id=meeting_id, kind=EventKind.AGENDA_ITEM_STARTED, agenda_item_id=item_id
                        ),
                    )
                if await _until(page, "() => window.__events.length > 0", 1.0):
                    break
            events = await page.evaluate("window.__events")
            assert events, "no timeline event reached the browser"
            assert events[0]["kind"] == "agenda_item.started"
            assert events[0]["meeting_id"] == meeting_id
            assert events[0]["agenda_item_id"] == item_id
            await page.evaluate("window.__source.close()")
