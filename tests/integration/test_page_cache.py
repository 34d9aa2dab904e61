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
