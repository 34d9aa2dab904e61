"""A council vote in real Chromium: the clerk opens a vote, two councillors vote in their own browser
contexts, and a public viewer sees the result appear on the meeting page without reloading."""

from __future__ import annotations

from typing import Any

from litestar.channels import ChannelsPlugin

from council.accounts.sessions import SESSION_COOKIE
from council.live.bus import record_event
from council.live.models import EventKind, TimelineEvent
from tests.e2e.conftest import PageProblems, serve_in_loop
from tests.vote_helpers import make_vote_town


async def _page(browser: Any, base: str, token: str | None = None) -> Any:
    context = await browser.new_context(base_url=base, locale="de-DE", timezone_id="Europe/Berlin")
    context.set_default_timeout(15_000)
    if token:
        await context.add_cookies(
            [{"name": SESSION_COOKIE, "value": token, "domain": "127.0.0.1", "path": "/"}]
        )
    page = await context.new_page()
    problems = PageProblems()
    problems.attach(page)
    page.problems = problems
    return page


async def test_vote_from_clerk_to_public_page(browser: Any, settings: Any, db: Any) -> None:
    from web.app import create_app

    app = create_app(settings)
    async with db.sessionmaker() as s:
        vt = await make_vote_town(s)  # council of 5, 4 present
    mid = vt.meeting_id
    pages: list[Any] = []
    async with serve_in_loop(app) as base:
        try:
            async with db.sessionmaker() as s:
                await record_event(
                    s,
                    app.plugins.get(ChannelsPlugin),
                    TimelineEvent(meeting_id=mid, kind=EventKind.MEETING_OPENED),
                )
            public = await _page(browser, base)
            clerk = await _page(browser, base, vt.clerk_token)
            anna = await _page(browser, base, vt.tokens[vt.members[0]])
            juergen = await _page(browser, base, vt.tokens[vt.members[1]])
            pages = [public, clerk, anna, juergen]

            await public.goto(f"/sitzungen/{mid}")
            # (a selector wait: polling wait_for_function needs eval, which the page's CSP refuses)
            await public.wait_for_selector("[data-live-status]:has-text('Die Sitzung läuft')")
            await public.evaluate("window.__notReloaded = true")

            await clerk.goto(f"/verwaltung/sitzungen/{mid}/abstimmungen")
            await clerk.select_option("#new-item", str(vt.item_id))
            await clerk.fill("#new-question", "Der Rat beschließt die Sanierung des Radwegs.")
            await clerk.select_option("#new-kind", "named")
            await clerk.click("#create-poll")
            await clerk.locator("button[id^=open-]").click()
            await clerk.locator("button[id^=close-]").wait_for()

            for page, choice in ((anna, "Ja"), (juergen, "Ja")):
                await page.goto(f"/sitzungen/{mid}/stimmzettel")
                await page.get_by_role("button", name=choice, exact=True).click()
                await page.get_by_text("Ihre Stimme wurde gezählt.").wait_for()

            await clerk.locator("button[id^=close-]").click()
            await clerk.get_by_text("angenommen (2 Ja, 0 Nein, 0 Enthaltungen)").first.wait_for()

            results = public.locator("[data-vote-results] [data-vote-outcome=adopted]")
            await results.wait_for()
            text = await public.locator("[data-vote-results]").inner_text()
            assert "angenommen (2 Ja, 0 Nein, 0 Enthaltungen)" in text
            assert "Anna Becker" in text and "Jürgen Schäfer" in text
            assert await public.evaluate("window.__notReloaded === true")
            for page in pages:
                page.problems.assert_none()
        finally:
            for page in pages:
                await page.context.close()
