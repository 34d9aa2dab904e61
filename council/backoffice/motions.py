"""Online motion submission: a councillor drafts a motion (Antrag) or inquiry (Anfrage), invites
co-signers from the own faction (they confirm in their workspace), and submits it on behalf of the
faction. Submission creates the Paper (non-public, no reference yet) with a PDF of the motion — its
text, signers and the submission time — as the main file, and puts it into the clerk's inbox; the
clerk accepts it (assigns the reference, publishes it) and schedules it (``papers.schedule_path``).

Deadlines (rules of procedure): a motion meant for a particular meeting must be submitted
``deadline_days`` before it; later submissions are refused. The clerk may still put a late motion on
that meeting with a recorded override (see ``papers.schedule_path``).

Only the author edits a draft, only while it is a draft; the caller owns the transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fpdf import FPDF
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from council.accounts.models import Account
from council.backoffice import papers
from council.backoffice.audit import record_change
from council.backoffice.motion_models import Motion, MotionAttachment, MotionSigner
from council.backoffice.papers import Actor, PaperError
from council.core.types import utcnow
from council.documents.pdf_fonts import clean as pdf_text
from council.documents.pdf_fonts import use_unicode_font
from council.documents.service import add_document, clean_name
from council.documents.store import FileStore
from council.records.models import (
    Meeting,
    Membership,
    Organization,
    Paper,
    Person,
    meeting_organization,
    paper_auxiliary_file,
)

MOTION_TYPES = ("Antrag", "Anfrage")
TEXT_MAX = 20_000
BERLIN = ZoneInfo("Europe/Berlin")
MAX_SIGNERS = 60
MAX_ATTACHMENTS = 10


class MotionError(PaperError):
    """Bad input (4xx) with a German message (a msgid)."""


# --- text cleaning -------------------------------------------------------------------------------


def clean_text(value: str | None, max_length: int = TEXT_MAX) -> str:
    """Multi-line text: keep line breaks, drop control/bidi/invisible characters, bound the length."""
    if not value:
        return ""
    lines = str(value).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cleaned = "\n".join(clean_name(line, max_length) if line.strip() else "" for line in lines)
    while "\n\n\n" in cleaned:
        cleaned = cleaned.replace("\n\n\n", "\n\n")
    return cleaned.strip()[:max_length]


# --- factions and signers ------------------------------------------------------------------------


def _is_faction() -> object:
    return or_(Organization.organization_type == "Fraktion", Organization.classification == "Fraktion")


async def factions_of(session: AsyncSession, person_id: int, today: date | None = None) -> list[Organization]:
    """The factions the person currently belongs to."""
    today = today or utcnow().astimezone(BERLIN).date()
    stmt = (
        select(Organization)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(
            Membership.person_id == person_id,
            Membership.deleted.is_(False),
            Organization.deleted.is_(False),
            _is_faction(),  # type: ignore[arg-type]
            or_(Membership.start_date.is_(None), Membership.start_date <= today),
            or_(Membership.end_date.is_(None), Membership.end_date >= today),
        )
        .order_by(Organization.name)
    )
    return list(dict.fromkeys((await session.execute(stmt)).scalars()))


async def faction_colleagues(
    session: AsyncSession, faction_id: int, exclude_account_id: int, today: date | None = None
) -> list[tuple[Account, Person]]:
    """Councillor accounts whose person currently belongs to the faction (possible co-signers)."""
    today = today or utcnow().astimezone(BERLIN).date()
    stmt = (
        select(Account, Person)
        .join(Person, Person.id == Account.person_id)
        .join(Membership, Membership.person_id == Person.id)
        .where(
            Membership.organization_id == faction_id,
            Membership.deleted.is_(False),
            or_(Membership.start_date.is_(None), Membership.start_date <= today),
            or_(Membership.end_date.is_(None), Membership.end_date >= today),
            Account.id != exclude_account_id,
            Account.disabled.is_(False),
            Account.deleted.is_(False),
            Person.deleted.is_(False),
        )
        .order_by(Person.name, Account.id)
    )
    seen: dict[int, tuple[Account, Person]] = {}
    for account, person in (await session.execute(stmt)).all():
        if "councillor" in account.role_set:
            seen.setdefault(account.id, (account, person))
    return list(seen.values())


# --- loading and checks --------------------------------------------------------------------------


async def load_motion(session: AsyncSession, motion_id: int) -> Motion:
    stmt = (
        select(Motion)
        .where(Motion.id == motion_id, Motion.deleted.is_(False))
        .options(
            selectinload(Motion.signers),
            selectinload(Motion.attachments).selectinload(MotionAttachment.file),
            selectinload(Motion.faction),
            selectinload(Motion.target_meeting),
            selectinload(Motion.paper),
        )
        .execution_options(populate_existing=True)
    )
    motion = (await session.execute(stmt)).scalar_one_or_none()
    if motion is None:
        raise MotionError(404, "Diesen Antrag gibt es nicht.")
    return motion


def may_view(motion: Motion, account_id: int | None, *, staff: bool = False) -> bool:
    """The author, invited co-signers and — once submitted — staff."""
    if account_id is None:
        return False
    if motion.author_account_id == account_id or any(s.account_id == account_id for s in motion.signers):
        return True
    return staff and motion.status != "draft"


def _own_draft(motion: Motion, account_id: int) -> None:
    if motion.author_account_id != account_id:
        raise MotionError(404, "Diesen Antrag gibt es nicht.")
    if motion.status != "draft":
        raise MotionError(409, "Der Antrag ist bereits eingereicht und kann nicht mehr geändert werden.")


async def _bump(session: AsyncSession, motion: Motion, seen_version: int) -> None:
    result = await session.execute(
        update(Motion)
        .where(Motion.id == motion.id, Motion.version == seen_version)
        .values(version=Motion.version + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        await session.refresh(motion)
        raise MotionError(
            409,
            "Der Antrag wurde inzwischen geändert. Bitte prüfen Sie den aktuellen Stand und speichern "
            "Sie erneut.",
            current_version=motion.version,
        )
    await session.refresh(motion)


async def _check_meeting(
    session: AsyncSession, meeting_id: int | None, faction: Organization
) -> Meeting | None:
    if meeting_id is None:
        return None
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None or meeting.deleted or meeting.cancelled or meeting.body_id != faction.body_id:
        raise MotionError(400, "Diese Sitzung gibt es nicht.")
    return meeting


async def upcoming_meetings(session: AsyncSession, body_id: int, limit: int = 30) -> list[Meeting]:
    """Meetings a motion can be meant for (the target's deadline applies)."""
    stmt = (
        select(Meeting)
        .where(
            Meeting.body_id == body_id,
            Meeting.start > utcnow(),
            Meeting.deleted.is_(False),
            Meeting.cancelled.is_(False),
            Meeting.id.in_(select(meeting_organization.c.meeting_id)),
        )
        .order_by(Meeting.start, Meeting.id)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


def deadline_for(meeting: Meeting, deadline_days: int) -> datetime | None:
    return meeting.start - timedelta(days=deadline_days) if meeting.start is not None else None


# --- drafting ------------------------------------------------------------------------------------


async def _log(session: AsyncSession, account: Account, motion_id: int, action: str, diff: Any) -> None:
    """The audit entry of a councillor's action on a motion."""
    await record_change(session, account.id, "motion", motion_id, action, diff, actor_name=account.username)


async def create_draft(
    session: AsyncSession,
    account: Account,
    *,
    paper_type: str,
    title: str,
    text: str,
    justification: str = "",
    target_meeting_id: int | None = None,
    faction_id: int | None = None,
) -> Motion:
    if account.person_id is None:
        raise MotionError(403, "Ihr Konto ist mit keiner Person verknüpft.")
    if paper_type not in MOTION_TYPES:
        raise MotionError(400, "Bitte Antrag oder Anfrage wählen.")
    factions = await factions_of(session, account.person_id)
    if not factions:
        raise MotionError(403, "Sie gehören keiner Fraktion an.")
    faction = next((f for f in factions if f.id == faction_id), None) if faction_id else factions[0]
    if faction is None:
        raise MotionError(400, "Dieser Fraktion gehören Sie nicht an.")
    await _check_meeting(session, target_meeting_id, faction)
    motion = Motion(
        author_account_id=account.id,
        author_person_id=account.person_id,
        faction_id=faction.id,
        paper_type=paper_type,
        title=papers.clean_title(title),
        text=clean_text(text),
        justification=clean_text(justification),
        target_meeting_id=target_meeting_id,
        status="draft",
        version=1,
    )
    session.add(motion)
    await session.flush()
    await _log(session, account, motion.id, "created", {"title": motion.title})
    return motion


async def update_draft(
    session: AsyncSession,
    account: Account,
    motion_id: int,
    seen_version: int,
    *,
    paper_type: str,
    title: str,
    text: str,
    justification: str,
    target_meeting_id: int | None,
) -> Motion:
    motion = await load_motion(session, motion_id)
    _own_draft(motion, account.id)
    if paper_type not in MOTION_TYPES:
        raise MotionError(400, "Bitte Antrag oder Anfrage wählen.")
    new_title = papers.clean_title(title)
    await _check_meeting(session, target_meeting_id, motion.faction)
    await _bump(session, motion, seen_version)
    before = {"title": motion.title, "type": motion.paper_type, "meeting": motion.target_meeting_id}
    motion.paper_type = paper_type
    motion.title = new_title
    motion.text = clean_text(text)
    motion.justification = clean_text(justification)
    motion.target_meeting_id = target_meeting_id
    after = {"title": motion.title, "type": motion.paper_type, "meeting": motion.target_meeting_id}
    await _log(
        session,
        account,
        motion.id,
        "updated",
        {k: [before[k], v] for k, v in after.items() if before[k] != v},
    )
    return motion


async def add_attachment(
    session: AsyncSession,
    store: FileStore,
    account: Account,
    motion_id: int,
    data: bytes,
    *,
    name: str,
    file_name: str | None,
    max_bytes: int,
) -> MotionAttachment:
    """An attachment through the documents store (its checks: PDF, size); not public while a draft."""
    motion = await load_motion(session, motion_id)
    _own_draft(motion, account.id)
    if len(motion.attachments) >= MAX_ATTACHMENTS:
        raise MotionError(400, "Zu viele Anlagen.")
    record = await add_document(
        session, store, data, name=name, file_name=file_name, public=False, max_bytes=max_bytes
    )
    attachment = MotionAttachment(motion_id=motion.id, file_id=record.id)
    session.add(attachment)
    await session.flush()
    await _log(session, account, motion.id, "attachment", {"file": record.id})
    return attachment


async def invite_signer(
    session: AsyncSession, account: Account, motion_id: int, signer_account_id: int
) -> MotionSigner:
    motion = await load_motion(session, motion_id)
    _own_draft(motion, account.id)
    colleagues = {a.id: (a, p) for a, p in await faction_colleagues(session, motion.faction_id, account.id)}
    if signer_account_id not in colleagues:
        raise MotionError(400, "Mitzeichnen können nur Mitglieder Ihrer Fraktion.")
    if any(s.account_id == signer_account_id for s in motion.signers):
        raise MotionError(409, "Diese Person ist bereits eingeladen.")
    if len(motion.signers) >= MAX_SIGNERS:
        raise MotionError(400, "Zu viele Mitzeichnende.")
    _, person = colleagues[signer_account_id]
    signer = MotionSigner(
        motion_id=motion.id, account_id=signer_account_id, person_id=person.id, name=person.name[:300]
    )
    session.add(signer)
    await session.flush()
    await _log(
        session, account, motion.id, "signer_invited", {"account": signer_account_id, "name": person.name}
    )
    return signer


async def confirm_signature(session: AsyncSession, account: Account, motion_id: int) -> MotionSigner:
    """The invited co-signer confirms (in their workspace) — only while the motion is a draft."""
    motion = await load_motion(session, motion_id)
    signer = next((s for s in motion.signers if s.account_id == account.id), None)
    if signer is None:
        raise MotionError(404, "Diesen Antrag gibt es nicht.")
    if motion.status != "draft":
        raise MotionError(409, "Der Antrag ist bereits eingereicht.")
    if signer.confirmed_at is None:
        signer.confirmed_at = utcnow()
        await _log(session, account, motion.id, "signed", {"name": signer.name})
    return signer


async def my_motions(session: AsyncSession, account_id: int) -> list[Motion]:
    stmt = (
        select(Motion)
        .where(Motion.author_account_id == account_id, Motion.deleted.is_(False))
        .options(selectinload(Motion.signers), selectinload(Motion.paper))
        .order_by(Motion.id.desc())
        .limit(200)
    )
    return list((await session.execute(stmt)).scalars())


async def invitations(session: AsyncSession, account_id: int) -> list[Motion]:
    stmt = (
        select(Motion)
        .join(MotionSigner, MotionSigner.motion_id == Motion.id)
        .where(MotionSigner.account_id == account_id, Motion.deleted.is_(False))
        .options(selectinload(Motion.signers))
        .order_by(Motion.id.desc())
        .limit(200)
    )
    return list((await session.execute(stmt)).scalars())


async def inbox(session: AsyncSession) -> list[Motion]:
    """Submitted motions the clerk has not accepted yet, oldest first."""
    stmt = (
        select(Motion)
        .where(Motion.status == "submitted", Motion.deleted.is_(False))
        .options(selectinload(Motion.faction), selectinload(Motion.paper), selectinload(Motion.signers))
        .order_by(Motion.submitted_at, Motion.id)
        .limit(500)
    )
    return list((await session.execute(stmt)).scalars())


# --- submission ----------------------------------------------------------------------------------


async def submit(
    session: AsyncSession,
    store: FileStore,
    account: Account,
    motion_id: int,
    seen_version: int,
    *,
    deadline_days: int,
    now: datetime | None = None,
) -> Paper:
    """Submit on behalf of the faction: the paper (non-public, no reference yet) with the motion's PDF."""
    now = now or utcnow()
    motion = await load_motion(session, motion_id)
    _own_draft(motion, account.id)
    if not motion.text:
        raise MotionError(400, "Bitte den Antragstext angeben.")
    if motion.target_meeting is not None:
        deadline = deadline_for(motion.target_meeting, deadline_days)
        if deadline is not None and now > deadline:
            raise MotionError(
                422,
                "Die Antragsfrist für diese Sitzung ist abgelaufen. Bitte eine spätere Sitzung wählen "
                "oder die Verwaltung um eine Ausnahme bitten.",
            )
    await _bump(session, motion, seen_version)
    author = await session.get(Person, motion.author_person_id)
    assert author is not None
    signed = [s for s in motion.signers if s.confirmed_at is not None]
    signer_persons = [p for p in [await session.get(Person, s.person_id) for s in signed] if p is not None]
    paper = await papers.create_paper(
        session,
        Actor(account.id, account.username),
        body_id=motion.faction.body_id,
        name=motion.title,
        paper_type=motion.paper_type,
        public=False,
        day=now.astimezone(BERLIN).date(),
        with_reference=False,
        status=papers.STATUS_SUBMITTED,
        originator_organizations=[motion.faction],
        originator_persons=[author, *signer_persons],
    )
    pdf = await asyncio.to_thread(
        motion_pdf,
        paper_type=motion.paper_type,
        title=motion.title,
        text=motion.text,
        justification=motion.justification,
        faction=motion.faction.name,
        author=author.name,
        signers=[(s.name, s.confirmed_at) for s in signed],
        submitted_at=now,
        meeting=motion.target_meeting.name if motion.target_meeting is not None else None,
    )
    main = await add_document(
        session,
        store,
        pdf,
        name=f"{motion.paper_type}: {motion.title}",
        file_name=f"{motion.paper_type}-{motion.id}.pdf",
        public=False,
        paper_id=paper.id,
        role="main",
        date=now.astimezone(BERLIN).date(),
        max_bytes=max(len(pdf), 1),
    )
    await papers.note_file_version(session, Actor(account.id, account.username), paper.id, main, "original")
    for i, att in enumerate(motion.attachments):
        await session.execute(
            paper_auxiliary_file.insert().values(paper_id=paper.id, file_id=att.file_id, position=i + 1)
        )
    motion.status = "submitted"
    motion.submitted_at = now
    motion.paper_id = paper.id
    await _log(
        session, account, motion.id, "submitted", {"paper": paper.id, "signers": [s.name for s in signed]}
    )
    return paper


async def accept(session: AsyncSession, actor: Actor, motion_id: int, *, pattern: str) -> Paper:
    """The clerk takes the motion in: reference assigned, paper and its files made public."""
    motion = await load_motion(session, motion_id)
    if motion.status != "submitted" or motion.paper_id is None:
        raise MotionError(409, "Dieser Antrag liegt nicht im Posteingang.")
    paper = await papers.load_paper(session, motion.paper_id)
    await papers.give_reference(session, actor, paper, pattern)
    paper.public = True
    for f in [paper.main_file, *paper.auxiliary_files]:
        if f is not None:
            f.public = True
    motion.status = "accepted"
    await papers.set_status(session, paper.id, papers.STATUS_RECEIVED, note=paper.reference)
    await record_change(
        session,
        actor.id,
        "motion",
        motion.id,
        "accepted",
        {"reference": paper.reference},
        actor_name=actor.name,
    )
    return paper


# --- the PDF -------------------------------------------------------------------------------------


def _when(at: datetime) -> str:
    return at.astimezone(BERLIN).strftime("%d.%m.%Y, %H:%M Uhr")


def motion_pdf(
    *,
    paper_type: str,
    title: str,
    text: str,
    justification: str,
    faction: str,
    author: str,
    signers: Sequence[tuple[str, datetime | None]],
    submitted_at: datetime,
    meeting: str | None = None,
) -> bytes:
    """The motion as submitted: faction, title, text, justification, signers and the timestamp
    (DejaVu Sans, so every name and typographic character prints as typed)."""
    t = pdf_text
    pdf = FPDF(format="A4")
    pdf.set_margins(20, 20, 20)
    pdf.set_auto_page_break(True, margin=20)
    pdf.set_title(t(f"{paper_type}: {title}"))
    pdf.set_author(t(faction))
    pdf.add_page()
    family = use_unicode_font(pdf)
    width = pdf.w - 40
    pdf.set_font(family, "B", 13)
    pdf.multi_cell(width, 7, t(faction), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 10)
    pdf.multi_cell(width, 5, t(f"Eingereicht am {_when(submitted_at)}"), new_x="LMARGIN", new_y="NEXT")
    if meeting:
        pdf.multi_cell(width, 5, t(f"Für die Sitzung: {meeting}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(family, "B", 12)
    pdf.multi_cell(width, 6, t(f"{paper_type}: {title}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    for heading, body in (
        ("Antragstext" if paper_type == "Antrag" else "Fragen", text),
        ("Begründung", justification),
    ):
        if not body:
            continue
        pdf.set_font(family, "B", 10)
        pdf.multi_cell(width, 5.5, t(heading), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(family, "", 10)
        pdf.multi_cell(width, 5, t(body), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    pdf.set_font(family, "B", 10)
    pdf.multi_cell(width, 5.5, "Unterzeichnet", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 10)
    pdf.multi_cell(width, 5, t(f"{author} (einreichend)"), new_x="LMARGIN", new_y="NEXT")
    for name, at in signers:
        line = f"{name} (mitgezeichnet am {_when(at)})" if at else name
        pdf.multi_cell(width, 5, t(line), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
