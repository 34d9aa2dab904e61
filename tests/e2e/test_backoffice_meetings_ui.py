"""The clerk's back office in real Chromium: the clerk creates a meeting, builds the agenda (an item, a
linked paper, a move with the accessible buttons), publishes it and sends the invitation → the public
page, its iCal and OParl show it; before publication a resident sees nothing. Then axe checks the
back-office pages.
"""

from __future__ import annotations

from typing import Any

import pytest

from council.accounts import service
from council.accounts.sessions import SESSION_COOKIE, create_session
from tests.e2e.conftest import ARTIFACTS, PageProblems, describe_violations, run_axe, serve_in_loop
from tests.factories import make_town

pytestmark = pytest.mark.e2e


async def _context(browser: Any, url: str, token: str | None = None, **options: Any) -> tuple[Any, Any]:
    context = await browser.new_context(base_url=url, locale="de-DE", timezone_id="Europe/Berlin", **options)
    context.set_default_timeout(15_000)
    if token:
        await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": url}])
    page = await context.new_page()
    problems = PageProblems()
    problems.attach(page)
    page.problems = problems  # type: ignore[attr-defined]
    return context, page


async def test_clerk_prepares_meeting_public_sees_it(browser: Any, app: Any, db: Any) -> None:
    from web.models import metadata

    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    async with db.sessionmaker() as session:
        town = await make_town(session)
        committee = town.committee.name
        clerk = await service.create_account(session, "clerk1", "correct horse battery", ("clerk",))
        await session.flush()
        clerk_token = await create_session(session, clerk.id)
        await session.commit()

    contexts: list[Any] = []
    pages: list[Any] = []
    async with serve_in_loop(app) as url:
        try:
            ctx, bo = await _context(browser, url, clerk_token)
            contexts.append(ctx)
            pages.append(bo)
            await bo.goto("/verwaltung/sitzungsdienst")
            await bo.get_by_label("Bezeichnung").fill("8. Sitzung des Ausschusses für Stadtentwicklung")
            await bo.get_by_label("Gremium").select_option(label=committee)
            await bo.get_by_label("Datum").fill("2031-05-06")
            await bo.get_by_label("Beginn").fill("17:00")
            await bo.get_by_label("Ort").fill("Ratssaal, Markt 1")
            await bo.get_by_role("button", name="Sitzung als Entwurf anlegen").click()
            await bo.get_by_text("Entwurf – öffentlich nicht sichtbar").wait_for()
            mid = int(bo.url.rstrip("/").rsplit("/", 1)[1])

            # A resident sees nothing of the draft.
            ctx, public = await _context(browser, url)
            contexts.append(ctx)
            pages.append(public)
            response = await public.goto(f"/sitzungen/{mid}")
            assert response is not None and response.status == 404

            # Agenda: an item, a paper linked to it, moved up past the question time.
            await bo.get_by_label("Titel", exact=True).fill("Sanierung des Radwegs")
            await bo.get_by_role("button", name="Hinzufügen").click()
            await bo.get_by_text("TOP 4").first.wait_for()
            await bo.get_by_label("Vorlage (Aktenzeichen) – TOP 4").fill("V/2026/0001")
            await bo.get_by_label("Vorlage (Aktenzeichen) – TOP 4").press("Enter")
            await bo.get_by_role("link", name="V/2026/0001").wait_for()
            radweg = bo.locator("li.bo-item", has_text="Sanierung des Radwegs")
            await bo.get_by_role("button", name="Nach oben – TOP 4").click()
            await radweg.get_by_text("TOP 3", exact=True).wait_for()

            # Drag-and-drop (the enhancement): "Mitteilungen" dropped on the top edge of TOP 1.
            mitteilungen = bo.locator("li.bo-item", has_text="Mitteilungen")
            first = bo.locator("li.bo-item", has_text="Genehmigung der Niederschrift")
            await mitteilungen.drag_to(first, target_position={"x": 20, "y": 3})
            await mitteilungen.get_by_text("TOP 1", exact=True).wait_for()

            # Publish and send the invitation.
            await bo.get_by_role("button", name="Veröffentlichen").click()
            await bo.get_by_role("button", name="Einladung erstellen und versenden").click()
            await bo.get_by_role("link", name="Einladung (PDF)").wait_for()
            await bo.get_by_text("eingeladen").first.wait_for()

            # The public site, iCal and OParl show it.
            await public.goto(f"/sitzungen/{mid}")
            await public.get_by_text("Sanierung des Radwegs").first.wait_for()
            await public.get_by_role("link", name="Änderungen der Tagesordnung seit der Einladung").wait_for()
            ics = await public.request.get(f"{url}/sitzungen/{mid}.ics")
            assert ics.ok and "Sanierung des Radwegs" in await ics.text()
            oparl = await (await public.request.get(f"{url}/oparl/v1/meeting/{mid}")).json()
            assert oparl["meetingState"] == "eingeladen" and oparl.get("invitation")
            for page in pages:
                page.problems.assert_none()

            # Accessibility of the back-office pages (axe needs the CSP bypassed).
            ctx, axe = await _context(browser, url, clerk_token, bypass_csp=True)
            contexts.append(ctx)
            pages.append(axe)
            for path in ("/verwaltung/sitzungsdienst", f"/verwaltung/sitzungsdienst/{mid}"):
                await axe.goto(path)
                violations = await run_axe(axe)
                assert not violations, f"{path}:\n{describe_violations(violations)}"
        except BaseException:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            for i, page in enumerate(pages):
                try:
                    await page.screenshot(path=str(ARTIFACTS / f"backoffice-{i}.png"), full_page=True)
                except Exception:  # best effort for the report
                    pass
            raise
        finally:
            for ctx in contexts:
                await ctx.close()
