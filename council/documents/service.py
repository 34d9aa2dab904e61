"""Adding documents: check the upload, store the blob, create the File record, link it, queue extraction.

The caller owns the transaction: ``add_document`` flushes but never commits, so a failed upload leaves
no record behind (a blob already written stays in the content-addressed store, harmless and shared).
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from datetime import date as Date
from typing import Literal

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from council.core.jobs import enqueue
from council.core.types import utcnow
from council.documents import jobs as _jobs  # noqa: F401  (registers "documents.extract_text")
from council.documents.store import FileStore
from council.records.models import (
    AgendaItem,
    File,
    Meeting,
    Paper,
    agenda_item_auxiliary_file,
    meeting_auxiliary_file,
    paper_auxiliary_file,
)

EXTRACT_JOB = "documents.extract_text"
PDF_MAGIC = b"%PDF-"
#: PDF readers accept the header anywhere in the first 1024 bytes.
MAGIC_WINDOW = 1024
NAME_MAX = 250
FILE_NAME_MAX = 120

Role = Literal["main", "auxiliary"]


class UploadRejected(Exception):
    """An upload that cannot be accepted; ``status_code`` is the HTTP status to answer with."""

    def __init__(self, status_code: int, message: str, reason: str = "invalid", **params: object) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        #: A stable key (empty, too_large, not_pdf, bad_role, main_needs_paper, unknown_paper,
        #: unknown_meeting, unknown_agenda_item) so that the web layer can show a translated message.
        self.reason = reason
        self.params = params


def validate_pdf(data: bytes, max_bytes: int) -> None:
    """Reject empty (400), too large (413) and non-PDF (415) uploads."""
    if not data:
        raise UploadRejected(400, "Die Datei ist leer.", "empty")
    if len(data) > max_bytes:
        raise UploadRejected(
            413,
            f"Die Datei ist zu groß (höchstens {max_bytes // (1024 * 1024)} MB).",
            "too_large",
            max_bytes=max_bytes,
        )
    pos = data.find(PDF_MAGIC, 0, MAGIC_WINDOW + len(PDF_MAGIC))
    if pos < 0 or pos > MAGIC_WINDOW:
        raise UploadRejected(415, "Nur PDF-Dateien können hochgeladen werden.", "not_pdf")


# Control characters (C0, DEL, C1), lone surrogates, bidi embeddings/overrides/isolates, zero-width
# and other invisible format characters, noncharacters.
_HOSTILE = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\ufffe\uffff]"
)
_SPACES = re.compile(r"\s+")
# Characters that have a meaning in paths or on common file systems, in a *display* name.
_FILE_NAME_BAD = re.compile(r'[\\/:*?"<>|]')


def clean_name(value: str | None, max_length: int = NAME_MAX) -> str:
    """A display name: printable, one line, no bidi tricks, bounded length ("" when nothing is left)."""
    if not value:
        return ""
    value = _SPACES.sub(" ", str(value))  # line breaks and tabs become spaces first
    value = unicodedata.normalize("NFC", _HOSTILE.sub("", value)).strip()
    return value[:max_length].strip()


def clean_file_name(value: str | None, fallback: str = "dokument") -> str:
    """A sanitised display file name ending in ``.pdf``. Only ever shown and sent in headers."""
    name = clean_name(value, max_length=400)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]  # a browser may send a full client path
    name = _FILE_NAME_BAD.sub("_", name).strip(" .")
    if name.lower().endswith(".pdf"):
        name = name[:-4].rstrip(" .")
    if not name:
        name = clean_name(fallback, max_length=400)
        name = _FILE_NAME_BAD.sub("_", name).strip(" .") or "dokument"
    return name[: FILE_NAME_MAX - 4].rstrip(" .") + ".pdf"


async def _next_position(session: AsyncSession, table, column: str, parent_id: int) -> int:  # type: ignore[no-untyped-def]
    current = (
        await session.execute(select(func.max(table.c.position)).where(table.c[column] == parent_id))
    ).scalar_one_or_none()
    return int(current) + 1 if current is not None else 0


async def add_document(
    session: AsyncSession,
    store: FileStore,
    data: bytes,
    *,
    name: str,
    file_name: str | None = None,
    public: bool = True,
    paper_id: int | None = None,
    role: Role | str = "auxiliary",
    meeting_id: int | None = None,
    agenda_item_id: int | None = None,
    date: Date | None = None,
    max_bytes: int | None = None,
) -> File:
    """Validate, store and record a PDF; link it to its parent records; queue text extraction.

    Raises :class:`UploadRejected` (nothing added to the session) for bad input. The caller commits
    and, in the web app, wakes the job runner afterwards.
    """
    if max_bytes is None:
        from council.core.settings import get_settings

        max_bytes = get_settings().max_upload_bytes
    validate_pdf(data, max_bytes)
    if role not in ("main", "auxiliary"):
        raise UploadRejected(400, "Unbekannte Rolle des Dokuments.", "bad_role")
    if role == "main" and paper_id is None:
        raise UploadRejected(400, "Ein Hauptdokument gehört zu einer Vorlage.", "main_needs_paper")

    paper = meeting = item = None
    if paper_id is not None:
        paper = await session.get(Paper, paper_id)
        if paper is None or paper.deleted:
            raise UploadRejected(400, f"Die Vorlage {paper_id} gibt es nicht.", "unknown_paper", id=paper_id)
    if meeting_id is not None:
        meeting = await session.get(Meeting, meeting_id)
        if meeting is None or meeting.deleted:
            raise UploadRejected(
                400, f"Die Sitzung {meeting_id} gibt es nicht.", "unknown_meeting", id=meeting_id
            )
    if agenda_item_id is not None:
        item = await session.get(AgendaItem, agenda_item_id)
        if item is None or item.deleted:
            raise UploadRejected(
                400,
                f"Den Tagesordnungspunkt {agenda_item_id} gibt es nicht.",
                "unknown_agenda_item",
                id=agenda_item_id,
            )
    item_meeting = await session.get(Meeting, item.meeting_id) if item is not None else None

    display_name = clean_name(name) or clean_name(file_name or "").removesuffix(".pdf") or "Dokument"
    display_file_name = clean_file_name(file_name, fallback=display_name)

    parents_public = all(p.public for p in (paper, meeting, item, item_meeting) if p is not None)
    body_id = next((p.body_id for p in (paper, meeting, item_meeting) if p is not None), None)

    blob = await asyncio.to_thread(store.put, data)

    record = File(
        body_id=body_id,
        name=display_name,
        file_name=display_file_name,
        mime_type="application/pdf",
        date=date,
        size=blob.size,
        sha512=blob.sha512,
        storage_key=blob.key,
        text=None,
        text_state="pending",
        page_count=None,
        public=bool(public) and parents_public,
    )
    session.add(record)
    await session.flush()

    now = utcnow()
    if paper is not None:
        if role == "main":
            previous = paper.main_file_id
            paper.main_file_id = record.id
            already = (
                await session.execute(
                    select(paper_auxiliary_file.c.file_id).where(
                        paper_auxiliary_file.c.paper_id == paper.id,
                        paper_auxiliary_file.c.file_id == previous,
                    )
                )
            ).first()
            if previous is not None and previous != record.id and already is None:
                # The replaced main file stays reachable as an auxiliary file of the paper.
                pos = await _next_position(session, paper_auxiliary_file, "paper_id", paper.id)
                await session.execute(
                    insert(paper_auxiliary_file).values(paper_id=paper.id, file_id=previous, position=pos)
                )
        else:
            pos = await _next_position(session, paper_auxiliary_file, "paper_id", paper.id)
            await session.execute(
                insert(paper_auxiliary_file).values(paper_id=paper.id, file_id=record.id, position=pos)
            )
        paper.modified = now
    if meeting is not None:
        pos = await _next_position(session, meeting_auxiliary_file, "meeting_id", meeting.id)
        await session.execute(
            insert(meeting_auxiliary_file).values(meeting_id=meeting.id, file_id=record.id, position=pos)
        )
        meeting.modified = now
    if item is not None:
        pos = await _next_position(session, agenda_item_auxiliary_file, "agenda_item_id", item.id)
        await session.execute(
            insert(agenda_item_auxiliary_file).values(agenda_item_id=item.id, file_id=record.id, position=pos)
        )
        item.modified = now
        if item_meeting is not None:
            item_meeting.modified = now

    enqueue(session, EXTRACT_JOB, {"file_id": record.id})
    await session.flush()
    return record
