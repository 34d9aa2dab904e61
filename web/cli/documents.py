"""`rathaus documents …` commands: add a PDF, extract text of pending documents."""

from __future__ import annotations

import asyncio
from datetime import date as Date
from datetime import datetime
from pathlib import Path

import click
from sqlalchemy import select, update

from council.core.db import Database
from council.core.jobs import Job
from council.core.settings import Settings, get_settings
from council.documents.jobs import extract_file_text
from council.documents.service import EXTRACT_JOB, UploadRejected, add_document
from council.documents.store import FileStore
from council.records.models import File
from web.cli import main, run_async


async def _settle_jobs(db: Database, file_ids: set[int]) -> None:
    """Mark queued extraction jobs for files just extracted here as done (they would only repeat it)."""
    if not file_ids:
        return
    async with db.sessionmaker() as session:
        rows = (
            await session.execute(
                select(Job.id, Job.payload).where(Job.kind == EXTRACT_JOB, Job.state == "queued")
            )
        ).all()
        done = [
            row.id for row in rows if isinstance(row.payload, dict) and row.payload.get("file_id") in file_ids
        ]
        if done:
            await session.execute(
                update(Job).where(Job.id.in_(done), Job.state == "queued").values(state="done")
            )
            await session.commit()


async def extract_files(
    settings: Settings, file_ids: list[int] | None = None, *, all_pending: bool = False
) -> int:
    """Extract (again) the text of the given files, or of all pending ones; returns how many."""
    db = Database(settings)
    store = FileStore(settings.files_dir)
    done: set[int] = set()
    try:
        ids = list(file_ids or [])
        if all_pending:
            async with db.sessionmaker() as session:
                pending = (
                    await session.execute(
                        select(File.id)
                        .where(File.text_state == "pending", File.deleted.is_(False))
                        .order_by(File.id)
                    )
                ).scalars()
                ids.extend(i for i in pending if i not in ids)
        for file_id in ids:
            async with db.sessionmaker() as session:
                record = await extract_file_text(session, store, file_id)
                await session.commit()
            if record is not None:
                done.add(file_id)
        await _settle_jobs(db, done)
    finally:
        await db.dispose()
    return len(done)


async def add_file(
    settings: Settings,
    path: Path,
    *,
    name: str | None = None,
    paper_id: int | None = None,
    meeting_id: int | None = None,
    agenda_item_id: int | None = None,
    main_file: bool = False,
    public: bool = True,
    date: Date | None = None,
    extract: bool = True,
) -> File:
    """Add the PDF at ``path`` (as staff would upload it), commit, and extract its text unless told not to."""
    size = (await asyncio.to_thread(path.stat)).st_size
    if size > settings.max_upload_bytes:
        raise UploadRejected(413, "Die Datei ist zu groß.", "too_large", max_bytes=settings.max_upload_bytes)
    data = await asyncio.to_thread(path.read_bytes)
    db = Database(settings)
    try:
        async with db.sessionmaker() as session:
            record = await add_document(
                session,
                FileStore(settings.files_dir),
                data,
                name=name or path.stem,
                file_name=path.name,
                public=public,
                paper_id=paper_id,
                role="main" if main_file else "auxiliary",
                meeting_id=meeting_id,
                agenda_item_id=agenda_item_id,
                date=date,
                max_bytes=settings.max_upload_bytes,
            )
            await session.commit()
    finally:
        await db.dispose()
    if extract:
        await extract_files(settings, [record.id])
        db = Database(settings)
        try:
            async with db.sessionmaker() as session:
                refreshed = await session.get(File, record.id)
                if refreshed is not None:
                    record = refreshed
        finally:
            await db.dispose()
    return record


@main.group()
def documents() -> None:
    """Dokumente (PDF): hinzufügen, Text lesen."""


@documents.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option("--name", help="Anzeigename (Standard: Dateiname ohne Endung).")
@click.option("--paper", "paper_id", type=click.IntRange(1), help="Einer Vorlage zuordnen (ID).")
@click.option("--meeting", "meeting_id", type=click.IntRange(1), help="Einer Sitzung zuordnen (ID).")
@click.option("--agenda-item", "agenda_item_id", type=click.IntRange(1), help="Einem TOP zuordnen (ID).")
@click.option("--main", "main_file", is_flag=True, help="Als Hauptdokument der Vorlage.")
@click.option("--non-public", is_flag=True, help="Nichtöffentlich.")
@click.option("--date", "doc_date", type=click.DateTime(formats=["%Y-%m-%d"]), help="Datum (JJJJ-MM-TT).")
@click.option("--no-extract", is_flag=True, help="Text nicht sofort lesen (macht der Job-Runner).")
def add_command(
    file: Path,
    name: str | None,
    paper_id: int | None,
    meeting_id: int | None,
    agenda_item_id: int | None,
    main_file: bool,
    non_public: bool,
    doc_date: datetime | None,
    no_extract: bool,
) -> None:
    """Add the PDF FILE."""
    try:
        record = run_async(
            add_file,
            get_settings(),
            file,
            name=name,
            paper_id=paper_id,
            meeting_id=meeting_id,
            agenda_item_id=agenda_item_id,
            main_file=main_file,
            public=not non_public,
            date=doc_date.date() if doc_date else None,
            extract=not no_extract,
        )
    except UploadRejected as exc:
        raise click.ClickException(exc.message) from None
    pages = f", {record.page_count} pages" if record.page_count else ""
    click.echo(f"file {record.id}: {record.name} ({record.size} bytes{pages}, text {record.text_state})")


@documents.command("extract")
@click.argument("file_ids", nargs=-1, type=click.IntRange(1))
@click.option("--all-pending", is_flag=True, help="Alle Dokumente, deren Text noch nicht gelesen wurde.")
def extract_command(file_ids: tuple[int, ...], all_pending: bool) -> None:
    """Read the text of FILE_IDS (again), or of all pending documents."""
    if not file_ids and not all_pending:
        raise click.UsageError("give file ids or --all-pending")
    n = run_async(extract_files, get_settings(), list(file_ids), all_pending=all_pending)
    click.echo(f"{n} documents extracted")
