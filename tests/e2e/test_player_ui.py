"""The player in real Chromium: hls.js plays a live test-pattern stream (the video advances, no hls.js
error, no CSP complaint), chapter links seek in the archive, and axe-core finds no serious or critical
WCAG violation on the video page and the Mediathek.

One app, one short stream (320x240 at 10 fps, a few seconds) for the whole test: the machine is small.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from council.live.models import EventKind, TimelineEvent
from streaming.models import Recording
from tests.e2e.conftest import _new_page, describe_violations, run_axe, serve_in_loop
from tests.factories import make_town

pytestmark = pytest.mark.e2e


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


async def _wait(predicate: Any, seconds: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await predicate():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.25)
    return True


async def _axe(page: Any, path: str) -> None:
    await page.goto(path)
    violations = await run_axe(page)
    bad = [v for v in violations if v.get("impact") in ("serious", "critical")]
    assert not bad, f"axe found serious/critical WCAG violations on {path}:\n{describe_violations(bad)}"


async def test_player_live_chapters_and_accessibility(
    browser: Any, app: Any, db: Any, request: pytest.FixtureRequest
) -> None:
    from streaming.sources import TestPattern

    async with db.sessionmaker() as session:
        town = await make_town(session)
        mid = town.council_meeting.id  # type: ignore[union-attr]
        item_id = town.council_item.id  # type: ignore[union-attr]

    async with serve_in_loop(app) as url:
        streams = app.state.streams
        await streams.start_stream(mid, TestPattern(size="320x240", rate=10))
        index = app.state.settings.media_dir / str(mid) / "public" / "index.m3u8"

        async def playlist_ready() -> bool:
            # a viewer who comes before the first segment sees hls.js retry (a 404 in the console)
            return index.exists() and index.read_text().count("#EXTINF") >= 2

        try:
            assert await _wait(playlist_ready, 40), "no live playlist"
            async for page in _new_page(browser, url, request):
                await page.goto(f"/sitzungen/{mid}/video")
                assert await page.locator("[data-player-live]").is_visible()
                # hls.js attaches; the viewer presses play (muted: no autoplay policy in the way);
                # the picture moves
                assert await _until(
                    page,
                    "() => { const v = document.querySelector('video'); if (v.readyState >= 2 && v.paused)"
                    " { v.muted = true; v.play(); } return v.currentTime > 1.0 && !v.paused; }",
                    30.0,
                ), "the live video did not advance"
                root = page.locator("[data-player]")
                assert await root.get_attribute("data-player-state") == "hls"
                assert await root.get_attribute("data-player-error") is None
                page.problems.assert_none()

            # a chapter from the timeline, then the archive
            async with db.sessionmaker() as s:
                rec = (await s.execute(select(Recording).where(Recording.meeting_id == mid))).scalar_one()
                assert rec.started_at is not None
                for kind, offset in ((EventKind.AGENDA_ITEM_STARTED, 2), (EventKind.AGENDA_ITEM_ENDED, 3)):
                    s.add(
                        TimelineEvent(
                            meeting_id=mid,
                            kind=kind.value,
                            agenda_item_id=item_id,
                            at=rec.started_at + timedelta(seconds=offset),
                        )
                    )
                await s.commit()
        finally:
            if streams.live(mid):
                await streams.stop_stream(mid)

        async def ready() -> bool:
            async with db.sessionmaker() as s:
                state = (
                    await s.execute(select(Recording.state).where(Recording.meeting_id == mid))
                ).scalar_one_or_none()
            return state == "ready"

        assert await _wait(ready, 60), "the recording was not finalised"

        async for page in _new_page(browser, url, request):
            await page.goto(f"/sitzungen/{mid}/video")
            assert await page.locator("[data-player-live]").is_hidden()
            link = page.locator(f'li[data-agenda-item="{item_id}"] a[data-seek]')
            seconds = float(await link.get_attribute("data-seek") or "0")
            assert seconds >= 1
            assert await _until(page, "() => document.querySelector('video').readyState >= 1", 20.0)
            await link.click()
            assert await _until(
                page,
                f"() => Math.abs(document.querySelector('video').currentTime - {seconds}) < 1.0",
                15.0,
            ), "clicking the chapter did not seek"
            assert page.url.endswith(f"?t={int(seconds)}")
            page.problems.assert_none()

        async for page in _new_page(browser, url, request, bypass_csp=True):
            await _axe(page, f"/sitzungen/{mid}/video")
            await _axe(page, "/mediathek")
            assert await page.locator(f'a[href="/sitzungen/{mid}/video"]').count() == 1
