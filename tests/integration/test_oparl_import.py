"""The OParl importer against a fake endpoint on loopback (tests/fake_oparl), with each vendor fault."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from council.core.jobs import Job, JobRunner
from council.oparl.importer import ImportOptions, import_oparl
from council.oparl.importer.models import OParlImportState
from council.records.models import (
    AgendaItem,
    Body,
    Consultation,
    File,
    Location,
    Meeting,
    Membership,
    Organization,
    Paper,
    Person,
    consultation_organization,
    meeting_organization,
    paper_auxiliary_file,
    paper_originator_person,
    paper_related,
)
from council.search.models import SearchDocument
from tests.fake_oparl import FakeOParl, serve

LIMIT = 200_000  # per-file download limit in these tests (the big_file fault is ~300 kB)


def opts(**kw: Any) -> ImportOptions:
    kw.setdefault("backoff", 0.01)
    kw.setdefault("max_file_bytes", LIMIT)
    return ImportOptions(**kw)


@pytest.fixture
def fake(request: pytest.FixtureRequest) -> Iterator[FakeOParl]:
    faults = getattr(request, "param", set())
    with serve(FakeOParl(set(faults))) as f:
        yield f


async def count(db: Any, model: Any, *where: Any) -> int:
    async with db.sessionmaker() as s:
        return (await s.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def one(db: Any, model: Any, origin_id: str) -> Any:
    async with db.sessionmaker() as s:
        return (await s.execute(select(model).where(model.origin_id == origin_id))).scalar_one()


async def test_full_import_maps_everything(db: Any, settings: Any, fake: FakeOParl) -> None:
    report = await import_oparl(db, settings, fake.url("/system"), opts())
    assert report.complete, report.summary()
    assert report.warnings == []
    assert report.fetched == fake.count() + 1  # + the body
    for model, n in [
        (Body, 1),
        (Organization, 3),
        (Person, 4),
        (Membership, 8),
        (Meeting, 3),
        (AgendaItem, 9),
        (Paper, 4),
        (Consultation, 6),
        (File, 14),
        (Location, 1),
    ]:
        assert await count(db, model) == n, model
    body = await one(db, Body, fake.url("/body/1"))
    assert (body.name, body.short_name, body.ags, body.contact_email) == (
        "Stadt Hennef (Sieg)",
        "Hennef",
        "05382024",
        "rat@hennef.de",
    )
    location = await one(db, Location, fake.url("/location/1"))
    assert body.location_id == location.id
    committee = await one(db, Organization, fake.url("/organization/2"))
    council = await one(db, Organization, fake.url("/organization/1"))
    assert committee.sub_organization_of_id == council.id and council.location_id == location.id
    anna = await one(db, Person, fake.url("/person/1"))
    assert anna.title == ["Dr."] and anna.location_id == location.id and anna.given_name == "Anna"
    ms = await one(db, Membership, fake.url("/membership/2-1"))
    assert ms.on_behalf_of_id == (await one(db, Organization, fake.url("/organization/3"))).id
    meeting = await one(db, Meeting, fake.url("/meeting/1"))
    assert meeting.start is not None and meeting.start.hour == 16  # 17:00 Berlin in winter
    assert meeting.location_id == location.id and meeting.invitation_id is not None
    item = await one(db, AgendaItem, fake.url("/agendaitem/1-3"))
    assert item.meeting_id == meeting.id and item.public is False and item.order == 3
    paper = await one(db, Paper, fake.url("/paper/2"))
    assert paper.reference == "V/2024/002" and paper.date == date(2024, 2, 1) and paper.main_file_id
    cons = await one(db, Consultation, fake.url("/consultation/2-2"))
    assert cons.paper_id == paper.id and cons.authoritative and cons.position == 1
    assert cons.agenda_item_id == (await one(db, AgendaItem, fake.url("/agendaitem/3-1"))).id
    async with db.sessionmaker() as s:
        assert (await s.execute(select(func.count()).select_from(meeting_organization))).scalar_one() == 3
        assert (await s.execute(select(func.count()).select_from(paper_auxiliary_file))).scalar_one() == 4
        assert (await s.execute(select(func.count()).select_from(paper_related))).scalar_one() == 3
        assert (await s.execute(select(func.count()).select_from(paper_originator_person))).scalar_one() == 4
        assert (
            await s.execute(select(func.count()).select_from(consultation_organization))
        ).scalar_one() == 6
        files = (await s.execute(select(File))).scalars().all()
        assert all(f.storage_key and f.sha512 and f.size > 0 and f.text_state == "pending" for f in files)
        jobs = (await s.execute(select(func.count()).select_from(Job))).scalar_one()
        assert jobs == 14
        # papers and agenda items are in the search index already; files after extraction
        kinds = dict(
            (await s.execute(select(SearchDocument.kind, func.count()).group_by(SearchDocument.kind))).all()
        )
        assert kinds.get("paper") == 4 and kinds.get("agenda_item") == 9
    # the queued extraction jobs read the downloaded PDFs
    await JobRunner(db.sessionmaker, settings=settings).run_until_empty()
    async with db.sessionmaker() as s:
        texts = (await s.execute(select(File.text_state, File.text))).all()
        assert {state for state, _ in texts} == {"done"}
        assert all("Radweg" in (text or "") for _, text in texts)
        indexed = (
            await s.execute(
                select(func.count()).select_from(SearchDocument).where(SearchDocument.kind == "file")
            )
        ).scalar_one()
        assert indexed == 14
        state = (await s.execute(select(OParlImportState))).scalar_one()
        assert state.body_origin_id == fake.url("/body/1") and state.last_started is not None


async def test_rerun_is_idempotent(db: Any, settings: Any, fake: FakeOParl) -> None:
    first = await import_oparl(db, settings, fake.url("/system"), opts())
    async with db.sessionmaker() as s:
        before = {(p.origin_id, p.id, p.modified, p.name) for p in (await s.execute(select(Paper))).scalars()}
    fake.requests.clear()
    second = await import_oparl(db, settings, fake.url("/system"), opts(full=True))
    assert second.complete and not second.created and not second.updated and not second.deleted
    assert sum(second.unchanged.values()) == first.fetched
    assert second.files_downloaded == 0 and not any(r.startswith("/files/") for r in fake.requests)
    assert all("modified_since" not in r for r in fake.requests)  # --full reads everything
    async with db.sessionmaker() as s:
        after = {(p.origin_id, p.id, p.modified, p.name) for p in (await s.execute(select(Paper))).scalars()}
    assert before == after
    for model, n in [(Paper, 4), (File, 14), (Membership, 8), (AgendaItem, 9), (Consultation, 6)]:
        assert await count(db, model) == n


async def test_incremental_run_reads_changes_only(db: Any, settings: Any, fake: FakeOParl) -> None:
    await import_oparl(db, settings, fake.url("/system"), opts())
    fake.touch_paper(2, "Radweg an der Sieg – geändert")
    new_meeting = fake.add_meeting()
    fake.delete("person", fake.url("/person/4"))
    fake.requests.clear()
    report = await import_oparl(db, settings, fake.url("/system"), opts())
    assert report.complete, report.summary()
    assert report.since[fake.url("/body/1")] is not None
    lists = [r for r in fake.requests if "/body/1/" in r]
    assert lists and all("modified_since=" in r for r in lists)
    assert report.created["Meeting"] == 1 and report.created["AgendaItem"] == 3
    assert report.updated["Paper"] == 1 and report.deleted["Person"] == 1
    assert report.unchanged["Paper"] == 0  # the other papers were not read again
    paper = await one(db, Paper, fake.url("/paper/2"))
    assert paper.name == "Radweg an der Sieg – geändert"
    assert (await one(db, Person, fake.url("/person/4"))).deleted is True
    assert (await one(db, Meeting, new_meeting)).name.startswith("4. Sitzung")
    assert report.files_downloaded == 2  # the new meeting's invitation and attachment
    async with db.sessionmaker() as s:
        doc = (
            await s.execute(
                select(SearchDocument.title).where(
                    SearchDocument.kind == "paper", SearchDocument.ref_id == paper.id
                )
            )
        ).scalar_one()
        assert "geändert" in doc


async def test_removed_agenda_item_is_soft_deleted(db: Any, settings: Any, fake: FakeOParl) -> None:
    await import_oparl(db, settings, fake.url("/system"), opts())
    meeting = fake.data["meeting"][fake.url("/meeting/2")]
    meeting["agendaItem"] = meeting["agendaItem"][:2]
    meeting["modified"] = "2030-01-01T00:00:00+00:00"
    report = await import_oparl(db, settings, fake.url("/system"), opts())
    assert report.deleted["AgendaItem"] == 1
    assert (await one(db, AgendaItem, fake.url("/agendaitem/2-3"))).deleted is True
    assert (await one(db, AgendaItem, fake.url("/agendaitem/2-2"))).deleted is False


# --- vendor faults --------------------------------------------------------------------------------

FAULT_WARNINGS = {
    "body_object": "object_not_list",
    "location_without_type": "missing_type",
    "person_location_object": "location_object",
    "auxiliary_file_object": "not_an_array",
    "control_characters": "json_control_characters",
    "file_date_timestamp": "date_as_timestamp",
    "short_mime": "mime_type_short",
    "size_zero": "file_size_zero",
    "empty_download_url": "empty_download_url",
    "foreign_file": "foreign_download",
    "big_file": "file_too_large",
}


@pytest.mark.parametrize("fake", [{f} for f in FAULT_WARNINGS], indirect=True, ids=list(FAULT_WARNINGS))
async def test_vendor_fault_is_tolerated(db: Any, settings: Any, fake: FakeOParl) -> None:
    (fault,) = fake.faults
    report = await import_oparl(db, settings, fake.url("/system"), opts())
    assert report.bodies == [fake.url("/body/1")] and report.error is None, report.summary()
    assert FAULT_WARNINGS[fault] in report.warning_codes(), report.summary()
    for model, n in [(Paper, 4), (Meeting, 3), (AgendaItem, 9), (Person, 4), (Membership, 8), (File, 14)]:
        assert await count(db, model) == n, model
    if fault == "person_location_object":
        anna = await one(db, Person, fake.url("/person/1"))
        office = await one(db, Location, fake.url("/location/2"))
        assert anna.location_id == office.id and office.room == "Büro 1"
    if fault == "location_without_type":
        assert (await one(db, Meeting, fake.url("/meeting/1"))).location_id is not None
    if fault == "auxiliary_file_object":
        async with db.sessionmaker() as s:
            assert (await s.execute(select(func.count()).select_from(paper_auxiliary_file))).scalar_one() == 4
    if fault == "control_characters":
        assert (await one(db, Paper, fake.url("/paper/1"))).name == "Bebauungsplan Nr. 1 – Radweg"
    if fault == "file_date_timestamp":
        assert (await one(db, File, fake.url("/file/p1-main"))).date == date(2024, 2, 20)
        assert (await one(db, File, fake.url("/file/m1-inv"))).date == date(2024, 2, 20)
    if fault == "short_mime":
        assert (await one(db, File, fake.url("/file/p1-aux"))).mime_type == "application/pdf"
    if fault == "size_zero":
        record = await one(db, File, fake.url("/file/p1-main"))
        assert record.size == len(fake.files["/files/p1-main.pdf"]) and record.storage_key
    if fault == "empty_download_url":
        assert (await one(db, File, fake.url("/file/p1-main"))).storage_key is not None
    if fault == "foreign_file":
        assert (await one(db, File, fake.url("/file/p2-main"))).storage_key is None
        assert report.files_downloaded == 13
    if fault == "big_file":
        assert (await one(db, File, fake.url("/file/p3-main"))).storage_key is None
        assert report.files_downloaded == 13


async def test_placeholder_strings_become_empty(db: Any, settings: Any) -> None:
    with serve(FakeOParl({"placeholders"})) as fake:
        report = await import_oparl(db, settings, fake.url("/system"), opts())
    assert report.complete
    assert (await one(db, Body, fake.url("/body/1"))).contact_email is None
    assert (await one(db, Organization, fake.url("/organization/3"))).classification is None
    assert (await one(db, Person, fake.url("/person/1"))).life is None
    assert (await one(db, AgendaItem, fake.url("/agendaitem/1-1"))).result is None


@pytest.mark.parametrize(
    "fault", ["filter_404", "filter_bare_array", "reject_encoded_query", "deleted_without_type"]
)
async def test_incremental_faults(db: Any, settings: Any, fault: str) -> None:
    with serve(FakeOParl({fault, "deleted_without_type"})) as fake:
        await import_oparl(db, settings, fake.url("/system"), opts())
        fake.touch_paper(1, "Neuer Titel")
        fake.delete("person", fake.url("/person/3"))
        fake.delete("meeting", fake.url("/meeting/3"))
        report = await import_oparl(db, settings, fake.url("/system"), opts())
    assert report.complete, report.summary()
    codes = report.warning_codes()
    if fault in ("filter_404", "filter_bare_array"):
        assert codes["filter_rejected"] == 1  # learnt once, not asked again for every list
    elif fault == "reject_encoded_query":
        assert codes["query_encoding"] == 1
        assert any("modified_since=" in r and "%" not in r for r in fake.requests)
    assert (await one(db, Paper, fake.url("/paper/1"))).name == "Neuer Titel"
    if fault not in ("filter_404", "filter_bare_array"):
        assert codes["deleted_without_type"] >= 1
        # a server without a working filter does not list deleted objects at all
        assert (await one(db, Person, fake.url("/person/3"))).deleted is True
        assert (await one(db, Meeting, fake.url("/meeting/3"))).deleted is True
    assert await count(db, Paper) == 4


async def test_random_5xx_are_retried(db: Any, settings: Any) -> None:
    with serve(FakeOParl({"random_5xx"})) as fake:
        report = await import_oparl(db, settings, fake.url("/system"), opts())
    assert report.complete and report.retries > 5, report.summary()
    assert await count(db, Paper) == 4 and report.files_downloaded == 14


async def test_all_faults_at_once(db: Any, settings: Any) -> None:
    faults = set(FAULT_WARNINGS) | {"placeholders", "random_5xx", "reject_encoded_query", "filter_bare_array"}
    with serve(FakeOParl(faults)) as fake:
        first = await import_oparl(db, settings, fake.url("/system"), opts())
        fake.touch_paper(3, "Zweiter Lauf")
        second = await import_oparl(db, settings, fake.url("/system"), opts())
    assert first.complete and second.complete
    assert await count(db, Paper) == 4 and await count(db, AgendaItem) == 9
    assert (await one(db, Paper, fake.url("/paper/3"))).name == "Zweiter Lauf"


async def test_hostile_strings(db: Any, settings: Any, fake: FakeOParl) -> None:
    paper = fake.data["paper"][fake.url("/paper/1")]
    paper["name"] = "\x00<script>alert(1)</script>\u202e" + "x" * 10_000
    paper["reference"] = "'; DROP TABLE paper; --\ud800"
    paper["keyword"] = ["\x00", "ok", 5, None, {"x": 1}]
    fake.data["person"][fake.url("/person/2")]["email"] = "nur-ein-string@example.org"
    report = await import_oparl(db, settings, fake.url("/system"), opts())
    assert report.complete
    record = await one(db, Paper, fake.url("/paper/1"))
    assert record.name.startswith("<script>") and "\x00" not in record.name and len(record.name) == 1000
    assert record.reference == "'; DROP TABLE paper; --"
    assert record.keyword == ["ok", "5"]
    assert (await one(db, Person, fake.url("/person/2"))).email == ["nur-ein-string@example.org"]


async def test_bad_references_warn_and_skip(db: Any, settings: Any, fake: FakeOParl) -> None:
    fake.data["membership"][fake.url("/membership/1-1")]["organization"] = fake.url("/organization/999")
    fake.data["person"][fake.url("/person/1")]["membership"][0]["organization"] = fake.url(
        "/organization/999"
    )
    paper = fake.data["paper"][fake.url("/paper/1")]
    paper["relatedPaper"] = [fake.url("/paper/404")]
    del fake.data["meeting"][fake.url("/meeting/1")]["agendaItem"][0]["id"]
    report = await import_oparl(db, settings, fake.url("/system"), opts())
    codes = report.warning_codes()
    assert codes["unresolved"] >= 2 and codes["skipped"] >= 1
    assert await count(db, Membership) == 7 and await count(db, Paper) == 4


async def test_guard_stops_and_does_not_advance_state(db: Any, settings: Any, fake: FakeOParl) -> None:
    report = await import_oparl(db, settings, fake.url("/system"), opts(max_objects=10))
    assert not report.complete and "guard" in report.warning_codes()
    assert await count(db, OParlImportState) == 0
    assert await count(db, Paper) == 0  # the guard hit while reading organisations/persons
    report = await import_oparl(db, settings, fake.url("/system"), opts())
    assert report.complete and report.since[fake.url("/body/1")] is None
    assert await count(db, Paper) == 4


async def test_no_files_and_unreachable_endpoint(db: Any, settings: Any, fake: FakeOParl) -> None:
    report = await import_oparl(db, settings, fake.url("/system"), opts(files=False))
    assert report.complete and report.files_downloaded == 0
    assert not any(r.startswith("/files/") for r in fake.requests)
    assert await count(db, File, File.storage_key.is_not(None)) == 0
    # a port nobody listens on: a report with the error, no exception
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    bad = await import_oparl(db, settings, f"http://127.0.0.1:{port}/oparl/v1/system", opts(retries=1))
    assert bad.error and not bad.complete and bad.bodies == []
    garbage = await import_oparl(db, settings, fake.url("/files/p1-main.pdf"), opts(retries=0))
    assert garbage.error and not garbage.complete


async def test_body_option(db: Any, settings: Any, fake: FakeOParl) -> None:
    report = await import_oparl(db, settings, fake.url("/system"), opts(body="Nirgendwo"))
    assert not report.complete and "body_not_found" in report.warning_codes()
    assert await count(db, Body) == 0
    report = await import_oparl(db, settings, fake.url("/system"), opts(body="Hennef", files=False))
    assert report.complete and await count(db, Body) == 1


async def test_cli(settings: Any, fake: FakeOParl, db: Any) -> None:
    env = {
        **os.environ,
        "RATHAUS_DATABASE_URL": settings.resolved_database_url,
        "RATHAUS_VAR_DIR": str(settings.var_dir),
    }
    exe = Path(sys.executable).parent / "rathaus"
    proc = await asyncio.create_subprocess_exec(
        str(exe),
        "import-oparl",
        fake.url("/system"),
        "--no-files",
        "--max-objects",
        "1000",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    assert "Paper" in text and "new      4" in text
    assert await count(db, Paper) == 4


async def test_extract_now_and_progress(db: Any, settings: Any, fake: FakeOParl) -> None:
    seen: list[tuple[str, int, int | None]] = []
    report = await import_oparl(
        db, settings, fake.url("/system"), opts(extract="now"), progress=lambda *a: seen.append(a)
    )
    assert report.complete
    phases = {phase for phase, _, _ in seen}
    assert {"Paper lesen", "Paper schreiben", "Dateien laden"} <= phases
    assert ("Dateien laden", 14, 14) in seen
    async with db.sessionmaker() as s:
        assert (await s.execute(select(func.count()).select_from(Job))).scalar_one() == 0
        states = set((await s.execute(select(File.text_state))).scalars())
        assert states == {"done"}
        n = (
            await s.execute(
                select(func.count()).select_from(SearchDocument).where(SearchDocument.kind == "file")
            )
        ).scalar_one()
        assert n == 14
    assert "Paper" in report.summary() and "files downloaded: 14" in report.summary()
