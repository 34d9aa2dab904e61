"""Council votes through real HTTP: the clerk's page, ballots (form, htmx, JSON with idempotency keys),
public results and verification, access rules, hostile input, and the result live on SSE."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx
from litestar.channels import ChannelsPlugin
from sqlalchemy import select

from council.accounts.sessions import SESSION_COOKIE
from council.records.models import AgendaItem
from tests.integration.test_live import _read_events, serve
from tests.vote_helpers import csrf, make_vote_town
from votes import service
from votes.models import Poll


def use(client: Any, token: str | None) -> None:
    client.cookies.delete(SESSION_COOKIE)
    if token:
        client.cookies.set(SESSION_COOKIE, token, domain="127.0.0.1")


def hx(token: str) -> dict[str, str]:
    return {"x-csrftoken": token, "hx-request": "true"}


def js(token: str, key: str | None = None) -> dict[str, str]:
    h = {"x-csrftoken": token, "accept": "application/json"}
    if key:
        h["idempotency-key"] = key
    return h


async def _setup(db: Any, **kw: Any) -> Any:
    async with db.sessionmaker() as s:
        return await make_vote_town(s, **kw)


async def _last_poll(db: Any) -> int:
    async with db.sessionmaker() as s:
        return int((await s.execute(select(Poll.id).order_by(Poll.id.desc()).limit(1))).scalar_one())


async def test_clerk_and_councillors_vote_over_http(client: Any, db: Any) -> None:
    vt = await _setup(db)
    token = await csrf(client)
    mid = vt.meeting_id
    use(client, vt.clerk_token)
    page = await client.get(f"/verwaltung/sitzungen/{mid}/abstimmungen")
    assert page.status_code == 200 and "Neue Abstimmung" in page.text
    r = await client.post(
        f"/verwaltung/sitzungen/{mid}/abstimmungen",
        data={
            "_csrf_token": token,
            "agenda_item_id": str(vt.item_id),
            "kind": "named",
            "majority": "simple",
            "question": "Der Rat beschließt die Sanierung des Radwegs.",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/verwaltung/sitzungen/{mid}/abstimmungen"
    pid = await _last_poll(db)
    opened = await client.post(f"/abstimmungen/{pid}/oeffnen", headers=hx(token))
    assert opened.status_code == 200 and "Abstimmung schließen" in opened.text and "<html" not in opened.text

    a, b, c = vt.members[:3]
    use(client, vt.tokens[a])
    ballot = await client.get(f"/abstimmungen/{pid}")
    assert ballot.status_code == 200 and 'name="choice" value="yes"' in ballot.text
    key = re.search(r'name="idempotency_key" value="([^"]+)"', ballot.text).group(1)
    voted = await client.post(
        f"/abstimmungen/{pid}/stimme",
        data={"_csrf_token": token, "choice": "yes", "idempotency_key": key},
        follow_redirects=False,
    )
    assert voted.status_code == 303 and voted.headers["location"].startswith(f"/abstimmungen/{pid}?quittung=")
    after = await client.get(voted.headers["location"])
    assert "Ihre Stimme wurde gezählt." in after.text and "Sie haben abgestimmt." in after.text
    second = await client.post(f"/abstimmungen/{pid}/stimme", data={"choice": "no"}, headers=js(token))
    assert second.status_code == 409 and second.json()["code"] == "already_voted"
    plain_second = await client.post(
        f"/abstimmungen/{pid}/stimme", data={"_csrf_token": token, "choice": "no"}
    )
    assert plain_second.status_code == 409 and "Sie haben bereits abgestimmt." in plain_second.text

    use(client, vt.tokens[b])
    first = await client.post(
        f"/abstimmungen/{pid}/stimme", data={"choice": "no"}, headers=js(token, "k-bbbbbbbbbbbb")
    )
    retry = await client.post(
        f"/abstimmungen/{pid}/stimme", data={"choice": "no"}, headers=js(token, "k-bbbbbbbbbbbb")
    )
    assert first.status_code == retry.status_code == 201 and first.json() == retry.json()
    assert first.json()["choice"] == "no" and len(first.json()["receipt"]) == 64

    use(client, vt.tokens[c])
    current = await client.get(f"/sitzungen/{mid}/stimmzettel", headers={"hx-request": "true"})
    assert current.status_code == 200 and "<html" not in current.text and 'value="abstain"' in current.text
    frag = await client.post(
        f"/abstimmungen/{pid}/stimme", data={"choice": "yes", "view": "meeting"}, headers=hx(token)
    )
    assert frag.status_code == 200 and "Ihre Stimme wurde gezählt." in frag.text and "<html" not in frag.text

    use(client, vt.clerk_token)
    closed = await client.post(
        f"/abstimmungen/{pid}/schliessen", data={"_csrf_token": token}, follow_redirects=False
    )
    assert closed.status_code == 303

    use(client, None)
    results = await client.get(f"/sitzungen/{mid}/abstimmungen")
    assert results.status_code == 200
    assert "angenommen (2 Ja, 1 Nein, 0 Enthaltungen)" in results.text
    for person in ("Anna Becker", "Jürgen Schäfer", "Özlem Yılmaz"):
        assert person in results.text
    check = await client.get(f"/abstimmungen/{pid}/pruefung")
    assert (
        check.status_code == 200
        and 'data-verify-chain="ok"' in check.text
        and 'data-verify-poll="ok"' in check.text
    )
    async with db.sessionmaker() as s:
        poll = await s.get(Poll, pid)
        assert poll.chain_head in check.text and poll.chain_head in results.text
        item = await s.get(AgendaItem, vt.item_id)
        assert item.result.startswith("angenommen")
    meeting_page = await client.get(f"/sitzungen/{mid}")
    assert "data-vote-results" in meeting_page.text and "angenommen (2 Ja" in meeting_page.text


async def test_access_anonymous_and_wrong_role(client: Any, db: Any) -> None:
    vt = await _setup(db)
    token = await csrf(client)
    async with db.sessionmaker() as s:
        poll = await service.create_poll(s, meeting_id=vt.meeting_id, agenda_item_id=vt.item_id)
        secret = await service.create_poll(s, meeting_id=vt.meeting_id, agenda_item_id=vt.secret_item_id)
        pid, secret_id = poll.id, secret.id
        await service.open_poll(s, None, pid)
    mid = vt.meeting_id
    clerk_only = [
        ("GET", f"/verwaltung/sitzungen/{mid}/abstimmungen", {}),
        (
            "POST",
            f"/verwaltung/sitzungen/{mid}/abstimmungen",
            {"agenda_item_id": str(vt.item_id), "kind": "named"},
        ),
        ("POST", f"/abstimmungen/{secret_id}/einstellungen", {"majority": "absolute"}),
        ("POST", f"/abstimmungen/{secret_id}/oeffnen", {}),
        ("POST", f"/abstimmungen/{pid}/schliessen", {}),
        ("POST", f"/abstimmungen/{pid}/aufheben", {"reason": "x"}),
    ]
    signed_in = [
        ("GET", f"/abstimmungen/{pid}", {}),
        ("GET", f"/sitzungen/{mid}/stimmzettel", {}),
        ("POST", f"/abstimmungen/{pid}/stimme", {"choice": "yes"}),
    ]

    async def call(method: str, path: str, data: dict[str, str], headers: dict[str, str]) -> Any:
        if method == "GET":
            return await client.get(path, headers=headers, follow_redirects=False)
        return await client.post(
            path, data={**data, "_csrf_token": token}, headers=headers, follow_redirects=False
        )

    use(client, None)
    for method, path, data in clerk_only + signed_in:
        r = await call(method, path, data, {})
        assert r.status_code == 303 and r.headers["location"].startswith("/anmelden"), (
            method,
            path,
            r.status_code,
        )
        r = await call(method, path, data, {"hx-request": "true"})
        assert r.status_code == 401, (method, path, r.status_code)
    use(client, vt.tokens[vt.members[0]])  # a councillor is not the clerk
    for method, path, data in clerk_only:
        assert (await call(method, path, data, {})).status_code == 403, (method, path)
    # the clerk has no seat: signed in, but not eligible to vote
    use(client, vt.clerk_token)
    r = await client.post(f"/abstimmungen/{pid}/stimme", data={"choice": "yes"}, headers=js(token))
    assert r.status_code == 403
    use(client, vt.outsider_token)  # a councillor of no organisation of this meeting
    r = await client.post(f"/abstimmungen/{pid}/stimme", data={"choice": "yes"}, headers=js(token))
    assert r.status_code == 403
    # a poll on a non-public item does not exist for the public or for outsiders
    for who in (None, vt.outsider_token):
        use(client, who)
        assert (await client.get(f"/abstimmungen/{secret_id}/pruefung")).status_code == 404
    use(client, vt.tokens[vt.members[1]])
    assert (await client.get(f"/abstimmungen/{secret_id}/pruefung")).status_code == 200
    async with db.sessionmaker() as s:
        assert (await s.get(Poll, secret_id)).state == "draft"
        assert (await s.get(Poll, pid)).state == "open"


async def test_hostile_input_never_5xx(client: Any, db: Any) -> None:
    vt = await _setup(db)
    token = await csrf(client)
    mid = vt.meeting_id
    use(client, vt.clerk_token)
    # (lone surrogates cannot even be sent as UTF-8; the service tests feed them in directly)
    hostile = "\x00<script>alert(1)</script>\u202e' OR 1=1 --" + "x" * 10_000
    for item in ("", "abc", "-1", "99999999999999999999", hostile):
        r = await client.post(
            f"/verwaltung/sitzungen/{mid}/abstimmungen",
            data={"_csrf_token": token, "agenda_item_id": item, "kind": "named", "majority": "simple"},
        )
        assert r.status_code == 400, (item[:20], r.status_code)
    for field, value in (("kind", hostile), ("majority", hostile)):
        data = {
            "_csrf_token": token,
            "agenda_item_id": str(vt.item_id),
            "kind": "named",
            "majority": "simple",
        }
        data[field] = value
        r = await client.post(f"/verwaltung/sitzungen/{mid}/abstimmungen", data=data)
        assert r.status_code == 400
    r = await client.post(
        f"/verwaltung/sitzungen/{mid}/abstimmungen",
        data={
            "_csrf_token": token,
            "agenda_item_id": str(vt.item_id),
            "kind": "hands",
            "majority": "simple",
            "question": hostile,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    pid = await _last_poll(db)
    page = await client.get(f"/verwaltung/sitzungen/{mid}/abstimmungen")
    assert page.status_code == 200 and "<script>alert" not in page.text and "&lt;script&gt;" in page.text
    assert (await client.post(f"/abstimmungen/{pid}/oeffnen", data={"_csrf_token": token})).status_code == 200
    for counts in (
        {"yes": "-1"},
        {"yes": "abc"},
        {"yes": hostile},
        {"yes": "9999999"},
        {"yes": "3", "no": "3"},
    ):
        r = await client.post(f"/abstimmungen/{pid}/schliessen", data={"_csrf_token": token, **counts})
        assert r.status_code == 400, counts
    r = await client.post(
        f"/abstimmungen/{pid}/aufheben", data={"_csrf_token": token, "reason": "\x00 \u202e"}
    )
    assert r.status_code == 400
    r = await client.post(f"/abstimmungen/{pid}/schliessen", data={"yes": "2", "no": "1"}, headers=hx(token))
    assert r.status_code == 200 and "Die Abstimmung ist abgeschlossen." in r.text and "<html" not in r.text
    assert "angenommen (2 Ja, 1 Nein, 0 Enthaltungen)" in r.text
    for path in (
        "/abstimmungen/99999999999999999999",
        "/abstimmungen/0/pruefung",
        "/sitzungen/2147483648/abstimmungen",
        f"/abstimmungen/{pid + 1000}/pruefung",
    ):
        r = await client.get(path)
        assert r.status_code in (400, 404), (path, r.status_code)
    use(client, vt.tokens[vt.members[0]])
    for choice in ("", hostile, "JA ", "maybe"):
        r = await client.post(f"/abstimmungen/{pid}/stimme", data={"choice": choice}, headers=js(token))
        assert r.status_code in (400, 409), (choice[:10], r.status_code)
    r = await client.post(
        f"/abstimmungen/{pid}/stimme", data={"choice": "yes"}, headers=js(token, "k" * 10_000)
    )
    assert r.status_code == 400
    r = await client.post("/abstimmungen/99999999999/stimme", data={"choice": "yes"}, headers=js(token))
    assert r.status_code == 404


async def test_result_arrives_on_sse(app: Any, db: Any) -> None:
    vt = await _setup(db)
    async with db.sessionmaker() as s:
        public = await service.create_poll(
            s, meeting_id=vt.meeting_id, agenda_item_id=vt.item_id, question="Antrag A"
        )
        hidden = await service.create_poll(s, meeting_id=vt.meeting_id, agenda_item_id=vt.secret_item_id)
        public_id, hidden_id = public.id, hidden.id

    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:
        async with http.stream("GET", f"/sitzungen/{vt.meeting_id}/live") as response:
            lines = response.aiter_lines()
            assert (await _read_events(lines, 1))[0]["event"] == "state"
            channels = app.plugins.get(ChannelsPlugin)
            async with db.sessionmaker() as s:
                await service.open_poll(s, channels, public_id)
                for i, choice in enumerate(["yes", "yes", "no"]):
                    pid = vt.members[i]
                    ok = await service.cast_ballot(
                        s, public_id, person_id=pid, account_id=vt.account_ids[pid], choice=choice
                    )
                    assert ok.accepted
                await service.close_poll(s, channels, public_id)
                await service.open_poll(s, channels, hidden_id)
                await service.cast_ballot(
                    s,
                    hidden_id,
                    person_id=vt.members[0],
                    account_id=vt.account_ids[vt.members[0]],
                    choice="no",
                )
                await service.close_poll(s, channels, hidden_id)
            events = await asyncio.wait_for(_read_events(lines, 4), timeout=10)
    kinds = [e["data"]["kind"] for e in events]
    assert kinds == ["vote.opened", "vote.closed", "vote.opened", "vote.closed"]
    result = events[1]["data"]["payload"]
    assert result["tally"] == {"yes": 2, "no": 1, "abstain": 0} and result["adopted"] is True
    assert sorted(v["choice"] for v in result["votes"]) == ["no", "yes", "yes"]
    assert len(result["chain_head"]) == 64
    # a non-public item's result stays off the public bus
    assert set(events[3]["data"]["payload"]) == {"poll_id", "state", "kind"}
    assert "Antrag A" in json.dumps(events[0]["data"])
