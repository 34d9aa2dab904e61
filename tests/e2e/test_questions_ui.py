"""Question time in real Chromium: a resident submits a question and keeps the tracking link; the
clerk accepts, schedules and marks it answered in the moderation console (the public meeting page
shows "Frage 1 wird beantwortet" live); the tracking page then shows the answer. The same flow
without JavaScript. axe (WCAG 2.1 A/AA) finds nothing serious or critical on the form, tracking and
moderation pages."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from council.accounts.sessions import SESSION_COOKIE
from council.questions.models import Question
from tests.e2e.conftest import PageProblems, describe_violations, run_axe, serve_in_loop
from tests.question_helpers import make_question_town


async def _page(
    browser: Any, base: str, token: str | None = None, *, js: bool = True, axe: bool = False
) -> Any:
    # axe is injected inline, so its pages bypass the CSP; the pages that act keep it enforced.
    context = await browser.new_context(
        base_url=base, locale="de-DE", timezone_id="Europe/Berlin", java_script_enabled=js, bypass_csp=axe
    )
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


async def _axe(page: Any, path: str) -> None:
    await page.goto(path)
    bad = [v for v in await run_axe(page) if v.get("impact") in ("serious", "critical")]
    assert not bad, f"axe on {page.url}:\n{describe_violations(bad)}"


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
async def test_question_from_form_to_answer(browser: Any, settings: Any, db: Any, js: bool) -> None:
    from web.app import create_app

    app = create_app(settings)
    qt = await make_question_town(db)
    mid = qt.meeting_id
    pages: list[Any] = []
    audits: list[Any] = []
    async with serve_in_loop(app) as base:
        try:
            resident = await _page(browser, base, js=js)
            clerk = await _page(browser, base, qt.clerk_token, js=js)
            pages = [resident, clerk]
            auditor = await _page(browser, base, axe=True)
            auditor_clerk = await _page(browser, base, qt.clerk_token, axe=True)
            audits = [auditor, auditor_clerk]
            await resident.goto(f"/sitzungen/{mid}")
            await resident.click("text=Eine Frage einreichen")
            assert resident.url.endswith(f"/sitzungen/{mid}/fragen")
            if js:
                await _axe(auditor, f"/sitzungen/{mid}/fragen")
            await resident.fill("#q-text", 'Wann wird der Radweg saniert? <img src=x onerror="alert(1)">')
            await resident.fill("#q-name", "Anna B.")
            await resident.check("#q-consent")
            await resident.click("button:has-text('Frage absenden')")
            await resident.wait_for_url("**/fragen/*")
            tracking = resident.url
            assert "Eingereicht" in await resident.inner_text("[data-question-status]")
            assert 'onerror="alert(1)"' in await resident.inner_text(".question-text")  # shown as text
            if js:
                await _axe(auditor, tracking)
            async with db.sessionmaker() as s:
                qid = (await s.execute(select(Question.id))).scalar_one()

            await clerk.goto(f"/verwaltung/fragen?sitzung={mid}")
            if js:
                await _axe(auditor_clerk, f"/verwaltung/fragen?sitzung={mid}")
            await clerk.click(f"#b-annehmen-{qid}")
            await clerk.click(f"#b-einplanen-{qid}")
            assert "Eingeplant" in await clerk.inner_text(f"#frage-{qid} [data-moderation-status]")
            if js:
                watcher = await _page(browser, base)
                pages.append(watcher)
                await watcher.goto(f"/sitzungen/{mid}")
                # the event must not go out before the watcher's event stream is open (it sends the
                # meeting's state first): a flake in CI on a loaded machine
                await watcher.wait_for_selector("[data-live-connected]", state="attached")
            await clerk.click(f"#b-beantwortung-start-{qid}")
            if js:
                # A selector wait, not wait_for_function: Playwright polls a function with eval, which the
                # page's CSP (no 'unsafe-eval') refuses once the first check has not already succeeded.
                await watcher.wait_for_selector("[data-question-live]:has-text('Frage 1 wird beantwortet')")
            await clerk.click(f"#b-beantwortung-ende-{qid}")
            await clerk.click(f"#frage-{qid} summary:has-text('Schriftliche Antwort')")
            await clerk.fill(f"#answer-{qid}", "Im Frühjahr 2027.")
            await clerk.click(f"#b-antwort-{qid}")
            assert "Beantwortet" in await clerk.inner_text(f"#frage-{qid} [data-moderation-status]")

            await resident.goto(tracking)
            assert "Beantwortet" in await resident.inner_text("[data-question-status]")
            assert "Im Frühjahr 2027." in await resident.inner_text("[data-question-answer]")
            for p in pages:
                p.problems.assert_none()
        finally:
            for p in pages + audits:
                await p.context.close()
