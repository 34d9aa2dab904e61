"""Motions end to end in real Chromium: a councillor drafts a motion and invites a faction colleague,
who co-signs in the workspace; the motion is submitted → the clerk's inbox → reference, consultation
path, scheduled onto the next meetings → results recorded → the public paper page shows the path and
the status timeline. The pages run under the site's strict CSP without console errors; axe finds no
serious or critical violations on the clerk's paper page."""

from __future__ import annotations

import re
from typing import Any

import pytest

from council.accounts import service
from council.accounts.sessions import create_session
from tests.e2e.conftest import PageProblems, describe_violations, run_axe, serve_in_loop
from tests.factories import make_town
from tests.integration.test_accounts import PASSWORD, cheap_argon2  # noqa: F401  (autouse fixture)
from tests.integration.test_backoffice_papers import add_meetings

pytestmark = pytest.mark.e2e


async def _page(browser: Any, base: str, token: str | None, **options: Any) -> Any:
    from council.accounts.sessions import SESSION_COOKIE

    context = await browser.new_context(base_url=base, locale="de-DE", timezone_id="Europe/Berlin", **options)
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


async def test_motion_from_draft_to_decision(browser: Any, db: Any, settings: Any) -> None:
    from web.app import create_app

    s = settings.model_copy(update={"jobs_in_process": False})
    async with db.sessionmaker() as session:
        town = await make_town(session)
        await add_meetings(session, town)
        committee, council = town.committee.name, town.council.name
        tokens = {}
        for name, roles, person in (
            ("anna", ("councillor",), town.persons[0].id),
            ("juergen", ("councillor",), town.persons[1].id),
            ("clerk1", ("clerk",), None),
        ):
            account = await service.create_account(session, name, PASSWORD, roles, person_id=person)
            await session.commit()
            tokens[name] = await create_session(session, account.id)
            await session.commit()
    app = create_app(s)
    pages: list[Any] = []
    async with serve_in_loop(app) as base:
        try:
            anna = await _page(browser, base, tokens["anna"])
            juergen = await _page(browser, base, tokens["juergen"])
            clerk = await _page(browser, base, tokens["clerk1"], bypass_csp=True)  # axe injects a script
            public = await _page(browser, base, None)
            pages = [anna, juergen, clerk, public]

            # the councillor drafts and invites a co-signer from the faction
            # from the workspace home, which links to the motions page
            await anna.goto("/arbeitsbereich")
            await anna.locator("#ws-motions").get_by_role("link", name="Anträge und Anfragen").click()
            await anna.get_by_role("link", name="Neuen Antrag oder neue Anfrage schreiben").click()
            await anna.get_by_label("Titel").fill("Trinkbrunnen auf dem Marktplatz")
            await anna.get_by_label("Antragstext bzw. Fragen").fill(
                "Der Rat möge beschließen:\nZwei Trinkbrunnen."
            )
            await anna.get_by_label("Begründung").fill("Hitzesommer.")
            await anna.get_by_role("button", name="Entwurf speichern").click()
            await anna.get_by_role(
                "heading", level=1, name="Antrag: Trinkbrunnen auf dem Marktplatz"
            ).wait_for()
            await anna.get_by_label("Zur Mitzeichnung einladen").select_option(label="Jürgen Schäfer")
            await anna.get_by_role("button", name="Einladen").click()
            await anna.locator(".motion-signers", has_text="Jürgen Schäfer – eingeladen").wait_for()

            # the colleague confirms in the workspace
            await juergen.goto("/arbeitsbereich/antraege")
            await juergen.get_by_role("link", name="Antrag: Trinkbrunnen auf dem Marktplatz").click()
            await juergen.get_by_role("button", name="Mitzeichnen").click()
            await juergen.locator(".motion-signers", has_text="mitgezeichnet am").wait_for()

            # submitted on behalf of the faction
            await anna.reload()
            await anna.get_by_role("button", name="Im Namen der Fraktion einreichen").click()
            await anna.locator(".motion-status", has_text="eingereicht").wait_for()

            # the clerk: inbox → reference → path → schedule → results
            await clerk.goto("/verwaltung")
            await clerk.get_by_role("link", name="Vorlagen und Anträge").click()
            row = clerk.locator("tr", has_text="Trinkbrunnen auf dem Marktplatz")
            await row.get_by_role("button", name="Annehmen und Nummer vergeben").click()
            reference = clerk.locator("h1 .paper-reference")
            await reference.wait_for()
            assert re.fullmatch(r"A/\d{4}/0001", await reference.inner_text())
            paper_url = clerk.url
            await clerk.get_by_label("Schritt 1").select_option(label=committee)
            await clerk.get_by_label("Schritt 2").select_option(label=council)
            await clerk.get_by_role("button", name="Beratungsfolge speichern").click()
            await clerk.locator(".consultation-path li").nth(1).wait_for()
            await clerk.get_by_role("button", name="Auf die nächsten Sitzungen setzen").click()
            await clerk.locator(".consultation-path form").nth(1).wait_for()
            bad = [v for v in await run_axe(clerk) if v.get("impact") in ("serious", "critical")]
            assert not bad, describe_violations(bad)
            for n, result in ((0, "beschlossen"), (1, "geändert beschlossen")):
                step = clerk.locator(".consultation-path li").nth(n)
                await step.get_by_label("Ergebnis eintragen").select_option(label=result)
                await step.get_by_role("button", name="Eintragen").click()
                await clerk.locator(".consultation-path li").nth(n).locator(".consultation-result").wait_for()
            await clerk.locator(".paper-status", has_text="geändert beschlossen").wait_for()

            # the public paper page: the path and the status as a timeline
            paper_id = paper_url.rstrip("/").rsplit("/", 1)[-1]
            await public.goto(f"/vorlagen/{paper_id}")
            path = public.locator(".consultation-path")
            assert committee in await path.inner_text() and council in await path.inner_text()
            statuses = await public.locator(".paper-status-timeline li .status").all_inner_texts()
            assert statuses[0] == "eingereicht" and statuses[-1] == "geändert beschlossen"
            assert "in Beratung" in statuses
            # each step links its meeting, whose public agenda lists the paper
            meeting_links = path.locator('a[href^="/sitzungen/"]')
            assert await meeting_links.count() == 2
            await meeting_links.first.click()
            await public.wait_for_url(re.compile(r"/sitzungen/\d+"))
            await public.get_by_role(
                "link", name=re.compile("Trinkbrunnen auf dem Marktplatz")
            ).first.wait_for()
            for p in (anna, juergen, public):
                p.problems.assert_none()
        finally:
            for p in pages:
                await p.context.close()
