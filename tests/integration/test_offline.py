"""Offline reading, server side: the service worker route, the access-checked offline list per meeting
(who gets which documents, nothing for anyone else), the per-account cache name and expiry, the account
marker on every page and Clear-Site-Data at logout. The browser side is tests/e2e/test_offline_ui.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from council.core.settings import Settings
from tests.integration.workspace_support import browser, build_workspace_town, csrf_token, quiet
from web.controllers.offline import CACHE_PREFIX, expires_at, shell_urls


async def test_service_worker_route(client: Any) -> None:
    r = await client.get("/sw.js")
    assert r.status_code == 200
    assert r.headers["service-worker-allowed"] == "/"
    assert r.headers["cache-control"] == "no-cache"
    assert r.headers["content-type"].startswith("text/javascript")
    assert "rathaus-offline-" in r.text
    for url in shell_urls():
        assert (await client.get(url)).status_code == 200, url


def test_expiry_is_the_end_of_the_meeting_day_in_berlin() -> None:
    now = datetime(2026, 11, 20, tzinfo=UTC)
    start = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)  # 17:00 in Berlin
    assert expires_at(start, None, now) == datetime(2026, 11, 25, 23, 0, tzinfo=UTC)  # midnight CET
    late = datetime(2026, 11, 25, 23, 30, tzinfo=UTC)  # 00:30 on the 26th in Berlin
    assert expires_at(start, late, now) == datetime(2026, 11, 26, 23, 0, tzinfo=UTC)
    assert expires_at(None, None, now) > now


async def test_offline_list_access(db: Any, settings: Settings) -> None:
    settings = quiet(settings)
    wt = await build_workspace_town(db, settings)
    mid = wt.meeting_id
    url = f"/arbeitsbereich/sitzungen/{mid}/offline.json"
    async with browser(settings, wt) as b:
        r = await b.as_("anonymous").get(url, follow_redirects=False)
        assert r.status_code in (302, 303) and "/anmelden" in r.headers["location"]
        assert (await b.as_("resident").get(url)).status_code == 403

        r = await b.as_("councillor").get(url)
        assert r.status_code == 200
        assert r.headers["cache-control"] == "private, no-store"
        body = r.json()
        me = wt.actors["councillor"].account_id
        assert body["account"] == me and body["meeting"] == mid
        assert body["cache"] == f"{CACHE_PREFIX}a{me}-m{mid}"
        assert datetime.fromisoformat(body["expires"]) > datetime(2026, 11, 25, tzinfo=UTC)
        urls = body["urls"]
        assert f"/arbeitsbereich/sitzungen/{mid}" in urls
        for f in (wt.public_file, wt.secret_file, wt.second_public_file):
            assert f"/arbeitsbereich/dokumente/{f.id}?sitzung={mid}" in urls
            assert f"/dokumente/{f.id}/datei" in urls
        assert not any(str(wt.other_secret_file.id) in u.split("?")[0].split("/") for u in urls)
        # every listed URL is readable by its owner (the copy would fail otherwise)
        for u in body["shell"] + urls:
            assert (await b.client.get(u)).status_code == 200, u

        # a faction colleague outside the committee: the meeting, but not its non-public documents
        r = await b.as_("faction_colleague").get(url)
        assert r.status_code == 200
        listed = r.json()["urls"]
        assert f"/dokumente/{wt.secret_file.id}/datei" not in listed
        assert f"/dokumente/{wt.public_file.id}/datei" in listed
        assert r.json()["cache"].startswith(f"{CACHE_PREFIX}a{wt.actors['faction_colleague'].account_id}-")

        # the non-public meeting of another committee does not exist for the councillor
        secret_mid = wt.town.secret_meeting.id  # type: ignore[union-attr]
        assert (
            await b.as_("councillor").get(f"/arbeitsbereich/sitzungen/{secret_mid}/offline.json")
        ).status_code == 404
        assert (
            await b.as_("councillor").get("/arbeitsbereich/sitzungen/99999999999/offline.json")
        ).status_code in (400, 404)
        assert (await b.as_("councillor").get("/arbeitsbereich/sitzungen/0/offline.json")).status_code == 404


async def test_account_marker_button_and_logout_clears(db: Any, settings: Settings) -> None:
    """The meeting page renders alerts/_offline_button.html; every page carries the account marker."""
    settings = quiet(settings)
    wt = await build_workspace_town(db, settings)
    async with browser(settings, wt) as b:
        home = await b.as_("anonymous").get("/")
        assert '<meta name="rathaus-account" content="">' in home.text
        assert 'src="/static/js/offline.js"' in home.text
        page = await b.as_("councillor").get(f"/arbeitsbereich/sitzungen/{wt.meeting_id}")
        me = wt.actors["councillor"].account_id
        assert f'<meta name="rathaus-account" content="{me}">' in page.text
        assert re.search(rf'data-offline-meeting="{wt.meeting_id}"', page.text)
        token = await csrf_token(b.client)
        r = await b.client.post("/abmelden", data={"_csrf_token": token}, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["clear-site-data"] == '"cache", "storage"'
