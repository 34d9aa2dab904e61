"""The clerk's stream panel follows the stream over server-sent events (web/static/js/stream-panel.js).

The console loads the panel with htmx; when the stream starts or ends (``stream.*`` events that the
stream manager publishes on the meeting's channel) the panel is fetched again at once, not on its
10-second poll. The test tells the two apart without timing anything: it wraps ``htmx.ajax`` (the
SSE path calls it; the poll does not) and counts the panel fetches made through it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from litestar.channels import ChannelsPlugin

from council.accounts import service
from council.accounts.sessions import SESSION_COOKIE, create_session
from council.live.bus import meeting_channel
from streaming.paths import meeting_paths
from tests.e2e.conftest import _new_page, serve_in_loop
from tests.factories import make_town
from tests.integration.test_whip import segments, wait_for

pytestmark = pytest.mark.e2e

SPY = """() => {
    window.panelFetches = [];
    const original = window.htmx.ajax;
    window.htmx.ajax = function (verb, path, context) {
        window.panelFetches.push(path);
        return original.apply(this, arguments);
    };
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
        await asyncio.sleep(0.1)


def _state_is(text: str) -> str:
    return (
        "() => { const d = document.querySelector('#stream-panel [data-stream-state]');"
        f" return !!d && d.textContent.includes({text!r}); }}"
    )


async def test_stream_panel_refreshes_on_stream_events(
    browser: Any, app: Any, db: Any, request: pytest.FixtureRequest
) -> None:
    from streaming.sources import TestPattern

    async with db.sessionmaker() as session:
        town = await make_town(session)
        mid = town.council_meeting.id  # type: ignore[union-attr]
        clerk = await service.create_account(session, "clerk1", "correct horse battery", ("clerk",))
        await session.flush()
        token = await create_session(session, clerk.id)
        await session.commit()

    panel_url = f"/verwaltung/sitzungen/{mid}/stream"
    async with serve_in_loop(app) as url:
        streams = app.state.streams
        index = meeting_paths(app.state.settings.media_dir, mid).index
        subscribers = app.plugins.get(ChannelsPlugin)._channels
        async for page in _new_page(browser, url, request):
            await page.context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": url}])
            try:
                await page.goto(f"/verwaltung/sitzungen/{mid}/konsole")
                assert await _until(page, _state_is("keine Übertragung"), 15), "the panel did not load"
                await page.evaluate(SPY)
                # the console's two SSE streams (console.js, stream-panel.js) are subscribed on the bus
                # (the plugin's table of subscribers: no public accessor)
                assert await wait_for(lambda: len(subscribers.get(meeting_channel(mid), ())) >= 2, 15), (
                    "the console's server-sent events are not subscribed"
                )

                await streams.start_stream(mid, TestPattern(size="320x240", rate=10))
                assert await _until(page, _state_is("Übertragung läuft"), 15), (
                    "the panel did not show the stream"
                )
                assert panel_url in await page.evaluate("window.panelFetches"), (
                    "not refreshed by the SSE event"
                )
                assert await page.locator("#stream-panel .badge-live").is_visible()
                assert await page.get_by_role("button", name="Übertragung beenden").is_visible()

                assert await wait_for(lambda: len(segments(index)) >= 1, 30), "no live playlist"
                await page.evaluate("window.panelFetches = []")
                await streams.stop_stream(mid)
                assert await _until(page, _state_is("Übertragung beendet"), 15), (
                    "the panel did not show the end"
                )
                assert panel_url in await page.evaluate("window.panelFetches"), (
                    "not refreshed by the SSE event"
                )
                assert await page.get_by_role("button", name="Testbild senden").is_visible()
                page.problems.assert_none()
            finally:
                if streams.live(mid):
                    await streams.stop_stream(mid)
