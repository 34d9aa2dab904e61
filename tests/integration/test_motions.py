"""Online motion submission through real HTTP on a real database: a councillor drafts, invites a
co-signer from the faction, the co-signer confirms, the motion is submitted (PDF with signers and
timestamp) → the clerk's inbox → reference → consultation path scheduled → results move the status
on the public paper page. Deadlines with a recorded override, access rules, the optimistic lock and
hostile input (never a 5xx, never a half-written record)."""

from __future__ import annotations

import io
import re
from typing import Any

from pypdf import PdfReader
from sqlalchemy import select

from council.backoffice.models import ChangeLog
from council.backoffice.motion_models import Motion, PaperState
from council.core.types import utcnow
from council.documents.store import FileStore
from council.records.models import File, Meeting, Membership, Paper, Person
from tests.factories import keep_upcoming, make_town
from tests.integration.test_accounts import (  # noqa: F401  (cheap_argon2 is an autouse fixture)
    cheap_argon2,
    login,
    make_account,
)
from tests.integration.test_backoffice_papers import add_meetings, tiny_pdf
from tests.integration.test_totp import form_body, send

NEW = "/arbeitsbereich/antraege/neu"
HOSTILE = [
    "\x00",
    "a\x00b",
    "\ud800",
    "\u202eevil",
    "<script>alert(1)</script>",
    "'; DROP TABLE paper; --",
    "x" * 30_000,
    " ",
    "",
    "-1",
    "99999999999999999999",
    "1e3",
    "0",
]


async def token(client: Any, path: str) -> str:
    r = await client.get(path)
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    m = re.search(r'name="_csrf_token" value="([^"]+)"', r.text)
    assert m
    return m.group(1)


async def post(client: Any, path: str, data: dict[str, Any], csrf_from: str) -> Any:
    return await client.post(
        path,
        content=form_body({**data, "_csrf_token": await token(client, csrf_from)}),
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )


async def setup(session: Any) -> dict[str, Any]:
    town = await make_town(session)
    # The town's meetings lie on fixed dates; this file's deadlines and add_meetings count from now. Moved
    # relative to now, so the scheduling below sees the same order on any day: the town's committee
    # meeting inside the 7-day deadline, its council meeting after the ones add_meetings makes (on fixed
    # dates, the council meeting of 9 Dec came between them from 26 Nov 16:00 UTC on, and the journey
    # scheduled onto it).
    assert town.next_meeting is not None and town.council_meeting is not None
    await keep_upcoming(session, town.next_meeting.id, 3)
    await keep_upcoming(session, town.council_meeting.id, 40)
    meetings = await add_meetings(session, town)
    outsider = Person(body_id=town.body.id, name="Olga Außenseiter")
    session.add(outsider)
    await session.flush()
    session.add(Membership(person_id=outsider.id, organization_id=town.council.id, role="Ratsmitglied"))
    await session.commit()
    ids = {
        "body": town.body.id,
        "committee": town.committee.id,
        "council": town.council.id,
        "soon_meeting": town.next_meeting.id,  # the town's committee meeting, inside the deadline
        "our_committee_meeting": meetings[0].id,
        "our_council_meeting": meetings[1].id,
    }
    await make_account(session, "anna", ("councillor",), person_id=town.persons[0].id)
    await make_account(session, "juergen", ("councillor",), person_id=town.persons[1].id)
    await make_account(session, "karl", ("councillor",), person_id=town.persons[3].id)
    await make_account(session, "olga", ("councillor",), person_id=outsider.id)
    await make_account(session, "clerk1", ("clerk",))
    from council.accounts.models import Account

    accounts = {a.username: a.id for a in (await session.execute(select(Account))).scalars()}
    ids.update({f"acc_{k}": v for k, v in accounts.items()})
    return ids


async def draft(client: Any, **fields: Any) -> int:
    data = {
        "paper_type": "Antrag",
        "title": "Mehr Bänke am Markt",
        "text": "Der Rat möge beschließen:\nZehn Bänke.",
        "justification": "Ältere Menschen brauchen Pausen.",
        **fields,
    }
    r = await post(client, NEW, data, NEW)
    assert r.status_code == 303, r.text[:500]
    return int(r.headers["location"].rsplit("/", 1)[-1])


async def motion_version(client: Any, motion_id: int) -> str:
    r = await client.get(f"/arbeitsbereich/antraege/{motion_id}")
    m = re.search(r'name="version" value="(\d+)"', r.text)
    assert m, r.text[:500]
    return m.group(1)


async def paper_version(client: Any, paper_id: int) -> str:
    r = await client.get(f"/verwaltung/vorlagen/{paper_id}")
    assert r.status_code == 200
    m = re.search(r'name="version" value="(\d+)"', r.text)
    assert m
    return m.group(1)


async def test_motion_journey(app: Any, client: Any, session: Any, settings: Any) -> None:
    from tests.integration.test_templates import RecordingLoader

    env = app.template_engine.engine
    recorder = RecordingLoader(env.loader)
    env.loader, env.cache = recorder, None
    ids = await setup(session)
    assert (await login(client, "anna")).status_code == 303
    mid = await draft(client)
    # attachment through the documents store (its checks)
    r = await client.post(
        f"/arbeitsbereich/antraege/{mid}/anlagen",
        files={"file": ("plan.pdf", tiny_pdf("Lageplan"), "application/pdf")},
        data={"name": "Lageplan", "_csrf_token": await token(client, f"/arbeitsbereich/antraege/{mid}")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text[:500]
    r = await client.post(
        f"/arbeitsbereich/antraege/{mid}/anlagen",
        files={"file": ("x.pdf", b"MZ not a pdf", "application/pdf")},
        data={"name": "x", "_csrf_token": await token(client, f"/arbeitsbereich/antraege/{mid}")},
        follow_redirects=False,
    )
    assert r.status_code == 415
    # co-signers: only the own faction
    r = await post(
        client, f"/arbeitsbereich/antraege/{mid}/mitzeichnende", {"account_id": ids["acc_olga"]}, NEW
    )
    assert r.status_code == 400
    r = await post(
        client, f"/arbeitsbereich/antraege/{mid}/mitzeichnende", {"account_id": ids["acc_juergen"]}, NEW
    )
    assert r.status_code == 303

    # another councillor of the same faction cannot see or edit the draft; residents cannot either
    assert (await login(client, "karl")).status_code == 303
    assert (await client.get(f"/arbeitsbereich/antraege/{mid}")).status_code == 404
    r = await post(
        client,
        f"/arbeitsbereich/antraege/{mid}",
        {"version": "1", "paper_type": "Antrag", "title": "gekapert", "text": "x", "justification": ""},
        NEW,
    )
    assert r.status_code == 404
    r = await post(client, f"/arbeitsbereich/antraege/{mid}/einreichen", {"version": "1"}, NEW)
    assert r.status_code == 404

    # the co-signer confirms in the workspace
    assert (await login(client, "juergen")).status_code == 303
    r = await client.get("/arbeitsbereich/antraege")
    assert "Mehr Bänke am Markt" in r.text
    r = await post(
        client, f"/arbeitsbereich/antraege/{mid}/mitzeichnen", {}, f"/arbeitsbereich/antraege/{mid}"
    )
    assert r.status_code == 303

    # submit
    assert (await login(client, "anna")).status_code == 303
    r = await post(
        client,
        f"/arbeitsbereich/antraege/{mid}/einreichen",
        {"version": await motion_version(client, mid)},
        NEW,
    )
    assert r.status_code == 303, r.text[:800]
    motion = await session.get(Motion, mid, populate_existing=True)
    assert motion.status == "submitted" and motion.paper_id
    paper = await session.get(Paper, motion.paper_id, populate_existing=True)
    pid = paper.id
    assert paper.public is False and paper.reference is None
    main = await session.get(File, paper.main_file_id)
    data = FileStore(settings.files_dir).path(main.storage_key).read_bytes()
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    for needle in (
        "Fraktion Bürgerliste",
        "Antrag: Mehr Bänke am Markt",
        "Zehn Bänke",
        "Ältere Menschen",
        "Anna Becker (einreichend)",
        "Jürgen Schäfer (mitgezeichnet am",
        "Eingereicht am",
    ):
        assert needle in text, (needle, text)
    # not public yet
    client.cookies.clear()
    assert (await client.get(f"/vorlagen/{pid}")).status_code == 404
    assert (await client.get(f"/arbeitsbereich/antraege/{mid}", follow_redirects=False)).status_code in (
        302,
        303,
    )

    # the clerk's inbox → reference → path → schedule
    assert (await login(client, "clerk1")).status_code == 303
    r = await client.get("/verwaltung/vorlagen")
    assert "Mehr Bänke am Markt" in r.text and "Posteingang" in r.text
    r = await post(client, f"/verwaltung/vorlagen/antraege/{mid}/annehmen", {}, "/verwaltung/vorlagen")
    assert r.status_code == 303
    year = utcnow().year
    assert (await session.get(Paper, pid, populate_existing=True)).reference == f"A/{year}/0001"
    v = await paper_version(client, pid)
    r = await post(
        client,
        f"/verwaltung/vorlagen/{pid}/beratungsfolge",
        {"version": v, "step1": ids["committee"], "step2": ids["council"]},
        "/verwaltung/vorlagen",
    )
    assert r.status_code == 303
    r = await post(
        client,
        f"/verwaltung/vorlagen/{pid}/terminieren",
        {"version": await paper_version(client, pid)},
        "/verwaltung/vorlagen",
    )
    assert r.status_code == 303, r.text[:800]
    # the committee meeting inside the deadline was skipped
    page = (await client.get(f"/verwaltung/vorlagen/{pid}")).text
    assert "Sitzung ASV +10" in page and "Sitzung Rat +10" in page
    consultation_ids = re.findall(r'name="consultation" value="(\d+)"', page)
    assert len(consultation_ids) == 2
    for cid, res in zip(consultation_ids, ("beschlossen", "geaendert"), strict=True):
        r = await post(
            client,
            f"/verwaltung/vorlagen/{pid}/ergebnis",
            {"version": await paper_version(client, pid), "consultation": cid, "result": res},
            "/verwaltung/vorlagen",
        )
        assert r.status_code == 303, r.text[:500]

    # the public paper page: path, status timeline, PDF
    client.cookies.clear()
    r = await client.get(f"/vorlagen/{pid}")
    assert r.status_code == 200
    assert f"A/{year}/0001" in r.text, r.text
    assert "Ausschuss für Stadtentwicklung und Verkehr" in r.text and "Rat der Stadt Teststadt" in r.text
    assert "geändert beschlossen" in r.text and "paper-status-timeline" in r.text
    assert (await client.get(f"/dokumente/{main.id}/datei")).status_code == 200
    state = await session.get(PaperState, pid, populate_existing=True)
    assert state.status == "geändert beschlossen"
    # every template of the back office and the motion pages was rendered on the way
    assert {
        "backoffice/papers/index.html",
        "backoffice/papers/edit.html",
        "backoffice/papers/_timeline.html",
        "backoffice/papers/_history.html",
        "motions/index.html",
        "motions/new.html",
        "motions/_fields.html",
        "motions/detail.html",
    } <= recorder.loaded


async def test_deadline_and_override(client: Any, session: Any) -> None:
    ids = await setup(session)
    assert (await login(client, "anna")).status_code == 303
    # meant for the town's committee meeting in a few days: too late
    mid = await draft(client, target_meeting_id=ids["soon_meeting"])
    r = await post(
        client,
        f"/arbeitsbereich/antraege/{mid}/einreichen",
        {"version": await motion_version(client, mid)},
        NEW,
    )
    assert r.status_code == 422 and "Antragsfrist" in r.text
    assert (await session.get(Motion, mid, populate_existing=True)).status == "draft"
    # without a target it goes in; the clerk may still put it on that meeting, with a reason
    mid2 = await draft(client, title="Dringend: Weihnachtsmarkt")
    r = await post(
        client,
        f"/arbeitsbereich/antraege/{mid2}/einreichen",
        {"version": await motion_version(client, mid2)},
        NEW,
    )
    assert r.status_code == 303
    pid = (await session.get(Motion, mid2, populate_existing=True)).paper_id
    assert (await login(client, "clerk1")).status_code == 303
    await post(client, f"/verwaltung/vorlagen/antraege/{mid2}/annehmen", {}, "/verwaltung/vorlagen")
    await post(
        client,
        f"/verwaltung/vorlagen/{pid}/beratungsfolge",
        {"version": await paper_version(client, pid), "step1": ids["committee"]},
        "/verwaltung/vorlagen",
    )
    r = await post(
        client,
        f"/verwaltung/vorlagen/{pid}/terminieren",
        {"version": await paper_version(client, pid), "override": "on"},
        "/verwaltung/vorlagen",
    )
    assert r.status_code == 400  # an override needs a reason
    r = await post(
        client,
        f"/verwaltung/vorlagen/{pid}/terminieren",
        {"version": await paper_version(client, pid), "override": "on", "override_reason": "Eilbedürftig"},
        "/verwaltung/vorlagen",
    )
    assert r.status_code == 303, r.text[:600]
    motion = await session.get(Motion, mid2, populate_existing=True)
    assert (
        motion.deadline_override_reason == "Eilbedürftig" and motion.deadline_override_by == ids["acc_clerk1"]
    )
    soon = await session.get(Meeting, ids["soon_meeting"])
    page = (await client.get(f"/verwaltung/vorlagen/{pid}")).text
    assert soon.name in page
    logged = (
        (
            await session.execute(
                select(ChangeLog.action).where(ChangeLog.entity == "motion", ChangeLog.entity_id == mid2)
            )
        )
        .scalars()
        .all()
    )
    assert "deadline_override" in logged


async def test_stale_paper_edit_is_409(client: Any, session: Any) -> None:
    await setup(session)
    assert (await login(client, "clerk1")).status_code == 303
    r = await post(
        client,
        "/verwaltung/vorlagen",
        {"paper_type": "Beschlussvorlage", "name": "Haushalt 2027", "public": "on"},
        "/verwaltung/vorlagen",
    )
    assert r.status_code == 303
    pid = int(r.headers["location"].rsplit("/", 1)[-1])
    v = await paper_version(client, pid)
    r1 = await post(
        client,
        f"/verwaltung/vorlagen/{pid}/bearbeiten",
        {"version": v, "name": "Haushalt 2027 (A)", "public": "on"},
        "/verwaltung/vorlagen",
    )
    r2 = await post(
        client,
        f"/verwaltung/vorlagen/{pid}/bearbeiten",
        {"version": v, "name": "Haushalt 2027 (B)", "public": "on"},
        "/verwaltung/vorlagen",
    )
    assert r1.status_code == 303
    assert r2.status_code == 409 and "inzwischen" in r2.text and "Haushalt 2027 (A)" in r2.text
    assert (await session.get(Paper, pid, populate_existing=True)).name == "Haushalt 2027 (A)"
    # councillors cannot reach the back office
    assert (await login(client, "anna")).status_code == 303
    assert (await client.get(f"/verwaltung/vorlagen/{pid}")).status_code == 403
    r = await client.post(
        f"/verwaltung/vorlagen/{pid}/loeschen", data={"version": "2"}, follow_redirects=False
    )
    assert r.status_code == 403
    # soft delete by the clerk
    assert (await login(client, "clerk1")).status_code == 303
    r = await post(
        client,
        f"/verwaltung/vorlagen/{pid}/loeschen",
        {"version": await paper_version(client, pid)},
        "/verwaltung/vorlagen",
    )
    assert r.status_code == 303
    assert (await session.get(Paper, pid, populate_existing=True)).deleted
    client.cookies.clear()
    assert (await client.get(f"/vorlagen/{pid}")).status_code == 404


async def test_hostile_input_never_5xx(client: Any, session: Any) -> None:
    await setup(session)
    assert (await login(client, "anna")).status_code == 303
    mid = await draft(client)
    csrf = await token(client, NEW)
    base = {"paper_type": "Antrag", "title": "T", "text": "x", "justification": "", "version": "1"}
    draft_fields = ["paper_type", "title", "text", "justification", "target_meeting_id", "faction_id"]
    targets = [
        (NEW, draft_fields),
        (f"/arbeitsbereich/antraege/{mid}", [*draft_fields, "version"]),
        (f"/arbeitsbereich/antraege/{mid}/mitzeichnende", ["account_id"]),
        (f"/arbeitsbereich/antraege/{mid}/einreichen", ["version"]),
    ]
    for value in HOSTILE:
        for path, fields in targets:
            for field in fields:
                r = await send(client, path, {**base, field: value}, csrf)
                assert r.status_code < 500, (path, field, repr(value)[:40], r.status_code)
    for path in ("/arbeitsbereich/antraege/0", f"/arbeitsbereich/antraege/{2**40}", "/verwaltung/vorlagen/1"):
        assert (await client.get(path)).status_code < 500
    # stored titles hold no control or bidi characters, and none is empty
    titles = (await session.execute(select(Motion.title))).scalars().all()
    assert titles and all("\x00" not in t and "\u202e" not in t and t.strip() for t in titles)

    assert (await login(client, "clerk1")).status_code == 303
    csrf = await token(client, "/verwaltung/vorlagen")
    r = await send(
        client, "/verwaltung/vorlagen", {"paper_type": "Antrag", "name": "V", "public": "on"}, csrf
    )
    pid = int(r.headers["location"].rsplit("/", 1)[-1])
    targets2 = [
        (f"/verwaltung/vorlagen/{pid}/bearbeiten", ["name", "version"]),
        (f"/verwaltung/vorlagen/{pid}/beratungsfolge", ["step1", "step2"]),
        (f"/verwaltung/vorlagen/{pid}/ergebnis", ["result", "consultation"]),
        (f"/verwaltung/vorlagen/{pid}/terminieren", ["override_reason"]),
        ("/verwaltung/vorlagen", ["paper_type", "name"]),
        (f"/verwaltung/vorlagen/antraege/{2**33}/annehmen", ["x"]),
    ]
    for value in HOSTILE:
        for path, fields in targets2:
            for field in fields:
                version = (
                    await session.execute(select(PaperState.version).where(PaperState.paper_id == pid))
                ).scalar_one()
                data = {
                    "version": str(version),
                    "name": "V",
                    "consultation": "1",
                    "result": "beschlossen",
                    "override": "on",
                    field: value,
                }
                r = await send(client, path, data, csrf)
                assert r.status_code < 500, (path, field, repr(value)[:40], r.status_code, r.text[:300])
    names = (await session.execute(select(Paper.name).where(Paper.id >= pid))).scalars().all()
    assert all(n.strip() and "\x00" not in n for n in names)
    # ids beyond the database's integers (2**63 overflowed SQLite's INTEGER): "no such paper", on every
    # action, not a 500
    for huge in (2**31, 2**63, 10**25):
        assert (await client.get(f"/verwaltung/vorlagen/{huge}")).status_code == 404
        for action in ("bearbeiten", "beratungsfolge", "terminieren", "ergebnis", "dateien", "loeschen"):
            r = await send(
                client, f"/verwaltung/vorlagen/{huge}/{action}", {"version": "1", "name": "V"}, csrf
            )
            assert r.status_code == 404, (action, huge, r.status_code)
            assert "Diese Vorlage gibt es nicht" in r.text
