"""The clerk's back office for meetings through real HTTP: draft → agenda → paper → publish →
invitation (PDF text, mail through a local SMTP sink, iCal SEQUENCE) → public page, iCal, OParl;
optimistic locking (two clerks), the change log, access, hostile input, minutes."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from council.accounts import passwords, service
from council.accounts.sessions import SESSION_COOKIE, create_session
from council.backoffice.models import ChangeLog, MeetingWorkflow
from council.documents.store import FileStore
from council.records.models import AgendaItem, Consultation, File, Meeting
from tests.factories import Town, make_town

BASE = "/verwaltung/sitzungsdienst"
#: Rendered here: backoffice/meetings/list.html, backoffice/meetings/_meeting_fields.html,
#: backoffice/meetings/meeting.html, backoffice/meetings/item.html, backoffice/meetings/minutes.html,
#: backoffice/meetings/changes.html.


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


@pytest.fixture
async def world(session: Any) -> World:
    town = await make_town(session)
    for i, member in enumerate(town.persons):
        member.email = [f"person{i}@example.org"]
    tokens = {}
    for username, roles, person in [
        ("clerk1", ("clerk",), None),
        ("clerk2", ("clerk",), None),
        ("anna", ("councillor",), town.persons[0]),
    ]:
        account = await service.create_account(
            session, username, "correct horse battery", roles, person_id=person.id if person else None
        )
        await session.flush()
        tokens[username] = await create_session(session, account.id)
    await session.commit()
    return World(town, tokens)


async def post(client: Any, path: str, **kwargs: Any) -> Any:
    return await client.post(path, follow_redirects=False, **kwargs)


def as_user(client: Any, token: str | None) -> None:
    client.cookies.delete(SESSION_COOKIE)
    if token:
        client.cookies.set(SESSION_COOKIE, token, domain="127.0.0.1")


async def page(client: Any, path: str) -> tuple[str, str, int | None]:
    """The page, its CSRF token and the version its forms carry."""
    r = await client.get(path)
    assert r.status_code == 200, r.text[:500]
    token = re.search(r'name="_csrf_token" value="([^"]+)"', r.text)
    version = re.search(r'name="version" value="(\d+)"', r.text)
    assert token
    return r.text, token.group(1), int(version.group(1)) if version else None


async def act(client: Any, mid: int, action: str, **data: Any) -> Any:
    _, token, version = await page(client, f"{BASE}/{mid}")
    payload = {"_csrf_token": token, "version": str(version), **{k: str(v) for k, v in data.items()}}
    return await post(client, f"{BASE}/{mid}/{action}", data=payload)


async def create(client: Any, town: Town, **over: Any) -> int:
    _, token, _v = await page(client, BASE)
    data = {
        "_csrf_token": token,
        "name": "7. Sitzung des Ausschusses für Stadtentwicklung",
        "organization_id": str(town.committee.id),
        "date": "2031-03-04",
        "start_time": "17:30",
        "end_time": "20:00",
        "location": "Ratssaal, Markt 1",
        "public": "on",
        "standing": "on",
        **over,
    }
    r = await post(client, f"{BASE}/neu", data=data)
    assert r.status_code == 303, r.text[:800]
    return int(r.headers["location"].rsplit("/", 1)[1])


async def test_draft_agenda_publish_invite_flow(client: Any, db: Any, world: World, settings: Any) -> None:
    from tests.integration.invitation_mail_support import body, smtp_sink, wait_dispatches

    town = world.town
    as_user(client, world.tokens["clerk1"])
    mid = await create(client, town)

    # A draft: the clerk sees it, nobody else anywhere.
    text, _, _v = await page(client, f"{BASE}/{mid}")
    assert "Entwurf" in text and "Genehmigung der Niederschrift" in text and "Einwohnerfragestunde" in text
    as_user(client, None)
    assert (await client.get(f"/sitzungen/{mid}")).status_code == 404
    assert (await client.get(f"/oparl/v1/meeting/{mid}")).json().get("deleted") is True
    assert "7. Sitzung des Ausschusses" not in (await client.get("/feeds/sitzungen.ics")).text
    assert "7. Sitzung des Ausschusses" not in (await client.get("/sitzungen?zeitraum=kommende")).text
    as_user(client, world.tokens["anna"])
    assert (await client.get(f"/sitzungen/{mid}")).status_code == 404
    assert (await client.get(f"{BASE}/{mid}")).status_code == 403

    # Agenda: items, a sub-item, a non-public item, a linked paper, moves.
    as_user(client, world.tokens["clerk1"])
    r = await act(client, mid, "top-neu", name="Radweg Landstraße", text="Sanierung 2031", part="oeffentlich")
    assert r.status_code == 303
    await act(client, mid, "top-neu", name="Bauabschnitt 1", part="oeffentlich", sub="on")
    await act(client, mid, "top-neu", name="Grundstücksangelegenheit", part="nichtoeffentlich")
    async with db.sessionmaker() as s:
        rows = (
            await s.execute(
                select(AgendaItem.number, AgendaItem.name, AgendaItem.public, AgendaItem.id)
                .where(AgendaItem.meeting_id == mid, AgendaItem.deleted.is_(False))
                .order_by(AgendaItem.order)
            )
        ).all()
    assert [(n, p) for n, _, p, _ in rows] == [
        ("1", True),
        ("2", True),
        ("3", True),
        ("4", True),
        ("4.1", True),
        ("5", False),
    ]
    radweg = rows[3][3]
    # digits to str.isdigit but not plain ASCII ("²" made int() raise, a 500; full-width "１２" became paper
    # 12): no such paper, nothing linked
    for odd in ("²", "１２", "¹²³"):
        r = await act(client, mid, "vorlage-verknuepfen", item_id=radweg, paper=odd)
        assert 400 <= r.status_code < 500, (odd, r.status_code)
    r = await act(client, mid, "vorlage-verknuepfen", item_id=radweg, paper="V/2026/0001")
    assert r.status_code == 303
    r = await act(client, mid, "top-hoch", item_id=radweg)
    assert r.status_code == 303
    async with db.sessionmaker() as s:
        item = await s.get(AgendaItem, radweg)
        assert item is not None and item.number == "3"
        consultation = (
            await s.execute(select(Consultation).where(Consultation.agenda_item_id == radweg))
        ).scalar_one()
        assert (
            town.paper is not None
            and consultation.paper_id == town.paper.id
            and consultation.meeting_id == mid
        )
    # The item's own edit page (no JavaScript needed): a text, and hostile text stays text.
    text, token, version = await page(client, f"{BASE}/{mid}/top/{radweg}")
    assert "Radweg Landstraße" in text
    r = await post(
        client,
        f"{BASE}/{mid}/top-bearbeiten",
        data={
            "_csrf_token": token,
            "version": str(version),
            "item_id": str(radweg),
            "name": "Radweg Landstraße",
            "text": "Sanierung 2031 <script>alert(1)</script>\x00",
            "part": "oeffentlich",
        },
    )
    assert r.status_code == 303
    text, _, _v = await page(client, f"{BASE}/{mid}")
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;" in text
    # The first item cannot move up: a clear 400, nothing changed.
    r = await act(client, mid, "top-hoch", item_id=rows[0][3])
    assert r.status_code == 400 and "nicht weiter verschoben" in r.text

    # A resident subscribes to the committee's invitations (double opt-in through the mailed link).
    with smtp_sink(settings) as optin:
        as_user(client, None)
        _form, token, _v = await page(client, f"/gremien/{town.committee.id}/einladungen")
        r = await post(
            client,
            f"/gremien/{town.committee.id}/einladungen",
            data={"_csrf_token": token, "email": "Resi@Example.org", "website": ""},
        )
        assert r.status_code == 200 and "Bestätigungslink" in r.text
    link = re.search(r"/einladungen/bestaetigen/([A-Za-z0-9_-]+)", body(optin.to("resi@example.org")[0]))
    assert link
    _, token, _v = await page(client, f"/einladungen/bestaetigen/{link.group(1)}")
    r = await post(client, f"/einladungen/bestaetigen/{link.group(1)}", data={"_csrf_token": token})
    assert r.status_code == 200 and town.committee.name in r.text

    # Publish, then send the invitation (PDF, mail through the job queue, iCal SEQUENCE).
    as_user(client, world.tokens["clerk1"])
    assert (await act(client, mid, "veroeffentlichen")).status_code == 303
    with smtp_sink(settings) as sink:
        r = await act(client, mid, "einladen")
        assert r.status_code == 303, r.text[:800]
        (dispatch,) = await wait_dispatches(db, mid)
    assert dispatch.state == "done" and not dispatch.is_update
    # Current committee members (person 4 left the committee in 2025) and the confirmed subscriber.
    assert sink.recipients == ["person0@example.org", "person1@example.org", "resi@example.org"]
    member_mail = sink.to("person0@example.org")[0]
    assert "Einladung – 7. Sitzung" in member_mail["Subject"] and "Aktualisiert" not in member_mail["Subject"]
    assert "abbestellen" not in body(member_mail).lower() and member_mail["List-Unsubscribe"] is None
    resi_mail = sink.to("resi@example.org")[0]
    unsubscribe = re.search(r"http://\S+/einladungen/abbestellen/\d+/[0-9a-f]{40}", body(resi_mail))
    # (folded after the colon: long header)
    assert unsubscribe and resi_mail["List-Unsubscribe"].strip() == f"<{unsubscribe.group(0)}>"
    assert resi_mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # The clerk sees the send status per recipient.
    text, _, _v = await page(client, f"{BASE}/{mid}")
    assert 'data-state="done"' in text and "3 von 3 versandt" in text and "person0@example.org" in text
    async with db.sessionmaker() as s:
        meeting = await s.get(Meeting, mid)
        assert meeting is not None and meeting.meeting_state == "eingeladen" and not meeting.deleted
        file = await s.get(File, meeting.invitation_id)
        assert file is not None and file.public
        data = FileStore(settings.files_dir).path(file.storage_key or "").read_bytes()
    pdf_text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    for needle in (
        "Einladung",
        "7. Sitzung des Ausschusses für Stadtentwicklung",
        "Dienstag, 04.03.2031, 17:30 Uhr",
        "Ratssaal, Markt 1",
        "TOP 3",
        "Radweg Landstraße",
        "V/2026/0001",
        "TOP 3.1  Bauabschnitt 1",
        "Nichtöffentlicher Teil",
    ):
        assert needle in pdf_text, needle

    # Public: page, iCal, OParl.
    as_user(client, None)
    r = await client.get(f"/sitzungen/{mid}")
    assert r.status_code == 200 and "Radweg Landstraße" in r.text
    assert "Grundstücksangelegenheit" not in r.text
    # The item's text is on the public page too, as text (the hostile part inert).
    assert 'class="agenda-text">Sanierung 2031 &lt;script&gt;' in r.text
    oparl = (await client.get(f"/oparl/v1/meeting/{mid}")).json()
    assert oparl["meetingState"] == "eingeladen" and oparl.get("invitation")
    ical = (await client.get(f"/sitzungen/{mid}.ics")).text
    assert "Radweg Landstraße" in ical

    # After the invitation a change is on the public change log, and a reschedule bumps SEQUENCE.
    as_user(client, world.tokens["clerk1"])
    r = await act(client, mid, "top-neu", name="Eilantrag Brücke", part="oeffentlich", urgent="on")
    assert r.status_code == 303
    r = await act(
        client,
        mid,
        "bearbeiten",
        name="7. Sitzung des Ausschusses für Stadtentwicklung",
        organization_id=town.committee.id,
        date="2031-03-05",
        start_time="18:00",
        location="Ratssaal, Markt 1",
        public="on",
    )
    assert r.status_code == 303
    as_user(client, None)
    changes = await client.get(f"/sitzungen/{mid}/aenderungen")
    assert changes.status_code == 200 and "Eilantrag Brücke" in changes.text
    ical = (await client.get(f"/sitzungen/{mid}.ics")).text
    assert "SEQUENCE:1" in ical

    # Sent again after the changes: the mail says it is an update and names the public changes.
    as_user(client, world.tokens["clerk1"])
    with smtp_sink(settings) as sink:
        assert (await act(client, mid, "einladen")).status_code == 303
        newest, _first = await wait_dispatches(db, mid, count=2)
    assert newest.is_update and newest.state == "done"
    update = sink.to("resi@example.org")[0]
    assert update["Subject"].startswith(f"{settings.municipality_name}: Aktualisierte Einladung")
    assert "Dringlichkeitspunkt aufgenommen: Eilantrag Brücke" in body(update)
    assert "Termin geändert" in body(update) and "Grundstücksangelegenheit" not in body(update)
    # One click, no login, no CSRF cookie (RFC 8058 one-click POST from a mail provider).
    as_user(client, None)
    client.cookies.clear()
    r = await post(client, unsubscribe.group(0).split("8000", 1)[1], data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200 and "keine Einladungen mehr" in r.text
    with smtp_sink(settings) as sink:
        as_user(client, world.tokens["clerk1"])
        assert (await act(client, mid, "einladen")).status_code == 303
        await wait_dispatches(db, mid, count=3)
    assert "resi@example.org" not in sink.recipients and len(sink.recipients) == 2
    async with db.sessionmaker() as s:
        log = (await s.execute(select(ChangeLog).where(ChangeLog.meeting_id == mid))).scalars().all()
        assert {"created", "item_added", "paper_linked", "published", "invitation_sent", "rescheduled"} <= {
            c.action for c in log
        }
        assert all(c.actor_name == "clerk1" or c.actor_name for c in log)


async def test_two_clerks_stale_save_refused(client: Any, db: Any, world: World) -> None:
    town = world.town
    as_user(client, world.tokens["clerk1"])
    mid = await create(client, town)
    _, token1, version1 = await page(client, f"{BASE}/{mid}")
    as_user(client, world.tokens["clerk2"])
    _, token2, version2 = await page(client, f"{BASE}/{mid}")
    assert version1 is not None and version1 == version2
    r = await post(
        client,
        f"{BASE}/{mid}/top-neu",
        data={
            "_csrf_token": token2,
            "version": str(version2),
            "name": "Zweiter Sachbearbeiter",
            "part": "oeffentlich",
        },
    )
    assert r.status_code == 303
    as_user(client, world.tokens["clerk1"])
    r = await post(
        client,
        f"{BASE}/{mid}/top-neu",
        data={
            "_csrf_token": token1,
            "version": str(version1),
            "name": "Erster Sachbearbeiter",
            "part": "oeffentlich",
        },
    )
    assert r.status_code == 409
    assert "inzwischen geändert" in r.text and f"aktuelle Version {version1 + 1}" in r.text
    # The refused page shows the current state (the other clerk's item) and version.
    assert "Zweiter Sachbearbeiter" in r.text
    assert f'name="version" value="{version1 + 1}"' in r.text
    async with db.sessionmaker() as s:
        names = (await s.execute(select(AgendaItem.name).where(AgendaItem.meeting_id == mid))).scalars().all()
        assert "Erster Sachbearbeiter" not in names
        wf = await s.get(MeetingWorkflow, mid)
        assert wf is not None and wf.version == version1 + 1


async def test_access_and_hostile_input(client: Any, world: World) -> None:
    town = world.town
    as_user(client, None)
    r = await client.get(BASE, follow_redirects=False)
    assert r.status_code in (302, 303, 401)
    as_user(client, world.tokens["anna"])
    assert (await client.get(BASE)).status_code == 403
    as_user(client, world.tokens["clerk1"])
    _, token, _v = await page(client, BASE)
    hostile = [
        "",
        "\x00",
        "<script>alert(1)</script>",
        "x" * 5000,
        "\u202e\ufeffx",
        "-1",
        "99999999999999",
        "2031-02-30",
    ]
    for value in hostile:
        for field in ("name", "organization_id", "date", "start_time", "end_time", "location", "public"):
            data = {
                "_csrf_token": token,
                "name": "Sitzung",
                "organization_id": str(town.committee.id),
                "date": "2031-03-04",
                "start_time": "17:30",
                field: value,
            }
            r = await post(client, f"{BASE}/neu", data=data)
            assert r.status_code < 500, (field, value, r.text[:300])
            assert "<script>alert(1)</script>" not in r.text
    mid = await create(client, town)
    _, token, version = await page(client, f"{BASE}/{mid}")
    for action in ("top-neu", "top-hoch", "top-bearbeiten", "vorlage-verknuepfen", "reihenfolge", "einladen"):
        for value in hostile:
            r = await post(
                client,
                f"{BASE}/{mid}/{action}",
                data={
                    "_csrf_token": token,
                    "version": value if action == "einladen" else str(version),
                    "item_id": value,
                    "name": value,
                    "paper": value,
                    "order": value,
                },
            )
            assert r.status_code < 500, (action, value, r.text[:300])
            _, token, version = await page(client, f"{BASE}/{mid}")
    assert (await post(client, f"{BASE}/{mid}/unbekannt", data={"_csrf_token": token})).status_code == 404
    assert (await client.get(f"{BASE}/999999")).status_code == 404
    # No CSRF token: refused.
    assert (
        await post(client, f"{BASE}/{mid}/veroeffentlichen", data={"version": str(version)})
    ).status_code == 403


async def test_minutes_approved_become_results_protocol(client: Any, db: Any, world: World) -> None:
    town = world.town
    as_user(client, world.tokens["clerk1"])
    mid = await create(client, town)
    await act(client, mid, "top-neu", name="Radweg", part="oeffentlich")
    await act(client, mid, "veroeffentlichen")
    await act(client, mid, "durchgefuehrt")
    # A closed vote on the timeline: the first draft takes its result as the resolution.
    from council.live.models import EventKind, TimelineEvent

    async with db.sessionmaker() as s:
        radweg = (
            await s.execute(
                select(AgendaItem.id).where(AgendaItem.meeting_id == mid, AgendaItem.name == "Radweg")
            )
        ).scalar_one()
        s.add(
            TimelineEvent(
                meeting_id=mid,
                kind=EventKind.VOTE_CLOSED,
                agenda_item_id=radweg,
                payload={"poll_id": 1, "summary": "Einstimmig angenommen (2 Ja)", "adopted": True},
            )
        )
        await s.commit()
    text, token, version = await page(client, f"{BASE}/{mid}/niederschrift")
    assert "Einstimmig angenommen (2 Ja)" in text
    ids = re.findall(r'name="resolution-(\d+)"', text)
    assert len(ids) == 4
    data = {"_csrf_token": token, "version": str(version)}
    for i in ids:
        data[f"text-{i}"] = "Aussprache ohne Wortmeldungen."
        data[f"resolution-{i}"] = ""
    data[f"resolution-{ids[-1]}"] = "Der Ausschuss beschließt die Sanierung des Radwegs."
    r = await post(client, f"{BASE}/{mid}/niederschrift/freigeben", data=data)
    assert r.status_code == 303, r.text[:800]
    async with db.sessionmaker() as s:
        meeting = await s.get(Meeting, mid)
        assert meeting is not None and meeting.results_protocol_id is not None
        item = await s.get(AgendaItem, int(ids[-1]))
        assert (
            item is not None and item.resolution_text == "Der Ausschuss beschließt die Sanierung des Radwegs."
        )
    as_user(client, None)
    oparl = (await client.get(f"/oparl/v1/meeting/{mid}")).json()
    assert oparl.get("resultsProtocol")
    # Approved minutes are final.
    as_user(client, world.tokens["clerk1"])
    r = await post(
        client, f"{BASE}/{mid}/niederschrift/freigeben", data={"_csrf_token": token, "version": "99"}
    )
    assert r.status_code in (400, 409)


async def test_concurrent_saves_one_wins(client: Any, db: Any, world: World) -> None:
    """Two saves from the same version at the same moment: exactly one is taken, the other gets 409."""
    import asyncio

    as_user(client, world.tokens["clerk1"])
    mid = await create(client, world.town)
    _, token, version = await page(client, f"{BASE}/{mid}")

    async def save(name: str) -> int:
        r = await post(
            client,
            f"{BASE}/{mid}/top-neu",
            data={"_csrf_token": token, "version": str(version), "name": name, "part": "oeffentlich"},
        )
        return int(r.status_code)

    statuses = await asyncio.gather(save("Gleichzeitig A"), save("Gleichzeitig B"))
    assert sorted(statuses) == [303, 409], statuses
    async with db.sessionmaker() as s:
        names = (await s.execute(select(AgendaItem.name).where(AgendaItem.meeting_id == mid))).scalars().all()
        assert len([n for n in names if n.startswith("Gleichzeitig")]) == 1


async def test_cancel_and_delete(client: Any, db: Any, world: World) -> None:
    town = world.town
    as_user(client, world.tokens["clerk1"])
    # A draft is deleted for good: it was never public.
    draft = await create(client, town, name="Entwurf zum Löschen")
    assert (await act(client, draft, "top-neu", name="Punkt", part="oeffentlich")).status_code == 303
    r = await act(client, draft, "loeschen")
    assert r.status_code == 303 and r.headers["location"] == BASE
    async with db.sessionmaker() as s:
        assert await s.get(Meeting, draft) is None
        assert not (await s.execute(select(AgendaItem.id).where(AgendaItem.meeting_id == draft))).all()
    assert (await client.get(f"{BASE}/{draft}")).status_code == 404
    # A published, invited meeting that is cancelled: listed as cancelled, iCal CANCELLED, SEQUENCE up.
    mid = await create(client, town)
    await act(client, mid, "veroeffentlichen")
    assert (await act(client, mid, "einladen")).status_code == 303
    assert (await act(client, mid, "absagen")).status_code == 303
    as_user(client, None)
    ical = (await client.get(f"/sitzungen/{mid}.ics")).text
    assert "STATUS:CANCELLED" in ical and "SEQUENCE:1" in ical
    assert "Sitzung abgesagt" in (await client.get(f"/sitzungen/{mid}/aenderungen")).text
    # A published meeting is only soft-deleted.
    as_user(client, world.tokens["clerk1"])
    assert (await act(client, mid, "loeschen")).status_code == 303
    async with db.sessionmaker() as s:
        meeting = await s.get(Meeting, mid)
        assert meeting is not None and meeting.deleted
    as_user(client, None)
    assert (await client.get(f"/sitzungen/{mid}")).status_code == 404


async def test_existing_meeting_opens_in_back_office(client: Any, db: Any, world: World) -> None:
    """Meetings from elsewhere (demo, import) have no workflow row yet: they count as published."""
    import asyncio

    meeting = world.town.next_meeting
    assert meeting is not None
    as_user(client, world.tokens["clerk1"])
    pages = await asyncio.gather(*(client.get(f"{BASE}/{meeting.id}") for _ in range(3)))
    assert [p.status_code for p in pages] == [200, 200, 200]
    assert "Entwurf" not in pages[0].text
    assert (await act(client, meeting.id, "top-neu", name="Nachtrag", part="oeffentlich")).status_code == 303
    as_user(client, None)
    assert "Nachtrag" in (await client.get(f"/sitzungen/{meeting.id}")).text


async def test_numbering_parts_and_blocks(session: Any) -> None:
    """Service level: public part first, sub-items never cross a part, a block moves with its subs."""
    from council.backoffice import agenda, meetings

    town = await make_town(session)
    actor = meetings.Actor(None, "test")
    data = meetings.parse_meeting_form(
        {"name": "N", "organization_id": str(town.committee.id), "date": "2031-01-07", "start_time": "18:00"}
    )
    meeting = await meetings.create_meeting(session, actor, data, standing_items=False)
    mid, v = meeting.id, 1
    a = await agenda.add_item(session, actor, mid, v, name="A")
    b = await agenda.add_item(session, actor, mid, v + 1, name="B")
    await agenda.add_item(session, actor, mid, v + 2, name="B1", sub=True)
    n = await agenda.add_item(session, actor, mid, v + 3, name="N", public=False, sub=True)
    v += 4

    async def numbers() -> list[tuple[str, str | None]]:
        return [(x.item.name, x.item.number) for x in await agenda.items(session, mid)]

    assert await numbers() == [("A", "1"), ("B", "2"), ("B1", "2.1"), ("N", "3")]
    await agenda.move_item(session, actor, mid, v, b.id, "up")
    v += 1
    assert await numbers() == [("B", "1"), ("B1", "1.1"), ("A", "2"), ("N", "3")]
    await agenda.edit_item(session, actor, mid, v, a.id, name="A", text="", public=False, sub=False)
    v += 1
    assert await numbers() == [("B", "1"), ("B1", "1.1"), ("N", "2"), ("A", "3")]
    await agenda.edit_item(session, actor, mid, v, n.id, name="N", text="", public=True, sub=False)
    v += 1
    assert await numbers() == [("B", "1"), ("B1", "1.1"), ("N", "2"), ("A", "3")]
    assert [x.item.public for x in await agenda.items(session, mid)] == [True, True, True, False]
    with pytest.raises(meetings.StaleVersion) as stale:
        await agenda.move_item(session, actor, mid, v - 1, b.id, "down")
    assert stale.value.current_version == v
