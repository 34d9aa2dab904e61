"""Documents end to end: adding PDFs (service, CLI, staff web form), the extraction job, the document
page, and serving files (headers, conditional GET, access control, deletion)."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from email.utils import formatdate
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.orm import undefer

from council.accounts.service import create_account
from council.accounts.sessions import SESSION_COOKIE, create_session
from council.core.db import Database
from council.core.jobs import Job, JobRunner, enqueue
from council.core.settings import Settings
from council.documents.service import EXTRACT_JOB, UploadRejected, add_document
from council.documents.store import FileStore
from council.records.models import File, Paper, meeting_auxiliary_file, paper_auxiliary_file
from council.search.models import SearchDocument
from tests.factories import make_town
from tests.unit.test_extract import GERMAN, encrypt, make_pdf

STAFF = ("clerk",)
COUNCILLOR = ("councillor",)
PASSWORD = "correct horse battery staple 42"
BASE = "http://127.0.0.1:8000"


@pytest.fixture
def quiet_settings(settings: Settings) -> Settings:
    """No in-process job runner: the tests run jobs themselves, deterministically."""
    return settings.model_copy(update={"jobs_in_process": False})


@asynccontextmanager
async def client_as(
    settings: Settings, roles: tuple[str, ...] | None = None, person_id: int | None = None
) -> AsyncIterator[AsyncTestClient[Any]]:
    """A client on a fresh app; with ``roles``: signed in with a real account and server-side session."""
    from web.app import create_app

    app = create_app(settings)
    async with AsyncTestClient(app=app, base_url=BASE) as client:
        if roles is not None:
            # Our own engine: the app's pool lives on the test client's event loop.
            database = Database(settings)
            try:
                async with database.sessionmaker() as s:
                    account = await create_account(
                        s, f"u{uuid.uuid4().hex[:10]}", PASSWORD, roles, person_id=person_id
                    )
                    token = await create_session(s, account.id)
                    await s.commit()
            finally:
                await database.dispose()
            client.cookies.set(SESSION_COOKIE, token)
        yield client


async def run_jobs(db: Any) -> int:
    return await JobRunner(db.sessionmaker, settings=db.settings).run_until_empty()


async def add(db: Any, settings: Settings, data: bytes, **kwargs: Any) -> File:
    kwargs.setdefault("name", "Testdokument")
    async with db.sessionmaker() as s:
        record = await add_document(s, FileStore(settings.files_dir), data, **kwargs)
        await s.commit()
        return record


async def count(db: Any, model: Any) -> int:
    async with db.sessionmaker() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar_one())


# --- service + job ---------------------------------------------------------------------------------


async def test_add_main_file_to_paper_and_extract(db, quiet_settings):
    async with db.sessionmaker() as s:
        town = await make_town(s)
    data = make_pdf(GERMAN)
    record = await add(
        db,
        quiet_settings,
        data,
        name="Beschlussvorlage Grundschule",
        file_name="Vorlage Müller.pdf",
        paper_id=town.paper.id,
        role="main",
        date=date(2026, 11, 1),
    )
    assert record.text_state == "pending"
    assert record.storage_key and len(record.storage_key) == 128
    assert FileStore(quiet_settings.files_dir).read(record.storage_key) == data
    async with db.sessionmaker() as s:
        paper = await s.get(Paper, town.paper.id)
        assert paper.main_file_id == record.id
        # the replaced main file stays with the paper as an auxiliary file
        aux = (
            (
                await s.execute(
                    select(paper_auxiliary_file.c.file_id).where(paper_auxiliary_file.c.paper_id == paper.id)
                )
            )
            .scalars()
            .all()
        )
        assert town.public_file.id in aux
        jobs = (await s.execute(select(Job).where(Job.kind == EXTRACT_JOB))).scalars().all()
        assert [j.payload["file_id"] for j in jobs] == [record.id]

    assert await run_jobs(db) == 1
    async with db.sessionmaker() as s:
        f = await s.get(File, record.id, options=[undefer(File.text)])
        assert f.text_state == "done"
        assert f.page_count == 2
        assert "Müllerstraße" in f.text and "Überplanmäßige" in f.text
        assert f.text.count("\f") == 1
        assert f.file_name == "Vorlage Müller.pdf"
        first_text = f.text
        # the job indexed the text for search
        indexed = (
            await s.execute(
                select(SearchDocument).where(SearchDocument.kind == "file", SearchDocument.ref_id == f.id)
            )
        ).scalar_one()
        assert "Müllerstraße" in indexed.body or "mullerstrass" in indexed.body.lower()

    # idempotent: running the job again changes nothing
    async with db.sessionmaker() as s:
        enqueue(s, EXTRACT_JOB, {"file_id": record.id, "files_dir": str(quiet_settings.files_dir.resolve())})
        await s.commit()
    assert await run_jobs(db) == 1
    async with db.sessionmaker() as s:
        f = await s.get(File, record.id, options=[undefer(File.text)])
        assert f.text == first_text and f.text_state == "done"
        states = (await s.execute(select(Job.state).where(Job.kind == EXTRACT_JOB))).scalars().all()
        assert states == ["done", "done"]


async def test_job_states_for_unreadable_pdfs(db, quiet_settings):
    enc = await add(db, quiet_settings, encrypt(make_pdf(GERMAN)), name="Verschlüsselt")
    broken = await add(db, quiet_settings, b"%PDF-1.7\n" + b"kaputt" * 100, name="Kaputt")
    truncated_src = make_pdf(GERMAN)
    truncated = await add(db, quiet_settings, truncated_src[: len(truncated_src) // 3], name="Abgeschnitten")
    assert await run_jobs(db) == 3
    async with db.sessionmaker() as s:
        for rec in (enc, broken, truncated):
            f = await s.get(File, rec.id, options=[undefer(File.text)])
            assert f.text_state in ("no_text", "done"), f.text_state
            if f.text_state == "no_text":
                assert f.text is None
        assert (await s.get(File, enc.id, options=[undefer(File.text)])).text_state == "no_text"
        assert (await s.get(File, broken.id, options=[undefer(File.text)])).text_state == "no_text"
        failed = (
            await s.execute(select(func.count()).select_from(Job).where(Job.state != "done"))
        ).scalar_one()
        assert failed == 0


async def test_missing_blob_marks_failed(db, quiet_settings):
    record = await add(db, quiet_settings, make_pdf(["x"]), name="Weg")
    FileStore(quiet_settings.files_dir).path(record.storage_key).unlink()
    await run_jobs(db)
    async with db.sessionmaker() as s:
        assert (await s.get(File, record.id, options=[undefer(File.text)])).text_state == "failed"


async def test_non_public_parent_makes_file_non_public(db, quiet_settings):
    async with db.sessionmaker() as s:
        town = await make_town(s)
    on_secret_paper = await add(
        db, quiet_settings, make_pdf(["a"]), paper_id=town.secret_paper.id, public=True
    )
    on_secret_item = await add(db, quiet_settings, make_pdf(["b"]), agenda_item_id=town.secret_item.id)
    on_secret_meeting = await add(db, quiet_settings, make_pdf(["c"]), meeting_id=town.secret_meeting.id)
    on_public_meeting = await add(db, quiet_settings, make_pdf(["d"]), meeting_id=town.past_meeting.id)
    asked_private = await add(db, quiet_settings, make_pdf(["e"]), paper_id=town.paper.id, public=False)
    assert not on_secret_paper.public
    assert not on_secret_item.public
    assert not on_secret_meeting.public
    assert on_public_meeting.public
    assert not asked_private.public
    assert on_public_meeting.body_id == town.body.id
    async with db.sessionmaker() as s:
        linked = (
            (
                await s.execute(
                    select(meeting_auxiliary_file.c.file_id).where(
                        meeting_auxiliary_file.c.meeting_id == town.past_meeting.id
                    )
                )
            )
            .scalars()
            .all()
        )
        assert linked == [on_public_meeting.id]


async def test_rejections_leave_nothing_behind(db, quiet_settings):
    async with db.sessionmaker() as s:
        town = await make_town(s)
    files_before = await count(db, File)
    cases = [
        (b"", {}, 400, "empty"),
        (b"GIF89a....", {}, 415, "not_pdf"),
        (make_pdf(["x"]), {"max_bytes": 10}, 413, "too_large"),
        (make_pdf(["x"]), {"paper_id": 999_999}, 400, "unknown_paper"),
        (make_pdf(["x"]), {"meeting_id": 999_999}, 400, "unknown_meeting"),
        (make_pdf(["x"]), {"agenda_item_id": 999_999}, 400, "unknown_agenda_item"),
        (make_pdf(["x"]), {"role": "main"}, 400, "main_needs_paper"),
        (make_pdf(["x"]), {"role": "boss", "paper_id": town.paper.id}, 400, "bad_role"),
    ]
    for data, kwargs, status, reason in cases:
        async with db.sessionmaker() as s:
            with pytest.raises(UploadRejected) as exc:
                await add_document(s, FileStore(quiet_settings.files_dir), data, name="x", **kwargs)
            await s.rollback()
        assert (exc.value.status_code, exc.value.reason) == (status, reason)
    assert await count(db, File) == files_before
    assert await count(db, Job) == 0


# --- CLI ---------------------------------------------------------------------------------------------


async def test_cli_add_and_extract(db, quiet_settings, tmp_path):
    from web.cli.documents import add_file, extract_files

    async with db.sessionmaker() as s:
        town = await make_town(s)
    pdf = tmp_path / "Haushaltsplan Entwurf.pdf"
    pdf.write_bytes(make_pdf(GERMAN))
    record = await add_file(quiet_settings, pdf, paper_id=town.paper.id, main_file=True)
    assert record.name == "Haushaltsplan Entwurf"
    assert record.file_name == "Haushaltsplan Entwurf.pdf"
    assert record.text_state == "done" and record.page_count == 2
    async with db.sessionmaker() as s:
        assert (await s.get(Paper, town.paper.id)).main_file_id == record.id
        # the queued job was settled by the CLI, the runner has nothing left to do
        assert (await s.execute(select(Job.state))).scalars().all() == ["done"]

    later = await add_file(
        quiet_settings, pdf, name="Später", meeting_id=town.secret_meeting.id, extract=False
    )
    assert later.text_state == "pending" and not later.public
    assert await extract_files(quiet_settings, all_pending=True) == 1
    async with db.sessionmaker() as s:
        assert (await s.get(File, later.id, options=[undefer(File.text)])).text_state == "done"

    big = tmp_path / "gross.pdf"
    big.write_bytes(b"%PDF-1.4\n" + b"0" * 2000)
    with pytest.raises(UploadRejected) as exc:
        await add_file(quiet_settings.model_copy(update={"max_upload_bytes": 1000}), big)
    assert exc.value.status_code == 413


def test_cli_command_line(quiet_settings, tmp_path, monkeypatch):
    """The click commands themselves (sync test: click runs its own event loop)."""
    from click.testing import CliRunner

    from council.core.settings import get_settings
    from web.cli import main

    monkeypatch.setenv("RATHAUS_DATABASE_URL", quiet_settings.resolved_database_url)
    monkeypatch.setenv("RATHAUS_VAR_DIR", str(quiet_settings.var_dir))
    get_settings.cache_clear()
    try:
        pdf = tmp_path / "Bericht.pdf"
        pdf.write_bytes(make_pdf(GERMAN))
        result = CliRunner().invoke(main, ["documents", "add", str(pdf), "--name", "Bericht", "--non-public"])
        assert result.exit_code == 0, result.output
        assert re.search(r"file \d+: Bericht .*pages, text done", result.output)
        not_pdf = tmp_path / "notiz.pdf"
        not_pdf.write_text("kein pdf")
        result = CliRunner().invoke(main, ["documents", "add", str(not_pdf)])
        assert result.exit_code == 1 and "PDF" in result.output
        result = CliRunner().invoke(main, ["documents", "extract", "--all-pending"])
        assert result.exit_code == 0 and "0 documents extracted" in result.output
        result = CliRunner().invoke(main, ["documents", "extract"])
        assert result.exit_code == 2
    finally:
        get_settings.cache_clear()


# --- the document page and the file --------------------------------------------------------------


@pytest.fixture
async def town_docs(db, quiet_settings) -> dict[str, Any]:
    async with db.sessionmaker() as s:
        town = await make_town(s)
    public = await add(
        db,
        quiet_settings,
        make_pdf(GERMAN),
        name="Sanierung Grundschule – Vorlage",
        file_name="Vorlage Grundschule Müllerstraße.pdf",
        paper_id=town.paper.id,
    )
    secret = await add(
        db,
        quiet_settings,
        make_pdf(["Vertraulicher Kaufpreis: 1 Euro"]),
        name="Kaufvertrag",
        paper_id=town.secret_paper.id,
    )
    await run_jobs(db)
    return {"town": town, "public": public, "secret": secret}


async def test_document_page_shows_facts_parents_and_pages(quiet_settings, town_docs):
    f = town_docs["public"]
    async with client_as(quiet_settings) as client:
        r = await client.get(f"/dokumente/{f.id}")
    assert r.status_code == 200
    html = r.text
    assert "Sanierung Grundschule – Vorlage" in html
    assert 'id="seite-1"' in html and 'id="seite-2"' in html
    assert 'href="#seite-2"' in html
    assert "Müllerstraße" in html
    assert f.sha512[:16] in html and f.sha512 in html
    assert f"/dokumente/{f.id}/datei" in html and f"/dokumente/{f.id}/download" in html
    assert f'href="/vorlagen/{town_docs["town"].paper.id}"' in html
    assert town_docs["town"].secret_paper.name not in html


async def test_document_page_pending_and_htmx_fragment(db, quiet_settings):
    rec = await add(db, quiet_settings, make_pdf(["noch nicht gelesen"]), name="Wartet")
    async with client_as(quiet_settings) as client:
        r = await client.get(f"/dokumente/{rec.id}")
        assert r.status_code == 200
        assert 'hx-trigger="every 3s"' in r.text
        r = await client.get(
            f"/dokumente/{rec.id}", headers={"HX-Request": "true", "HX-Target": "dokument-text"}
        )
        assert r.status_code == 200
        assert r.text.lstrip().startswith('<div id="dokument-text"')
        assert "<html" not in r.text
        await run_jobs(db)
        r = await client.get(
            f"/dokumente/{rec.id}", headers={"HX-Request": "true", "HX-Target": "dokument-text"}
        )
        assert "every 3s" not in r.text and "noch nicht gelesen" in r.text


async def test_inline_and_download_headers(quiet_settings, town_docs):
    f = town_docs["public"]
    data = FileStore(quiet_settings.files_dir).read(f.storage_key)
    async with client_as(quiet_settings) as client:
        inline = await client.get(f"/dokumente/{f.id}/datei")
        download = await client.get(f"/dokumente/{f.id}/download")
    for r in (inline, download):
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/pdf"
        assert r.content == data
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["etag"] == f'"{f.sha512[:64]}"'
        assert r.headers["last-modified"].endswith("GMT")
        assert r.headers["cache-control"].startswith("public")
    assert inline.headers["content-disposition"].startswith("inline;")
    assert download.headers["content-disposition"].startswith("attachment;")
    cd = inline.headers["content-disposition"]
    assert "filename*=UTF-8''Vorlage%20Grundschule%20M%C3%BCllerstra%C3%9Fe.pdf" in cd
    assert 'filename="Vorlage Grundschule Mullerstrae.pdf"' in cd


async def test_byte_ranges(quiet_settings, town_docs):
    """pdf.js asks for parts of a long PDF; a broken download resumes: one range → 206, If-Range of
    another version → the whole file, unsatisfiable → 416, junk → the whole file."""
    f = town_docs["public"]
    data = FileStore(quiet_settings.files_dir).read(f.storage_key)
    size = len(data)
    async with client_as(quiet_settings) as client:
        url = f"/dokumente/{f.id}/datei"
        whole = await client.get(url)
        assert whole.headers["accept-ranges"] == "bytes" and whole.headers["content-length"] == str(size)
        part = await client.get(url, headers={"Range": "bytes=10-99"})
        assert part.status_code == 206 and part.content == data[10:100]
        assert part.headers["content-range"] == f"bytes 10-99/{size}"
        assert part.headers["content-disposition"].startswith("inline;")
        tail = await client.get(f"/dokumente/{f.id}/download", headers={"Range": "bytes=-16"})
        assert tail.status_code == 206 and tail.content == data[-16:]
        resumed = await client.get(url, headers={"Range": "bytes=100-", "If-Range": whole.headers["etag"]})
        assert resumed.status_code == 206 and resumed.content == data[100:]
        other = await client.get(url, headers={"Range": "bytes=100-", "If-Range": '"another-version"'})
        assert other.status_code == 200 and other.content == data
        beyond = await client.get(url, headers={"Range": f"bytes={size}-"})
        assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
        for junk in ("bytes=abc", "pages=1-2", "bytes=5-1,7-9", "\u202ebytes=1-2", "bytes=" + "9" * 500):
            r = await client.get(url, headers={"Range": junk.encode("utf-8", "surrogatepass")})
            assert r.status_code in (200, 416), (junk, r.status_code)
            if r.status_code == 200:
                assert r.content == data


async def test_conditional_get(quiet_settings, town_docs):
    f = town_docs["public"]
    async with client_as(quiet_settings) as client:
        first = await client.get(f"/dokumente/{f.id}/datei")
        etag, last_modified = first.headers["etag"], first.headers["last-modified"]
        r = await client.get(f"/dokumente/{f.id}/datei", headers={"If-None-Match": etag})
        assert r.status_code == 304 and r.content == b""
        assert r.headers["etag"] == etag
        r = await client.get(f"/dokumente/{f.id}/download", headers={"If-None-Match": f'"other", W/{etag}'})
        assert r.status_code == 304
        r = await client.get(f"/dokumente/{f.id}/datei", headers={"If-None-Match": '"nope"'})
        assert r.status_code == 200
        r = await client.get(f"/dokumente/{f.id}/datei", headers={"If-Modified-Since": last_modified})
        assert r.status_code == 304
        r = await client.get(
            f"/dokumente/{f.id}/datei", headers={"If-Modified-Since": formatdate(0, usegmt=True)}
        )
        assert r.status_code == 200
        for junk in ("gestern", "\u202e", "Mon, 99 Foo 2026 99:99:99 GMT", "x" * 10_000):
            r = await client.get(f"/dokumente/{f.id}/datei", headers={"If-Modified-Since": junk.encode()})
            assert r.status_code == 200
        # If-None-Match wins over If-Modified-Since
        r = await client.get(
            f"/dokumente/{f.id}/datei",
            headers={"If-None-Match": '"nope"', "If-Modified-Since": last_modified},
        )
        assert r.status_code == 200


async def test_non_public_is_404_for_anonymous_and_private_for_staff(quiet_settings, town_docs):
    secret = town_docs["secret"]
    assert not secret.public
    async with client_as(quiet_settings) as client:
        for path in (
            f"/dokumente/{secret.id}",
            f"/dokumente/{secret.id}/datei",
            f"/dokumente/{secret.id}/download",
        ):
            r = await client.get(path)
            assert r.status_code == 404, path
            assert "Kaufpreis" not in r.text
    async with client_as(quiet_settings, COUNCILLOR) as client:  # logged in, but no committee member
        assert (await client.get(f"/dokumente/{secret.id}/datei")).status_code == 404
    async with client_as(quiet_settings, STAFF) as client:
        r = await client.get(f"/dokumente/{secret.id}/datei")
        assert r.status_code == 200
        assert r.headers["cache-control"].startswith("private")
        page = await client.get(f"/dokumente/{secret.id}")
        assert page.status_code == 200 and "Kaufpreis" in page.text
        assert "nichtöffentlich" in page.text


async def test_member_of_committee_sees_non_public_file(quiet_settings, town_docs):
    town = town_docs["town"]
    # Anna Becker chairs the committee that consults the non-public paper
    async with client_as(quiet_settings, COUNCILLOR, person_id=town.member.id) as client:
        r = await client.get(f"/dokumente/{town_docs['secret'].id}/download")
        assert r.status_code == 200
        assert r.headers["cache-control"].startswith("private")


async def test_deleted_file_is_gone(db, quiet_settings, town_docs):
    public, secret = town_docs["public"], town_docs["secret"]
    async with db.sessionmaker() as s:
        for rec in (public, secret):
            (await s.get(File, rec.id, options=[undefer(File.text)])).deleted = True
        await s.commit()
    async with client_as(quiet_settings) as client:
        for suffix in ("", "/datei", "/download"):
            assert (await client.get(f"/dokumente/{public.id}{suffix}")).status_code == 410
            # a deleted non-public file does not reveal that it existed
            assert (await client.get(f"/dokumente/{secret.id}{suffix}")).status_code == 404
    async with client_as(quiet_settings, STAFF) as client:
        assert (await client.get(f"/dokumente/{secret.id}/datei")).status_code == 410


@pytest.mark.parametrize(
    "path",
    [
        "/dokumente/999999",
        "/dokumente/0/datei",
        "/dokumente/99999999999999999999/download",
        "/dokumente/abc",
        "/dokumente/%00/datei",
        "/dokumente/-1/datei",
        "/dokumente/1%E2%80%AE/download",
    ],
)
async def test_unknown_and_hostile_ids(quiet_settings, path):
    async with client_as(quiet_settings) as client:
        r = await client.get(path)
    assert r.status_code in (400, 404), r.status_code


async def test_record_without_blob_is_404_on_file(db, quiet_settings):
    async with db.sessionmaker() as s:
        town = await make_town(s)
    async with client_as(quiet_settings) as client:
        assert (await client.get(f"/dokumente/{town.public_file.id}")).status_code == 200
        assert (await client.get(f"/dokumente/{town.public_file.id}/datei")).status_code == 404


# --- staff upload form ----------------------------------------------------------------------------

UPLOAD = "/verwaltung/dokumente/neu"


async def csrf(client: AsyncTestClient[Any]) -> str:
    r = await client.get(UPLOAD)
    assert r.status_code == 200
    token = client.cookies.get("csrftoken")
    assert token
    assert f'value="{token}"' in r.text
    return token


async def test_upload_requires_staff(quiet_settings):
    async with client_as(quiet_settings) as client:
        r = await client.get(UPLOAD + "?paper=3", follow_redirects=False)
        assert r.status_code in (302, 303)
        assert r.headers["location"] == "/anmelden?next=%2Fverwaltung%2Fdokumente%2Fneu%3Fpaper%3D3"
    async with client_as(quiet_settings, COUNCILLOR) as client:
        r = await client.get(UPLOAD)
        assert r.status_code == 403
        # even with a valid CSRF token a non-staff POST is refused
        await client.get("/dokumente/1")  # sets the csrftoken cookie
        token = client.cookies.get("csrftoken")
        r = await client.post(
            UPLOAD,
            data={"_csrf_token": token, "name": "x"},
            files={"file": ("a.pdf", make_pdf(["x"]), "application/pdf")},
        )
        assert r.status_code == 403


async def test_upload_via_form(db, quiet_settings):
    async with db.sessionmaker() as s:
        town = await make_town(s)
    async with client_as(quiet_settings, STAFF) as client:
        r = await client.get(UPLOAD + f"?paper={town.paper.id}")
        assert f'value="{town.paper.id}"' in r.text
        assert 'enctype="multipart/form-data"' in r.text
        token = await csrf(client)
        r = await client.post(
            UPLOAD,
            data={
                "_csrf_token": token,
                "name": "Stellungnahme Verkehr",
                "paper_id": str(town.paper.id),
                "role": "auxiliary",
                "public": "on",
                "date": "2026-11-20",
            },
            files={"file": ("C:\\Users\\amt\\Stellungnahme.pdf", make_pdf(GERMAN), "application/pdf")},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        match = re.fullmatch(r"/dokumente/(\d+)", r.headers["location"])
        assert match
        file_id = int(match.group(1))
        # committed before the redirect: a fresh session sees it
        async with db.sessionmaker() as s:
            f = await s.get(File, file_id, options=[undefer(File.text)])
            assert f.name == "Stellungnahme Verkehr"
            assert f.file_name == "Stellungnahme.pdf"
            assert f.public and f.date == date(2026, 11, 20) and f.text_state == "pending"
            aux = (
                (
                    await s.execute(
                        select(paper_auxiliary_file.c.file_id).where(
                            paper_auxiliary_file.c.paper_id == town.paper.id
                        )
                    )
                )
                .scalars()
                .all()
            )
            assert file_id in aux
        await run_jobs(db)
        page = await client.get(f"/dokumente/{file_id}")
        assert page.status_code == 200
        assert "Müllerstraße" in page.text and 'id="seite-2"' in page.text
    async with client_as(quiet_settings) as anon:
        assert (await anon.get(f"/dokumente/{file_id}/datei")).status_code == 200


async def test_upload_in_process_runner_extracts(settings):
    """With the embedded runner (the default), the upload wakes it and the text appears."""
    import asyncio

    async with client_as(settings, STAFF) as client:
        token = await csrf(client)
        r = await client.post(
            UPLOAD,
            data={"_csrf_token": token, "name": "Sofort"},
            files={"file": ("sofort.pdf", make_pdf(GERMAN), "application/pdf")},
            follow_redirects=False,
        )
        assert r.status_code == 303
        location = r.headers["location"]
        for _ in range(200):  # wait for the background job (bounded, no timing assertion)
            page = await client.get(location)
            if "every 3s" not in page.text:
                break
            await asyncio.sleep(0.05)
        assert "Müllerstraße" in page.text


async def test_upload_errors(db, quiet_settings):
    async with db.sessionmaker() as s:
        town = await make_town(s)
    files_before = await count(db, File)
    pdf = make_pdf(["x"])
    async with client_as(quiet_settings, STAFF) as client:
        token = await csrf(client)

        async def post(data: dict[str, str], files: Any) -> Any:
            return await client.post(
                UPLOAD, data={"_csrf_token": token, **data}, files=files, follow_redirects=False
            )

        cases = [
            (
                {"name": "x"},
                {"file": ("bild.pdf", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "application/pdf")},
                415,
            ),
            ({"name": "x"}, {"file": ("leer.pdf", b"", "application/pdf")}, 400),
            ({"name": "x"}, {"other": ("a.pdf", pdf, "application/pdf")}, 400),  # no file
            ({"name": ""}, {"file": ("a.pdf", pdf, "application/pdf")}, 400),  # no name
            ({"name": "x", "paper_id": "abc"}, {"file": ("a.pdf", pdf, "application/pdf")}, 400),
            ({"name": "x", "paper_id": "99999999999999"}, {"file": ("a.pdf", pdf, "application/pdf")}, 400),
            ({"name": "x", "paper_id": "999999"}, {"file": ("a.pdf", pdf, "application/pdf")}, 400),
            ({"name": "x", "meeting_id": "-3"}, {"file": ("a.pdf", pdf, "application/pdf")}, 400),
            ({"name": "x", "role": "main"}, {"file": ("a.pdf", pdf, "application/pdf")}, 400),
            ({"name": "x", "role": "<script>"}, {"file": ("a.pdf", pdf, "application/pdf")}, 400),
            ({"name": "x", "date": "2026-13-45"}, {"file": ("a.pdf", pdf, "application/pdf")}, 400),
            ({"name": "x", "agenda_item_id": "\u0661"}, {"file": ("a.pdf", pdf, "application/pdf")}, 400),
        ]
        for data, files, status in cases:
            r = await post(data, files)
            assert r.status_code == status, (data, r.status_code)
            assert "notice-error" in r.text
            assert 'enctype="multipart/form-data"' in r.text  # the form again, with the message
        # without the CSRF token
        r = await client.post(UPLOAD, data={"name": "x"}, files={"file": ("a.pdf", pdf, "application/pdf")})
        assert r.status_code == 403
        assert town.paper.id  # the town exists; nothing got attached
    assert await count(db, File) == files_before
    assert await count(db, Job) == 0


async def test_upload_too_large(db, quiet_settings):
    small = quiet_settings.model_copy(update={"max_upload_bytes": 200_000})
    big_pdf = b"%PDF-1.4\n" + b"0" * 300_000
    async with client_as(small, STAFF) as client:
        token = await csrf(client)
        # over our limit, under the request limit (limit + 1 MB): our check answers
        r = await client.post(
            UPLOAD,
            data={"_csrf_token": token, "name": "gross"},
            files={"file": ("gross.pdf", big_pdf, "application/pdf")},
        )
        assert r.status_code == 413
        assert "notice-error" in r.text
    async with client_as(quiet_settings, STAFF) as client:
        token = await csrf(client)
        # 60 MB against the default 50 MB: Litestar's request body limit answers, still a 413 page
        r = await client.post(
            UPLOAD,
            data={"_csrf_token": token, "name": "riesig"},
            files={"file": ("riesig.pdf", b"%PDF-1.4\n" + b"0" * (60 * 1024 * 1024), "application/pdf")},
        )
        assert r.status_code == 413
    assert await count(db, File) == 0


async def test_hostile_names(db, quiet_settings):
    hostile_name = "Plan\u202eFDP.exe <script>alert(1)</script> \x00 '; DROP TABLE file; --" + "ä" * 10_000
    async with client_as(quiet_settings, STAFF) as client:
        token = await csrf(client)
        r = await client.post(
            UPLOAD,
            data={"_csrf_token": token, "name": hostile_name},
            files={"file": ('..\\..\\evil\r\n"quote\u202e.pdf', make_pdf(["x"]), "application/pdf")},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        file_id = int(r.headers["location"].rsplit("/", 1)[1])
        async with db.sessionmaker() as s:
            f = await s.get(File, file_id, options=[undefer(File.text)])
            assert "\u202e" not in f.name and "\x00" not in f.name
            assert len(f.name) <= 250
            assert "\u202e" not in f.file_name and "\r" not in f.file_name and "\n" not in f.file_name
            assert f.file_name.endswith(".pdf") and "/" not in f.file_name and "\\" not in f.file_name
        page = await client.get(f"/dokumente/{file_id}")
        assert page.status_code == 200
        assert "<script>alert(1)</script>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        r = await client.get(f"/dokumente/{file_id}/download")
        cd = r.headers["content-disposition"]
        assert "\r" not in cd and "\n" not in cd
        assert cd.count('"') == 2  # only the quotes around the ASCII fallback
        # lone surrogates and NUL bytes in the raw multipart body (bytes no client would encode)
        boundary = "xyzBOUNDARY"
        pdf = make_pdf(["y"])
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="_csrf_token"\r\n\r\n{token}\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\n'
            ).encode()
            + b"A\xed\xa0\x80B\x00C\xff"
            + (
                f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="s.pdf"\r\n'
                "Content-Type: application/pdf\r\n\r\n"
            ).encode()
            + pdf
            + f"\r\n--{boundary}--\r\n".encode()
        )
        r = await client.post(
            UPLOAD,
            content=body,
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
            follow_redirects=False,
        )
        assert r.status_code in (303, 400), r.status_code
