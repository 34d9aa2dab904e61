"""The clerk's console in real Chromium: the clerk opens the meeting, marks attendance and calls an
item; a councillor asks to speak from their device; a public viewer (another browser context) sees the
current item and the quorum line change without reloading; the clerk's console picks up the request
over SSE. Then axe checks the console and the device page.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from council.accounts import service
from council.accounts.sessions import SESSION_COOKIE, create_session
from tests.e2e.conftest import ARTIFACTS, PageProblems, describe_violations, run_axe, serve_in_loop
from tests.factories import make_town

pytestmark = pytest.mark.e2e


async def _until(page: Any, predicate: str, seconds: float = 15.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        if await page.evaluate(predicate):
            return True
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.1)


async def _context(browser: Any, url: str, token: str | None = None, **options: Any) -> tuple[Any, Any]:
    context = await browser.new_context(base_url=url, locale="de-DE", timezone_id="Europe/Berlin", **options)
    context.set_default_timeout(15_000)
    if token:
        await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": url}])
    page = await context.new_page()
    problems = PageProblems()
    problems.attach(page)
    page.problems = problems
    return context, page


async def test_clerk_runs_meeting_public_sees_it_live(
    browser: Any, app: Any, db: Any, request: pytest.FixtureRequest
) -> None:
    from web.models import metadata

    async with db.engine.begin() as conn:  # every room's tables (the device page shows the ballot too)
        await conn.run_sync(metadata.create_all)
    async with db.sessionmaker() as session:
        town = await make_town(session)
        mid, item_id = town.council_meeting.id, town.council_item.id
        anna = town.persons[0]
        clerk = await service.create_account(session, "clerk1", "correct horse battery", ("clerk",))
        councillor = await service.create_account(
            session, "anna", "correct horse battery", ("councillor",), person_id=anna.id
        )
        await session.flush()
        clerk_token = await create_session(session, clerk.id)
        anna_token = await create_session(session, councillor.id)
        await session.commit()

    contexts: list[Any] = []
    pages: list[Any] = []
    async with serve_in_loop(app) as url:
        try:
            ctx, public = await _context(browser, url)
            contexts.append(ctx)
            pages.append(public)
            await public.goto(f"/sitzungen/{mid}")
            assert await public.locator("[data-live-quorum]").is_hidden()

            ctx, console = await _context(browser, url, clerk_token)
            contexts.append(ctx)
            pages.append(console)
            await console.goto(f"/verwaltung/sitzungen/{mid}/konsole")
            await console.get_by_role("button", name="Sitzung eröffnen").click()
            await console.get_by_role("button", name="Sitzung schließen").wait_for()
            for person in town.persons[:3]:
                await console.get_by_role("button", name=f"Anwesend – {person.name}").click()
                await console.get_by_role("button", name=f"Abwesend – {person.name}").wait_for()
            await console.get_by_role("button", name="Aufrufen – 4 Sanierung").click()
            await console.get_by_role("button", name="Beenden – 4 Sanierung").wait_for()
            assert console.url.endswith("/konsole"), "htmx swapped in place (no navigation)"

            # the public page, never reloaded
            quorum = "Beschlussfähig: 3 von 5 Mitgliedern anwesend, erforderlich 3"
            assert await _until(
                public,
                "() => { const q = document.querySelector('[data-live-quorum]');"
                f" return !q.hidden && q.textContent.trim() === {quorum!r}; }}",
            ), "quorum line did not update live"
            assert await _until(
                public,
                f"() => document.querySelector('#top-{item_id}').classList.contains('is-current')",
            ), "current item not highlighted live"

            # a councillor asks to speak from the device; the console shows it without reloading
            ctx, device = await _context(browser, url, anna_token)
            contexts.append(ctx)
            pages.append(device)
            await device.goto(f"/sitzungen/{mid}/teilnahme")
            await device.get_by_role("button", name="Wortmeldung – 4 Sanierung").click()
            await device.get_by_role("button", name="Wortmeldung zurückziehen – 4 Sanierung").wait_for()
            await console.get_by_role("button", name=f"Wort erteilen – {anna.name}").wait_for()
            await console.get_by_role("button", name=f"Wort erteilen – {anna.name}").click()
            await console.get_by_role("button", name="Redebeitrag beenden").wait_for()

            # public: the speaker, and that transmission is paused (no consent given)
            assert await _until(
                public,
                "() => { const s = document.querySelector('[data-live-speaker]');"
                " const p = document.querySelector('[data-live-paused]');"
                f" return !s.hidden && s.textContent.includes({anna.name!r}) && !p.hidden; }}",
            ), "current speaker not shown live"
            for page in pages:
                page.problems.assert_none()

            # accessibility of the console and the device page (axe needs the CSP bypassed)
            ctx, axe_console = await _context(browser, url, clerk_token, bypass_csp=True)
            contexts.append(ctx)
            pages.append(axe_console)
            for path in [
                f"/verwaltung/sitzungen/{mid}/konsole",
                "/verwaltung/sitzungen",
                f"/sitzungen/{mid}",
            ]:
                await axe_console.goto(path)
                violations = await run_axe(axe_console)
                assert not violations, f"{path}:\n{describe_violations(violations)}"
            await contexts[-1].add_cookies([{"name": SESSION_COOKIE, "value": anna_token, "url": url}])
            await axe_console.goto(f"/sitzungen/{mid}/teilnahme")
            violations = await run_axe(axe_console)
            assert not violations, describe_violations(violations)
        except BaseException:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            for i, page in enumerate(pages):
                try:
                    await page.screenshot(path=str(ARTIFACTS / f"console-{i}.png"), full_page=True)
                except Exception:  # a courtesy only
                    pass
            raise
        finally:
            for ctx in contexts:  # before the server stops: open event streams would hold it up
                await ctx.close()
