"""The player's "Niedrige Latenz (WebRTC)" toggle in real Chromium (player.js → whep.js).

A live test-pattern stream (320x240, 10 fps) is relayed over WHEP from its HLS playlist
(``streaming.whep.HlsTailSource``). One viewer presses the toggle: the player switches to WHEP
(``data-player-state="whep"``, a MediaStream on the video element) and frames keep coming. The
viewer cap is one, so a second viewer who presses it is refused (503) and falls back to HLS: the
button is un-pressed, the status line (role=status) says so, and the video keeps advancing.

Loopback WebRTC needs ``settings.webrtc_loopback`` and Chromium's loopback flags (ARCHITECTURE.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streaming.paths import meeting_paths
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, PageProblems, serve_in_loop
from tests.factories import make_town
from tests.integration.test_whip import segments, wait_for

pytestmark = pytest.mark.e2e

WEBRTC_ARGS = [
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]

#: Counts decoded frames on the player's video element, whatever feeds it (hls.js or WHEP).
COUNT_FRAMES = """() => {
    const v = document.querySelector('[data-player-video]');
    window.frames_seen = 0;
    const tick = () => { window.frames_seen++; v.requestVideoFrameCallback(tick); };
    v.requestVideoFrameCallback(tick);
}"""

#: Start playback muted (hls.js attaches without playing; no autoplay policy in the way).
PLAY_MUTED = """() => {
    const v = document.querySelector('[data-player-video]');
    v.muted = true;
    if (v.readyState >= 2 && v.paused) { v.play().catch(() => {}); }
    return v.currentTime > 0.5 && !v.paused;
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


async def _viewer(browser: Any, url: str) -> tuple[Any, Any]:
    context = await browser.new_context(base_url=url, locale="de-DE", timezone_id="Europe/Berlin")
    context.set_default_timeout(15_000)
    page = await context.new_page()
    problems = PageProblems()
    problems.attach(page)
    page.problems = problems
    return context, page


async def test_player_low_latency_toggle_and_fallback(settings: Any, db: Any) -> None:
    from playwright.async_api import async_playwright

    from streaming.sources import TestPattern
    from web.app import create_app

    async with db.sessionmaker() as session:
        town = await make_town(session)
        mid = town.council_meeting.id  # type: ignore[union-attr]

    app = create_app(settings.model_copy(update={"webrtc_loopback": True, "whep_viewer_cap": 1}))
    index = meeting_paths(settings.media_dir, mid).index
    async with serve_in_loop(app) as url, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *WEBRTC_ARGS])
        streams = app.state.streams
        try:
            await streams.start_stream(mid, TestPattern(size="320x240", rate=10))
            assert await wait_for(lambda: len(segments(index)) >= 2, 40), "no live playlist"

            # --- the first viewer: HLS, then the toggle → WHEP ----------------------------------
            ctx1, one = await _viewer(browser, url)
            await one.goto(f"/sitzungen/{mid}/video")
            root = one.locator("[data-player]")
            button = one.get_by_role("button", name="Niedrige Latenz (WebRTC)")
            await button.wait_for(state="visible")
            assert await button.get_attribute("aria-pressed") == "false"
            assert await root.get_attribute("data-player-state") == "hls"

            # straight to low latency, sound on (the click is the user gesture that lets it play)
            await button.click()
            assert await root.get_attribute("data-player-state") == "whep"
            assert await button.get_attribute("aria-pressed") == "true"
            await one.evaluate(COUNT_FRAMES)
            playing = (
                "() => { const v = document.querySelector('[data-player-video]');"
                " return v.srcObject instanceof MediaStream && !v.paused && window.frames_seen >= 10; }"
            )
            ok = await _until(one, playing, 20.0)
            state = await root.get_attribute("data-player-state")
            status = await one.locator("[data-player-status]").text_content()
            assert ok, f"no WHEP frames in the player (state {state!r}, status {status!r})"
            assert state == "whep"
            assert await wait_for(lambda: app.state.rtc.viewers.count(mid) == 1, 10)
            one.problems.assert_none()

            # --- the second viewer: the cap is reached → 503 → back to HLS, and it says so ------
            ctx2, two = await _viewer(browser, url)
            await two.goto(f"/sitzungen/{mid}/video")
            root2 = two.locator("[data-player]")
            button2 = two.get_by_role("button", name="Niedrige Latenz (WebRTC)")
            await button2.wait_for(state="visible")
            assert await _until(two, PLAY_MUTED, 30.0), "HLS did not play for the second viewer"
            # the test does not call play() from here on: the player must go on by itself
            await button2.click()
            status2 = two.get_by_role("status")
            assert await _until(
                two, "() => document.querySelector('[data-player-status]').textContent.trim() !== ''", 15.0
            ), "no status message after the refused WHEP start"
            assert "Niedrige Latenz ist gerade nicht verfügbar" in (await status2.text_content() or "")
            assert await root2.get_attribute("data-player-state") == "hls"
            assert await button2.get_attribute("aria-pressed") == "false"
            assert await button2.is_visible(), "the toggle should stay offered (try again later)"
            # and it plays on: frames keep coming over HLS, the clock moves
            await two.evaluate(COUNT_FRAMES)
            t0 = float(await two.evaluate("document.querySelector('[data-player-video]').currentTime"))
            assert await _until(
                two,
                "() => { const v = document.querySelector('[data-player-video]');"
                f" return !v.paused && window.frames_seen >= 5 && v.currentTime > {t0} + 1.0; }}",
                30.0,
            ), "the video did not keep playing over HLS after the fallback"
            assert await root2.get_attribute("data-player-error") is None
            assert app.state.rtc.viewers.count(mid) == 1
            # the 503 itself is the browser's "failed to load resource" line; nothing else may appear
            other = [m for m in two.problems.messages if "status of 503" not in m]
            assert not other, "the browser reported problems:\n  " + "\n  ".join(other)

            # --- the first viewer presses the toggle again: back to HLS (playing on), place freed --
            await button.click()
            assert await root.get_attribute("data-player-state") == "hls"
            assert await button.get_attribute("aria-pressed") == "false"
            assert await wait_for(lambda: app.state.rtc.viewers.count(mid) == 0, 10), "WHEP place not freed"
            await one.evaluate(COUNT_FRAMES)
            assert await _until(
                one,
                "() => { const v = document.querySelector('[data-player-video]');"
                " return !v.paused && !v.srcObject && window.frames_seen >= 5; }",
                30.0,
            ), "the video did not play on over HLS after leaving low latency"
            assert await one.locator("[data-player-status]").text_content() == ""
            one.problems.assert_none()
            await ctx2.close()
            await ctx1.close()
        finally:
            await browser.close()
            if streams.live(mid):
                await streams.stop_stream(mid)


async def test_player_names_the_current_agenda_item_live(
    browser: Any, app: Any, db: Any, request: pytest.FixtureRequest
) -> None:
    """The clerk starts an agenda item (a timeline event on the app's bus): the live player on the video
    page and on the meeting page says "Jetzt: 4 Sanierung …" within moments, the chapter is marked
    current; a non-public item is never named to the public; the server renders the same line."""
    from litestar.channels import ChannelsPlugin

    from council.live.bus import record_event
    from council.live.models import EventKind, TimelineEvent
    from council.records.models import AgendaItem
    from streaming.sources import TestPattern
    from tests.e2e.conftest import _new_page

    async with db.sessionmaker() as session:
        town = await make_town(session)
        mid = town.council_meeting.id  # type: ignore[union-attr]
        item = town.council_item
        assert item is not None
        item_id, title = item.id, f"{item.number} {item.name}"
        hidden_item = AgendaItem(
            meeting_id=mid, number="5", order=5, name="Personalangelegenheit", public=False
        )
        session.add(hidden_item)
        await session.commit()
        hidden_id = hidden_item.id

    async with serve_in_loop(app) as url:
        channels = app.plugins.get(ChannelsPlugin)
        streams = app.state.streams
        index = meeting_paths(app.state.settings.media_dir, mid).index

        async def record(kind: EventKind, agenda_item_id: int | None = None) -> None:
            async with db.sessionmaker() as s:
                await record_event(
                    s, channels, TimelineEvent(meeting_id=mid, kind=kind, agenda_item_id=agenda_item_id)
                )

        try:
            await streams.start_stream(mid, TestPattern(size="320x240", rate=10))
            assert await wait_for(lambda: len(segments(index)) >= 1, 40), "no live playlist"
            await record(EventKind.MEETING_OPENED)
            async for video in _new_page(browser, url, request):
                await video.goto(f"/sitzungen/{mid}/video")
                now = video.locator("[data-player-now]")
                assert await now.is_hidden()
                meeting = await video.context.new_page()
                meeting_problems = PageProblems()
                meeting_problems.attach(meeting)
                await meeting.goto(f"/sitzungen/{mid}")
                assert await meeting.locator("[data-player-now]").is_hidden()
                # both pages have their first SSE state once the live line is filled in
                for page in (video, meeting):
                    assert await _until(
                        page,
                        "() => document.querySelector('[data-live-status]').textContent.trim() !== ''",
                        15,
                    ), "no SSE state"

                await record(EventKind.AGENDA_ITEM_STARTED, item_id)
                shown = (
                    "() => { const p = document.querySelector('[data-player-now]');"
                    f" return !p.hidden && p.textContent.includes({title!r}); }}"
                )
                assert await _until(video, shown, 10), "the video page's player did not name the item"
                assert await _until(meeting, shown, 10), "the meeting page's player did not name the item"
                assert (
                    await video.locator(f'li[data-agenda-item="{item_id}"]').get_attribute("aria-current")
                    == "true"
                )
                assert "Jetzt: " + title in " ".join((await now.inner_text()).split())

                # the server says the same to a reader without JavaScript
                for path in (f"/sitzungen/{mid}/video", f"/sitzungen/{mid}"):
                    html = await (await video.request.get(path)).text()
                    assert f"<span data-player-now-title>{title}</span>" in html, path

                # a non-public item: the public player names nothing (no title reaches the page)
                await record(EventKind.AGENDA_ITEM_STARTED, hidden_id)
                assert await _until(video, "() => document.querySelector('[data-player-now]').hidden", 10)
                assert "Personalangelegenheit" not in await video.content()

                await record(EventKind.AGENDA_ITEM_STARTED, item_id)
                assert await _until(video, shown, 10)
                await record(EventKind.AGENDA_ITEM_ENDED, item_id)
                assert await _until(video, "() => document.querySelector('[data-player-now]').hidden", 10)
                assert await _until(meeting, "() => document.querySelector('[data-player-now]').hidden", 10)
                # the stream ends: the player is the archive's now, no "Jetzt" line any more
                await record(EventKind.AGENDA_ITEM_STARTED, item_id)
                assert await _until(video, shown, 10)
                await streams.stop_stream(mid)
                assert await _until(video, "() => document.querySelector('[data-player-now]').hidden", 15)
                assert await video.locator("[data-player-live]").is_hidden()
                video.problems.assert_none()
                meeting_problems.assert_none()
        finally:
            if streams.live(mid):
                await streams.stop_stream(mid)
