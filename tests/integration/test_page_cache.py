"""The anonymous page cache: fast for residents, never shared with signed-in users or across cookies."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from council.accounts.service import create_account
from council.accounts.sessions import SESSION_COOKIE, create_session
from tests.factories import make_town
from web.app import create_app


async def _client_with_cache(settings, ttl=60.0):
    app = create_app(settings.model_copy(update={"page_cache_seconds": ttl}))
    return app, AsyncTestClient(app=app, base_url="http://127.0.0.1:8000")


async def test_anonymous_pages_are_served_from_the_cache_until_it_expires(settings, session):
    town = await make_town(session)
    app, client = await _client_with_cache(settings)
    async with client:
        first = await client.get(f"/sitzungen/{town.past_meeting.id}")
        assert first.status_code == 200 and "Radwegs" in first.text
        town.past_meeting.name = "Umbenannte Sitzung"
        await session.commit()
        second = await client.get(f"/sitzungen/{town.past_meeting.id}")
        assert second.text == first.text  # from the cache
        cache = app.state.page_cache
        assert cache.hits == 1
        assert "set-cookie" not in second.headers  # no cookie of anyone else is replayed
        assert "script-src 'self'" in second.headers["content-security-policy"]
        cache.clear()
        third = await client.get(f"/sitzungen/{town.past_meeting.id}")
        assert "Umbenannte Sitzung" in third.text


async def test_language_and_htmx_are_part_of_the_key(settings, session):
    town = await make_town(session)
    _app, client = await _client_with_cache(settings)
    async with client:
        de = await client.get("/vorlagen")
        en = await client.get("/vorlagen?lang=en")
        assert 'lang="de"' in de.text and 'lang="en"' in en.text
        partial = await client.get("/vorlagen", headers={"HX-Request": "true"})
        assert "<html" not in partial.text and "<html" in de.text
        assert town.paper.reference in partial.text


async def test_signed_in_users_never_get_or_leave_cached_pages(settings, session):
    town = await make_town(session)
    account = await create_account(
        session, "ratsfrau", "ein-langes-passwort-123", ["councillor"], person_id=town.member.id
    )
    await session.commit()
    token = await create_session(session, account.id)
    await session.commit()
    _app, client = await _client_with_cache(settings)
    async with client:
        anonymous = await client.get(f"/sitzungen/{town.past_meeting.id}")
        assert town.secret_item.name not in anonymous.text
        client.cookies.set(SESSION_COOKIE, token)
        member = await client.get(f"/sitzungen/{town.past_meeting.id}")
        assert town.secret_item.name in member.text  # not the cached anonymous page
        client.cookies.delete(SESSION_COOKIE)
        again = await client.get(f"/sitzungen/{town.past_meeting.id}")
        assert town.secret_item.name not in again.text  # the member's page was not stored


async def test_errors_are_not_cached(settings, session):
    await make_town(session)
    app, client = await _client_with_cache(settings)
    async with client:
        assert (await client.get("/sitzungen/999999")).status_code == 404
        assert (await client.get("/sitzungen/999999")).status_code == 404
        assert app.state.page_cache.hits == 0


async def test_ttl_zero_switches_it_off(settings, session):
    town = await make_town(session)
    app, client = await _client_with_cache(settings, ttl=0)
    async with client:
        await client.get(f"/vorlagen/{town.paper.id}")
        await client.get(f"/vorlagen/{town.paper.id}")
        assert app.state.page_cache.hits == 0


async def test_one_render_for_concurrent_misses_and_stale_while_refreshing():
    """Single flight: 12 residents open the same cold page at once → it is rendered once; when it
    expires, the requests during the refresh get the expired copy instead of rendering it again."""
    import asyncio
    import time

    from litestar import Litestar, get
    from litestar.middleware import DefineMiddleware

    from web.cache import PageCache, page_cache_middleware

    renders: list[int] = []

    @get("/seite", opt={"page_cache": True}, media_type="text/plain")
    async def page() -> str:
        renders.append(1)
        n = len(renders)
        await asyncio.sleep(0.3)  # a slow render: the other requests arrive meanwhile
        return f"Fassung {n}"

    app = Litestar([page], middleware=[DefineMiddleware(page_cache_middleware)])
    app.state.page_cache = cache = PageCache(ttl=60.0)

    async def fetch() -> str:
        """One GET straight through the ASGI interface (the test client runs requests one by one)."""
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": "/seite", "raw_path": b"/seite", "root_path": "",
            "query_string": b"", "headers": [(b"host", b"127.0.0.1")], "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 8000),
        }  # fmt: skip
        body: list[bytes] = []

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.body":
                body.append(message.get("body", b""))

        await app(scope, receive, send)
        return b"".join(body).decode()

    async with AsyncTestClient(app=app):  # runs the app's start-up
        answers = await asyncio.gather(*(fetch() for _ in range(12)))
        assert answers == ["Fassung 1"] * 12
        assert len(renders) == 1 and cache.misses == 1 and cache.hits == 11
        # Expired: one request refreshes, the others meanwhile get the expired copy at once.
        for entry in cache._entries.values():
            entry.expires = time.monotonic() - 1
        answers = await asyncio.gather(*(fetch() for _ in range(6)))
        assert len(renders) == 2 and cache.stale_hits == 5
        assert sorted(answers) == ["Fassung 1"] * 5 + ["Fassung 2"]
        assert await fetch() == "Fassung 2"
        # Expired beyond the grace (one more TTL): never served.
        for entry in cache._entries.values():
            entry.expires = time.monotonic() - cache.ttl - 1
        assert await fetch() == "Fassung 3"
        assert cache._inflight == {}
