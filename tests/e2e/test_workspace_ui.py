"""The councillor's workspace in real Chromium: open a meeting, read a document (pdf.js draws the
page on a canvas under the site's strict CSP), anchor a note to a text selection, share it with the
faction — and a faction colleague sees it. axe: no serious or critical violations."""

from __future__ import annotations

from typing import Any

import pytest

from council.accounts.sessions import SESSION_COOKIE
from tests.e2e.conftest import PageProblems, describe_violations, run_axe, serve_in_loop
from tests.integration.workspace_support import build_workspace_town, quiet

pytestmark = pytest.mark.e2e


async def _page(browser: Any, base: str, token: str, **options: Any) -> Any:
    context = await browser.new_context(base_url=base, locale="de-DE", timezone_id="Europe/Berlin", **options)
    context.set_default_timeout(15_000)
    await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "domain": "127.0.0.1", "path": "/"}])
    page = await context.new_page()
    problems = PageProblems()
    problems.attach(page)
    page.problems = problems
    return page


async def _axe(page: Any) -> None:
    bad = [v for v in await run_axe(page) if v.get("impact") in ("serious", "critical")]
    assert not bad, f"axe on {page.url}:\n{describe_violations(bad)}"


async def test_read_annotate_and_share(browser: Any, db: Any, settings: Any) -> None:
    from web.app import create_app

    s = quiet(settings)
    wt = await build_workspace_town(db, s)
    app = create_app(s)
    pages: list[Any] = []
    async with serve_in_loop(app) as base:
        try:
            anna = await _page(browser, base, wt.actors["councillor"].token)
            # axe needs to inject its script: this context alone bypasses the CSP
            oezlem = await _page(browser, base, wt.actors["faction_colleague"].token, bypass_csp=True)
            pages = [anna, oezlem]

            await anna.goto("/arbeitsbereich")
            await anna.get_by_role("link", name=wt.town.next_meeting.name, exact=True).click()
            await anna.get_by_role("heading", level=1, name=wt.town.next_meeting.name).wait_for()
            assert await anna.get_by_role("link", name="Kaufvertrag Geheimweg", exact=True).count() == 1
            await anna.get_by_role("link", name="Mitteilung Radweg", exact=True).click()

            # pdf.js (vendored module + worker) renders the first page on a canvas
            await anna.locator("#pdf-view canvas[data-rendered='1']").first.wait_for()
            size = await anna.evaluate(
                "(() => { const c = document.querySelector('#pdf-view canvas');"
                " return [c.width, c.height]; })()"
            )
            assert size[0] > 100 and size[1] > 100
            assert await anna.locator("#pdf-view canvas").count() == 2

            # select a passage on page 2 of the text view: the form picks up quote, context and page
            await anna.evaluate(
                """(() => {
                    const el = document.querySelector('#seite-2 .ws-page-text');
                    const node = el.firstChild;
                    const start = node.textContent.indexOf('Kosten betragen');
                    const range = document.createRange();
                    range.setStart(node, start);
                    range.setEnd(node, start + 'Kosten betragen 120.000 Euro'.length);
                    const sel = window.getSelection();
                    sel.removeAllRanges();
                    sel.addRange(range);
                    el.dispatchEvent(new MouseEvent('mouseup', {bubbles: true}));
                })()"""
            )
            assert await anna.input_value("#note-quote") == "Kosten betragen 120.000 Euro"
            assert await anna.input_value("#note-page") == "2"
            await anna.fill("#note-body", "Deckung im Haushalt prüfen.")
            await anna.select_option("#note-visibility", "faction")
            await anna.get_by_role("button", name="Notiz speichern").click()
            note = anna.locator(".ws-note", has_text="Deckung im Haushalt prüfen.")
            await note.wait_for()
            assert "Seite 2" in await note.inner_text()
            anna.problems.assert_none()  # no CSP violation, no JS error (pdf.js included)

            await oezlem.goto(f"/arbeitsbereich/dokumente/{wt.public_file.id}")
            shared = oezlem.locator(".ws-note", has_text="Deckung im Haushalt prüfen.")
            await shared.wait_for()
            assert "Anna Becker" in await shared.inner_text()
            assert await shared.locator("details.ws-note-edit").count() == 0  # not hers to edit
            await oezlem.locator("#pdf-view canvas[data-rendered='1']").first.wait_for()
            await _axe(oezlem)
            await oezlem.goto("/arbeitsbereich")
            await _axe(oezlem)
            await oezlem.goto(f"/arbeitsbereich/sitzungen/{wt.meeting_id}")
            await _axe(oezlem)
        finally:
            for p in pages:
                await p.context.close()
