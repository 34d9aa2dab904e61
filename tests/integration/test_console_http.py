"""The clerk's console and the councillor's device page through real HTTP: the flow, htmx fragments,
refused transitions, hostile input, access, and the public page's quorum line and live stream."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from council.accounts import passwords, service
from council.accounts.models import Account
from council.accounts.sessions import SESSION_COOKIE, create_session
from council.live.models import TimelineEvent
from council.records.models import AgendaItem
from tests.factories import Town, keep_upcoming, make_town
from tests.integration.test_live import _read_events, serve

HTMX = {"HX-Request": "true"}
#: Rendered here (full pages and htmx blocks): console/console.html, console/meetings.html,
#: console/participation.html, console/_macros.html (also on the public meeting page).


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    monkeypatch.setattr(passwords, "_hasher", PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024),)))
    passwords._dummy_hash.cache_clear()
    yield
    monkeypatch.undo()
    passwords._dummy_hash.cache_clear()


class World:
    def __init__(self, town: Town, tokens: dict[str, str]) -> None:
        self.town = town
        self.tokens = tokens
        self.mid = town.council_meeting.id
        self.item = town.council_item.id


@pytest.fixture
async def world(session: Any) -> World:
    town = await make_town(session)
    assert town.council_meeting is not None
    await keep_upcoming(session, town.council_meeting.id, 14)  # staff lists show upcoming meetings
    tokens = {}
    for username, roles, person in [
        ("clerk1", ("clerk",), None),
        ("chair1", ("chair", "councillor"), town.persons[3]),
        ("anna", ("councillor",), town.persons[0]),  # council + committee (ASV)
        ("oezlem", ("councillor",), town.persons[2]),  # council only
    ]:
        account = await service.create_account(
            session, username, "correct horse battery", roles, person_id=person.id if person else None
        )
        await session.flush()
        tokens[username] = await create_session(session, account.id)
    await session.commit()
    return World(town, tokens)


def as_user(client: Any, token: str | None) -> None:
    client.cookies.delete(SESSION_COOKIE)
    if token:
        client.cookies.set(SESSION_COOKIE, token, domain="127.0.0.1")


async def csrf(client: Any, path: str) -> str:
    r = await client.get(path)
    assert r.status_code == 200, r.text[:500]
    m = re.search(r'name="_csrf_token" value="([^"]+)"', r.text)
    assert m, "no CSRF field on " + path
    return m.group(1)


async def post(
    client: Any, path: str, data: dict[str, Any] | None = None, *, htmx: bool = False, token: str
) -> Any:
    body = {"_csrf_token": token, **(data or {})}
    headers = dict(HTMX) if htmx else {}
    return await client.post(path, data=body, headers=headers, follow_redirects=False)


def console(w: World) -> str:
    return f"/verwaltung/sitzungen/{w.mid}/konsole"


async def test_console_flow_and_public_page(client: Any, db: Any, world: World) -> None:
    w = world
    as_user(client, w.tokens["clerk1"])
    r = await client.get(console(w))
    assert r.status_code == 200
    assert "Sitzung eröffnen" in r.text and "12. Sitzung des Rates" in r.text
    assert 'id="console"' in r.text and "/static/js/console.js" in r.text
    token = await csrf(client, console(w))

    r = await post(client, console(w) + "/eroeffnen", token=token)
    assert r.status_code == 303 and r.headers["location"] == console(w)
    for p in w.town.persons[:3]:
        r = await post(client, console(w) + "/anwesend", {"person_id": p.id}, token=token)
        assert r.status_code == 303
    r = await post(client, console(w) + "/top-starten", {"item_id": w.item}, htmx=True, token=token)
    assert r.status_code == 200
    assert "<html" not in r.text and 'id="console"' in r.text
    assert "Beschlussfähig: 3 von 5 Mitgliedern anwesend, erforderlich 3" in r.text
    assert 'aria-current="true"' in r.text

    # the public page (anonymous): quorum line, current item, no console link
    as_user(client, None)
    r = await client.get(f"/sitzungen/{w.mid}")
    assert r.status_code == 200
    assert "Beschlussfähig: 3 von 5 Mitgliedern anwesend, erforderlich 3" in r.text
    assert f'id="top-{w.item}" data-agenda-item="{w.item}" class="is-current"' in r.text
    assert "/konsole" not in r.text and "/teilnahme" not in r.text
    assert "/static/js/live-meeting.js" in r.text

    # staff see the console link on the meeting page; the staff index links the console
    as_user(client, w.tokens["clerk1"])
    r = await client.get(f"/sitzungen/{w.mid}")
    assert f"/verwaltung/sitzungen/{w.mid}/konsole" in r.text
    r = await client.get("/verwaltung")
    assert "/verwaltung/sitzungen" in r.text
    r = await client.get("/verwaltung/sitzungen")
    assert r.status_code == 200 and f"/verwaltung/sitzungen/{w.mid}/konsole" in r.text

    # AgendaItem.start is filled from the timeline
    async with db.sessionmaker() as s:
        item = await s.get(AgendaItem, w.item)
        assert item is not None and item.start is not None and item.end is None


async def test_speakers_via_device_and_console(client: Any, db: Any, world: World) -> None:
    w = world
    anna = w.town.persons[0]
    as_user(client, w.tokens["clerk1"])
    ctoken = await csrf(client, console(w))
    await post(client, console(w) + "/eroeffnen", token=ctoken)
    await post(client, console(w) + "/top-starten", {"item_id": w.item}, token=ctoken)

    # the councillor asks to speak from the device page
    as_user(client, w.tokens["anna"])
    device = f"/sitzungen/{w.mid}/teilnahme"
    r = await client.get(device)
    assert r.status_code == 200 and "Wortmeldung" in r.text
    dtoken = await csrf(client, device)
    r = await post(client, device + "/einwilligung", {"consent": "ja"}, token=dtoken)
    assert r.status_code == 303 and r.headers["location"] == device
    r = await post(client, device + "/wortmeldung", {"item_id": w.item}, htmx=True, token=dtoken)
    assert r.status_code == 200 and 'id="participation"' in r.text and "<html" not in r.text
    assert "Platz 1 von 1" in r.text
    r = await post(client, device + "/wortmeldung", {"item_id": w.item}, htmx=True, token=dtoken)
    assert r.status_code == 409 and "bereits auf der Redeliste" in r.text and 'id="participation"' in r.text
    r = await post(client, device + "/wortmeldung", {"item_id": w.item}, token=dtoken)
    assert r.status_code == 409 and "bereits auf der Redeliste" in r.text

    # the clerk gives the floor
    as_user(client, w.tokens["clerk1"])
    r = await client.get(console(w))
    assert anna.name in r.text and "Wort erteilen" in r.text
    r = await post(
        client, console(w) + "/rede-starten", {"item_id": w.item, "person_id": anna.id}, token=ctoken
    )
    assert r.status_code == 303
    r = await client.get(f"/sitzungen/{w.mid}")
    assert f"Es spricht: {anna.name}" in r.text
    # consent given: the "paused" badge stays hidden
    assert re.search(r'data-live-paused class="badge badge-warn" hidden', r.text)

    # she revokes consent for this speech on her device: the public page says transmission paused
    as_user(client, w.tokens["anna"])
    r = await post(
        client, device + "/rede-einwilligung", {"item_id": w.item, "consent": "nein"}, token=dtoken
    )
    assert r.status_code == 303
    as_user(client, None)
    r = await client.get(f"/sitzungen/{w.mid}")
    assert re.search(r'data-live-paused class="badge badge-warn">', r.text)
    async with db.sessionmaker() as s:
        last = (
            await s.execute(select(TimelineEvent).order_by(TimelineEvent.id.desc()).limit(1))
        ).scalar_one()
        assert last.kind == "speaker.started" and last.consent is False and last.person_id == anna.id

    as_user(client, w.tokens["clerk1"])
    r = await post(client, console(w) + "/rede-beenden", htmx=True, token=ctoken)
    assert r.status_code == 200 and "Gerade spricht niemand." in r.text
    r = await post(client, console(w) + "/rede-beenden", htmx=True, token=ctoken)
    assert r.status_code == 409 and "Gerade spricht niemand." in r.text and 'role="alert"' in r.text

    # conflict of interest from the device; the console marks it
    as_user(client, w.tokens["anna"])
    r = await post(client, device + "/befangen", {"item_id": w.item}, token=dtoken)
    assert r.status_code == 303
    r = await client.get(device)
    assert "Befangenheit zurücknehmen" in r.text
    as_user(client, w.tokens["clerk1"])
    r = await client.get(console(w))
    assert "befangen" in r.text

    # the clerk adds and orders speakers; the chair may use the console too
    as_user(client, w.tokens["chair1"])
    chtoken = await csrf(client, console(w))
    for p in w.town.persons[1:3]:
        r = await post(
            client, console(w) + "/wortmeldung", {"item_id": w.item, "person_id": p.id}, token=chtoken
        )
        assert r.status_code == 303
    b, c = w.town.persons[1], w.town.persons[2]
    r = await post(
        client, console(w) + "/runter", {"item_id": w.item, "person_id": b.id}, htmx=True, token=chtoken
    )
    assert r.status_code == 200
    listed = r.text[r.text.index('class="console-speakers"') :]
    assert listed.index(c.name) < listed.index(b.name)
    r = await post(
        client,
        console(w) + "/reihenfolge",
        {"item_id": w.item, "order": f"{b.id},{c.id}"},
        htmx=True,
        token=chtoken,
    )
    assert r.status_code == 200
    r = await post(
        client, console(w) + "/reihenfolge", {"item_id": w.item, "order": f"{b.id}"}, token=chtoken
    )
    assert r.status_code == 400


async def test_invalid_transitions_and_hostile_input(client: Any, world: World) -> None:
    w = world
    as_user(client, w.tokens["clerk1"])
    token = await csrf(client, console(w))
    # not open yet
    r = await post(client, console(w) + "/top-starten", {"item_id": w.item}, token=token)
    assert r.status_code == 409 and "noch nicht eröffnet" in r.text
    await post(client, console(w) + "/eroeffnen", token=token)
    # an item of another meeting; an item not started
    r = await post(client, console(w) + "/top-starten", {"item_id": w.town.public_item.id}, token=token)
    assert r.status_code == 409 and "gehört nicht zu dieser Sitzung" in r.text
    r = await post(client, console(w) + "/top-beenden", {"item_id": w.item}, token=token)
    assert r.status_code == 409
    # a speech of someone not on the list
    await post(client, console(w) + "/top-starten", {"item_id": w.item}, token=token)
    r = await post(
        client,
        console(w) + "/rede-starten",
        {"item_id": w.item, "person_id": w.town.persons[1].id},
        token=token,
    )
    assert r.status_code == 409 and "nicht auf der Redeliste" in r.text
    # unknown things are 404
    r = await post(client, console(w) + "/top-starten", {"item_id": 2**31 - 2}, token=token)
    assert r.status_code == 404
    r = await post(client, "/verwaltung/sitzungen/999999/konsole/eroeffnen", token=token)
    assert r.status_code == 404
    r = await post(client, "/verwaltung/sitzungen/99999999999999999999/konsole/eroeffnen", token=token)
    assert r.status_code in (400, 404)
    r = await client.get("/verwaltung/sitzungen/99999999999999999999/konsole")
    assert r.status_code in (400, 404)
    r = await post(client, console(w) + "/sprengen", token=token)
    assert r.status_code == 404
    r = await post(client, console(w) + "/%00%E2%80%AE", token=token)
    assert r.status_code == 404
    # hostile values
    for value in [
        "",
        "abc",
        "-1",
        "0",
        "1.5",
        "99999999999999999999",
        "\x00",
        "\u202e1",
        "<script>",
        "1; DROP TABLE x",
        "9" * 10_000,
    ]:
        r = await post(client, console(w) + "/anwesend", {"person_id": value}, token=token)
        assert r.status_code == 400, (value[:20], r.status_code)
        r = await post(
            client, console(w) + "/wortmeldung", {"person_id": "1", "item_id": value}, htmx=True, token=token
        )
        assert r.status_code == 400, (value[:20], r.status_code)
    r = await post(client, console(w) + "/reihenfolge", {"item_id": w.item, "order": "1,<b>,3"}, token=token)
    assert r.status_code == 400
    # a lone surrogate, percent-encoded (the client cannot encode it itself)
    r = await client.post(
        console(w) + "/anwesend",
        content=f"_csrf_token={token}&person_id=%ED%A0%80".encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert r.status_code == 400
    as_user(client, w.tokens["anna"])
    device = f"/sitzungen/{w.mid}/teilnahme"
    dtoken = await csrf(client, device)
    r = await post(client, device + "/einwilligung", {"consent": "vielleicht"}, token=dtoken)
    assert r.status_code == 400
    r = await post(client, device + "/wortmeldung", {"item_id": w.item, "consent": "\x00"}, token=dtoken)
    assert r.status_code == 400
    # a closed meeting
    as_user(client, w.tokens["clerk1"])
    await post(client, console(w) + "/schliessen", token=token)
    r = await post(client, console(w) + "/eroeffnen", token=token)
    assert r.status_code == 409 and "bereits geschlossen" in r.text
    as_user(client, w.tokens["anna"])
    r = await post(client, device + "/wortmeldung", {"item_id": w.item}, token=dtoken)
    assert r.status_code == 409


async def test_access(client: Any, db: Any, world: World) -> None:
    w = world
    committee_meeting = w.town.next_meeting.id
    committee_item = await _first_item(db, committee_meeting)
    # anonymous: sent to the login page
    as_user(client, None)
    for path in [console(w), "/verwaltung/sitzungen", f"/sitzungen/{w.mid}/teilnahme"]:
        r = await client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/anmelden"), path
    r = await client.get(console(w), headers=HTMX, follow_redirects=False)
    assert r.status_code == 401
    token = await csrf(client, "/anmelden")
    r = await post(client, console(w) + "/eroeffnen", token=token)
    assert r.status_code in (303, 401, 403)
    r = await post(client, f"/sitzungen/{w.mid}/teilnahme/wortmeldung", {"item_id": w.item}, token=token)
    assert r.status_code in (303, 401, 403)

    # no CSRF token, no change (even for the clerk)
    as_user(client, w.tokens["clerk1"])
    r = await client.post(console(w) + "/eroeffnen", data={}, follow_redirects=False)
    assert r.status_code == 403

    # a councillor cannot use the console
    as_user(client, w.tokens["anna"])
    r = await client.get(console(w))
    assert r.status_code == 403
    token = await csrf(client, f"/sitzungen/{w.mid}/teilnahme")
    r = await post(client, console(w) + "/eroeffnen", token=token)
    assert r.status_code == 403

    # a councillor of another committee cannot take part in the committee's meeting
    as_user(client, w.tokens["oezlem"])
    r = await client.get(f"/sitzungen/{committee_meeting}/teilnahme")
    assert r.status_code == 403
    r = await post(
        client,
        f"/sitzungen/{committee_meeting}/teilnahme/wortmeldung",
        {"item_id": committee_item},
        token=token,
    )
    assert r.status_code == 403
    # … but in the council's
    r = await client.get(f"/sitzungen/{w.mid}/teilnahme")
    assert r.status_code == 200
    # a clerk without a person has no device page
    as_user(client, w.tokens["clerk1"])
    r = await client.get(f"/sitzungen/{w.mid}/teilnahme")
    assert r.status_code == 403
    # non-public meetings of other organisations do not exist for a councillor
    as_user(client, w.tokens["anna"])
    r = await client.get(f"/sitzungen/{w.town.secret_meeting.id}/teilnahme")
    assert r.status_code == 404
    # nothing happened
    async with db.sessionmaker() as s:
        assert (await s.execute(select(TimelineEvent))).first() is None


async def _first_item(db: Any, meeting_id: int) -> int:
    async with db.sessionmaker() as s:
        return (
            await s.execute(select(AgendaItem.id).where(AgendaItem.meeting_id == meeting_id).limit(1))
        ).scalar_one()


async def test_public_stream_carries_console_events(app: Any, world: World) -> None:
    w = world
    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as clerk:
        clerk.cookies.set(SESSION_COOKIE, w.tokens["clerk1"])
        token = await csrf(clerk, console(w))
        async with httpx.AsyncClient(base_url=base, timeout=10) as public:
            async with public.stream("GET", f"/sitzungen/{w.mid}/live") as response:
                assert response.status_code == 200
                lines = response.aiter_lines()
                first = await _read_events(lines, 1)
                assert first[0]["event"] == "state" and first[0]["data"]["is_open"] is False
                # the stream subscribes before it sends the state: nothing recorded now is lost
                await post(clerk, console(w) + "/eroeffnen", token=token)
                await post(clerk, console(w) + "/anwesend", {"person_id": w.town.persons[0].id}, token=token)
                await post(clerk, console(w) + "/top-starten", {"item_id": w.item}, token=token)
                events = await _read_events(lines, 3)
                kinds = [e["data"]["kind"] for e in events]
                assert kinds == ["meeting.opened", "attendance.joined", "agenda_item.started"]
                assert events[1]["data"]["payload"]["quorum"]["present_voting"] == 1
                assert events[2]["data"]["agenda_item_id"] == w.item
        # a new viewer gets it all in the state
        async with httpx.AsyncClient(base_url=base, timeout=10) as public:
            async with public.stream("GET", f"/sitzungen/{w.mid}/live") as response:
                state = (await _read_events(response.aiter_lines(), 1))[0]["data"]
                assert state["is_open"] is True and state["agenda_item_id"] == w.item
                assert state["present_count"] == 1 and state["quorum"]["required"] == 3
                assert json.dumps(state)
    await asyncio.sleep(0)


async def test_demo_accounts_run_an_upcoming_demo_meeting(client: Any, db: Any, settings: Any) -> None:
    """`rathaus demo`'s accounts: clerk and chair open the console of an upcoming meeting of the
    councillor's organisations, the councillor takes part from the device page."""
    from council.core.types import utcnow
    from council.demo import load_demo
    from council.live import attendance
    from council.records.models import Meeting

    await load_demo(db, settings, scale="small")
    async with db.sessionmaker() as s:
        await service.ensure_demo_accounts(s)
        accounts = {a.username: a for a in (await s.execute(select(Account))).scalars()}
        tokens = {name: await create_session(s, a.id) for name, a in accounts.items()}
        await s.commit()
        person_id = accounts["councillor"].person_id
        assert person_id is not None
        upcoming = (
            (await s.execute(select(Meeting).where(Meeting.start > utcnow()).order_by(Meeting.start)))
            .scalars()
            .all()
        )
        mine = [m for m in upcoming if person_id in await attendance.member_ids(s, m)]
        assert mine, "no upcoming demo meeting for the demo councillor"
        meeting_id = mine[0].id

    for name in ("clerk", "chair", "admin"):
        as_user(client, tokens[name])
        r = await client.get(f"/verwaltung/sitzungen/{meeting_id}/konsole")
        assert r.status_code == 200, name
        r = await client.get("/verwaltung/sitzungen")
        assert r.status_code == 200 and f"/verwaltung/sitzungen/{meeting_id}/konsole" in r.text, name
    as_user(client, tokens["councillor"])
    r = await client.get(f"/sitzungen/{meeting_id}")
    assert f"/sitzungen/{meeting_id}/teilnahme" in r.text
    r = await client.get(f"/sitzungen/{meeting_id}/teilnahme")
    assert r.status_code == 200 and "Wortmeldung" in r.text
