"""The agenda builder: items with public and non-public parts, numbering, reorder, linked papers.

Numbering is derived, never typed: the public part comes first, then the non-public part, numbered on
(TOP 1, 2, …; a sub-item is 1.1, 1.2 under the preceding item). ``order`` is rewritten in steps of 10
on every change so moves are swaps and the stored numbers always match what the clerk sees.

Every change bumps the meeting's version (optimistic lock) and goes to the audit log; once the
invitation has been sent the entry is ``visible`` — the public agenda shows it in its change log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from council.backoffice.audit import record_change
from council.backoffice.meetings import (
    Actor,
    BackofficeError,
    NotFound,
    bump_version,
    clean_multiline,
    clean_text,
    load_meeting,
)
from council.backoffice.models import AgendaItemDetail, MeetingWorkflow
from council.core.types import utcnow
from council.records.models import AgendaItem, Consultation, Meeting, Paper
from council.search.jobs import enqueue_index

ITEM_NAME_MAX = 1000
ITEM_TEXT_MAX = 20000
MAX_ITEMS = 400


@dataclass
class ItemView:
    """An agenda row for the builder and the invitation."""

    item: AgendaItem
    detail: AgendaItemDetail | None
    papers: list[Paper]

    @property
    def text(self) -> str:
        return (self.detail.text if self.detail else None) or ""

    @property
    def sub(self) -> bool:
        return bool(self.detail and self.detail.sub)

    @property
    def urgent(self) -> bool:
        return bool(self.detail and self.detail.urgent)


async def items(session: AsyncSession, meeting_id: int) -> list[ItemView]:
    """The meeting's live agenda items in order, with details and linked (not deleted) papers."""
    rows = (
        (
            await session.execute(
                select(AgendaItem)
                .where(AgendaItem.meeting_id == meeting_id, AgendaItem.deleted.is_(False))
                .options(selectinload(AgendaItem.consultations).selectinload(Consultation.paper))
                .order_by(AgendaItem.order, AgendaItem.id)
            )
        )
        .scalars()
        .all()
    )
    details = {
        d.agenda_item_id: d
        for d in (
            await session.execute(
                select(AgendaItemDetail).where(AgendaItemDetail.agenda_item_id.in_([r.id for r in rows]))
            )
        ).scalars()
    }
    return [
        ItemView(
            r,
            details.get(r.id),
            [
                c.paper
                for c in r.consultations
                if not c.deleted and c.paper is not None and not c.paper.deleted
            ],
        )
        for r in rows
    ]


async def renumber(session: AsyncSession, meeting_id: int) -> None:
    """Public part first, then non-public; TOP numbers and ``order`` rewritten from the current order."""
    views = await items(session, meeting_id)
    ordered = [v for v in views if v.item.public] + [v for v in views if not v.item.public]
    major = minor = 0
    part_public: bool | None = None
    for position, view in enumerate(ordered, start=1):
        # The first item of a part is never a sub-item (no 5.1 of a public item in the non-public part).
        first_of_part = view.item.public != part_public
        part_public = view.item.public
        if view.sub and major > 0 and not first_of_part:
            minor += 1
            number = f"{major}.{minor}"
        else:
            major += 1
            minor = 0
            number = str(major)
        if view.item.number != number:
            view.item.number = number
        if view.item.order != position * 10:
            view.item.order = position * 10
    await session.flush()


async def _item(session: AsyncSession, meeting_id: int, item_id: int) -> AgendaItem:
    item = await session.get(AgendaItem, item_id)
    if item is None or item.deleted or item.meeting_id != meeting_id:
        raise NotFound("item_not_found")
    return item


async def _log(
    session: AsyncSession,
    actor: Actor,
    wf: MeetingWorkflow,
    item_id: int,
    action: str,
    diff: dict[str, Any],
    *,
    public: bool = True,
) -> None:
    # ``_public``: whether residents may read this entry on the public change log.
    diff = {**diff, "_public": public}
    if item_id:
        # Search follows the agenda (the job skips items of drafts and deleted items).
        enqueue_index(session, "agenda_item", [item_id])
    await record_change(
        session,
        actor.account_id,
        "agenda_item",
        item_id,
        action,
        diff,
        actor_name=actor.name,
        meeting_id=wf.meeting_id,
        visible=wf.invited_at is not None,
    )


async def add_item(
    session: AsyncSession,
    actor: Actor,
    meeting_id: int,
    version: int,
    *,
    name: Any,
    text: Any = "",
    public: bool = True,
    sub: bool = False,
    urgent: bool = False,
) -> AgendaItem:
    """Append an item to its part (an urgent item too: the chair takes it up where the agenda says)."""
    meeting, wf = await load_meeting(session, meeting_id)
    title = clean_text(name, ITEM_NAME_MAX)
    if not title:
        raise BackofficeError("item_name_required")
    views = await items(session, meeting_id)
    if len(views) >= MAX_ITEMS:
        raise BackofficeError("too_many_items")
    await bump_version(session, meeting_id, version)
    same_part = [v.item.order for v in views if v.item.public == public]
    others = [v.item.order for v in views if v.item.public != public]
    # After the last item of its part: before the non-public part for a public item.
    order = (max(same_part) + 5) if same_part else ((min(others) - 5) if public and others else 10**6)
    item = AgendaItem(meeting_id=meeting.id, name=title, order=order, public=public, keyword=[])
    session.add(item)
    await session.flush()
    session.add(
        AgendaItemDetail(
            agenda_item_id=item.id, text=clean_multiline(text, ITEM_TEXT_MAX) or None, sub=sub, urgent=urgent
        )
    )
    await session.flush()
    await renumber(session, meeting_id)
    meeting.modified = utcnow()
    await _log(
        session,
        actor,
        wf,
        item.id,
        "urgent_item_added" if urgent else "item_added",
        {"number": item.number, "name": title, "public": public},
        public=public,
    )
    await session.flush()
    return item


async def edit_item(
    session: AsyncSession,
    actor: Actor,
    meeting_id: int,
    version: int,
    item_id: int,
    *,
    name: Any,
    text: Any,
    public: bool,
    sub: bool,
) -> AgendaItem:
    await load_meeting(session, meeting_id)
    wf = await session.get(MeetingWorkflow, meeting_id)
    assert wf is not None
    item = await _item(session, meeting_id, item_id)
    title = clean_text(name, ITEM_NAME_MAX)
    if not title:
        raise BackofficeError("item_name_required")
    await bump_version(session, meeting_id, version)
    detail = await session.get(AgendaItemDetail, item.id)
    if detail is None:
        detail = AgendaItemDetail(agenda_item_id=item.id)
        session.add(detail)
    body = clean_multiline(text, ITEM_TEXT_MAX) or None
    before = {"name": item.name, "text": detail.text, "public": item.public, "sub": bool(detail.sub)}
    item.name = title
    if item.public != public:
        # Moving between parts: to the end of the other part (renumber puts public items first).
        others = [v.item.order for v in await items(session, meeting_id) if v.item.public == public]
        item.order = (max(others) + 5) if others else 10**6
    item.public = public
    detail.text = body
    detail.sub = sub
    await session.flush()
    await renumber(session, meeting_id)
    after = {"name": title, "text": body, "public": public, "sub": sub}
    await _log(
        session,
        actor,
        wf,
        item.id,
        "item_changed",
        {k: [before[k], v] for k, v in after.items() if before[k] != v},
        public=public and bool(before["public"]),
    )
    await session.flush()
    return item


async def move_item(
    session: AsyncSession, actor: Actor, meeting_id: int, version: int, item_id: int, direction: str
) -> AgendaItem:
    """Move past the neighbour above or below within the same part (public / non-public).

    A top-level item moves as a block with its sub-items (and passes a whole block); a sub-item
    moves among its siblings and cannot leave its parent.
    """
    if direction not in ("up", "down"):
        raise BackofficeError("bad_direction")
    await load_meeting(session, meeting_id)
    wf = await session.get(MeetingWorkflow, meeting_id)
    assert wf is not None
    item = await _item(session, meeting_id, item_id)
    part = [v for v in await items(session, meeting_id) if v.item.public == item.public]
    # Blocks: a top-level item and the sub-items after it (a leading sub-item is its own block).
    blocks: list[list[ItemView]] = []
    for view in part:
        if view.sub and blocks:
            blocks[-1].append(view)
        else:
            blocks.append([view])
    view = next(v for v in part if v.item.id == item.id)
    if view.sub and blocks[0][0] is not view:
        block = next(b for b in blocks if view in b)
        siblings = block[1:]
        index = siblings.index(view)
        other_index = index - 1 if direction == "up" else index + 1
        if not (0 <= other_index < len(siblings)):
            raise BackofficeError("cannot_move")
        siblings[index], siblings[other_index] = siblings[other_index], siblings[index]
        block[1:] = siblings
    else:
        index = next(i for i, b in enumerate(blocks) if b[0] is view)
        other_index = index - 1 if direction == "up" else index + 1
        if not (0 <= other_index < len(blocks)):
            raise BackofficeError("cannot_move")
        blocks[index], blocks[other_index] = blocks[other_index], blocks[index]
    await bump_version(session, meeting_id, version)
    before = item.number
    orders = sorted(v.item.order for v in part)
    for order, moved in zip(orders, [v for b in blocks for v in b], strict=True):
        moved.item.order = order
    await session.flush()
    await renumber(session, meeting_id)
    await _log(
        session,
        actor,
        wf,
        item.id,
        "item_moved",
        {"name": item.name, "number": [before, item.number]},
        public=item.public,
    )
    await session.flush()
    return item


async def reorder(session: AsyncSession, actor: Actor, meeting_id: int, version: int, ids: list[int]) -> None:
    """Drag-and-drop: the full new order of the items (each exactly once)."""
    await load_meeting(session, meeting_id)
    wf = await session.get(MeetingWorkflow, meeting_id)
    assert wf is not None
    views = await items(session, meeting_id)
    by_id = {v.item.id: v.item for v in views}
    if sorted(ids) != sorted(by_id):
        raise BackofficeError("bad_order")
    await bump_version(session, meeting_id, version)
    for position, item_id in enumerate(ids, start=1):
        by_id[item_id].order = position * 10
    await session.flush()
    await renumber(session, meeting_id)
    await _log(session, actor, wf, 0, "items_reordered", {}, public=True)
    await session.flush()


async def remove_item(
    session: AsyncSession, actor: Actor, meeting_id: int, version: int, item_id: int
) -> None:
    """Soft-delete an item (and its consultations' link to it)."""
    await load_meeting(session, meeting_id)
    wf = await session.get(MeetingWorkflow, meeting_id)
    assert wf is not None
    item = await _item(session, meeting_id, item_id)
    await bump_version(session, meeting_id, version)
    item.deleted = True
    for consultation in (
        await session.execute(select(Consultation).where(Consultation.agenda_item_id == item.id))
    ).scalars():
        consultation.deleted = True
    await session.flush()
    await renumber(session, meeting_id)
    await _log(
        session,
        actor,
        wf,
        item.id,
        "item_removed",
        {"number": item.number, "name": item.name},
        public=item.public,
    )
    await session.flush()


async def link_paper(
    session: AsyncSession, actor: Actor, meeting_id: int, version: int, item_id: int, reference: Any
) -> Consultation:
    """Link a paper (by reference or id) to an item: creates the Consultation."""
    meeting, wf = await load_meeting(session, meeting_id)
    item = await _item(session, meeting_id, item_id)
    ref = clean_text(reference, 100)
    if not ref:
        raise BackofficeError("paper_required")
    stmt = select(Paper).where(Paper.deleted.is_(False), Paper.reference == ref).order_by(Paper.id).limit(1)
    paper = (await session.execute(stmt)).scalar_one_or_none()
    if paper is None and ref.isascii() and ref.isdigit() and len(ref) < 10:  # not "²", not full-width
        candidate = await session.get(Paper, int(ref))
        paper = candidate if candidate is not None and not candidate.deleted else None
    if paper is None:
        raise BackofficeError("paper_unknown")
    existing = (
        await session.execute(
            select(Consultation).where(
                Consultation.agenda_item_id == item.id,
                Consultation.paper_id == paper.id,
                Consultation.deleted.is_(False),
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        raise BackofficeError("paper_already_linked")
    await bump_version(session, meeting_id, version)
    position = len(
        (await session.execute(select(Consultation.id).where(Consultation.paper_id == paper.id))).all()
    )
    consultation = Consultation(
        paper_id=paper.id,
        agenda_item_id=item.id,
        meeting_id=meeting.id,
        authoritative=False,
        role="Beratung",
        position=position,
        keyword=[],
    )
    consultation.organizations = list(meeting.organizations)
    session.add(consultation)
    if item.name != paper.name and not item.name:
        item.name = paper.name
    await session.flush()
    await _log(
        session,
        actor,
        wf,
        item.id,
        "paper_linked",
        {"number": item.number, "paper": paper.reference or str(paper.id), "paper_name": paper.name},
        public=item.public and paper.public,
    )
    await session.flush()
    return consultation


async def unlink_paper(
    session: AsyncSession, actor: Actor, meeting_id: int, version: int, item_id: int, paper_id: int
) -> None:
    await load_meeting(session, meeting_id)
    wf = await session.get(MeetingWorkflow, meeting_id)
    assert wf is not None
    item = await _item(session, meeting_id, item_id)
    found = (
        (
            await session.execute(
                select(Consultation).where(
                    Consultation.agenda_item_id == item.id,
                    Consultation.paper_id == paper_id,
                    Consultation.deleted.is_(False),
                )
            )
        )
        .scalars()
        .all()
    )
    if not found:
        raise NotFound("paper_not_linked")
    await bump_version(session, meeting_id, version)
    for consultation in found:
        consultation.deleted = True
    await _log(
        session,
        actor,
        wf,
        item.id,
        "paper_unlinked",
        {"number": item.number, "paper_id": paper_id},
        public=item.public,
    )
    await session.flush()


async def meeting_of_item(session: AsyncSession, item_id: int) -> Meeting | None:
    item = await session.get(AgendaItem, item_id)
    return None if item is None else await session.get(Meeting, item.meeting_id)
