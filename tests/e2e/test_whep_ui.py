"""The studio and the WHEP player in real Chromium: the clerk creates a stream key on the studio page
and sends Chromium's fake camera and microphone over WHIP; the packager's playlist appears; an
anonymous viewer plays the stream over WHEP with web/static/js/whep.js (frames counted with
requestVideoFrameCallback); "Senden beenden" ends the stream.
"""

from __future__ import annotations

from typing import Any

import pytest

from council.accounts import service
from council.accounts.sessions import SESSION_COOKIE, create_session
from streaming.paths import meeting_paths
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, PageProblems, serve_in_loop
from tests.factories import make_town
from tests.integration.test_whip import segments, wait_for

pytestmark = pytest.mark.e2e

WEBRTC_ARGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]


async def _page(browser: Any, url: str, token: str | None = None) -> tuple[Any, Any]:
    context = await browser.new_context(base_url=url, locale="de-DE", timezone_id="Europe/Berlin")
    context.set_default_timeout(20_000)
    if token:
        await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": url}])
    page = await context.new_page()
    problems = PageProblems()
    problems.attach(page)
    page.problems = problems
    return context, page


async def test_studio_publishes_and_whep_plays(settings: Any, db: Any) -> None:
    from playwright.async_api import async_playwright

    from web.app import create_app

    async with db.sessionmaker() as session:
        town = await make_town(session)
        mid = town.council_meeting.id
        clerk = await service.create_account(session, "clerk1", "correct horse battery", ("clerk",))
        await session.flush()
        token = await create_session(session, clerk.id)
        await session.commit()

    app = create_app(settings.model_copy(update={"webrtc_loopback": True}))
    index = meeting_paths(settings.media_dir, mid).index
    async with serve_in_loop(app) as url, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *WEBRTC_ARGS])
        try:
            ctx, studio = await _page(browser, url, token)
            await studio.goto(f"/verwaltung/sitzungen/{mid}/studio")
            await studio.get_by_role("button", name="Stream-Schlüssel erzeugen").click()
            key = (await studio.locator("#studio-new-key").text_content() or "").strip()
            assert len(key) >= 20
            assert await studio.locator("#studio-key").input_value() == key
            await studio.get_by_role("button", name="Senden starten").click()
            await studio.get_by_text("Sendung läuft.").wait_for()
            assert await wait_for(lambda: len(segments(index)) >= 1, 30), "no playlist from the studio"

            vctx, viewer = await _page(browser, url)
            await viewer.goto(f"/sitzungen/{mid}")
            await viewer.add_script_tag(url="/static/js/whep.js")
            await viewer.evaluate(
                """(url) => {
                    const v = document.createElement('video');
                    v.muted = true; v.playsInline = true; v.id = 'whep-test';
                    document.body.appendChild(v);
                    window.whepFrames = 0; window.whepFallback = null;
                    const tick = () => { window.whepFrames++; v.requestVideoFrameCallback(tick); };
                    v.requestVideoFrameCallback(tick);
                    window.whepSession = RathausWhep.startWhep(v, url, {
                        onFallback: (reason) => { window.whepFallback = reason; },
                    });
                }""",
                f"/whep/{mid}",
            )
            ok = await wait_for(viewer_frames(viewer), 25, 0.25)
            fallback = await viewer.evaluate("window.whepFallback")
            assert ok, f"no WHEP frames in Chromium (fallback: {fallback})"
            await viewer.evaluate("window.whepSession.stop()")
            assert await wait_for(lambda: app.state.rtc.viewers.count(mid) == 0, 10)

            await studio.get_by_role("button", name="Senden beenden").click()
            await studio.get_by_text("Sendung beendet.").wait_for()
            assert await wait_for(lambda: app.state.streams.live(mid) is None, 25), "the stream did not end"
            studio.problems.assert_none()
            viewer.problems.assert_none()
            await vctx.close()
            await ctx.close()
        finally:
            await browser.close()


def viewer_frames(page: Any) -> Any:
    async def check() -> bool:
        return bool(await page.evaluate("window.whepFrames >= 10"))

    return check
