"""The clerk's console as services (council.live.console): every transition and every refused one."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from council.live import attendance
from council.live import console as svc
from council.live.models import EventKind, TimelineEvent
from council.live.speakers import SpeakerRequest
from council.live.state import live_state
from council.records.models import AgendaItem, Person
from tests.factories import Town, make_town


class Recorder:
    """A publisher that keeps what was published."""

    def __init__(self) -> None:
        self.messages: list[tuple[dict[str, Any], list[str]]] = []

    def publish(self, data: Any, channels: Any) -> None:
        self.messages.append((data, list(channels)))

    @property
    def kinds(self) -> list[str]:
        return [m["kind"] for m, _ in self.messages]


@pytest.fixture
async def town(session: Any) -> Town:
    t = await make_town(session)
    session.add(AgendaItem(meeting=t.council_meeting, number="5", order=5, name="Haushalt 2027", public=True))
    await session.commit()
    return t


async def _items(session: Any, town: Town) -> list[int]:
    rows = await session.execute(
        select(AgendaItem.id)
        .where(AgendaItem.meeting_id == town.council_meeting.id)
        .order_by(AgendaItem.order)
    )
    return [r[0] for r in rows]


async def _events(session: Any, meeting_id: int) -> list[TimelineEvent]:
    rows = await session.execute(
        select(TimelineEvent).where(TimelineEvent.meeting_id == meeting_id).order_by(TimelineEvent.id)
    )
    return list(rows.scalars())


async def _code(coro: Any) -> tuple[str, int]:
    with pytest.raises(svc.ConsoleError) as info:
        await coro
    return info.value.code, info.value.status


async def test_open_and_close(session: Any, town: Town) -> None:
    pub = Recorder()
    mid = town.council_meeting.id
    ev = await svc.open_meeting(session, pub, mid)
    assert ev.kind == EventKind.MEETING_OPENED and ev.id is not None
    assert pub.messages[0][1] == [f"meeting.{mid}", "meetings"]
    assert await _code(svc.open_meeting(session, pub, mid)) == ("meeting_already_open", 409)
    await svc.close_meeting(session, pub, mid)
    state = await live_state(session, mid)
    assert state.is_closed and not state.is_open
    # a closed meeting stays closed: nothing acts on it any more
    assert await _code(svc.open_meeting(session, pub, mid)) == ("meeting_closed", 409)
    assert await _code(svc.close_meeting(session, pub, mid)) == ("meeting_closed", 409)
    p = town.persons[0].id
    assert await _code(svc.mark_present(session, pub, mid, p)) == ("meeting_closed", 409)
    items = await _items(session, town)
    assert await _code(svc.start_item(session, pub, mid, items[0])) == ("meeting_closed", 409)
    assert await _code(svc.request_to_speak(session, pub, mid, items[0], p)) == ("meeting_closed", 409)
    assert pub.kinds == ["meeting.opened", "meeting.closed"]


async def test_close_needs_open_and_unknown_meeting_is_404(session: Any, town: Town) -> None:
    assert await _code(svc.close_meeting(session, None, town.council_meeting.id)) == ("meeting_not_open", 409)
    assert await _code(svc.open_meeting(session, None, 987654)) == ("meeting_not_found", 404)


async def test_cancelled_meeting_cannot_be_opened(session: Any, town: Town) -> None:
    town.council_meeting.cancelled = True
    await session.commit()
    assert await _code(svc.open_meeting(session, None, town.council_meeting.id)) == ("meeting_cancelled", 409)


async def test_attendance_and_quorum(session: Any, town: Town) -> None:
    pub = Recorder()
    mid = town.council_meeting.id
    p = [x.id for x in town.persons]
    # attendance may be taken before the meeting is opened
    ev = await svc.mark_present(session, pub, mid, p[0])
    assert ev.kind == EventKind.ATTENDANCE_JOINED and ev.person_id == p[0]
    assert ev.payload["quorum"] == {"statutory": 5, "present_voting": 1, "required": 3, "reached": False}
    await svc.mark_present(session, pub, mid, p[1])
    ev = await svc.mark_present(session, pub, mid, p[2])
    assert ev.payload["quorum"]["reached"] is True and ev.payload["present_count"] == 3
    assert await _code(svc.mark_present(session, pub, mid, p[2])) == ("already_present", 409)
    ev = await svc.mark_absent(session, pub, mid, p[2])
    assert ev.kind == EventKind.ATTENDANCE_LEFT and ev.payload["quorum"]["reached"] is False
    assert await _code(svc.mark_absent(session, pub, mid, p[2])) == ("not_present", 409)

    stranger = Person(body_id=town.body.id, name="Erika Fremd")
    session.add(stranger)
    await session.commit()
    assert await _code(svc.mark_present(session, pub, mid, stranger.id)) == ("not_a_member", 409)

    state = await live_state(session, mid)
    assert state.present_person_ids == {p[0], p[1]}
    assert state.quorum == {"statutory": 5, "present_voting": 2, "required": 3, "reached": False}
    q = await attendance.quorum(session, mid)
    assert (q.present_voting, q.required, q.reached) == (2, 3, False)
    d = state.as_dict()
    assert d["present_count"] == 2 and d["quorum"]["required"] == 3


async def test_agenda_items_start_end_and_times(session: Any, town: Town) -> None:
    pub = Recorder()
    mid = town.council_meeting.id
    first, second = await _items(session, town)
    assert await _code(svc.start_item(session, pub, mid, first)) == ("meeting_not_open", 409)
    await svc.open_meeting(session, pub, mid)
    # an item of another meeting, an unknown item
    assert await _code(svc.start_item(session, pub, mid, town.public_item.id)) == ("item_not_in_meeting", 409)
    assert await _code(svc.start_item(session, pub, mid, 999999)) == ("item_not_found", 404)
    assert await _code(svc.end_item(session, pub, mid, first)) == ("item_not_current", 409)

    started = await svc.start_item(session, pub, mid, first)
    assert started.kind == EventKind.AGENDA_ITEM_STARTED and started.agenda_item_id == first
    assert await _code(svc.start_item(session, pub, mid, first)) == ("item_already_current", 409)
    item = await session.get(AgendaItem, first)
    await session.refresh(item)
    assert item.start == started.at and item.end is None

    # calling the next item ends the current one at the same instant
    nxt = await svc.start_item(session, pub, mid, second)
    await session.refresh(item)
    assert item.end == nxt.at
    assert pub.kinds[-2:] == ["agenda_item.ended", "agenda_item.started"]
    assert pub.messages[-2][0]["agenda_item_id"] == first
    assert (await live_state(session, mid)).agenda_item_id == second

    ended = await svc.end_item(session, pub, mid, second)
    assert ended.kind == EventKind.AGENDA_ITEM_ENDED
    item2 = await session.get(AgendaItem, second)
    await session.refresh(item2)
    assert item2.end == ended.at and item2.start is not None

    # resuming an item keeps its first start
    first_start = item.start
    await svc.start_item(session, pub, mid, first)
    await session.refresh(item)
    assert item.start == first_start and item.end is None
    assert (await live_state(session, mid)).agenda_item_id == first


async def test_speakers_list(session: Any, town: Town) -> None:
    pub = Recorder()
    mid = town.council_meeting.id
    first, _second = await _items(session, town)
    a, b, c = (x.id for x in town.persons[:3])
    await svc.open_meeting(session, pub, mid)

    ev = await svc.request_to_speak(session, pub, mid, first, a)
    assert ev.kind == EventKind.SPEAKERS_CHANGED and ev.person_id == a
    assert [s["person_id"] for s in ev.payload["speakers"]] == [a]
    assert await _code(svc.request_to_speak(session, pub, mid, first, a)) == ("already_requested", 409)
    await svc.request_to_speak(session, pub, mid, first, b)
    await svc.request_to_speak(session, pub, mid, first, c)

    # order: move c up, then set explicitly
    ev = await svc.move(session, pub, mid, first, c, -1)
    assert [s["person_id"] for s in ev.payload["speakers"]] == [a, c, b]
    ev = await svc.reorder(session, pub, mid, first, [b, a, c])
    assert [s["person_id"] for s in ev.payload["speakers"]] == [b, a, c]
    assert await _code(svc.reorder(session, pub, mid, first, [b, a])) == ("bad_order", 400)
    assert await _code(svc.reorder(session, pub, mid, first, [b, a, a])) == ("bad_order", 400)
    assert await _code(svc.move(session, pub, mid, first, town.persons[4].id, 1)) == ("not_requested", 409)

    # speeches only on the current item, only for those on its list
    assert await _code(svc.start_speech(session, pub, mid, first, b)) == ("item_not_current", 409)
    await svc.start_item(session, pub, mid, first)
    assert await _code(svc.start_speech(session, pub, mid, first, town.persons[3].id)) == ("not_on_list", 409)
    assert await _code(svc.end_speech(session, pub, mid)) == ("no_speech", 409)

    ev = await svc.start_speech(session, pub, mid, first, b)
    assert ev.kind == EventKind.SPEAKER_STARTED and ev.person_id == b
    assert ev.consent is False  # no consent stored: streaming mutes
    assert ev.payload["name"] == town.persons[1].name
    state = await live_state(session, mid)
    assert state.speaker_person_id == b and state.speaker_name == town.persons[1].name

    # the next speaker: the running speech ends first
    ev = await svc.start_speech(session, pub, mid, first, a)
    assert pub.kinds[-2:] == ["speaker.ended", "speaker.started"]
    assert pub.messages[-2][0]["person_id"] == b
    entries = await svc.speaker_list(session, mid, first)
    assert [(e.person_id, e.state) for e in entries] == [(a, "speaking"), (c, "requested"), (b, "done")]

    ev = await svc.end_speech(session, pub, mid)
    assert ev.kind == EventKind.SPEAKER_ENDED and ev.person_id == a
    assert (await live_state(session, mid)).speaker_person_id is None

    # withdraw; then a person who spoke may ask again (the row is reused)
    await svc.withdraw_request(session, pub, mid, first, c)
    assert await _code(svc.withdraw_request(session, pub, mid, first, c)) == ("not_requested", 409)
    ev = await svc.request_to_speak(session, pub, mid, first, b)
    assert [s["person_id"] for s in ev.payload["speakers"]] == [b]
    count = len(list((await session.execute(select(SpeakerRequest))).scalars()))
    assert count == 3

    # items of other meetings and strangers
    assert await _code(svc.request_to_speak(session, pub, mid, town.public_item.id, a)) == (
        "item_not_in_meeting",
        409,
    )
    stranger = Person(body_id=town.body.id, name="Erika Fremd")
    session.add(stranger)
    await session.commit()
    assert await _code(svc.request_to_speak(session, pub, mid, first, stranger.id)) == ("not_a_member", 409)


async def test_consent_standing_and_per_speech(session: Any, town: Town) -> None:
    pub = Recorder()
    mid = town.council_meeting.id
    first, _second = await _items(session, town)
    a, b = town.persons[0].id, town.persons[1].id
    await svc.open_meeting(session, pub, mid)
    await svc.start_item(session, pub, mid, first)

    assert await svc.standing_consent(session, a) is False
    await svc.set_standing_consent(session, pub, a, True)
    assert await svc.standing_consent(session, a) is True
    await svc.request_to_speak(session, pub, mid, first, a)
    ev = await svc.start_speech(session, pub, mid, first, a)
    assert ev.consent is True

    # revoked for this speech while speaking: a new speaker event says so at once
    events = await svc.set_speech_consent(session, pub, mid, first, a, False)
    assert len(events) == 1 and events[0].kind == EventKind.SPEAKER_STARTED
    assert events[0].consent is False and events[0].payload["consent_changed"] is True
    state = await live_state(session, mid)
    assert state.speaker_person_id == a and state.speaker_consent is False
    # the standing choice does not override a per-speech one
    assert await svc.set_standing_consent(session, pub, a, True) == []
    # back to the standing choice (yes)
    events = await svc.set_speech_consent(session, pub, mid, first, a, None)
    assert events[0].consent is True
    # revoking the standing consent while speaking (no per-speech choice) is announced as well
    events = await svc.set_standing_consent(session, pub, a, False)
    assert [e.consent for e in events] == [False]
    ended = await svc.end_speech(session, pub, mid)
    assert ended.consent is False

    # a waiting request's consent changes silently; nobody is speaking
    await svc.request_to_speak(session, pub, mid, first, b, consent=True)
    assert await svc.set_speech_consent(session, pub, mid, first, b, False) == []
    entries = await svc.speaker_list(session, mid, first)
    assert [(e.person_id, e.effective_consent) for e in entries if e.state == "requested"] == [(b, False)]
    assert await _code(svc.set_speech_consent(session, pub, mid, first, town.persons[3].id, True)) == (
        "not_requested",
        409,
    )


async def test_conflict_of_interest(session: Any, town: Town) -> None:
    pub = Recorder()
    mid = town.council_meeting.id
    first, second = await _items(session, town)
    a = town.persons[0].id
    await svc.request_to_speak(session, pub, mid, first, a)
    ev = await svc.set_conflict(session, pub, mid, first, a, declared=True)
    assert ev.kind == EventKind.CONFLICT_DECLARED and ev.agenda_item_id == first
    # the waiting request was withdrawn with the declaration
    assert pub.kinds[-2:] == ["speakers.changed", "conflict.declared"]
    assert await attendance.conflicted_person_ids(session, mid, first) == {a}
    assert await _code(svc.set_conflict(session, pub, mid, first, a, declared=True)) == (
        "already_declared",
        409,
    )
    assert await _code(svc.request_to_speak(session, pub, mid, first, a)) == ("conflicted", 409)
    # other items are not affected
    await svc.request_to_speak(session, pub, mid, second, a)
    ev = await svc.set_conflict(session, pub, mid, first, a, declared=False)
    assert ev.kind == EventKind.CONFLICT_WITHDRAWN
    assert await _code(svc.set_conflict(session, pub, mid, first, a, declared=False)) == ("not_declared", 409)
    assert await attendance.conflicted_person_ids(session, mid, first) == set()


async def test_closing_ends_speech_and_item(session: Any, town: Town) -> None:
    pub = Recorder()
    mid = town.council_meeting.id
    first, _second = await _items(session, town)
    a = town.persons[0].id
    await svc.open_meeting(session, pub, mid)
    await svc.start_item(session, pub, mid, first)
    await svc.request_to_speak(session, pub, mid, first, a)
    await svc.start_speech(session, pub, mid, first, a)
    closed = await svc.close_meeting(session, pub, mid)
    assert pub.kinds[-3:] == ["speaker.ended", "agenda_item.ended", "meeting.closed"]
    events = await _events(session, mid)
    assert [e.kind for e in events[-3:]] == ["speaker.ended", "agenda_item.ended", "meeting.closed"]
    assert len({e.at for e in events[-3:]}) == 1 and events[-1].id == closed.id
    item = await session.get(AgendaItem, first)
    await session.refresh(item)
    assert item.end == closed.at
    entries = await svc.speaker_list(session, mid, first)
    assert entries[0].state == "done"
    state = await live_state(session, mid)
    assert state.is_closed and state.agenda_item_id is None and state.speaker_person_id is None


async def test_fold_of_published_messages_matches_the_stored_state(session: Any, town: Town) -> None:
    """Live consumers fold the published messages (dicts); they reach the state a replay gives."""
    from council.live.state import LiveState, fold

    pub = Recorder()
    mid = town.council_meeting.id
    first, _second = await _items(session, town)
    a, b = town.persons[0].id, town.persons[1].id
    await svc.open_meeting(session, pub, mid)
    await svc.mark_present(session, pub, mid, a)
    await svc.mark_present(session, pub, mid, b)
    await svc.mark_absent(session, pub, mid, b)
    await svc.start_item(session, pub, mid, first)
    await svc.request_to_speak(session, pub, mid, first, a)
    await svc.start_speech(session, pub, mid, first, a)
    folded = LiveState(meeting_id=mid)
    for message, _channels in pub.messages:
        fold(folded, message)
    stored = await live_state(session, mid)
    assert folded.as_dict() == stored.as_dict()
    assert stored.present_person_ids == {a} and stored.speaker_person_id == a
    assert stored.speaker_name == town.persons[0].name and stored.quorum is not None
