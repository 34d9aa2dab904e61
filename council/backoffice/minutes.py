"""Minutes (Niederschrift): a per-item draft the clerk edits, then approves.

``council`` must not import ``transcripts``: the web layer composes the first draft from
``transcripts.minutes.minutes_draft`` (speakers, text, votes) and hands it in as plain
:class:`ItemMinutes`. The draft is saved on the meeting's workflow row (version-locked like the agenda);
approval renders the PDF, publishes it as the meeting's ``resultsProtocol`` File and writes each item's
``resolution_text``. Approved minutes are final: a second approval is refused.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fpdf import FPDF
from sqlalchemy.ext.asyncio import AsyncSession

from council.backoffice.agenda import items
from council.backoffice.audit import record_change
from council.backoffice.invitation import TZ, when_text
from council.backoffice.meetings import (
    HELD,
    Actor,
    BackofficeError,
    bump_version,
    clean_multiline,
    load_meeting,
)
from council.core.settings import Settings
from council.core.types import utcnow
from council.documents.pdf_fonts import clean as pdf_text
from council.documents.pdf_fonts import use_unicode_font
from council.documents.service import add_document
from council.documents.store import FileStore
from council.records.models import File, Meeting
from council.search.jobs import enqueue_index

TEXT_MAX = 50000
RESOLUTION_MAX = 10000


@dataclass
class ItemMinutes:
    """One agenda item's minutes: the course of discussion and the resolution."""

    agenda_item_id: int
    number: str
    name: str
    public: bool
    text: str = ""
    resolution: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"text": self.text, "resolution": self.resolution}


async def current(
    session: AsyncSession, meeting_id: int, composed: dict[int, tuple[str, str]] | None = None
) -> tuple[list[ItemMinutes], bool]:
    """The saved draft per item (falling back to ``composed`` text/resolution); and whether approved."""
    _, wf = await load_meeting(session, meeting_id)
    saved = wf.minutes_draft or {}
    out: list[ItemMinutes] = []
    for view in await items(session, meeting_id):
        item = view.item
        entry = saved.get(str(item.id))
        if entry is not None:
            text, resolution = str(entry.get("text") or ""), str(entry.get("resolution") or "")
        else:
            text, resolution = (composed or {}).get(item.id, ("", item.resolution_text or ""))
        out.append(ItemMinutes(item.id, item.number or "", item.name, item.public, text, resolution))
    return out, wf.minutes_approved_at is not None


async def save_draft(
    session: AsyncSession,
    actor: Actor,
    meeting_id: int,
    version: int,
    entries: dict[int, tuple[Any, Any]],
) -> None:
    """Store the clerk's edits (item id → (text, resolution)); unknown item ids are refused."""
    meeting, wf = await load_meeting(session, meeting_id)
    if wf.minutes_approved_at is not None:
        raise BackofficeError("minutes_approved")
    known = {v.item.id for v in await items(session, meeting_id)}
    if not set(entries) <= known:
        raise BackofficeError("item_not_found")
    await bump_version(session, meeting_id, version)
    draft = dict(wf.minutes_draft or {})
    for item_id, (text, resolution) in entries.items():
        draft[str(item_id)] = {
            "text": clean_multiline(text, TEXT_MAX),
            "resolution": clean_multiline(resolution, RESOLUTION_MAX),
        }
    wf.minutes_draft = draft
    await record_change(
        session,
        actor.account_id,
        "meeting",
        meeting.id,
        "minutes_saved",
        {"items": len(entries)},
        actor_name=actor.name,
        meeting_id=meeting.id,
    )
    await session.flush()


def render_minutes_pdf(
    meeting: Meeting, entries: list[ItemMinutes], *, created: datetime | None = None
) -> bytes:
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_auto_page_break(True, margin=20)
    pdf.set_creator("Rathaus")
    pdf.set_title(pdf_text(f"Niederschrift: {meeting.name}"))
    pdf.set_creation_date(created or utcnow())
    pdf.set_margins(20, 20, 20)
    pdf.add_page()
    family = use_unicode_font(pdf)
    width = pdf.w - pdf.l_margin - pdf.r_margin

    def para(text: str, style: str = "", size: int = 11, gap: float = 1.5) -> None:
        pdf.set_font(family, style, size)
        pdf.multi_cell(width, size * 0.5, pdf_text(text), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(gap)

    para("Niederschrift", "B", 18, 3)
    para(meeting.name, "B", 13, 2)
    para(f"Zeit: {when_text(meeting)}")
    for public, heading in ((True, "Öffentlicher Teil"), (False, "Nichtöffentlicher Teil")):
        part = [e for e in entries if e.public == public]
        if not part:
            continue
        para(heading, "B", 13, 2)
        for e in part:
            para(f"TOP {e.number}  {e.name}", "B", 11, 0.5)
            if e.text:
                para(e.text, "", 10, 0.5)
            if e.resolution:
                para(f"Beschluss: {e.resolution}", "", 10, 0.5)
            pdf.ln(1.5)
    return bytes(pdf.output())


async def approve(
    session: AsyncSession, store: FileStore, settings: Settings, actor: Actor, meeting_id: int, version: int
) -> File:
    """Approve the saved draft: resultsProtocol File, items' resolution texts, meeting held."""
    meeting, wf = await load_meeting(session, meeting_id)
    if wf.minutes_approved_at is not None:
        raise BackofficeError("minutes_approved")
    if not wf.published:
        raise BackofficeError("not_published")
    entries, _ = await current(session, meeting_id)
    if not any(e.text or e.resolution for e in entries):
        raise BackofficeError("minutes_empty")
    await bump_version(session, meeting_id, version)
    data = await asyncio.to_thread(render_minutes_pdf, meeting, entries)
    # The protocol names non-public items too: it is public only when no non-public item is in it.
    public = meeting.public and all(e.public for e in entries)
    file = await add_document(
        session,
        store,
        data,
        name=f"Niederschrift {meeting.name}"[:300],
        file_name=f"niederschrift-sitzung-{meeting.id}.pdf",
        public=public,
        date=(meeting.start or utcnow()).astimezone(TZ).date(),
        max_bytes=max(settings.max_upload_bytes, len(data) + 1),
    )
    file.body_id = meeting.body_id
    meeting.results_protocol_id = file.id
    meeting.meeting_state = HELD
    by_id = {v.item.id: v.item for v in await items(session, meeting_id)}
    for e in entries:
        if e.resolution and e.agenda_item_id in by_id:
            by_id[e.agenda_item_id].resolution_text = e.resolution
    wf.minutes_approved_at = utcnow()
    enqueue_index(session, "agenda_item", list(by_id))
    await record_change(
        session,
        actor.account_id,
        "meeting",
        meeting.id,
        "minutes_approved",
        {"file_id": file.id},
        actor_name=actor.name,
        meeting_id=meeting.id,
    )
    await session.flush()
    return file
