"""Invitation mail through the job queue and subscribers of an organization's invitations, on the real
database with a real SMTP sink on loopback (aiosmtpd): retry with backoff without mailing anyone twice,
a crash mid-send, no SMTP server, the clerk's retry; subscribe / confirm / unsubscribe with hostile
input, honeypot and rate limit; Unicode in every back-office PDF."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from council.accounts import passwords, service
from council.accounts.sessions import SESSION_COOKIE, create_session
from council.backoffice import invitation, mailing, meetings, subscriptions
from council.backoffice.models import InvitationDelivery, InvitationDispatch, InvitationSubscription
from council.core.jobs import JobRunner
from council.core.types import utcnow
from council.documents.store import FileStore
from tests.factories import Town, make_town
from tests.integration.invitation_mail_support import body, smtp_sink, wait_dispatches

BASE = "/verwaltung/sitzungsdienst"
UNICODE = "Straße ı ş ğ € „Zitat“ – Ärger"
#: Rendered here: invitations/subscribe.html, invitations/confirm.html, invitations/unsubscribe.html.


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    monkeypatch.setattr(passwords, "_hasher", PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024),)))
    passwords._dummy_hash.cache_clear()
    yield
    monkeypatch.undo()
    passwords._dummy_hash.cache_clear()


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mailing, "RETRY_DELAYS_S", (0.05, 0.1, 0.2))


async def post(client: Any, path: str, **kwargs: Any) -> Any:
    return await client.post(path, follow_redirects=False, **kwargs)


def as_user(client: Any, token: str | None) -> None:
    client.cookies.delete(SESSION_COOKIE)
    if token:
        client.cookies.set(SESSION_COOKIE, token, domain="127.0.0.1")


async def csrf(client: Any, path: str) -> tuple[str, str]:
    r = await client.get(path)
    assert r.status_code == 200, r.text[:300]
    token = re.search(r'name="_csrf_token" value="([^"]+)"', r.text)
    assert token
    return r.text, token.group(1)


async def published_meeting(session: Any, town: Town, name: str = "Sitzung mit Einladung") -> tuple[int, int]:
    from council.backoffice import agenda

    actor = meetings.Actor(None, "test")
    data = meetings.parse_meeting_form(
        {
            "name": name,
            "organization_id": str(town.committee.id),
            "date": "2031-05-06",
            "start_time": "18:00",
            "location": "Ratssaal",
            "public": "on",
        }
    )
    meeting = await meetings.create_meeting(session, actor, data, standing_items=False)
    await agenda.add_item(session, actor, meeting.id, 1, name="Radweg")
    await meetings.publish(session, actor, meeting.id, 2)
    await session.commit()
    return meeting.id, 3


async def subscribe_confirmed(session: Any, org_id: int, address: str) -> int:
    done = await subscriptions.request(session, org_id, address)
    assert done.optin_token
    await subscriptions.confirm(session, done.optin_token)
    await session.commit()
    return done.subscription.id


@pytest.fixture
async def town(session: Any) -> Town:
    town = await make_town(session)
    for i, member in enumerate(town.persons):
        member.email = [f"person{i}@example.org"]
    await session.commit()
    return town


async def invite(db: Any, settings: Any, mid: int, version: int) -> int:
    async with db.sessionmaker() as s:
        _file, dispatch = await invitation.send_invitation(
            s, FileStore(settings.files_dir), settings, meetings.Actor(None, "test"), mid, version
        )
        await s.commit()
        return dispatch.id


async def deliveries(db: Any, dispatch_id: int) -> dict[str, InvitationDelivery]:
    async with db.sessionmaker() as s:
        rows = (
            await s.execute(select(InvitationDelivery).where(InvitationDelivery.dispatch_id == dispatch_id))
        ).scalars()
        return {r.email: r for r in rows}


async def all_rounds(
    db: Any, settings: Any, dispatch_id: int, **kwargs: Any
) -> tuple[mailing.DispatchResult, list[float]]:
    """Run the rounds the job would run (each after its backoff); returns the last result and the waits."""
    waits: list[float] = []
    for round_no in range(len(mailing.RETRY_DELAYS_S) + 1):
        result = await mailing.run_dispatch(
            db.sessionmaker, settings, dispatch_id, round_no=round_no, **kwargs
        )
        if result.retry_in is None:
            return result, waits
        waits.append(result.retry_in)
    raise AssertionError("more rounds than RETRY_DELAYS_S allows")


async def test_retry_with_backoff_mails_nobody_twice(
    db: Any, session: Any, settings: Any, town: Town
) -> None:
    mid, version = await published_meeting(session, town)
    await subscribe_confirmed(session, town.committee.id, "resi@example.org")
    # Not yet confirmed: gets nothing.
    await subscriptions.request(session, town.committee.id, "pending@example.org")
    await session.commit()
    dispatch_id = await invite(db, settings, mid, version)

    with smtp_sink(settings) as sink:
        sink.refuse = {"person1@example.org": 2}  # 451 twice, then accepted
        result, waits = await all_rounds(db, settings, dispatch_id)
    assert result.state == "done" and result.sent == 3 and len(waits) == 2
    assert waits == list(mailing.RETRY_DELAYS_S[:2])  # backoff before the 2nd and 3rd round
    assert sink.recipients == ["person0@example.org", "person1@example.org", "resi@example.org"]
    assert sink.refused == ["person1@example.org", "person1@example.org"]
    rows = await deliveries(db, dispatch_id)
    assert rows["person1@example.org"].attempts == 3 and rows["person0@example.org"].attempts == 1
    assert all(r.state == "sent" and r.sent_at and r.message_id for r in rows.values())
    assert rows["resi@example.org"].kind == "subscriber" and rows["person0@example.org"].kind == "member"
    # Running the job again (a retry, a resumed job) sends nothing more.
    with smtp_sink(settings) as sink:
        again = await mailing.run_dispatch(db.sessionmaker, settings, dispatch_id)
    assert again.sent == 3 and sink.messages == []


async def test_crash_mid_send_is_uncertain_not_resent(
    db: Any, session: Any, settings: Any, town: Town
) -> None:
    mid, version = await published_meeting(session, town)
    dispatch_id = await invite(db, settings, mid, version)
    async with db.sessionmaker() as s:
        row = (
            await s.execute(
                select(InvitationDelivery).where(
                    InvitationDelivery.dispatch_id == dispatch_id,
                    InvitationDelivery.email == "person0@example.org",
                )
            )
        ).scalar_one()
        row.state, row.attempts = "sending", 1  # a worker died during the SMTP conversation
        await s.commit()
    with smtp_sink(settings) as sink:
        result = await mailing.run_dispatch(db.sessionmaker, settings, dispatch_id)
    assert sink.recipients == ["person1@example.org"]
    assert result.state == "partial" and result.uncertain == 1
    assert (await deliveries(db, dispatch_id))["person0@example.org"].state == "uncertain"


async def test_no_smtp_server_is_skipped(db: Any, session: Any, settings: Any, town: Town) -> None:
    mid, version = await published_meeting(session, town)
    dispatch_id = await invite(db, settings, mid, version)
    settings.smtp_host = ""
    assert await JobRunner(db.sessionmaker, settings=settings).run_until_empty() >= 1
    async with db.sessionmaker() as s:
        dispatch = await s.get(InvitationDispatch, dispatch_id)
        assert dispatch is not None and dispatch.state == "skipped"
    assert {r.state for r in (await deliveries(db, dispatch_id)).values()} == {"skipped"}


async def test_clerk_sees_failures_and_sends_the_failed_again(
    client: Any, db: Any, session: Any, settings: Any, town: Town
) -> None:
    clerk = await service.create_account(session, "clerk1", "correct horse battery", ("clerk",))
    await session.flush()
    token = await create_session(session, clerk.id)
    await session.commit()
    mid, _version = await published_meeting(session, town)
    as_user(client, token)
    # The SMTP server is down: every round fails, the job ends with the dispatch "partial".
    from tests.integration.vote_server import free_port

    settings.smtp_host, settings.smtp_port = "127.0.0.1", free_port()
    text, tok = await csrf(client, f"{BASE}/{mid}")
    v = re.search(r'name="version" value="(\d+)"', text)
    assert v
    r = await post(client, f"{BASE}/{mid}/einladen", data={"_csrf_token": tok, "version": v.group(1)})
    assert r.status_code == 303 and r.headers["location"].endswith("#versand")
    (dispatch,) = await wait_dispatches(db, mid)
    assert dispatch.state == "partial"
    text, tok = await csrf(client, f"{BASE}/{mid}")
    assert 'data-state="partial"' in text and "0 von 2 versandt, 2 fehlgeschlagen" in text
    assert "Fehlgeschlagene erneut senden" in text and "ConnectionRefusedError" in text
    v = re.search(r'name="version" value="(\d+)"', text)
    assert v
    # Hostile retry input: 4xx, never 5xx.
    for bad in ("", "x", "-1", "99999999999", str(dispatch.id + 100)):
        r = await post(
            client,
            f"{BASE}/{mid}/versand-wiederholen",
            data={"_csrf_token": tok, "version": v.group(1), "dispatch_id": bad},
        )
        assert 400 <= r.status_code < 500, (bad, r.status_code)
    with smtp_sink(settings) as sink:
        r = await post(
            client,
            f"{BASE}/{mid}/versand-wiederholen",
            data={"_csrf_token": tok, "version": v.group(1), "dispatch_id": str(dispatch.id)},
        )
        assert r.status_code == 303
        (dispatch,) = await wait_dispatches(db, mid)
    assert dispatch.state == "done" and sink.recipients == ["person0@example.org", "person1@example.org"]
    # Nothing left to retry: refused with a message.
    r = await post(
        client,
        f"{BASE}/{mid}/versand-wiederholen",
        data={"_csrf_token": tok, "version": v.group(1), "dispatch_id": str(dispatch.id)},
    )
    assert r.status_code == 400 and "nichts erneut zu senden" in r.text
    # Councillors and residents see none of it.
    as_user(client, None)
    assert (await client.get(f"{BASE}/{mid}", follow_redirects=False)).status_code in (302, 303, 401)


async def test_non_public_meeting_mails_members_only(
    db: Any, session: Any, settings: Any, town: Town
) -> None:
    mid, version = await published_meeting(session, town)
    await subscribe_confirmed(session, town.committee.id, "resi@example.org")
    meeting, _wf = await meetings.load_meeting(session, mid)
    meeting.public = False
    await session.commit()
    dispatch_id = await invite(db, settings, mid, version)
    assert set(await deliveries(db, dispatch_id)) == {"person0@example.org", "person1@example.org"}


async def test_subscribe_confirm_unsubscribe_and_hostile_input(
    client: Any, db: Any, session: Any, settings: Any, town: Town
) -> None:
    settings.questions_ip_limit = 100  # the limit has its own test
    org = town.committee.id
    page = await client.get(f"/gremien/{org}")
    assert page.status_code == 200 and f'href="/gremien/{org}/einladungen"' in page.text
    path = f"/gremien/{org}/einladungen"
    text, token = await csrf(client, path)
    assert 'name="website"' in text and 'autocomplete="email"' in text
    hostile = [
        "",
        "kein-at",
        "a@b",
        "<script>alert(1)</script>@example.org",
        "x" * 400 + "@example.org",
        "a@example.org\r\nBcc: victim@example.org",
        "\x00@example.org",
        "\u202eevil@example.org",
    ]
    for value in hostile:
        r = await post(client, path, data={"_csrf_token": token, "email": value})
        assert r.status_code == 400, (value, r.status_code)
        assert "<script>alert(1)</script>" not in r.text
    # Invalid UTF-8 (a lone surrogate's bytes) in a raw body.
    r = await post(
        client,
        path,
        content=f"_csrf_token={token}&email=%ED%A0%80%40example.org".encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400
    # Honeypot: 400, nothing stored, nothing mailed.
    with smtp_sink(settings) as sink:
        r = await post(client, path, data={"_csrf_token": token, "email": "bot@example.org", "website": "x"})
        assert r.status_code == 400
        # Unknown organization, ids out of range, no CSRF token.
        assert (
            await post(client, "/gremien/999999/einladungen", data={"_csrf_token": token})
        ).status_code == 404
        assert (await client.get("/gremien/99999999999/einladungen")).status_code in (400, 404)
        assert (await post(client, path, data={"email": "a@example.org"})).status_code == 403
        r = await post(client, path, data={"_csrf_token": token, "email": "Resi@Example.org"})
        assert r.status_code == 200 and 'id="subscribe-sent"' in r.text
        # The same address again: the same answer (nobody learns who subscribed), a fresh link.
        r = await post(client, path, data={"_csrf_token": token, "email": "resi@example.org"})
        assert r.status_code == 200 and 'id="subscribe-sent"' in r.text
    assert sink.recipients == ["resi@example.org", "resi@example.org"]
    links = [
        re.search(r"/einladungen/bestaetigen/([A-Za-z0-9_-]+)", body(m)) for m in sink.to("resi@example.org")
    ]
    assert all(links)
    first, second = (m.group(1) for m in links if m)
    async with db.sessionmaker() as s:
        rows = (await s.execute(select(InvitationSubscription))).scalars().all()
        assert [(r.email, r.email_confirmed) for r in rows] == [("resi@example.org", None)]
        # Only the hash of the token is stored.
        assert rows[0].optin_token_hash and rows[0].optin_token_hash not in (first, second)
        assert len(rows[0].optin_token_hash) == 64
    # The first link was replaced by the second.
    _, token = await csrf(client, f"/einladungen/bestaetigen/{second}")
    assert (
        await post(client, f"/einladungen/bestaetigen/{first}", data={"_csrf_token": token})
    ).status_code == 404
    for bad in ("x", "a" * 200, "%00" * 30, "a" * 19, "a%2Fb" * 8):
        assert (await client.get(f"/einladungen/bestaetigen/{bad}")).status_code in (400, 404)
    r = await post(client, f"/einladungen/bestaetigen/{second}", data={"_csrf_token": token})
    assert r.status_code == 200 and 'id="subscribe-confirmed"' in r.text
    # Confirmed: subscribing again mails nothing (and answers the same).
    with smtp_sink(settings) as sink:
        r = await post(client, path, data={"_csrf_token": token, "email": "resi@example.org"})
        assert r.status_code == 200 and 'id="subscribe-sent"' in r.text
    assert sink.messages == []
    async with db.sessionmaker() as s:
        sub = (await s.execute(select(InvitationSubscription))).scalar_one()
        assert sub.email_confirmed is not None
    # Unsubscribe: a wrong key or id is a 404; the right link needs no login (GET shows a button).
    key = subscriptions.unsubscribe_key(settings.secret_key, sub.id)
    assert (await client.get(f"/einladungen/abbestellen/{sub.id}/{'0' * 40}")).status_code == 404
    assert (await client.get(f"/einladungen/abbestellen/{sub.id + 1}/{key}")).status_code == 404
    assert (await client.get(f"/einladungen/abbestellen/{sub.id}/zz")).status_code == 404
    assert (await post(client, f"/einladungen/abbestellen/{sub.id}/{'0' * 40}")).status_code == 404
    r = await client.get(f"/einladungen/abbestellen/{sub.id}/{key}")
    assert r.status_code == 200 and "Ja, abbestellen" in r.text
    async with db.sessionmaker() as s:
        assert (await s.execute(select(InvitationSubscription))).scalar_one_or_none() is not None
    r = await post(client, f"/einladungen/abbestellen/{sub.id}/{key}", data={"_csrf_token": token})
    assert r.status_code == 200 and 'id="unsubscribed"' in r.text
    async with db.sessionmaker() as s:
        assert (await s.execute(select(InvitationSubscription))).scalar_one_or_none() is None
    # A second click is fine.
    assert (await post(client, f"/einladungen/abbestellen/{sub.id}/{key}")).status_code == 200


async def test_subscribe_rate_limit(client: Any, settings: Any, town: Town) -> None:
    path = f"/gremien/{town.committee.id}/einladungen"
    _, token = await csrf(client, path)
    statuses = []
    for i in range(settings.questions_ip_limit + 2):
        r = await post(client, path, data={"_csrf_token": token, "email": f"r{i}@example.org"})
        statuses.append(r.status_code)
    assert statuses[: settings.questions_ip_limit] == [200] * settings.questions_ip_limit
    assert statuses[-1] == 429


async def test_unconfirmed_subscriptions_are_purged(session: Any, town: Town) -> None:
    old = await subscriptions.request(session, town.committee.id, "old@example.org")
    old.subscription.created = utcnow() - timedelta(days=subscriptions.UNCONFIRMED_DAYS + 1)
    await session.flush()
    await subscriptions.request(session, town.committee.id, "new@example.org")
    await session.commit()
    emails = (await session.execute(select(InvitationSubscription.email))).scalars().all()
    assert emails == ["new@example.org"]


def _pdf_text(data: bytes) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)


async def test_unicode_in_every_back_office_pdf(session: Any, town: Town) -> None:
    from council.backoffice import agenda
    from council.backoffice.minutes import ItemMinutes, render_minutes_pdf
    from council.backoffice.motions import motion_pdf

    mid, _version = await published_meeting(session, town, name=f"Sitzung {UNICODE}")
    meeting, _wf = await meetings.load_meeting(session, mid)
    views = await agenda.items(session, mid)
    views[0].item.name = UNICODE
    text = _pdf_text(invitation.render_invitation_pdf(meeting, views, body_name=f"Gemeinde {UNICODE}"))
    assert text.count(UNICODE) >= 3 and "?" not in text
    text = _pdf_text(
        motion_pdf(
            paper_type="Antrag",
            title=UNICODE,
            text=f"Antragstext {UNICODE}",
            justification="Begründung",
            faction="Fraktion Yılmaz",
            author="Ayşe Yılmaz",
            signers=[("Łukasz Ğür", utcnow())],
            submitted_at=utcnow(),
        )
    )
    assert text.count(UNICODE) == 2 and "Ayşe Yılmaz" in text and "Łukasz Ğür" in text
    entries = [
        ItemMinutes(
            agenda_item_id=views[0].item.id,
            number="1",
            name=UNICODE,
            public=True,
            text=f"Aussprache {UNICODE}",
            resolution=UNICODE,
        )
    ]
    text = _pdf_text(render_minutes_pdf(meeting, entries))
    assert text.count(UNICODE) >= 3


async def test_unreachable_server_costs_one_connect_per_round(
    db: Any, session: Any, settings: Any, town: Town, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.integration.vote_server import free_port

    mid, version = await published_meeting(session, town)
    dispatch_id = await invite(db, settings, mid, version)
    monkeypatch.setattr(mailing, "BATCH", 1)  # two members: two batches per round
    batches: list[int] = []

    def counting(settings: Any, messages: Any) -> Any:
        batches.append(len(messages))
        return mailing.send_batch(settings, messages)

    settings.smtp_host, settings.smtp_port = "127.0.0.1", free_port()  # nothing listens there
    result, waits = await all_rounds(db, settings, dispatch_id, sender=counting)
    settings.smtp_host = ""
    rounds = len(mailing.RETRY_DELAYS_S) + 1
    assert result.state == "partial" and result.failed == 2 and len(waits) == rounds - 1
    assert batches == [1] * rounds  # the second batch of a round is not tried once the server is down
    rows = await deliveries(db, dispatch_id)
    assert rows["person0@example.org"].attempts == rounds and rows["person1@example.org"].attempts == 0
    assert "nicht erreichbar" in (rows["person1@example.org"].last_error or "")
