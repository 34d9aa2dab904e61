"""The councillor's workspace: "Meine Sitzungen", bundles (ZIP, merged PDF), the reader, notes.

Everything here is for signed-in councillors (staff pass too); residents get 403, anonymous visitors
the login page. Records are filtered by ``council.records.access`` exactly as on the public pages:
a file the viewer may not see answers 404, as if it did not exist. Notes follow
``council.workspace.notes.note_visible``: others' private notes answer 404 as well.

Downloads of non-public PDFs carry a watermark line with the downloader's name (setting
``workspace_watermark``); they are never cached by shared caches (``private, no-store``).
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import HTTPException, NotFoundException
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from council.core.settings import Settings
from council.documents.extract import split_pages
from council.documents.store import FileStore
from council.records.access import Viewer
from council.records.models import File
from council.workspace.documents import (
    MeetingDocuments,
    build_merged_pdf,
    build_zip,
    meeting_documents,
    upcoming_meetings,
    watermark_pdf,
    watermark_text,
)
from council.workspace.models import BODY_MAX
from council.workspace.notes import (
    NoteRejected,
    clean,
    create_note,
    notes_for_files,
    notes_markdown,
    own_note,
    reanchor,
    refresh_anchors,
    viewer_factions,
)
from web import i18n
from web.controllers.documents import MAX_ID, _parents, content_disposition, load_visible_file
from web.guards import require_role

_ = i18n.gettext

GUARDS = [require_role("councillor")]
NO_COMPRESSION = {"skip_compression": True}
#: Meetings listed on "Meine Sitzungen" (from yesterday on: a meeting in progress stays listed).
LIST_LIMIT = 20
#: Longest search term accepted in the reader; hits shown at most.
QUERY_MAX = 200
HITS_MAX = 200


def _settings(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _private_headers(disposition: str) -> dict[str, str]:
    return {
        "Cache-Control": "private, no-store",
        "Content-Disposition": disposition,
        "X-Content-Type-Options": "nosniff",
        "Vary": "Cookie",
    }


def _watermark_for(request: Request[Any, Any, Any], viewer: Viewer) -> str | None:
    return (viewer.name or "") if _settings(request).workspace_watermark else None


async def _docs_or_404(session: AsyncSession, viewer: Viewer, meeting_id: int) -> MeetingDocuments:
    if not 0 < meeting_id <= MAX_ID:
        raise NotFoundException()
    docs = await meeting_documents(session, viewer, meeting_id)
    if docs is None:
        raise NotFoundException()
    return docs


def _bundle_name(docs: MeetingDocuments, ext: str) -> str:
    day = i18n.to_local(docs.meeting.start).date().isoformat() if docs.meeting.start else ""
    return f"Sitzung {day} {docs.meeting.name}"[:150].strip() + ext


# --- "Meine Sitzungen" ---------------------------------------------------------------------------


@get("/arbeitsbereich", name="workspace", guards=GUARDS)
async def workspace_index(db_session: AsyncSession, viewer: Viewer) -> Template:
    now = datetime.now(UTC) - timedelta(hours=12)
    meetings = await upcoming_meetings(db_session, viewer, now, limit=LIST_LIMIT)
    entries = []
    for meeting in meetings:
        docs = await meeting_documents(db_session, viewer, meeting.id)
        if docs is not None:
            entries.append(docs)
    return Template(template_name="workspace/index.html", context={"entries": entries, "nav": None})


@get("/arbeitsbereich/sitzungen/{meeting_id:int}", name="workspace_meeting", guards=GUARDS)
async def workspace_meeting(db_session: AsyncSession, viewer: Viewer, meeting_id: int) -> Template:
    docs = await _docs_or_404(db_session, viewer, meeting_id)
    notes = await notes_for_files(db_session, viewer, [f.id for f in docs.files])
    if await refresh_anchors(db_session, notes):
        await db_session.commit()
    by_file: dict[int, list[Any]] = {}
    for note in notes:
        by_file.setdefault(note.file_id, []).append(note)
    return Template(
        template_name="workspace/meeting.html",
        context={
            "docs": docs,
            "note_counts": {k: len(v) for k, v in by_file.items()},
            "notes_by_file": by_file,
            "viewer": viewer,
            "nav": None,
        },
    )


@get(
    "/arbeitsbereich/sitzungen/{meeting_id:int}/dokumente.zip",
    name="workspace_zip",
    guards=GUARDS,
    opt=NO_COMPRESSION,
)
async def workspace_zip(
    request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer, meeting_id: int
) -> Response[bytes]:
    docs = await _docs_or_404(db_session, viewer, meeting_id)
    store = FileStore(_settings(request).files_dir)
    data, _missing = await asyncio.to_thread(
        build_zip, store, docs, watermark_for=_watermark_for(request, viewer)
    )
    return Response(
        content=data,
        media_type="application/zip",
        headers=_private_headers(content_disposition("attachment", _bundle_name(docs, ".zip"))),
    )


@get(
    "/arbeitsbereich/sitzungen/{meeting_id:int}/dokumente.pdf",
    name="workspace_merged_pdf",
    guards=GUARDS,
    opt=NO_COMPRESSION,
)
async def workspace_merged_pdf(
    request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer, meeting_id: int
) -> Response[bytes]:
    docs = await _docs_or_404(db_session, viewer, meeting_id)
    store = FileStore(_settings(request).files_dir)
    meeting = docs.meeting
    subtitle = ", ".join(o.name for o in meeting.organizations)
    if meeting.start:
        subtitle = (
            f"{i18n.format_datetime(meeting.start)} – {subtitle}"
            if subtitle
            else i18n.format_datetime(meeting.start)
        )
    data = await asyncio.to_thread(
        build_merged_pdf,
        store,
        docs,
        title=meeting.name,
        subtitle=subtitle,
        watermark_for=_watermark_for(request, viewer),
    )
    return Response(
        content=data,
        media_type="application/pdf",
        headers=_private_headers(content_disposition("attachment", _bundle_name(docs, ".pdf"))),
    )


@get("/arbeitsbereich/sitzungen/{meeting_id:int}/notizen.md", name="workspace_notes_md", guards=GUARDS)
async def workspace_notes_md(db_session: AsyncSession, viewer: Viewer, meeting_id: int) -> Response[str]:
    docs = await _docs_or_404(db_session, viewer, meeting_id)
    notes = await notes_for_files(db_session, viewer, [f.id for f in docs.files])
    if await refresh_anchors(db_session, notes):
        await db_session.commit()
    by_file: dict[int, list[Any]] = {}
    for note in notes:
        by_file.setdefault(note.file_id, []).append(note)
    factions = {o.id: o.name for o in await viewer_factions(db_session, viewer)}
    sections = [(s.label, [(f, by_file.get(f.id, [])) for f in s.files]) for s in docs.sections]
    text = notes_markdown(docs.meeting.name, sections, viewer, factions)
    return Response(
        content=text,
        media_type="text/markdown; charset=utf-8",
        headers=_private_headers(content_disposition("attachment", _bundle_name(docs, " Notizen.md"))),
    )


# --- the reader --------------------------------------------------------------------------------------


def _search(pages: list[str], query: str) -> tuple[list[list[tuple[str, bool]]], list[tuple[int, str]]]:
    """Per page, the text cut into (segment, is_hit); and a list of (page, snippet) hits."""
    if not query:
        return [[(p, False)] for p in pages], []
    pattern = re.compile(re.escape(query).replace(r"\ ", r"\s+"), re.IGNORECASE)
    segmented: list[list[tuple[str, bool]]] = []
    hits: list[tuple[int, str]] = []
    for number, page in enumerate(pages, start=1):
        parts: list[tuple[str, bool]] = []
        pos = 0
        for match in pattern.finditer(page):
            if len(hits) >= HITS_MAX:
                break
            parts.append((page[pos : match.start()], False))
            parts.append((match.group(0), True))
            snippet = page[max(0, match.start() - 60) : match.end() + 60].replace("\n", " ")
            hits.append((number, snippet))
            pos = match.end()
        parts.append((page[pos:], False))
        segmented.append(parts)
    return segmented, hits


async def _reader_context(
    db_session: AsyncSession, viewer: Viewer, record: File, query: str, meeting_id: int | None
) -> dict[str, Any]:
    papers, meetings, items = await _parents(db_session, viewer, record.id)
    docs: MeetingDocuments | None = None
    candidates = [m for m in (meeting_id,) if m] + [i.meeting_id for i in items] + [m.id for m in meetings]
    for candidate in dict.fromkeys(candidates):
        if not 0 < candidate <= MAX_ID:
            continue
        found = await meeting_documents(db_session, viewer, candidate)
        if found is not None and found.section_of(record.id) is not None:
            docs = found
            break
    section = docs.section_of(record.id) if docs else None
    siblings = section.files if section else [record]
    index = next((i for i, f in enumerate(siblings) if f.id == record.id), 0)
    notes = await notes_for_files(db_session, viewer, [record.id])
    if reanchor(record, notes):
        await db_session.commit()
    pages = split_pages(record.text) if record.text_state == "done" else []
    segmented, hits = _search(pages, query)
    return {
        "file": record,
        "papers": papers,
        "docs": docs,
        "section": section,
        "siblings": siblings,
        "prev": siblings[index - 1] if index > 0 else None,
        "next": siblings[index + 1] if index + 1 < len(siblings) else None,
        "pages": segmented,
        "query": query,
        "hits": hits,
        "hits_capped": len(hits) >= HITS_MAX,
        "notes": [n for n in notes if not n.detached],
        "detached_notes": [n for n in notes if n.detached],
        "factions": await viewer_factions(db_session, viewer),
        "viewer": viewer,
        "body_max": BODY_MAX,
        "error": None,
        "values": {},
        "nav": None,
    }


@get("/arbeitsbereich/dokumente/{file_id:int}", name="workspace_reader", guards=GUARDS)
async def workspace_reader(
    db_session: AsyncSession,
    viewer: Viewer,
    file_id: int,
    q: str | None = None,
    sitzung: int | None = None,
) -> Template:
    record = await load_visible_file(db_session, viewer, file_id, with_text=True)
    query = clean(q, QUERY_MAX)
    context = await _reader_context(db_session, viewer, record, query, sitzung)
    return Template(template_name="workspace/reader.html", context=context)


@get(
    "/arbeitsbereich/dokumente/{file_id:int}/download",
    name="workspace_download",
    guards=GUARDS,
    opt=NO_COMPRESSION,
)
async def workspace_download(
    request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer, file_id: int
) -> Response[Any]:
    """Non-public PDFs stamped with the downloader's name; anything else is the stored file."""
    record = await load_visible_file(db_session, viewer, file_id)
    marker = _watermark_for(request, viewer)
    if record.public or not marker or record.mime_type != "application/pdf":
        return Redirect(path=f"/dokumente/{record.id}/download", status_code=303)
    store = FileStore(_settings(request).files_dir)
    if not record.storage_key or not store.exists(record.storage_key):
        raise NotFoundException(detail=_("Zu diesem Dokument ist keine Datei gespeichert."))
    data = await asyncio.to_thread(store.read, record.storage_key)
    try:
        stamped = await asyncio.to_thread(watermark_pdf, data, watermark_text(marker))
    except Exception as exc:  # an unreadable PDF is never handed out unmarked
        raise HTTPException(
            status_code=409, detail=_("Dieses Dokument lässt sich nicht mit Wasserzeichen versehen.")
        ) from exc
    return Response(
        content=stamped,
        media_type="application/pdf",
        headers=_private_headers(content_disposition("attachment", record.file_name)),
    )


# --- notes ------------------------------------------------------------------------------------------------


def _form_text(form: Any, key: str) -> str:
    value = form.get(key)
    if value is None or isinstance(value, UploadFile):
        return ""
    return str(value)


def _form_int(form: Any, key: str, message: str) -> int | None:
    raw = _form_text(form, key).strip()
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise NoteRejected(400, message)
    return int(raw)


@post(
    "/arbeitsbereich/dokumente/{file_id:int}/notizen",
    name="workspace_note_create",
    guards=GUARDS,
    status_code=303,
)
async def note_create(
    request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer, file_id: int
) -> Redirect | Template:
    record = await load_visible_file(db_session, viewer, file_id, with_text=True)
    form = await request.form()
    try:
        page = _form_int(form, "page", "Bitte eine Seitenzahl angeben.")
        faction_id = _form_int(form, "faction_id", "Unbekannte Fraktion.")
        note = await create_note(
            db_session,
            viewer,
            record,
            body=_form_text(form, "body"),
            visibility=_form_text(form, "visibility") or "private",
            faction_id=faction_id,
            page=page,
            quote=_form_text(form, "quote"),
            prefix=_form_text(form, "prefix"),
            suffix=_form_text(form, "suffix"),
        )
        await db_session.commit()
    except NoteRejected as exc:
        await db_session.rollback()
        record = await load_visible_file(db_session, viewer, file_id, with_text=True)
        context = await _reader_context(db_session, viewer, record, "", None)
        context["error"] = _(exc.message)
        context["values"] = {
            k: _form_text(form, k)[:BODY_MAX] for k in ("body", "quote", "page", "visibility")
        }
        return Template(template_name="workspace/reader.html", context=context, status_code=exc.status_code)
    return Redirect(path=f"/arbeitsbereich/dokumente/{record.id}#notiz-{note.id}", status_code=303)


@post("/arbeitsbereich/notizen/{note_id:int}", name="workspace_note_update", guards=GUARDS, status_code=303)
async def note_update(
    request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer, note_id: int
) -> Redirect:
    note = await own_note(db_session, viewer, note_id)
    if note is None:
        raise NotFoundException()
    await load_visible_file(db_session, viewer, note.file_id)  # lost access: the note is out of reach too
    form = await request.form()
    body = clean(_form_text(form, "body"), BODY_MAX + 1, keep_newlines=True)
    if not body or len(body) > BODY_MAX:
        raise HTTPException(
            status_code=400, detail=_("Bitte einen Text für die Notiz eingeben (höchstens 10000 Zeichen).")
        )
    visibility = _form_text(form, "visibility") or note.visibility
    if visibility == "faction" and note.visibility != "faction":
        factions = [o.id for o in await viewer_factions(db_session, viewer)]
        if len(factions) != 1:
            raise HTTPException(
                status_code=400, detail=_("Sie können nur mit Ihrer eigenen Fraktion teilen.")
            )
        note.faction_id = factions[0]
    elif visibility == "private":
        note.faction_id = None
    elif visibility != "faction":
        raise HTTPException(status_code=400, detail=_("Unbekannte Sichtbarkeit."))
    note.visibility = visibility
    note.body = body
    await db_session.commit()
    return Redirect(path=f"/arbeitsbereich/dokumente/{note.file_id}#notiz-{note.id}", status_code=303)


@post(
    "/arbeitsbereich/notizen/{note_id:int}/loeschen",
    name="workspace_note_delete",
    guards=GUARDS,
    status_code=303,
)
async def note_delete(db_session: AsyncSession, viewer: Viewer, note_id: int) -> Redirect:
    note = await own_note(db_session, viewer, note_id)
    if note is None:
        raise NotFoundException()
    note.deleted = True
    file_id = note.file_id
    await db_session.commit()
    return Redirect(path=f"/arbeitsbereich/dokumente/{file_id}#notizen", status_code=303)


routes: list[Any] = [
    workspace_index,
    workspace_meeting,
    workspace_zip,
    workspace_merged_pdf,
    workspace_notes_md,
    workspace_reader,
    workspace_download,
    note_create,
    note_update,
    note_delete,
]
