"""The clerk's back office in real Chromium: a resident subscribes to the committee's invitations on
its public page (double opt-in: the link from the mail, opened in the browser); the clerk creates a
meeting, builds the agenda (an item, a linked paper, a move with the accessible buttons), publishes it
and sends the invitation → the mail job delivers it to the members and the subscriber through a local
SMTP sink, the clerk sees the send status; the public page, the meeting's iCal, the iCal feeds and
OParl (the meeting and the committee's meeting list) show it; before publication a resident sees
nothing. The subscriber unsubscribes with the link from the mail. Then axe checks the pages.
"""

from __future__ import annotations

from typing import Any

import pytest

from council.accounts import service
from council.accounts.sessions import SESSION_COOKIE, create_session
from tests.e2e.conftest import ARTIFACTS, PageProblems, describe_violations, run_axe, serve_in_loop
from tests.factories import make_town
from tests.integration.invitation_mail_support import body, smtp_sink, wait_dispatches

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


async def test_clerk_prepares_meeting_public_sees_it(browser: Any, app: Any, db: Any, settings: Any) -> None:
    from web.models import metadata

    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    async with db.sessionmaker() as session:
        town = await make_town(session)
        committee, committee_id = town.committee.name, town.committee.id
        for i, member in enumerate(town.persons):
            member.email = [f"person{i}@example.org"]
        clerk = await service.create_account(session, "clerk1", "correct horse battery", ("clerk",))
        await session.flush()
        clerk_token = await create_session(session, clerk.id)
        await session.commit()

    contexts: list[Any] = []
    pages: list[Any] = []
    import re
    from urllib.parse import urlsplit

    with smtp_sink(settings) as sink:
        async with serve_in_loop(app) as url:
            try:
                # A resident subscribes to the committee's invitations (double opt-in).
                ctx, resident = await _context(browser, url)
                contexts.append(ctx)
                pages.append(resident)
                await resident.goto(f"/gremien/{committee_id}")
                await resident.get_by_role(
                    "link", name=f"Einladungen von {committee} per E-Mail abonnieren"
                ).click()
                await resident.get_by_label("Ihre E-Mail-Adresse").fill("resi@example.org")
                await resident.get_by_role("button", name="Einladungen abonnieren").click()
                await resident.locator("#subscribe-sent").wait_for()
                (optin,) = sink.to("resi@example.org")
                link = re.search(r"/einladungen/bestaetigen/\S+", body(optin))
                assert link
                await resident.goto(link.group(0))
                await resident.get_by_role("button", name="Ja, E-Mail-Adresse bestätigen").click()
                await resident.locator("#subscribe-confirmed").wait_for()
                sink.messages.clear()

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

                # Publish and send the invitation: the mail job reaches members and the subscriber.
                await bo.get_by_role("button", name="Veröffentlichen").click()
                await bo.locator("#bo-recipients", has_text="2 Mitglieder, 1 bestätigte").wait_for()
                await bo.get_by_role("button", name="Einladung erstellen und versenden").click()
                await bo.get_by_role("link", name="Einladung (PDF)").wait_for()
                await bo.get_by_text("eingeladen").first.wait_for()
                await wait_dispatches(db, mid)
                await bo.reload()
                await bo.locator('.bo-dispatch[data-state="done"]', has_text="3 von 3 versandt").wait_for()
                assert sink.recipients == ["person0@example.org", "person1@example.org", "resi@example.org"]
                (invitation_mail,) = sink.to("resi@example.org")
                assert "8. Sitzung des Ausschusses für Stadtentwicklung" in invitation_mail["Subject"]
                assert f"/sitzungen/{mid}" in body(invitation_mail)

                # The public site, iCal and OParl show it.
                await public.goto(f"/sitzungen/{mid}")
                await public.get_by_text("Sanierung des Radwegs").first.wait_for()
                await public.get_by_role(
                    "link", name="Änderungen der Tagesordnung seit der Einladung"
                ).wait_for()
                ics = await public.request.get(f"{url}/sitzungen/{mid}.ics")
                assert ics.ok and "Sanierung des Radwegs" in await ics.text()
                oparl = await (await public.request.get(f"{url}/oparl/v1/meeting/{mid}")).json()
                assert oparl["meetingState"] == "eingeladen" and oparl.get("invitation")
                for feed in ("/feeds/sitzungen.ics", f"/feeds/gremien/{committee_id}.ics"):
                    response = await public.request.get(f"{url}{feed}")
                    assert (
                        response.ok
                        and "8. Sitzung des Ausschusses für Stadtentwicklung" in await response.text()
                    )
                org = await (await public.request.get(f"{url}/oparl/v1/organization/{committee_id}")).json()
                listed = await (await public.request.get(url + urlsplit(org["meeting"]).path)).json()
                assert oparl["id"] in [m["id"] for m in listed["data"]]
                invitation_pdf = await public.request.get(
                    url + urlsplit(oparl["invitation"]["accessUrl"]).path
                )
                assert invitation_pdf.ok and invitation_pdf.headers["content-type"].startswith(
                    "application/pdf"
                )

                # The subscriber leaves with the link from the mail (no login).
                unsubscribe = re.search(r"/einladungen/abbestellen/\S+", body(invitation_mail))
                assert unsubscribe
                await resident.goto(unsubscribe.group(0))
                await resident.get_by_role("button", name="Ja, abbestellen").click()
                await resident.locator("#unsubscribed").wait_for()
                for page in pages:
                    page.problems.assert_none()

                # Accessibility of the back-office pages (axe needs the CSP bypassed).
                ctx, axe = await _context(browser, url, clerk_token, bypass_csp=True)
                contexts.append(ctx)
                pages.append(axe)
                for path in (
                    "/verwaltung/sitzungsdienst",
                    f"/verwaltung/sitzungsdienst/{mid}",
                    f"/gremien/{committee_id}/einladungen",
                    f"/gremien/{committee_id}",
                ):
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
