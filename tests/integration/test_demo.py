"""The demo municipality (small scale) on the real database: counts, determinism, consistency, PDFs."""

from __future__ import annotations

import io
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.orm import undefer

from council.core.db import Database
from council.core.settings import Settings
from council.demo.generate import load_demo
from council.documents.store import FileStore
from council.records import models as m

TODAY = date(2026, 11, 25)


@pytest.fixture(scope="module")
async def loaded(db_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One small demo, loaded once for the read-only checks of this module."""
    settings = await db_factory.new(tmp_path_factory.mktemp("demo-test") / "var")
    database = Database(settings)
    summary = await load_demo(database, settings, scale="small", seed=7, today=TODAY)
    yield settings, database, summary
    await database.dispose()


async def _all(database: Database, stmt: Any) -> list[Any]:
    async with database.sessionmaker() as session:
        return list((await session.execute(stmt)).all())


async def _count(database: Database, model: Any) -> int:
    async with database.sessionmaker() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def test_counts_and_summary(loaded: Any) -> None:
    _settings, database, summary = loaded
    print("small demo:", summary.describe())
    assert summary.seconds < 30  # generous: the whole suite shares two cores
    assert await _count(database, m.Body) == 1
    assert await _count(database, m.LegislativeTerm) == 2
    assert 15 <= await _count(database, m.Person) <= 30
    assert 10 <= await _count(database, m.Meeting) <= 14
    assert 40 <= await _count(database, m.Paper) <= 90
    for model, attr in (
        (m.Person, "persons"),
        (m.Meeting, "meetings"),
        (m.Paper, "papers"),
        (m.File, "files"),
        (m.AgendaItem, "agenda_items"),
        (m.Consultation, "consultations"),
        (m.Membership, "memberships"),
        (m.Organization, "organizations"),
    ):
        assert await _count(database, model) == getattr(summary, attr), attr
    orgs = await _all(database, select(m.Organization.organization_type, m.Organization.classification))
    kinds = Counter(o[0] for o in orgs)
    assert kinds["Fraktion"] == 6
    assert Counter(o[1] for o in orgs)["Ausschuss"] == 3
    council = (await _all(database, select(m.Organization).where(m.Organization.classification == "Rat")))[0][
        0
    ]
    assert council.name == "Rat der Stadt Hennef (Sieg)"
    body = (await _all(database, select(m.Body)))[0][0]
    assert body.ags == "05382024" and body.location_id is not None


async def test_meetings_have_agendas_states_and_documents(loaded: Any) -> None:
    _settings, database, _summary = loaded
    meetings = [r[0] for r in await _all(database, select(m.Meeting).order_by(m.Meeting.start))]
    items = await _all(database, select(m.AgendaItem.meeting_id, m.AgendaItem.public, m.AgendaItem.result))
    per_meeting = Counter(i[0] for i in items)
    for meeting in meetings:
        assert per_meeting[meeting.id] >= 3, meeting.name
        assert meeting.start is not None and meeting.start.tzinfo is not None
        local = meeting.start.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
        assert (local.hour, local.minute) in ((17, 0), (18, 0))
        if meeting.start.date() < TODAY:
            assert meeting.meeting_state == "durchgeführt" or meeting.cancelled
        else:
            assert meeting.meeting_state in ("eingeladen", "terminiert")
        if meeting.meeting_state == "durchgeführt":
            assert meeting.invitation_id and meeting.results_protocol_id and meeting.end
    assert any(mt.meeting_state == "eingeladen" for mt in meetings)
    assert sum(mt.cancelled for mt in meetings) == 1
    nonpublic = [mt for mt in meetings if not mt.public]
    assert len(nonpublic) == 2
    files = {r[0]: r[1] for r in await _all(database, select(m.File.id, m.File.public))}
    for mt in nonpublic:
        assert all(not i[1] for i in items if i[0] == mt.id)  # every item of a non-public meeting
        assert files[mt.invitation_id] is False and files[mt.results_protocol_id] is False
    for mt in meetings:
        if mt.public and mt.invitation_id:
            assert files[mt.invitation_id] is True
    held_results = {i[2] for i in items if i[2]}
    assert {"einstimmig beschlossen", "mehrheitlich beschlossen"} <= held_results
    # a public meeting with a non-public part
    mixed = {i[0] for i in items if not i[1]} & {mt.id for mt in meetings if mt.public}
    assert mixed


async def test_consultations_link_papers_items_and_organizations(loaded: Any) -> None:
    _settings, database, _summary = loaded
    async with database.sessionmaker() as session:
        from sqlalchemy.orm import selectinload

        papers = (
            (
                await session.execute(
                    select(m.Paper).options(
                        selectinload(m.Paper.consultations).selectinload(m.Consultation.organizations),
                        selectinload(m.Paper.consultations).selectinload(m.Consultation.agenda_item),
                        selectinload(m.Paper.main_file),
                        selectinload(m.Paper.auxiliary_files),
                        selectinload(m.Paper.originator_organizations),
                        selectinload(m.Paper.subordinated_papers),
                    )
                )
            )
            .scalars()
            .all()
        )
    types = Counter(p.paper_type for p in papers)
    assert types["Beschlussvorlage"] and types["Antrag"]
    references = [p.reference for p in papers]
    assert len(set(references)) == len(references)
    on_agenda = 0
    for paper in papers:
        assert paper.consultations, paper.reference
        positions = sorted(c.position for c in paper.consultations)
        assert positions == list(range(len(positions)))
        for c in paper.consultations:
            assert len(c.organizations) == 1
            if c.agenda_item is not None:
                on_agenda += 1
                assert c.meeting_id == c.agenda_item.meeting_id
                if not paper.public:
                    assert not c.agenda_item.public  # non-public paper → non-public item
        assert paper.main_file is not None
        assert paper.main_file.public == paper.public
        assert all(f.public == paper.public for f in paper.auxiliary_files)
        if paper.paper_type == "Antrag":
            assert paper.originator_organizations[0].organization_type == "Fraktion"
        if paper.reference and paper.paper_type in (
            "Beschlussvorlage",
            "Antrag",
            "Anfrage",
            "Mitteilungsvorlage",
        ):
            prefix, year, number = paper.reference.split("/")
            assert prefix in ("V", "A", "AF", "M") and int(year) == paper.date.year and len(number) == 4
    assert on_agenda >= len(papers)
    assert any(not p.public for p in papers)
    # multi-step paths end with an authoritative decision in the council
    assert any(
        len(p.consultations) >= 2 and max(p.consultations, key=lambda c: c.position).authoritative
        for p in papers
    )


async def test_memberships_are_valid(loaded: Any) -> None:
    _settings, database, _summary = loaded
    async with database.sessionmaker() as session:
        from sqlalchemy.orm import selectinload

        memberships = (
            (
                await session.execute(
                    select(m.Membership).options(
                        selectinload(m.Membership.organization), selectinload(m.Membership.on_behalf_of)
                    )
                )
            )
            .scalars()
            .all()
        )
    council_now = [
        ms for ms in memberships if ms.organization.classification == "Rat" and ms.active_on(TODAY)
    ]
    assert len(council_now) == council_now[0].organization.statutory_members
    roles = Counter(ms.role for ms in council_now)
    assert roles["Ratsmitglied"] == len(council_now) - 1
    assert roles["Bürgermeister"] + roles["Bürgermeisterin"] == 1
    for ms in council_now:
        if ms.role == "Ratsmitglied":
            assert ms.on_behalf_of is not None and ms.on_behalf_of.organization_type == "Fraktion"
    left = [
        ms
        for ms in memberships
        if ms.end_date == date(2025, 10, 31) and ms.organization.classification == "Rat"
    ]
    assert left
    for ms in memberships:
        assert ms.start_date is not None
        assert ms.end_date is None or ms.end_date >= ms.start_date
        if ms.role and ms.role.startswith("sachkundig"):
            assert ms.voting_right is False and ms.organization.classification == "Ausschuss"
    committees = Counter(
        ms.organization_id
        for ms in memberships
        if ms.organization.classification == "Ausschuss" and ms.active_on(TODAY)
    )
    assert len(committees) == 3 and all(n >= 8 for n in committees.values())
    assert any(ms.role == "Vorsitz" for ms in memberships)


async def test_pdfs_are_stored_and_parse_to_the_same_text(loaded: Any) -> None:
    settings, database, _summary = loaded
    store = FileStore(settings.files_dir)
    query = select(m.File).options(undefer(m.File.text)).order_by(m.File.id)
    files = [r[0] for r in await _all(database, query)]
    assert files
    for f in files:
        assert f.text_state == "done" and f.text and f.page_count and f.page_count >= 1
        assert f.mime_type == "application/pdf" and f.file_name.endswith(".pdf")
        data = store.read(f.storage_key)
        assert len(data) == f.size and data.startswith(b"%PDF")
    for f in files[:: max(1, len(files) // 15)]:  # pypdf is slow: a sample
        reader = PdfReader(io.BytesIO(store.read(f.storage_key)))
        assert len(reader.pages) == f.page_count
        assert "\f".join(p.extract_text() for p in reader.pages) == f.text
    first = files[0]
    assert first.text.startswith("Stadt Hennef (Sieg) - Der Bürgermeister")


async def test_same_seed_same_town(db_factory: Any, tmp_path: Path, loaded: Any) -> None:
    _settings, database, _summary = loaded
    other_settings: Settings = await db_factory.new(tmp_path / "var2")
    other = Database(other_settings)
    try:
        await load_demo(other, other_settings, scale="small", seed=7, today=TODAY, reindex=False)
        for stmt in (
            select(m.Person.id, m.Person.name).order_by(m.Person.id),
            select(m.Paper.id, m.Paper.reference, m.Paper.name, m.Paper.main_file_id).order_by(m.Paper.id),
            select(m.Meeting.id, m.Meeting.name, m.Meeting.start).order_by(m.Meeting.id),
            select(m.AgendaItem.id, m.AgendaItem.name, m.AgendaItem.result).order_by(m.AgendaItem.id),
            select(m.File.id, m.File.sha512).order_by(m.File.id),
        ):
            assert await _all(database, stmt) == await _all(other, stmt)
    finally:
        await other.dispose()


async def test_other_seed_other_town_and_refuses_non_empty(
    db_factory: Any, tmp_path: Path, loaded: Any
) -> None:
    _settings, database, _summary = loaded
    other_settings: Settings = await db_factory.new(tmp_path / "var3")
    other = Database(other_settings)
    try:
        await load_demo(other, other_settings, scale="small", seed=8, today=TODAY, reindex=False)
        stmt = select(m.Person.name).order_by(m.Person.id)
        assert await _all(database, stmt) != await _all(other, stmt)
        with pytest.raises(RuntimeError):
            await load_demo(other, other_settings, scale="small", seed=8, today=TODAY, reindex=False)
        with pytest.raises(ValueError):
            await load_demo(other, other_settings, scale="huge")
        # ids continue after the demo: the sequences were moved on (PostgreSQL) / rowids (SQLite)
        async with other.sessionmaker() as session:
            body = (await session.execute(select(m.Body))).scalar_one()
            session.add(m.Person(body_id=body.id, name="Neue Person"))
            await session.commit()
    finally:
        await other.dispose()


def test_cli_demo_loads_and_refuses_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`rathaus demo` on a fresh SQLite file: migrations, load, and a refusal without --reset."""
    import os

    if os.environ.get("RATHAUS_TEST_DATABASE", "sqlite") != "sqlite":
        pytest.skip("the CLI test uses its own SQLite file")
    from click.testing import CliRunner

    from council.core.settings import get_settings
    from web.cli import main

    monkeypatch.setenv("RATHAUS_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("RATHAUS_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        first = runner.invoke(main, ["demo", "--scale", "small", "--seed", "3"])
        assert first.exit_code == 0, first.output
        assert "Sitzungen" in first.output
        second = runner.invoke(main, ["demo", "--scale", "small"])
        assert second.exit_code != 0 and "--reset" in second.output
        third = runner.invoke(main, ["demo", "--scale", "small", "--reset", "--seed", "4"])
        assert third.exit_code == 0, third.output
    finally:
        get_settings.cache_clear()
