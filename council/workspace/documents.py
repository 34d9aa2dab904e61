"""A meeting's documents for one viewer, and the bundles built from them (ZIP, merged PDF).

``meeting_documents`` is the single place that decides which files of a meeting a viewer gets: it
collects the candidates (invitation and protocols, the meeting's own attachments, per agenda item its
resolution file, attachments and the papers consulted there) and keeps only those that pass
``file_visible(viewer)`` — under agenda items that pass ``agenda_item_visible(viewer)``. The ZIP and
the merged PDF are built from that list and nothing else, so they can never hold more than the pages.

PDF work (pypdf, fpdf2) is CPU-bound and synchronous; the web layer runs it in a worker thread.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import and_, false, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from council.documents.store import FileStore
from council.records.access import Viewer, agenda_item_visible, file_visible, meeting_visible
from council.records.models import (
    AgendaItem,
    Consultation,
    File,
    Meeting,
    Paper,
    meeting_organization,
)


@dataclass
class Section:
    """One heading of the bundle: the meeting itself (``item`` None) or an agenda item."""

    label: str
    item: AgendaItem | None
    files: list[File] = field(default_factory=list)


@dataclass
class MeetingDocuments:
    meeting: Meeting
    sections: list[Section]

    @property
    def files(self) -> list[File]:
        return [f for s in self.sections for f in s.files]

    def section_of(self, file_id: int) -> Section | None:
        for s in self.sections:
            if any(f.id == file_id for f in s.files):
                return s
        return None


async def upcoming_meetings(
    session: AsyncSession, viewer: Viewer, now: datetime, *, limit: int = 50
) -> list[Meeting]:
    """Meetings of the viewer's organizations from today on (staff: all), soonest first."""
    query = (
        select(Meeting)
        .where(meeting_visible(viewer), Meeting.start.is_not(None), Meeting.start >= now)
        .options(selectinload(Meeting.organizations))
        .order_by(Meeting.start, Meeting.id)
        .limit(limit)
    )
    if not viewer.is_staff:
        if not viewer.organization_ids:
            return []
        query = query.where(
            Meeting.id.in_(
                select(meeting_organization.c.meeting_id).where(
                    meeting_organization.c.organization_id.in_(viewer.organization_ids)
                )
            )
        )
    return list((await session.execute(query)).scalars().all())


def item_label(item: AgendaItem) -> str:
    return f"TOP {item.number}: {item.name}" if item.number else item.name


async def meeting_documents(
    session: AsyncSession, viewer: Viewer, meeting_id: int
) -> MeetingDocuments | None:
    """The meeting's documents the viewer may see, by section; None when the meeting is not visible."""
    meeting = (
        await session.execute(
            select(Meeting)
            .where(Meeting.id == meeting_id, meeting_visible(viewer))
            .options(
                selectinload(Meeting.organizations),
                selectinload(Meeting.auxiliary_files),
                selectinload(Meeting.invitation),
                selectinload(Meeting.results_protocol),
                selectinload(Meeting.verbatim_protocol),
            )
        )
    ).scalar_one_or_none()
    if meeting is None:
        return None
    items = (
        (
            await session.execute(
                select(AgendaItem)
                .where(AgendaItem.meeting_id == meeting.id, agenda_item_visible(viewer))
                .options(
                    selectinload(AgendaItem.resolution_file),
                    selectinload(AgendaItem.auxiliary_files),
                    selectinload(AgendaItem.consultations)
                    .selectinload(Consultation.paper)
                    .options(selectinload(Paper.main_file), selectinload(Paper.auxiliary_files)),
                )
                .order_by(AgendaItem.order, AgendaItem.id)
            )
        )
        .scalars()
        .all()
    )
    sections = [
        Section(
            label="Sitzung",
            item=None,
            files=[
                f
                for f in (
                    meeting.invitation,
                    *meeting.auxiliary_files,
                    meeting.results_protocol,
                    meeting.verbatim_protocol,
                )
                if f is not None
            ],
        )
    ]
    for item in items:
        files: list[File] = []
        for c in sorted(item.consultations, key=lambda c: c.id):
            if c.paper is not None and not c.paper.deleted:
                if c.paper.main_file is not None:
                    files.append(c.paper.main_file)
                files.extend(c.paper.auxiliary_files)
        if item.resolution_file is not None:
            files.append(item.resolution_file)
        files.extend(item.auxiliary_files)
        sections.append(Section(label=item_label(item), item=item, files=files))
    candidates = {f.id for s in sections for f in s.files}
    allowed: set[int] = set()
    if candidates:
        allowed = set(
            (
                await session.execute(
                    select(File.id).where(
                        and_(File.id.in_(candidates), File.deleted == false(), file_visible(viewer))
                    )
                )
            )
            .scalars()
            .all()
        )
    seen: set[int] = set()
    for s in sections:
        kept = []
        for f in s.files:
            if f.id in allowed and f.id not in seen:
                seen.add(f.id)
                kept.append(f)
        s.files = kept
    return MeetingDocuments(meeting=meeting, sections=sections)


# --- file names ------------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^\w.\- ]+")


def safe_member_name(name: str, fallback: str = "dokument") -> str:
    """A ZIP member name without paths, control characters or surprises; Unicode letters stay."""
    name = unicodedata.normalize("NFC", name).replace("/", "_").replace("\\", "_")
    name = _UNSAFE.sub("_", name).strip(" ._")[:120]
    return name or fallback


# --- watermark -------------------------------------------------------------------------------------


def _font_path() -> Path | None:
    """The Unicode font bundled with Rathaus (DejaVu Sans, ``council.documents.pdf_fonts``)."""
    from council.documents.pdf_fonts import REGULAR

    return REGULAR if REGULAR.is_file() else None


#: Typographic punctuation that fpdf2's Latin-1 core fonts lack, spelled in Latin-1.
_LATIN1_SUBSTITUTES = str.maketrans(
    {"–": "-", "—": "-", "„": '"', "“": '"', "”": '"', "‚": "'", "‘": "'", "’": "'", "…": "...", "€": "EUR"}
)


def _fonted(pdf: Any, name: str, texts: Sequence[str]) -> Callable[[str], str]:
    """Pick the font for ``texts`` and return the function that prepares a text for it.

    Latin-1 text (German included) uses the built-in Helvetica: embedding a TrueType font costs
    ~40x the time (measured: a 60-line table of contents 29 ms vs 1.27 s). Only text beyond Latin-1
    (Yılmaz, Łukasz) takes the bundled Unicode font (DejaVu Sans).
    """

    def core(value: str) -> str:
        return value.translate(_LATIN1_SUBSTITUTES).encode("latin-1", "replace").decode("latin-1")

    try:
        for value in texts:
            value.translate(_LATIN1_SUBSTITUTES).encode("latin-1")
        pdf.set_font("Helvetica")
        return core
    except UnicodeEncodeError:
        font = _font_path()
        if font is None:  # pragma: no cover - depends on the host's fonts
            pdf.set_font("Helvetica")
            return core
        pdf.add_font(name, "", str(font))
        pdf.set_font(name)
        return lambda value: value


@lru_cache(maxsize=64)
def _overlay_page(text: str, width: float, height: float) -> bytes:
    """A one-page PDF of the given size (points) with ``text`` in small grey type along the bottom."""
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format=(width, height))
    pdf.set_auto_page_break(False)
    pdf.add_page()
    prepare = _fonted(pdf, "wm", [text])
    pdf.set_font_size(8)
    pdf.set_text_color(110, 110, 110)
    pdf.set_xy(18, height - 20)
    pdf.cell(w=width - 36, h=10, text=prepare(text), align="C")
    return bytes(pdf.output())


def watermark_text(name: str) -> str:
    return f"Vertraulich – nichtöffentlich – heruntergeladen von {name}"


def watermark_pdf(data: bytes, text: str) -> bytes:
    """The PDF with ``text`` stamped on every page (pypdf overlay made with fpdf2)."""
    from pypdf import PdfReader, PdfWriter

    reader = PdfReader(io.BytesIO(data))
    writer = PdfWriter(clone_from=reader)
    _stamp(writer.pages, text)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _stamp(pages: Sequence[object], text: str) -> None:
    from pypdf import PdfReader

    overlays: dict[tuple[float, float], object] = {}
    for page in pages:
        box = page.mediabox  # type: ignore[attr-defined]
        size = (round(float(box.width), 2), round(float(box.height), 2))
        if size not in overlays:
            overlays[size] = PdfReader(io.BytesIO(_overlay_page(text, *size))).pages[0]
        page.merge_page(overlays[size])  # type: ignore[attr-defined]


# --- bundles ---------------------------------------------------------------------------------------


def _blob(store: FileStore, record: File) -> bytes | None:
    if not record.storage_key or not store.exists(record.storage_key):
        return None
    return store.read(record.storage_key)


def build_zip(
    store: FileStore, docs: MeetingDocuments, *, watermark_for: str | None = None
) -> tuple[bytes, list[str]]:
    """A ZIP of the documents, numbered in agenda order; non-public PDFs stamped for ``watermark_for``.

    PDFs are stored, not deflated (they are compressed already; deflating costs time for ~nothing).
    Returns the archive and the names of documents that had no stored file (listed in a note inside).
    """
    out = io.BytesIO()
    missing: list[str] = []
    used: set[str] = set()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        n = 0
        for section in docs.sections:
            for record in section.files:
                data = _blob(store, record)
                if data is None:
                    missing.append(record.name)
                    continue
                if watermark_for and not record.public and record.mime_type == "application/pdf":
                    data = watermark_pdf(data, watermark_text(watermark_for))
                n += 1
                prefix = f"{n:02d}"
                if section.item is not None and section.item.number:
                    prefix += f"_TOP_{safe_member_name(section.item.number)}"
                if not record.public:
                    prefix += "_nichtoeffentlich"
                member = f"{prefix}_{safe_member_name(record.file_name or record.name)}"
                while member in used:
                    member = f"{n:02d}x_{member}"
                used.add(member)
                info = zipfile.ZipInfo(
                    member, date_time=(record.modified or datetime(2000, 1, 1)).timetuple()[:6]
                )
                info.compress_type = zipfile.ZIP_STORED
                archive.writestr(info, data)
        if missing:
            archive.writestr("FEHLENDE_DATEIEN.txt", "\n".join(missing) + "\n")
    return out.getvalue(), missing


def _cover_pdf(title: str, subtitle: str, toc: list[tuple[int, str, int | None]]) -> bytes:
    """Cover and table of contents: ``toc`` is (level, text, page or None)."""
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format="A4")
    pdf.set_auto_page_break(True, margin=48)
    pdf.add_page()
    t = _fonted(pdf, "toc", [title, subtitle, "Inhalt", *(text for _, text, _ in toc)])

    pdf.set_font_size(18)
    pdf.multi_cell(0, 24, t(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font_size(11)
    pdf.multi_cell(0, 16, t(subtitle), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(12)
    pdf.set_font_size(14)
    pdf.cell(0, 20, t("Inhalt"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font_size(10)
    for level, text, page in toc:
        indent = 16 * level
        width = pdf.w - pdf.l_margin - pdf.r_margin - indent - 40
        if pdf.get_y() > pdf.h - 80:
            pdf.add_page()
        top, top_page = pdf.get_y(), pdf.page
        pdf.set_x(pdf.l_margin + indent)
        pdf.multi_cell(width, 14, t(text), new_x="LMARGIN", new_y="NEXT")
        if page is not None and pdf.page == top_page:
            bottom = pdf.get_y()
            pdf.set_xy(pdf.w - pdf.r_margin - 40, top)
            pdf.cell(40, 14, str(page), align="R")
            pdf.set_xy(pdf.l_margin, bottom)
    return bytes(pdf.output())


def build_merged_pdf(
    store: FileStore,
    docs: MeetingDocuments,
    *,
    title: str,
    subtitle: str = "",
    watermark_for: str | None = None,
    on_skip: Callable[[File, str], None] | None = None,
) -> bytes:
    """One PDF: a cover with the table of contents, then every PDF document in agenda order, with a
    bookmark (outline) per agenda item and per document. Unreadable or missing files are skipped (and
    named on the cover); non-public documents are stamped for ``watermark_for``."""
    from pypdf import PdfReader, PdfWriter

    parts: list[tuple[Section, File, PdfReader]] = []
    skipped: list[str] = []
    for section in docs.sections:
        for record in section.files:
            data = _blob(store, record) if record.mime_type == "application/pdf" else None
            if data is None:
                skipped.append(record.name)
                continue
            try:
                reader = PdfReader(io.BytesIO(data))
                if reader.is_encrypted:
                    raise ValueError("encrypted")
                _ = len(reader.pages)
            except Exception as exc:  # a broken PDF must not break the bundle
                skipped.append(record.name)
                if on_skip is not None:
                    on_skip(record, str(exc))
                continue
            parts.append((section, record, reader))

    def toc_entries(offset: int) -> list[tuple[int, str, int | None]]:
        entries: list[tuple[int, str, int | None]] = []
        page = offset + 1
        last: Section | None = None
        for section, record, reader in parts:
            if section is not last:
                entries.append((0, section.label, page))
                last = section
            label = record.name + ("" if record.public else " (nichtöffentlich)")
            entries.append((1, label, page))
            page += len(reader.pages)
        for name in skipped:
            entries.append((0, f"Nicht enthalten: {name}", None))
        return entries

    # The cover's length shifts every page number: guess it (about 45 lines a page), render, and
    # render again only if the guess was wrong.
    cover_pages = 1 + len(toc_entries(0)) // 45
    for _attempt in range(3):
        cover = _cover_pdf(title, subtitle, toc_entries(cover_pages))
        actual = len(PdfReader(io.BytesIO(cover)).pages)
        if actual == cover_pages:
            break
        cover_pages = actual

    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(cover)), import_outline=False)
    page = cover_pages
    last: Section | None = None
    parent = None
    for section, record, reader in parts:
        start = page
        writer.append(reader, import_outline=False)
        if watermark_for and not record.public:
            _stamp(writer.pages[start : start + len(reader.pages)], watermark_text(watermark_for))
        if section is not last:
            parent = writer.add_outline_item(title=section.label, page_number=start)
            last = section
        writer.add_outline_item(title=record.name, page_number=start, parent=parent)
        page += len(reader.pages)
    writer.page_mode = "/UseOutlines"
    writer.add_metadata({"/Title": title})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
