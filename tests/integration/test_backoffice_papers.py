"""The clerk's papers (council.backoffice.papers/references) on a real database: references per type
and year (also under concurrency), the optimistic lock, the consultation path scheduled in one step,
results moving the status, file versions, soft delete and the audit log."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from council.backoffice import papers
from council.backoffice.models import ChangeLog
from council.backoffice.motion_models import PaperReference, PaperState
from council.backoffice.papers import Actor, PaperError
from council.backoffice.references import ReferenceError, format_reference
from council.core.types import utcnow
from council.documents.store import FileStore
from council.records.models import AgendaItem, Consultation, Meeting, Organization, Paper
from tests.factories import Town, make_town

CLERK = Actor(None, "clerk1")


def tiny_pdf(text: str = "Anlage") -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.cell(text=text)
    return bytes(pdf.output())


async def add_meetings(session: Any, town: Town, days: tuple[int, ...] = (10, 20)) -> list[Meeting]:
    """Upcoming meetings of the committee and the council, relative to now (the town's are fixed)."""
    made = []
    for d in days:
        for org in (town.committee, town.council):
            m = Meeting(
                body_id=town.body.id,
                name=f"Sitzung {org.short_name} +{d}",
                start=utcnow() + timedelta(days=d if org is town.committee else d + 3),
                public=True,
                meeting_state="terminiert",
            )
            m.organizations.append(org)
            session.add(m)
            made.append(m)
    await session.commit()
    return made


def test_reference_pattern() -> None:
    assert format_reference("{type_short}/{year}/{n:04d}", "Antrag", 2026, 7) == "A/2026/0007"
    assert format_reference("{year}-{type_short}-{n}", "Beschlussvorlage", 2026, 12) == "2026-BV-12"
    for bad in ("{type_short}/{year}", "{x}/{n}", "{n", "{n:zz}"):
        with pytest.raises(ReferenceError):
            format_reference(bad, "Antrag", 2026, 1)


async def test_references_per_type_and_year(session: Any) -> None:
    town = await make_town(session)
    a1 = await papers.create_paper(
        session, CLERK, body_id=town.body.id, name="Erster Antrag", paper_type="Antrag"
    )
    a2 = await papers.create_paper(session, CLERK, body_id=town.body.id, name="Zweiter", paper_type="Antrag")
    bv = await papers.create_paper(
        session, CLERK, body_id=town.body.id, name="Vorlage", paper_type="Beschlussvorlage"
    )
    await session.commit()
    year = utcnow().date().year
    assert (a1.reference, a2.reference, bv.reference) == (
        f"A/{year}/0001",
        f"A/{year}/0002",
        f"BV/{year}/0001",
    )
    with pytest.raises(PaperError) as err:
        await papers.create_paper(session, CLERK, body_id=town.body.id, name="x", paper_type="Quatsch")
    assert err.value.status_code == 400


async def test_concurrent_references_are_distinct(db: Any, session: Any) -> None:
    town = await make_town(session)
    body_id = town.body.id

    async def one(i: int) -> str:
        for _ in range(20):  # SQLite may refuse a concurrent writer outright ("database is locked")
            async with db.sessionmaker() as s:
                try:
                    p = await papers.create_paper(
                        s, CLERK, body_id=body_id, name=f"Antrag {i}", paper_type="Antrag"
                    )
                    await s.commit()
                    return str(p.reference)
                except Exception as exc:
                    await s.rollback()
                    last = exc
                    await asyncio.sleep(0.05)
        raise AssertionError(f"gave up: {last!r}")

    refs = await asyncio.gather(*(one(i) for i in range(8)))
    assert len(set(refs)) == 8
    count = (await session.execute(select(func.count()).select_from(PaperReference))).scalar_one()
    assert count == 8


async def test_optimistic_lock(session: Any) -> None:
    town = await make_town(session)
    p = await papers.create_paper(
        session, CLERK, body_id=town.body.id, name="Vorlage", paper_type="Mitteilung"
    )
    pid = p.id
    await session.commit()
    await papers.update_paper(session, CLERK, pid, 1, name="Vorlage (neu)", public=True)
    await session.commit()
    with pytest.raises(PaperError) as err:
        await papers.update_paper(session, CLERK, pid, 1, name="Stale", public=False)
    assert err.value.status_code == 409 and err.value.current_version == 2
    await session.rollback()
    assert (await session.get(Paper, pid, populate_existing=True)).name == "Vorlage (neu)"
    await papers.delete_paper(session, CLERK, pid, 2)
    await session.commit()
    assert (await session.get(Paper, pid, populate_existing=True)).deleted  # soft
    actions = (
        await session.execute(
            select(ChangeLog.action).where(ChangeLog.entity == "paper", ChangeLog.entity_id == pid)
        )
    ).scalars()
    assert list(actions) == ["created", "updated", "deleted"]


async def test_path_schedule_results(session: Any) -> None:
    town = await make_town(session)
    meetings = await add_meetings(session, town)
    p = await papers.create_paper(
        session, CLERK, body_id=town.body.id, name="Neue Bänke am Markt", paper_type="Beschlussvorlage"
    )
    pid = p.id
    await session.commit()
    await papers.set_path(session, CLERK, pid, 1, [town.committee.id, town.council.id])
    await session.commit()
    scheduled = await papers.schedule_path(session, CLERK, pid, 2)
    await session.commit()
    steps = [(c.id, c.meeting_id, c.agenda_item_id, c.authoritative) for c in scheduled]
    # the town's own committee meeting is in a few days, then ours; the council meets after it
    first_meeting = await session.get(Meeting, steps[0][1])
    second_meeting = await session.get(Meeting, steps[1][1])
    assert first_meeting.start < second_meeting.start
    assert town.council in second_meeting.organizations or second_meeting in meetings
    item = await session.get(AgendaItem, steps[1][2])
    assert item.name.startswith("Neue Bänke am Markt") and item.number
    assert [s[3] for s in steps] == [False, True]
    # nothing left to schedule
    with pytest.raises(PaperError):
        await papers.schedule_path(session, CLERK, pid, 3)
    await session.rollback()

    assert await papers.record_result(session, CLERK, pid, 3, steps[0][0], "beschlossen") == "in Beratung"
    assert (
        await papers.record_result(session, CLERK, pid, 4, steps[1][0], "geaendert") == "geändert beschlossen"
    )
    await session.commit()
    state = await session.get(PaperState, pid, populate_existing=True)
    assert state.status == "geändert beschlossen"
    events = await papers.timeline(session, pid)
    assert [e.status for e in events] == ["eingegangen", "in Beratung", "in Beratung", "geändert beschlossen"]
    item = await session.get(AgendaItem, steps[1][2], populate_existing=True)
    assert item.result == "geändert beschlossen"
    with pytest.raises(PaperError):
        await papers.record_result(session, CLERK, pid, 5, steps[1][0], "<script>")


async def test_path_rejects_foreign_and_unknown(session: Any) -> None:
    town = await make_town(session)
    lonely = Organization(body_id=town.body.id, name="Beirat ohne Sitzungen", organization_type="Gremium")
    session.add(lonely)
    await session.flush()
    other_id = lonely.id
    p = await papers.create_paper(
        session, CLERK, body_id=town.body.id, name="V", paper_type="Beschlussvorlage"
    )
    pid = p.id
    await session.commit()
    for ids in ([], [2**31 - 1], list(range(1, 20))):
        with pytest.raises(PaperError) as err:
            await papers.set_path(session, CLERK, pid, 1, ids)
        assert err.value.status_code == 400
        await session.rollback()
    # no meeting for the organization
    await papers.set_path(session, CLERK, pid, 1, [other_id])
    await session.commit()
    with pytest.raises(PaperError) as err:
        await papers.schedule_path(session, CLERK, pid, 2)
    assert err.value.status_code == 422
    await session.rollback()
    assert (
        await session.execute(
            select(func.count()).select_from(Consultation).where(Consultation.paper_id == pid)
        )
    ).scalar_one() == 1


async def test_file_versions(session: Any, settings: Any) -> None:
    town = await make_town(session)
    store = FileStore(settings.files_dir)
    p = await papers.create_paper(
        session, CLERK, body_id=town.body.id, name="V", paper_type="Beschlussvorlage"
    )
    pid = p.id
    await session.commit()
    v1 = await papers.add_file_version(
        session,
        store,
        CLERK,
        pid,
        1,
        tiny_pdf("eins"),
        kind="replacement",
        name="Vorlage",
        file_name="v.pdf",
        max_bytes=10**6,
    )
    v2 = await papers.add_file_version(
        session,
        store,
        CLERK,
        pid,
        2,
        tiny_pdf("zwei"),
        kind="replacement",
        name="Vorlage (Neufassung)",
        file_name="v2.pdf",
        max_bytes=10**6,
    )
    v3 = await papers.add_file_version(
        session,
        store,
        CLERK,
        pid,
        3,
        tiny_pdf("drei"),
        kind="supplement",
        name="Ergänzung",
        file_name="e.pdf",
        max_bytes=10**6,
    )
    await session.commit()
    assert [(v.number, v.kind) for v in (v1, v2, v3)] == [
        (1, "original"),
        (2, "replacement"),
        (3, "supplement"),
    ]
    paper = await papers.load_paper(session, pid)
    assert paper.main_file_id == v2.file_id
    assert {f.id for f in paper.auxiliary_files} == {v1.file_id, v3.file_id}  # the old version is kept
    from council.documents.service import UploadRejected

    with pytest.raises(UploadRejected):
        await papers.add_file_version(
            session,
            store,
            CLERK,
            pid,
            4,
            b"not a pdf",
            kind="supplement",
            name="x",
            file_name="x",
            max_bytes=10**6,
        )
