"""Records: created/modified, parent bump for embedded children, soft delete, access clauses, timeline."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from council.live.models import EventKind, TimelineEvent
from council.live.state import live_meeting_ids, live_state
from council.records.access import (
    ANONYMOUS,
    Viewer,
    agenda_item_visible,
    file_visible,
    meeting_visible,
    paper_visible,
)
from council.records.models import AgendaItem, File, Meeting, Paper
from tests.factories import make_town


async def test_created_and_modified_are_set_and_bumped(session):
    town = await make_town(session)
    meeting = town.past_meeting
    assert meeting.created.tzinfo is not None
    before = meeting.modified
    await asyncio.sleep(0.01)
    meeting.name = "Umbenannt"
    await session.commit()
    assert meeting.modified > before
    assert meeting.created < meeting.modified


async def test_changing_an_embedded_child_bumps_its_parent(session):
    town = await make_town(session)
    meeting_before = town.past_meeting.modified
    paper_before = town.paper.modified
    await asyncio.sleep(0.01)
    town.public_item.result = "vertagt"
    await session.commit()
    await session.refresh(town.past_meeting)
    assert town.past_meeting.modified > meeting_before

    consultation = (await session.execute(select(Paper).where(Paper.id == town.paper.id))).scalar_one()
    assert consultation.modified == paper_before  # untouched so far
    from council.records.models import Consultation

    c = (
        (await session.execute(select(Consultation).where(Consultation.paper_id == town.paper.id)))
        .scalars()
        .first()
    )
    c.role = "Kenntnisnahme"
    await session.commit()
    await session.refresh(town.paper)
    assert town.paper.modified > paper_before


async def test_soft_delete_hides_from_everyone(session):
    town = await make_town(session)
    town.paper.deleted = True
    await session.commit()
    staff = Viewer(account_id=1, roles=frozenset({"clerk"}))
    for viewer in (ANONYMOUS, staff):
        ids = (await session.execute(select(Paper.id).where(paper_visible(viewer)))).scalars().all()
        assert town.paper.id not in ids


async def test_access_clauses_hide_non_public_from_anonymous(session):
    town = await make_town(session)
    meetings = set((await session.execute(select(Meeting.id).where(meeting_visible(ANONYMOUS)))).scalars())
    assert town.secret_meeting.id not in meetings and town.past_meeting.id in meetings
    items = set(
        (await session.execute(select(AgendaItem.id).where(agenda_item_visible(ANONYMOUS)))).scalars()
    )
    assert town.secret_item.id not in items and town.public_item.id in items
    papers = set((await session.execute(select(Paper.id).where(paper_visible(ANONYMOUS)))).scalars())
    assert town.secret_paper.id not in papers and town.paper.id in papers
    files = set((await session.execute(select(File.id).where(file_visible(ANONYMOUS)))).scalars())
    assert files == {town.public_file.id}


async def test_members_see_their_committees_non_public_material_only(session):
    town = await make_town(session)
    member = Viewer(
        account_id=5,
        person_id=town.member.id,
        roles=frozenset({"councillor"}),
        organization_ids=frozenset({town.committee.id, town.council.id}),
    )
    items = set((await session.execute(select(AgendaItem.id).where(agenda_item_visible(member)))).scalars())
    assert town.secret_item.id in items
    papers = set((await session.execute(select(Paper.id).where(paper_visible(member)))).scalars())
    assert town.secret_paper.id in papers
    files = set((await session.execute(select(File.id).where(file_visible(member)))).scalars())
    assert town.secret_file.id in files
    # the secret meeting belongs to another committee
    meetings = set((await session.execute(select(Meeting.id).where(meeting_visible(member)))).scalars())
    assert town.secret_meeting.id not in meetings
    assert town.secret_meeting_file.id not in files
    staff = Viewer(account_id=1, roles=frozenset({"clerk"}))
    files = set((await session.execute(select(File.id).where(file_visible(staff)))).scalars())
    assert town.secret_meeting_file.id in files


async def test_timeline_is_append_only_and_folds_into_state(session):
    town = await make_town(session)
    mid = town.next_meeting.id
    session.add(TimelineEvent(meeting_id=mid, kind=EventKind.MEETING_OPENED))
    session.add(
        TimelineEvent(meeting_id=mid, kind=EventKind.AGENDA_ITEM_STARTED, agenda_item_id=town.public_item.id)
    )
    session.add(
        TimelineEvent(meeting_id=mid, kind=EventKind.SPEAKER_STARTED, person_id=town.member.id, consent=False)
    )
    await session.commit()
    state = await live_state(session, mid)
    assert state.is_open and state.agenda_item_id == town.public_item.id
    assert state.speaker_person_id == town.member.id and state.speaker_consent is False
    assert await live_meeting_ids(session) == [mid]

    ev = (await session.execute(select(TimelineEvent).limit(1))).scalar_one()
    ev.kind = "tampered"
    with pytest.raises(RuntimeError, match="append-only"):
        await session.commit()
    await session.rollback()

    session.add(TimelineEvent(meeting_id=mid, kind=EventKind.MEETING_CLOSED))
    await session.commit()
    state = await live_state(session, mid)
    assert state.is_closed and state.agenda_item_id is None
    assert await live_meeting_ids(session) == []


async def test_foreign_keys_are_enforced(session):
    session.add(TimelineEvent(meeting_id=999_999, kind=EventKind.MEETING_OPENED))
    with pytest.raises(IntegrityError):
        await session.commit()
    await session.rollback()
