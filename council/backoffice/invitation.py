"""The invitation: a PDF generated from the records, published as the meeting's invitation File.

``send_invitation`` renders the PDF (agenda, time, place, linked papers), stores it as a File
(OParl ``invitation``; public when the meeting is), moves the meeting to ``eingeladen``, bumps the iCal
SEQUENCE when an invitation is sent again, and queues its mail (``council.backoffice.mailing``): one
job per invitation for the members of the meeting's organizations and, for a public meeting, their
confirmed subscribers. The job runs only once the clerk's transaction commits: a failed mail never
undoes a published invitation, and a rolled-back invitation never sends mail. An invitation sent
again says in its mail that it is an update and lists the agenda's public changes since.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

from fpdf import FPDF
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council.backoffice.agenda import ItemView, items
from council.backoffice.audit import record_change
from council.backoffice.mailing import create_dispatch, mail_text, public_changes_since
from council.backoffice.meetings import (
    INVITED,
    Actor,
    BackofficeError,
    bump_version,
    load_meeting,
)
from council.backoffice.models import InvitationDispatch
from council.core.settings import Settings
from council.core.types import utcnow
from council.documents.pdf_fonts import clean as pdf_text
from council.documents.pdf_fonts import use_unicode_font
from council.documents.service import add_document
from council.documents.store import FileStore
from council.records.models import File, Meeting, Membership, Person

TZ = ZoneInfo("Europe/Berlin")
WEEKDAYS = ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag")


def when_text(meeting: Meeting) -> str:
    """``Dienstag, 01.12.2026, 18:00 Uhr`` in Europe/Berlin."""
    if meeting.start is None:
        return "Termin offen"
    start = meeting.start.astimezone(TZ)
    text = f"{WEEKDAYS[start.weekday()]}, {start:%d.%m.%Y}, {start:%H:%M} Uhr"
    if meeting.end is not None:
        text += f" bis {meeting.end.astimezone(TZ):%H:%M} Uhr"
    return text


def render_invitation_pdf(
    meeting: Meeting, agenda: list[ItemView], *, body_name: str, created: datetime | None = None
) -> bytes:
    """The invitation as PDF bytes (DejaVu Sans: any name prints; text extractable for search and tests)."""
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_auto_page_break(True, margin=20)
    pdf.set_creator("Rathaus")
    pdf.set_producer("fpdf2")
    pdf.set_title(pdf_text(f"Einladung: {meeting.name}"))
    pdf.set_creation_date(created or utcnow())
    pdf.set_margins(20, 20, 20)
    pdf.add_page()
    family = use_unicode_font(pdf)
    width = pdf.w - pdf.l_margin - pdf.r_margin

    def para(text: str, style: str = "", size: int = 11, gap: float = 1.5) -> None:
        pdf.set_font(family, style, size)
        pdf.multi_cell(width, size * 0.5, pdf_text(text), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(gap)

    para(body_name, "B", 10)
    para("Einladung", "B", 18, 3)
    para(meeting.name, "B", 13, 3)
    organizations = ", ".join(o.name for o in meeting.organizations if not o.deleted)
    if organizations:
        para(f"Gremium: {organizations}")
    para(f"Zeit: {when_text(meeting)}")
    location = meeting.location.label if meeting.location is not None else ""
    para(f"Ort: {location or 'wird noch bekanntgegeben'}")
    if meeting.cancelled:
        para("Diese Sitzung wurde abgesagt.", "B", 12)
    pdf.ln(4)
    for public, heading in ((True, "Tagesordnung – Öffentlicher Teil"), (False, "Nichtöffentlicher Teil")):
        part = [v for v in agenda if v.item.public == public]
        if not part:
            continue
        para(heading, "B", 13, 2)
        for view in part:
            label = f"TOP {view.item.number}  {view.item.name}"
            if view.urgent:
                label += " (Dringlichkeit)"
            para(label, "B", 11, 0.5)
            if view.text:
                para(view.text, "", 10, 0.5)
            for paper in view.papers:
                ref = f"{paper.reference}: " if paper.reference else ""
                para(f"Vorlage {ref}{paper.name}", "", 10, 0.5)
            pdf.ln(1.5)
    return bytes(pdf.output())


async def recipients(session: AsyncSession, meeting: Meeting) -> list[tuple[str, str]]:
    """(name, e-mail) of the current members of the meeting's organizations, each address once."""
    org_ids = [o.id for o in meeting.organizations]
    if not org_ids:
        return []
    day = (meeting.start or utcnow()).astimezone(TZ).date()
    rows = (
        await session.execute(
            select(Person, Membership)
            .join(Membership, Membership.person_id == Person.id)
            .where(
                Membership.organization_id.in_(org_ids),
                Membership.deleted.is_(False),
                Person.deleted.is_(False),
            )
            .order_by(Person.family_name, Person.name, Person.id)
        )
    ).all()
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for person, membership in rows:
        if not membership.active_on(day):
            continue
        for address in person.email or []:
            address = str(address).strip()
            if "@" in address and "\n" not in address and address.lower() not in seen:
                seen.add(address.lower())
                out.append((person.name, address))
    return out


async def send_invitation(
    session: AsyncSession,
    store: FileStore,
    settings: Settings,
    actor: Actor,
    meeting_id: int,
    version: int,
    *,
    base_url: str = "",
) -> tuple[File, InvitationDispatch]:
    """Publish the invitation PDF as the meeting's invitation File and queue its mail (sent by the
    job once the caller commits)."""
    meeting, wf = await load_meeting(session, meeting_id)
    if not wf.published:
        raise BackofficeError("not_published")
    if meeting.cancelled:
        raise BackofficeError("meeting_cancelled")
    agenda = await items(session, meeting_id)
    if not agenda:
        raise BackofficeError("agenda_empty")
    await bump_version(session, meeting_id, version)
    body = meeting.body_id
    from council.records.models import Body

    body_row = await session.get(Body, body)
    data = await asyncio.to_thread(
        render_invitation_pdf,
        meeting,
        agenda,
        body_name=body_row.name if body_row else settings.municipality_name,
    )
    local_day = (meeting.start or utcnow()).astimezone(TZ).date()
    file = await add_document(
        session,
        store,
        data,
        name=f"Einladung {meeting.name}"[:300],
        file_name=f"einladung-sitzung-{meeting.id}.pdf",
        public=meeting.public,
        date=local_day,
        max_bytes=max(settings.max_upload_bytes, len(data) + 1),
    )
    file.body_id = meeting.body_id
    previous = meeting.invitation_id
    meeting.invitation_id = file.id
    if meeting.meeting_state in (None, "terminiert"):
        meeting.meeting_state = INVITED
    resent = wf.invited_at is not None
    changes = await public_changes_since(session, meeting.id, wf.invited_at) if resent else []
    if resent:
        wf.sequence += 1
    wf.invited_at = utcnow()
    meeting.modified = utcnow()
    await record_change(
        session,
        actor.account_id,
        "meeting",
        meeting.id,
        "invitation_resent" if resent else "invitation_sent",
        {"file_id": file.id, "previous_file_id": previous, "size": len(data)},
        actor_name=actor.name,
        meeting_id=meeting.id,
        visible=True,
    )
    await session.flush()
    base = (base_url or settings.base_url).rstrip("/")
    subject, text = mail_text(
        settings,
        meeting_name=meeting.name,
        when=when_text(meeting),
        where=meeting.location.label if meeting.location else "wird noch bekanntgegeben",
        meeting_url=f"{base}/sitzungen/{meeting.id}",
        pdf_url=f"{base}/dokumente/{file.id}",
        update=resent,
        changes=changes,
    )
    dispatch = await create_dispatch(
        session,
        meeting_id=meeting.id,
        file_id=file.id,
        update=resent,
        subject=subject,
        body=text,
        members=await recipients(session, meeting),
        organization_ids=[o.id for o in meeting.organizations if not o.deleted],
        include_subscribers=meeting.public,
        actor_id=actor.account_id,
    )
    return file, dispatch
