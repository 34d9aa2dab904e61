"""The clerk's papers: create with an automatic reference, edit under an optimistic lock, the
consultation path (Beratungsfolge) and its scheduling, consultation results that move the status, and
file versions. Soft delete only; every change goes to the audit log (``record_change``).

The caller owns the transaction (these functions flush, never commit). Errors are
:class:`PaperError` with an HTTP status and a German message (a msgid the web layer translates).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from council.backoffice.audit import record_change
from council.backoffice.models import MeetingWorkflow
from council.backoffice.motion_models import Motion, PaperFileVersion, PaperState, PaperStatusEvent
from council.backoffice.references import DEFAULT_PATTERN, PAPER_TYPES, ReferenceError, assign_reference
from council.core.types import utcnow
from council.documents.service import UploadRejected, add_document, clean_name
from council.documents.store import FileStore
from council.records.access import Viewer, file_visible
from council.records.models import (
    AgendaItem,
    Consultation,
    File,
    Meeting,
    Organization,
    Paper,
    Person,
    meeting_organization,
)

STATUS_SUBMITTED = "eingereicht"
STATUS_RECEIVED = "eingegangen"
STATUS_SCHEDULED = "in Beratung"
STATUS_DEFERRED = "vertagt"
STATUS_REFERRED_BACK = "zurückverwiesen"
#: Consultation results: key → (label shown as AgendaItem.result and in the timeline, final?).
RESULTS: dict[str, str] = {
    "beschlossen": "beschlossen",
    "abgelehnt": "abgelehnt",
    "geaendert": "geändert beschlossen",
    "vertagt": "vertagt",
    "zurueckverwiesen": "zurückverwiesen",
}
_DECISIONS = {"beschlossen", "abgelehnt", "geaendert"}
FILE_KINDS = ("replacement", "supplement")
MAX_PATH = 8
NAME_MAX = 1000


class PaperError(Exception):
    def __init__(self, status_code: int, message: str, *, current_version: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.current_version = current_version


@dataclass(frozen=True)
class Actor:
    """Who makes the change (for the audit log)."""

    id: int | None
    name: str | None = None


# --- state and lock ------------------------------------------------------------------------------


async def state_of(session: AsyncSession, paper_id: int) -> PaperState:
    """The paper's back-office state, created (version 1) for papers that came from elsewhere."""
    state = await session.get(PaperState, paper_id)
    if state is None:
        state = PaperState(paper_id=paper_id, status=STATUS_RECEIVED, version=1)
        session.add(state)
        await session.flush()
    return state


async def bump_version(session: AsyncSession, paper_id: int, seen_version: int) -> int:
    """Take the lock: the edit must have been made on the current version (else 409)."""
    state = await state_of(session, paper_id)
    result = await session.execute(
        update(PaperState)
        .where(PaperState.paper_id == paper_id, PaperState.version == seen_version)
        .values(version=PaperState.version + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        await session.refresh(state)
        raise PaperError(
            409,
            "Die Vorlage wurde inzwischen von jemand anderem geändert. Bitte prüfen Sie den aktuellen "
            "Stand und speichern Sie erneut.",
            current_version=state.version,
        )
    await session.refresh(state)
    return state.version


async def set_status(
    session: AsyncSession,
    paper_id: int,
    status: str,
    *,
    consultation: Consultation | None = None,
    organization_name: str | None = None,
    result: str | None = None,
    note: str | None = None,
) -> None:
    state = await state_of(session, paper_id)
    state.status = status
    session.add(
        PaperStatusEvent(
            paper_id=paper_id,
            at=utcnow(),
            status=status,
            consultation_id=consultation.id if consultation is not None else None,
            organization_name=(organization_name or None) and organization_name[:300],
            result=result,
            note=(note or None) and note[:500],
        )
    )


async def load_paper(session: AsyncSession, paper_id: int, *, include_deleted: bool = False) -> Paper:
    stmt = (
        select(Paper)
        .where(Paper.id == paper_id)
        .options(
            selectinload(Paper.main_file),
            selectinload(Paper.auxiliary_files),
            selectinload(Paper.originator_organizations),
            selectinload(Paper.originator_persons),
            selectinload(Paper.consultations).selectinload(Consultation.organizations),
            selectinload(Paper.consultations).selectinload(Consultation.meeting),
            selectinload(Paper.consultations).selectinload(Consultation.agenda_item),
        )
        .execution_options(populate_existing=True)
    )
    paper = (await session.execute(stmt)).scalar_one_or_none()
    if paper is None or (paper.deleted and not include_deleted):
        raise PaperError(404, "Diese Vorlage gibt es nicht.")
    return paper


def clean_title(value: str | None) -> str:
    title = clean_name(value, NAME_MAX)
    if not title:
        raise PaperError(400, "Bitte einen Titel angeben.")
    return title


# --- create, edit, delete ---------------------------------------------------------------------------


async def create_paper(
    session: AsyncSession,
    actor: Actor,
    *,
    body_id: int,
    name: str,
    paper_type: str,
    public: bool = True,
    day: date | None = None,
    pattern: str = DEFAULT_PATTERN,
    with_reference: bool = True,
    status: str = STATUS_RECEIVED,
    originator_organizations: Sequence[Organization] = (),
    originator_persons: Sequence[Person] = (),
) -> Paper:
    """A new paper of one of ``PAPER_TYPES``, with the next reference of its type and year."""
    if paper_type not in PAPER_TYPES:
        raise PaperError(400, "Unbekannte Art der Vorlage.")
    day = day or utcnow().date()
    paper = Paper(
        body_id=body_id,
        name=clean_title(name),
        paper_type=paper_type,
        public=bool(public),
        date=day,
    )
    paper.originator_organizations.extend(originator_organizations)
    paper.originator_persons.extend(originator_persons)
    session.add(paper)
    await session.flush()
    if with_reference:
        paper.reference = await _reference(session, paper, pattern)
    session.add(PaperState(paper_id=paper.id, status=status, version=1))
    await session.flush()
    await set_status(session, paper.id, status)
    await record_change(
        session,
        actor.id,
        "paper",
        paper.id,
        "created",
        {"name": paper.name, "type": paper_type, "reference": paper.reference, "public": paper.public},
        actor_name=actor.name,
    )
    return paper


async def _reference(session: AsyncSession, paper: Paper, pattern: str) -> str:
    year = (paper.date or utcnow().date()).year
    try:
        return await assign_reference(session, paper.id, paper.paper_type or "Antrag", year, pattern)
    except ReferenceError as exc:
        raise PaperError(409, "Die Drucksachennummer konnte nicht vergeben werden.") from exc


async def give_reference(session: AsyncSession, actor: Actor, paper: Paper, pattern: str) -> str:
    """Assign the reference to a paper that has none yet (a submitted motion)."""
    if paper.reference:
        return paper.reference
    paper.reference = await _reference(session, paper, pattern)
    await record_change(
        session,
        actor.id,
        "paper",
        paper.id,
        "reference",
        {"reference": paper.reference},
        actor_name=actor.name,
    )
    return paper.reference


async def update_paper(
    session: AsyncSession, actor: Actor, paper_id: int, seen_version: int, *, name: str, public: bool
) -> Paper:
    paper = await load_paper(session, paper_id)
    title = clean_title(name)
    await bump_version(session, paper_id, seen_version)
    diff: dict[str, list[Any]] = {}
    if paper.name != title:
        diff["name"] = [paper.name, title]
        paper.name = title
    if paper.public != bool(public):
        diff["public"] = [paper.public, bool(public)]
        paper.public = bool(public)
    await record_change(session, actor.id, "paper", paper.id, "updated", diff, actor_name=actor.name)
    return paper


async def delete_paper(session: AsyncSession, actor: Actor, paper_id: int, seen_version: int) -> None:
    """Soft delete: the paper disappears from every public path; the row and its files stay."""
    paper = await load_paper(session, paper_id)
    await bump_version(session, paper_id, seen_version)
    paper.deleted = True
    await record_change(session, actor.id, "paper", paper.id, "deleted", {}, actor_name=actor.name)


# --- the consultation path -----------------------------------------------------------------------


def live_consultations(paper: Paper) -> list[Consultation]:
    return sorted((c for c in paper.consultations if not c.deleted), key=lambda c: (c.position, c.id))


async def set_path(
    session: AsyncSession, actor: Actor, paper_id: int, seen_version: int, organization_ids: Sequence[int]
) -> list[Consultation]:
    """Set the organizations that still have to consult the paper, in order; the last one decides.

    Steps already scheduled stay as they are; unscheduled ones are replaced by the new list.
    """
    paper = await load_paper(session, paper_id)
    ids = list(dict.fromkeys(organization_ids))
    if not ids:
        raise PaperError(400, "Bitte mindestens ein Gremium angeben.")
    if len(ids) > MAX_PATH:
        raise PaperError(400, "Zu viele Gremien in der Beratungsfolge.")
    orgs = {
        o.id: o
        for o in (
            await session.execute(
                select(Organization).where(
                    Organization.id.in_(ids),
                    Organization.deleted.is_(False),
                    Organization.body_id == paper.body_id,
                )
            )
        ).scalars()
    }
    if set(orgs) != set(ids):
        raise PaperError(400, "Dieses Gremium gibt es nicht.")
    await bump_version(session, paper_id, seen_version)
    existing = live_consultations(paper)
    kept = [c for c in existing if c.agenda_item_id is not None]
    for c in existing:
        if c.agenda_item_id is None:
            c.deleted = True
    for c in kept:
        c.authoritative = False
        c.role = c.role if c.role != "Entscheidung" else "Vorberatung"
    start = max((c.position for c in kept), default=-1) + 1
    created = []
    for i, org_id in enumerate(ids):
        last = i == len(ids) - 1
        c = Consultation(
            paper_id=paper.id,
            position=start + i,
            role="Entscheidung" if last else "Vorberatung",
            authoritative=last,
        )
        c.organizations.append(orgs[org_id])
        session.add(c)
        created.append(c)
    await session.flush()
    await record_change(
        session,
        actor.id,
        "paper",
        paper.id,
        "path",
        {"organizations": [orgs[i].name for i in ids]},
        actor_name=actor.name,
    )
    return created


async def next_meeting(session: AsyncSession, organization_id: int, after: datetime) -> Meeting | None:
    """The organization's next meeting starting after ``after`` (published, not cancelled)."""
    stmt = (
        select(Meeting)
        .join(meeting_organization, meeting_organization.c.meeting_id == Meeting.id)
        .where(
            meeting_organization.c.organization_id == organization_id,
            Meeting.start > after,
            Meeting.cancelled.is_(False),
            Meeting.deleted.is_(False),
        )
        .order_by(Meeting.start, Meeting.id)
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def _meeting_changed(session: AsyncSession, meeting_id: int) -> bool:
    """Bump the agenda's lock (K1's meeting workflow) and say whether the invitation went out."""
    wf = await session.get(MeetingWorkflow, meeting_id)
    if wf is None:
        return False
    await session.execute(
        update(MeetingWorkflow)
        .where(MeetingWorkflow.meeting_id == meeting_id)
        .values(version=MeetingWorkflow.version + 1)
        .execution_options(synchronize_session=False)
    )
    return wf.invited_at is not None


async def schedule_path(
    session: AsyncSession,
    actor: Actor,
    paper_id: int,
    seen_version: int,
    *,
    now: datetime | None = None,
    deadline_days: int = 7,
    override_reason: str | None = None,
) -> list[Consultation]:
    """Put every unscheduled step onto its organization's next meeting, in order, in one step.

    Each step's meeting comes after the previous step's. A submitted motion must reach the clerk
    ``deadline_days`` before the first meeting; meetings inside that period are skipped unless the
    clerk overrides (with a reason, recorded on the motion and in the audit log).
    """
    now = now or utcnow()
    paper = await load_paper(session, paper_id)
    steps = live_consultations(paper)
    todo = [c for c in steps if c.agenda_item_id is None]
    if not todo:
        raise PaperError(400, "Es gibt keine offenen Schritte in der Beratungsfolge.")
    reason = clean_name(override_reason, 500) if override_reason else ""
    motion = (
        await session.execute(select(Motion).where(Motion.paper_id == paper.id, Motion.deleted.is_(False)))
    ).scalar_one_or_none()
    after = max([now] + [c.meeting.start for c in steps if c.meeting is not None and c.meeting.start])
    earliest = after
    if motion is not None and motion.submitted_at is not None and not reason:
        earliest = max(after, motion.submitted_at + timedelta(days=deadline_days))
    plan: list[tuple[Consultation, Meeting]] = []
    for i, c in enumerate(todo):
        org = next((o for o in c.organizations if not o.deleted), None)
        if org is None:
            raise PaperError(400, "Dieser Schritt der Beratungsfolge hat kein Gremium.")
        meeting = await next_meeting(session, org.id, earliest if i == 0 else after)
        if meeting is None and i == 0 and earliest > after:
            if await next_meeting(session, org.id, after) is not None:
                raise PaperError(
                    422,
                    "Die Antragsfrist für die nächste Sitzung ist abgelaufen und es gibt keine spätere "
                    "Sitzung. Die Verwaltung kann die Frist mit Begründung übergehen.",
                )
        if meeting is None:
            raise PaperError(422, "Für dieses Gremium ist keine kommende Sitzung angesetzt.")
        assert meeting.start is not None
        plan.append((c, meeting))
        after = meeting.start
    if motion is not None and reason:
        first = plan[0][1]
        if motion.submitted_at is not None and first.start is not None:
            late = motion.submitted_at + timedelta(days=deadline_days) > first.start
        else:
            late = False
        if late:
            motion.deadline_override_by = actor.id
            motion.deadline_override_reason = reason
            await record_change(
                session,
                actor.id,
                "motion",
                motion.id,
                "deadline_override",
                {"meeting": first.id, "reason": reason},
                actor_name=actor.name,
            )
    await bump_version(session, paper_id, seen_version)
    for c, meeting in plan:
        item = await _append_item(session, meeting, paper)
        c.meeting_id = meeting.id
        c.agenda_item_id = item.id
        visible = await _meeting_changed(session, meeting.id)
        await record_change(
            session,
            actor.id,
            "agenda_item",
            item.id,
            "paper_scheduled",
            {"paper": paper.id, "reference": paper.reference, "name": item.name},
            actor_name=actor.name,
            meeting_id=meeting.id,
            visible=visible,
        )
    await session.flush()
    await set_status(
        session,
        paper.id,
        STATUS_SCHEDULED,
        organization_name=", ".join(o.name for o in plan[0][0].organizations),
        note="terminiert",
    )
    await record_change(
        session,
        actor.id,
        "paper",
        paper.id,
        "scheduled",
        {"meetings": [m.id for _, m in plan], "override": reason or None},
        actor_name=actor.name,
    )
    return [c for c, _ in plan]


async def _append_item(session: AsyncSession, meeting: Meeting, paper: Paper) -> AgendaItem:
    last = (
        await session.execute(
            select(func.max(AgendaItem.order)).where(
                AgendaItem.meeting_id == meeting.id, AgendaItem.deleted.is_(False)
            )
        )
    ).scalar_one_or_none()
    numbers = (
        await session.execute(
            select(AgendaItem.number).where(
                AgendaItem.meeting_id == meeting.id, AgendaItem.deleted.is_(False)
            )
        )
    ).scalars()
    top = max((int(n.split(".")[0]) for n in numbers if n and n.split(".")[0].isdigit()), default=0)
    label = f"{paper.paper_type or ''} {paper.reference or ''}".strip()
    item = AgendaItem(
        meeting_id=meeting.id,
        number=str(top + 1),
        order=(last or 0) + 1,
        name=f"{paper.name} ({label})"[:1000] if label else paper.name,
        public=bool(paper.public and meeting.public),
    )
    session.add(item)
    meeting.modified = utcnow()
    await session.flush()
    return item


async def record_result(
    session: AsyncSession, actor: Actor, paper_id: int, seen_version: int, consultation_id: int, result: str
) -> str:
    """A consultation's result moves the paper's status; returns the new status."""
    if result not in RESULTS:
        raise PaperError(400, "Unbekanntes Beratungsergebnis.")
    paper = await load_paper(session, paper_id)
    c = next((c for c in live_consultations(paper) if c.id == consultation_id), None)
    if c is None:
        raise PaperError(404, "Diesen Schritt der Beratungsfolge gibt es nicht.")
    if c.agenda_item is None:
        raise PaperError(400, "Dieser Schritt ist noch nicht terminiert.")
    await bump_version(session, paper_id, seen_version)
    label = RESULTS[result]
    c.agenda_item.result = label
    if result in _DECISIONS:
        status = label if c.authoritative else STATUS_SCHEDULED
    elif result == "vertagt":
        status = STATUS_DEFERRED
    else:
        status = STATUS_REFERRED_BACK
    org_name = ", ".join(o.name for o in c.organizations if not o.deleted)
    await set_status(session, paper.id, status, consultation=c, organization_name=org_name, result=result)
    await record_change(
        session,
        actor.id,
        "paper",
        paper.id,
        "result",
        {"consultation": c.id, "result": label, "status": status},
        actor_name=actor.name,
    )
    if c.meeting_id is not None:
        visible = await _meeting_changed(session, c.meeting_id)
        await record_change(
            session,
            actor.id,
            "agenda_item",
            c.agenda_item.id,
            "result",
            {"result": label},
            actor_name=actor.name,
            meeting_id=c.meeting_id,
            visible=visible,
        )
    return status


# --- file versions -------------------------------------------------------------------------------


async def add_file_version(
    session: AsyncSession,
    store: FileStore,
    actor: Actor,
    paper_id: int,
    seen_version: int,
    data: bytes,
    *,
    kind: str,
    name: str,
    file_name: str | None,
    max_bytes: int,
) -> PaperFileVersion:
    """A replacement (new main file; the old one stays as an attachment) or a supplement; all kept."""
    if kind not in FILE_KINDS:
        raise PaperError(400, "Unbekannte Art der Datei.")
    paper = await load_paper(session, paper_id)
    await bump_version(session, paper_id, seen_version)
    first = paper.main_file_id is None and kind == "replacement"
    try:
        record = await add_document(
            session,
            store,
            data,
            name=name,
            file_name=file_name,
            public=paper.public,
            paper_id=paper.id,
            role="main" if kind == "replacement" else "auxiliary",
            date=utcnow().date(),
            max_bytes=max_bytes,
        )
    except UploadRejected:
        raise
    return await note_file_version(session, actor, paper.id, record, "original" if first else kind)


async def note_file_version(
    session: AsyncSession, actor: Actor, paper_id: int, record: File, kind: str
) -> PaperFileVersion:
    number = (
        await session.execute(
            select(func.max(PaperFileVersion.number)).where(PaperFileVersion.paper_id == paper_id)
        )
    ).scalar_one_or_none()
    version = PaperFileVersion(
        paper_id=paper_id, file_id=record.id, number=(number or 0) + 1, kind=kind, account_id=actor.id
    )
    session.add(version)
    await session.flush()
    await record_change(
        session,
        actor.id,
        "paper",
        paper_id,
        "file",
        {"file": record.id, "kind": kind, "number": version.number, "name": record.name},
        actor_name=actor.name,
    )
    return version


async def file_versions(session: AsyncSession, paper_id: int) -> list[PaperFileVersion]:
    stmt = (
        select(PaperFileVersion)
        .where(PaperFileVersion.paper_id == paper_id)
        .options(selectinload(PaperFileVersion.file))
        .order_by(PaperFileVersion.number)
    )
    return list((await session.execute(stmt)).scalars())


async def timeline(session: AsyncSession, paper_id: int) -> list[PaperStatusEvent]:
    """The status timeline of a paper, oldest first (what the public paper page shows)."""
    stmt = select(PaperStatusEvent).where(PaperStatusEvent.paper_id == paper_id).order_by(PaperStatusEvent.id)
    return list((await session.execute(stmt)).scalars())


async def current_status(session: AsyncSession, paper_id: int) -> PaperState | None:
    return await session.get(PaperState, paper_id)


async def public_history(
    session: AsyncSession, viewer: Viewer, paper_id: int
) -> tuple[PaperState | None, list[PaperStatusEvent], list[PaperFileVersion]]:
    """For the paper page: the current status, its timeline, and the file versions the viewer may see."""
    versions = (
        await session.execute(
            select(PaperFileVersion)
            .join(File, File.id == PaperFileVersion.file_id)
            .where(PaperFileVersion.paper_id == paper_id, file_visible(viewer))
            .options(selectinload(PaperFileVersion.file))
            .order_by(PaperFileVersion.number)
        )
    ).scalars()
    return await session.get(PaperState, paper_id), await timeline(session, paper_id), list(versions)
