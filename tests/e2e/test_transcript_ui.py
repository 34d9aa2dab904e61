"""The transcript in real Chromium: axe on the public transcript page and the clerk's view, then a
correction through the htmx inline form (and the public sees it marked "korrigiert")."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import describe_violations, run_axe, serve_in_loop
from tests.e2e.test_console_ui import _context
from tests.transcript_helpers import make_transcript_town
from transcripts.models import RunState, TranscriptRun

pytestmark = pytest.mark.e2e


async def _axe_clean(page: Any, path: str) -> None:
    response = await page.goto(path)
    assert response is not None and response.ok, f"{path} answered {response and response.status}"
    bad = [v for v in await run_axe(page) if v.get("impact") in ("serious", "critical")]
    assert not bad, f"axe on {path}:\n{describe_violations(bad)}"


async def test_transcript_page_accessible_and_correction_via_ui(browser: Any, app: Any, db: Any) -> None:
    from web.models import metadata

    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    async with db.sessionmaker() as session:
        tt = await make_transcript_town(session)
        mid = tt.town.past_meeting.id
        seg_id = tt.seg["radweg"].id
        session.add(TranscriptRun(meeting_id=mid, state=RunState.DONE, chunks_done=1, resume_s=0.0))
        await session.commit()

    contexts: list[Any] = []
    async with serve_in_loop(app) as url:
        try:
            ctx, public = await _context(browser, url, bypass_csp=True)  # axe is injected inline
            contexts.append(ctx)
            await _axe_clean(public, f"/sitzungen/{mid}/wortprotokoll")
            assert await public.get_by_text("Schlaglöcher").count() == 1

            ctx, clerk = await _context(browser, url, tt.clerk_token, bypass_csp=True)
            contexts.append(ctx)
            await _axe_clean(clerk, f"/sitzungen/{mid}/wortprotokoll")
            line = clerk.locator(f"#s-{seg_id}")
            await line.get_by_role("link", name="Korrigieren").click()
            text = clerk.locator(f"#s-{seg_id}-text")
            await text.wait_for()
            bad = [v for v in await run_axe(clerk) if v.get("impact") in ("serious", "critical")]
            assert not bad, describe_violations(bad)
            # A bad correction: the message shows in the line, nothing is saved.
            await text.fill("   ")
            await clerk.evaluate(f"document.getElementById('s-{seg_id}-text').removeAttribute('required')")
            await clerk.get_by_role("button", name="Korrektur speichern").click()
            await clerk.get_by_role("alert").wait_for()
            # A good one: swapped in place, marked.
            await clerk.locator(f"#s-{seg_id}-text").fill(
                "Die Radwege an der Landstraße müssen dringend saniert werden."
            )
            await clerk.get_by_role("button", name="Korrektur speichern").click()
            await clerk.locator(f"#s-{seg_id} .badge-corrected").wait_for()
            assert clerk.url.endswith("/wortprotokoll"), "htmx swapped in place"

            await public.goto(f"/sitzungen/{mid}/wortprotokoll")
            public_line = public.locator(f"#s-{seg_id}")
            assert "müssen dringend saniert" in await public_line.inner_text()
            assert await public_line.locator(".badge-corrected").count() == 1
            assert await public.get_by_role("link", name="Korrigieren").count() == 0
        finally:
            for c in contexts:
                await c.close()
