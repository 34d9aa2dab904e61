"""Offline reading in real Chromium: a councillor makes a meeting's documents available offline, the
browser goes offline (``context.set_offline(True)``) and the reader still shows the non-public
document; logout deletes the copies, and nothing is served offline afterwards."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from council.accounts.sessions import SESSION_COOKIE, create_session
from council.core.settings import Settings
from tests.e2e.conftest import ARTIFACTS, serve_in_loop
from tests.integration.workspace_support import build_workspace_town, quiet

NET_DOWN = r"ERR_INTERNET_DISCONNECTED|ERR_FAILED"
OFFLINE_CACHES = "async () => (await caches.keys()).filter((n) => n.startsWith('rathaus-offline-'))"


async def test_offline_reading_and_logout(browser: Any, db: Any, settings: Settings, request: Any) -> None:
    from web.app import create_app

    settings = quiet(settings)
    wt = await build_workspace_town(db, settings)
    mid = wt.meeting_id
    me = wt.actors["councillor"]
    reader = f"/arbeitsbereich/dokumente/{wt.secret_file.id}?sitzung={mid}"
    async with serve_in_loop(create_app(settings)) as base:
        context = await browser.new_context(base_url=base, locale="de-DE", timezone_id="Europe/Berlin")
        context.set_default_timeout(15_000)
        errors: list[str] = []
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            await context.add_cookies([{"name": SESSION_COOKIE, "value": me.token, "url": base}])
            await page.goto(f"/arbeitsbereich/sitzungen/{mid}")
            button = page.get_by_role("button", name="Offline verfügbar machen")
            await button.click()
            await page.wait_for_selector('[data-offline-meeting][data-offline-state="done"]')
            status = await page.locator("#offline-status").inner_text()
            assert "offline verfügbar" in status
            assert sorted(await page.evaluate(OFFLINE_CACHES)) == [
                f"rathaus-offline-a{me.account_id}-m{mid}",
                "rathaus-offline-meta",
            ]
            # the worker controls the page before the network goes away
            await page.reload()
            # Polled with evaluate (wait_for_function polls with eval, which the page's CSP refuses).
            for _ in range(200):
                if await page.evaluate("navigator.serviceWorker.controller !== null"):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the service worker never took control of the page")

            await context.set_offline(True)
            await page.goto(reader)
            await page.get_by_role("heading", level=1, name="Kaufvertrag Geheimweg").wait_for()
            assert "Geheimweg 7" in await page.locator("main").inner_text()
            await page.reload()
            assert "Kaufvertrag Geheimweg" in await page.locator("h1").inner_text()
            await page.goto(f"/arbeitsbereich/sitzungen/{mid}")
            assert "Kaufvertrag Geheimweg" in await page.locator("main").inner_text()
            # the PDF itself is there too
            pdf = f"/dokumente/{wt.secret_file.id}/datei"
            size = await page.evaluate(f"async () => (await (await fetch('{pdf}')).arrayBuffer()).byteLength")
            assert size > 500
            # what was never stored is not invented
            with pytest.raises(Exception, match=NET_DOWN):
                await page.goto(f"/arbeitsbereich/dokumente/{wt.other_secret_file.id}")

            await context.set_offline(False)
            await page.goto(f"/arbeitsbereich/sitzungen/{mid}")
            await page.get_by_role("button", name="Abmelden").click()
            await page.wait_for_url(f"{base}/")
            for _ in range(100):  # logout's Clear-Site-Data and offline.js: bounded wait
                if not await page.evaluate(OFFLINE_CACHES):
                    break
                await page.wait_for_timeout(100)
            assert await page.evaluate(OFFLINE_CACHES) == []
            await context.set_offline(True)
            with pytest.raises(Exception, match=NET_DOWN):
                await page.goto(reader)

            # another councillor signs in on the same browser (no logout in between): the first one's
            # copies are deleted on the first page, never served to the second
            await context.set_offline(False)
            async with db.sessionmaker() as s:  # logout ended the first session
                again = await create_session(s, me.account_id)
                await s.commit()
            await context.add_cookies([{"name": SESSION_COOKIE, "value": again, "url": base}])
            await page.goto(f"/arbeitsbereich/sitzungen/{mid}")
            await page.get_by_role("button", name="Offline verfügbar machen").click()
            await page.wait_for_selector('[data-offline-meeting][data-offline-state="done"]')
            other = wt.actors["committee_colleague"]
            await context.add_cookies([{"name": SESSION_COOKIE, "value": other.token, "url": base}])
            await page.goto("/arbeitsbereich")
            for _ in range(100):
                if await page.evaluate(OFFLINE_CACHES) == ["rathaus-offline-meta"]:
                    break
                await page.wait_for_timeout(100)
            assert await page.evaluate(OFFLINE_CACHES) == ["rathaus-offline-meta"]
            await context.set_offline(True)
            with pytest.raises(Exception, match=NET_DOWN):
                await page.goto(reader)
            assert errors == []
        except BaseException:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            try:
                await page.screenshot(path=str(Path(ARTIFACTS) / "test_offline_reading_and_logout.png"))
            except Exception:  # a screenshot is a courtesy
                pass
            raise
        finally:
            await context.close()
