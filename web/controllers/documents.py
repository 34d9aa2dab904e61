"""Documents: the document page, serving files (inline and as download), and the staff upload form.

Every request checks ``file_visible(viewer)``; a file the viewer may not see is answered 404 as if it
did not exist, a soft-deleted file 410 (for those who could see it before). Files are streamed from
the content-addressed store with ETag / Last-Modified and answer conditional requests with 304.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Any
from urllib.parse import quote

from babel.numbers import format_decimal
from jinja2_fragments.litestar import HTMXBlockTemplate
from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import HTTPException, NotFoundException
from litestar.response import Redirect, Template
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload, undefer

from council.core.settings import Settings
from council.documents.extract import split_pages
from council.documents.service import UploadRejected, add_document, clean_file_name
from council.documents.store import FileStore
from council.records.access import (
    Viewer,
    agenda_item_visible,
    file_visible,
    meeting_visible,
    paper_visible,
)
from council.records.models import (
    AgendaItem,
    File,
    Meeting,
    Paper,
    agenda_item_auxiliary_file,
    meeting_auxiliary_file,
    paper_auxiliary_file,
)
from web import i18n
from web.guards import require_staff
from web.http import http_date, not_modified, ranged_file

#: Media types served inline as stored; anything else is sent as an opaque download.
INLINE_TYPES = {"application/pdf", "image/png", "image/jpeg", "text/plain"}
#: Largest id accepted in forms (PostgreSQL integer).
MAX_ID = 2**31 - 1

_ = i18n.gettext


# --- loading -------------------------------------------------------------------------------------


def _settings(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def load_visible_file(
    session: AsyncSession, viewer: Viewer, file_id: int, *, with_text: bool = False
) -> File:
    """The file if ``viewer`` may see it; 410 if it was deleted (and was public or the viewer is staff);
    404 otherwise."""
    if not 0 < file_id <= MAX_ID:
        raise NotFoundException()
    record = (
        await session.execute(
            select(File)
            .where(File.id == file_id, file_visible(viewer))
            .options(*([undefer(File.text)] if with_text else []))
        )
    ).scalar_one_or_none()
    if record is not None:
        return record
    row = (await session.execute(select(File.deleted, File.public).where(File.id == file_id))).first()
    if row is not None and row.deleted and (row.public or viewer.is_staff):
        raise HTTPException(status_code=410, detail=_("Dieses Dokument wurde entfernt."))
    raise NotFoundException()


async def _parents(
    session: AsyncSession, viewer: Viewer, file_id: int
) -> tuple[list[Paper], list[Meeting], list[AgendaItem]]:
    papers = (
        (
            await session.execute(
                select(Paper)
                .where(
                    paper_visible(viewer),
                    or_(
                        Paper.main_file_id == file_id,
                        Paper.id.in_(
                            select(paper_auxiliary_file.c.paper_id).where(
                                paper_auxiliary_file.c.file_id == file_id
                            )
                        ),
                    ),
                )
                .order_by(Paper.date.desc(), Paper.id)
            )
        )
        .scalars()
        .all()
    )
    meetings = (
        (
            await session.execute(
                select(Meeting)
                .where(
                    meeting_visible(viewer),
                    or_(
                        Meeting.invitation_id == file_id,
                        Meeting.results_protocol_id == file_id,
                        Meeting.verbatim_protocol_id == file_id,
                        Meeting.id.in_(
                            select(meeting_auxiliary_file.c.meeting_id).where(
                                meeting_auxiliary_file.c.file_id == file_id
                            )
                        ),
                    ),
                )
                .order_by(Meeting.start.desc(), Meeting.id)
            )
        )
        .scalars()
        .all()
    )
    items = (
        (
            await session.execute(
                select(AgendaItem)
                .options(selectinload(AgendaItem.meeting))
                .where(
                    agenda_item_visible(viewer),
                    or_(
                        AgendaItem.resolution_file_id == file_id,
                        AgendaItem.id.in_(
                            select(agenda_item_auxiliary_file.c.agenda_item_id).where(
                                agenda_item_auxiliary_file.c.file_id == file_id
                            )
                        ),
                    ),
                )
                .order_by(AgendaItem.meeting_id, AgendaItem.order)
            )
        )
        .scalars()
        .all()
    )
    return list(papers), list(meetings), list(items)


# --- presentation helpers ----------------------------------------------------------------------


def format_size(size: int | None) -> str:
    """1536 -> "1,5 KB" (German) / "1.5 KB" (English)."""
    if size is None:
        return ""
    locale = i18n.current_locale.get()
    if size < 1024:
        return f"{format_decimal(size, locale=locale)} B"
    value = float(size)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1024
        if value < 1024 or unit == "TB":
            return f"{format_decimal(round(value, 1), format='#,##0.#', locale=locale)} {unit}"
    return str(size)  # pragma: no cover


def _ascii_fallback(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    folded = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in folded).strip()
    return folded if folded and folded != ".pdf" else "dokument.pdf"


def content_disposition(kind: str, file_name: str) -> str:
    """``inline``/``attachment``: an ASCII ``filename`` and the exact UTF-8 name as RFC 5987 ``filename*``."""
    safe = clean_file_name(file_name)
    return f"{kind}; filename=\"{_ascii_fallback(safe)}\"; filename*=UTF-8''{quote(safe, safe='')}"


def _etag(record: File) -> str:
    basis = record.sha512 or record.storage_key or str(record.id)
    return f'"{basis[:64]}"'


# --- routes: the document page and the file ------------------------------------------------------


@get("/dokumente/{file_id:int}", name="document", opt={"page_cache": True})
async def document_page(
    request: Request[Any, Any, Any], file_id: int, db_session: AsyncSession, viewer: Viewer
) -> Template:
    record = await load_visible_file(db_session, viewer, file_id, with_text=True)
    papers, meetings, items = await _parents(db_session, viewer, record.id)
    pages = split_pages(record.text)
    context = {
        "file": record,
        "size_label": format_size(record.size),
        "papers": papers,
        "meetings": meetings,
        "items": items,
        "pages": pages,
        "etag": _etag(record),
        "blob_available": bool(record.storage_key),
        "nav": "papers" if papers else ("meetings" if meetings or items else None),
    }
    if request.headers.get("hx-request") == "true" and request.headers.get("hx-target") == "dokument-text":
        return HTMXBlockTemplate(template_name="documents/detail.html", block_name="text", context=context)
    return Template(template_name="documents/detail.html", context=context)


async def _serve(
    request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer, file_id: int, disposition: str
) -> Response[Any]:
    record = await load_visible_file(db_session, viewer, file_id)
    store = FileStore(_settings(request).files_dir)
    if not record.storage_key or not store.exists(record.storage_key):
        raise NotFoundException(detail=_("Zu diesem Dokument ist keine Datei gespeichert."))
    path = store.path(record.storage_key)
    etag = _etag(record)
    modified = record.modified
    media_type = record.mime_type if record.mime_type in INLINE_TYPES else "application/octet-stream"
    if media_type == "application/octet-stream":
        disposition = "attachment"
    headers = {
        "ETag": etag,
        "Last-Modified": http_date(modified),
        "Cache-Control": "public, no-cache" if record.public else "private, no-cache",
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": content_disposition(disposition, record.file_name),
    }
    if not record.public:
        headers["Vary"] = "Cookie"
    if not_modified(request, etag, modified):
        headers.pop("Content-Disposition")
        return Response(content=b"", status_code=304, headers=headers)
    # Byte ranges: pdf.js fetches the pages of a long PDF as it needs them; downloads can resume.
    return ranged_file(request, path, path.stat().st_size, etag=etag, media_type=media_type, headers=headers)


# Compression is pointless for PDFs and would break Content-Length: the app may exclude routes with this opt.
_NO_COMPRESSION = {"skip_compression": True}


@get("/dokumente/{file_id:int}/datei", name="document_inline", opt=_NO_COMPRESSION)
async def document_inline(
    request: Request[Any, Any, Any], file_id: int, db_session: AsyncSession, viewer: Viewer
) -> Response[Any]:
    return await _serve(request, db_session, viewer, file_id, "inline")


@get("/dokumente/{file_id:int}/download", name="document_download", opt=_NO_COMPRESSION)
async def document_download(
    request: Request[Any, Any, Any], file_id: int, db_session: AsyncSession, viewer: Viewer
) -> Response[Any]:
    return await _serve(request, db_session, viewer, file_id, "attachment")


# --- routes: staff upload --------------------------------------------------------------------------

UPLOAD_PATH = "/verwaltung/dokumente/neu"


def _reject_message(exc: UploadRejected) -> str:
    if exc.reason == "empty":
        return _("Die Datei ist leer.")
    if exc.reason == "too_large":
        mb = int(exc.params.get("max_bytes", 0)) // (1024 * 1024)  # type: ignore[call-overload]
        return _("Die Datei ist zu groß (höchstens %(mb)s MB).") % {"mb": mb}
    if exc.reason == "not_pdf":
        return _("Nur PDF-Dateien können hochgeladen werden.")
    if exc.reason == "main_needs_paper":
        return _("Ein Hauptdokument gehört zu einer Vorlage: bitte die Vorlage angeben.")
    if exc.reason == "unknown_paper":
        return _("Diese Vorlage gibt es nicht.")
    if exc.reason == "unknown_meeting":
        return _("Diese Sitzung gibt es nicht.")
    if exc.reason == "unknown_agenda_item":
        return _("Diesen Tagesordnungspunkt gibt es nicht.")
    if exc.reason == "bad_role":
        return _("Unbekannte Rolle des Dokuments.")
    return _("Die Datei wurde nicht angenommen.")


class FormError(Exception):
    def __init__(self, status_code: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.field = field


def _text_field(form: Any, key: str) -> str:
    value = form.get(key)
    if value is None or isinstance(value, UploadFile):
        return ""
    return str(value).strip()


def _id_field(form: Any, key: str, label: str) -> int | None:
    raw = _text_field(form, key)
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) <= MAX_ID:
        raise FormError(400, _("%(field)s: bitte eine Nummer angeben.") % {"field": label}, key)
    return int(raw)


def _form_values(form: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        k: _text_field(form, k) for k in ("name", "paper_id", "meeting_id", "agenda_item_id", "role", "date")
    }
    values["public"] = _text_field(form, "public") in ("on", "1", "true", "ja")
    return values


def _upload_context(
    values: dict[str, Any], error: str | None = None, field: str | None = None
) -> dict[str, Any]:
    return {"values": values, "error": error, "error_field": field, "nav": None}


@get(UPLOAD_PATH, name="document_upload_form", guards=[require_staff])
async def upload_form(
    paper: int | None = None,
    meeting: int | None = None,
    tagesordnungspunkt: int | None = None,
) -> Template:
    values = {
        "name": "",
        "paper_id": str(paper) if paper else "",
        "meeting_id": str(meeting) if meeting else "",
        "agenda_item_id": str(tagesordnungspunkt) if tagesordnungspunkt else "",
        "role": "auxiliary",
        "date": "",
        "public": True,
    }
    return Template(template_name="staff/upload.html", context=_upload_context(values))


@post(UPLOAD_PATH, name="document_upload", status_code=303, guards=[require_staff])
async def upload(request: Request[Any, Any, Any], db_session: AsyncSession) -> Template | Redirect:
    settings = _settings(request)
    form = await request.form()
    values = _form_values(form)
    try:
        upload_file = form.get("file")
        if not isinstance(upload_file, UploadFile):
            raise FormError(400, _("Bitte eine PDF-Datei auswählen."), "file")
        if not values["name"]:
            raise FormError(400, _("Bitte einen Namen für das Dokument angeben."), "name")
        paper_id = _id_field(form, "paper_id", _("Vorlage"))
        meeting_id = _id_field(form, "meeting_id", _("Sitzung"))
        agenda_item_id = _id_field(form, "agenda_item_id", _("Tagesordnungspunkt"))
        role = values["role"] or "auxiliary"
        if role not in ("main", "auxiliary"):
            raise FormError(400, _("Unbekannte Rolle des Dokuments."), "role")
        doc_date: date | None = None
        if values["date"]:
            try:
                doc_date = date.fromisoformat(values["date"])
            except ValueError:
                raise FormError(400, _("Bitte ein Datum im Format JJJJ-MM-TT angeben."), "date") from None
        # Check the size before reading the spooled upload into memory.
        size = upload_file.file.seek(0, 2)
        upload_file.file.seek(0)
        if size > settings.max_upload_bytes:
            raise UploadRejected(413, "too large", "too_large", max_bytes=settings.max_upload_bytes)
        data = await upload_file.read()
        record = await add_document(
            db_session,
            FileStore(settings.files_dir),
            data,
            name=values["name"],
            file_name=upload_file.filename,
            public=values["public"],
            paper_id=paper_id,
            role=role,
            meeting_id=meeting_id,
            agenda_item_id=agenda_item_id,
            date=doc_date,
            max_bytes=settings.max_upload_bytes,
        )
        await db_session.commit()
    except FormError as exc:
        await db_session.rollback()
        return Template(
            template_name="staff/upload.html",
            context=_upload_context(values, exc.message, exc.field),
            status_code=exc.status_code,
        )
    except UploadRejected as exc:
        await db_session.rollback()
        field = "file" if exc.reason in ("empty", "too_large", "not_pdf") else None
        return Template(
            template_name="staff/upload.html",
            context=_upload_context(values, _reject_message(exc), field),
            status_code=exc.status_code,
        )
    finally:
        for value in form.values():
            if isinstance(value, UploadFile):
                await value.close()
    jobs = getattr(request.app.state, "jobs", None)
    if jobs is not None and settings.jobs_in_process:
        jobs.wake()
    return Redirect(path=f"/dokumente/{record.id}", status_code=303)


routes: list[Any] = [document_page, document_inline, document_download, upload_form, upload]
