"""Council votes through the service, on the real database: lifecycle, eligibility, secret ballots,
show of hands, quorum, annulment, idempotency, the hash-chained log and its verification."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select, text, update

from council.live.models import EventKind, TimelineEvent
from council.records.models import AgendaItem, Membership
from tests.vote_helpers import make_vote_town
from votes import service
from votes.models import Ballot, HashLogEntry, IdempotencyKey, Poll, SecretChoice, SecretParticipation
from votes.rules import Tally
from votes.verify import verify


class Bus:
    """Collects what would be published on the event bus."""

    def __init__(self) -> None:
        self.messages: list[tuple[Any, Any]] = []

    def publish(self, data: Any, channels: Any) -> None:
        self.messages.append((data, channels))


class Ref:
    """A poll by id: the service rolls back refused requests, which expires loaded objects."""

    def __init__(self, poll_id: int) -> None:
        self.id = poll_id


async def _poll(
    s: Any, vt: Any, kind: str = "named", majority: str = "simple", item: int | None = None
) -> Ref:
    poll = await service.create_poll(
        s,
        meeting_id=vt.meeting_id,
        agenda_item_id=item or vt.item_id,
        kind=kind,
        majority=majority,
        question="Der Rat beschließt die Sanierung.",
    )
    return Ref(poll.id)


async def _closed(s: Any, poll: Ref, hands: Tally | None = None) -> dict[str, Any]:
    """Close the poll; its state, result and chain head as plain values."""
    closed = await service.close_poll(s, None, poll.id, hands=hands)
    return {"state": closed.state, "result": closed.result, "chain_head": closed.chain_head}


async def _vote(s: Any, vt: Any, poll: Ref, i: int, choice: str, key: str | None = None) -> service.Answer:
    pid = vt.members[i]
    return await service.cast_ballot(
        s, poll.id, person_id=pid, account_id=vt.account_ids[pid], choice=choice, idempotency_key=key
    )


async def test_named_poll_lifecycle(db: Any) -> None:
    bus = Bus()
    async with db.sessionmaker() as s:
        vt = await make_vote_town(s)  # 5 members, 4 present
        present_names = {p.name for p in vt.town.persons[:4]}
        poll = await _poll(s, vt)
        # settings can change in draft; ballots are refused
        await service.update_poll(s, poll.id, majority="absolute")
        assert (await _vote(s, vt, poll, 0, "yes")).status == 409
        await service.open_poll(s, bus, poll.id)
        with pytest.raises(service.VoteError) as locked:
            await service.update_poll(s, poll.id, majority="simple")
        assert locked.value.code == "locked"
        answers = [await _vote(s, vt, poll, i, c) for i, c in enumerate(["yes", "ja", "no", "abstain"])]
        assert [a.status for a in answers] == [201, 201, 201, 201]
        assert all(len(a.body["receipt"]) == 64 for a in answers)
        again = await _vote(s, vt, poll, 0, "no")
        assert again.status == 409 and again.body["code"] == "already_voted"
        absent = await _vote(s, vt, poll, 4, "yes")
        assert absent.status == 403 and "anwesend" in absent.body["detail"]
        closed_poll = await service.close_poll(s, bus, poll.id)
        assert closed_poll.state == "closed"
        r, head = closed_poll.result, closed_poll.chain_head
        after = await _vote(s, vt, poll, 4, "yes")
        assert after.status == 409 and after.body["code"] == "closed"

    assert r["tally"] == {"yes": 2, "no": 1, "abstain": 1}
    # absolute majority of 5 statutory members needs 3 yes
    assert r["adopted"] is False and r["required_yes"] == 3 and "mindestens 3" in r["explanation"]
    assert [v["choice"] for v in r["votes"]] and len(r["votes"]) == 4
    assert r["quorum_open"]["reached"] and r["quorum_close"]["present_voting"] == 4
    async with db.sessionmaker() as s:
        item = await s.get(AgendaItem, vt.item_id)
        assert item.result.startswith("abgelehnt (2 Ja, 1 Nein, 1 Enthaltungen)")
        kinds = (
            (
                await s.execute(
                    select(TimelineEvent.kind)
                    .where(TimelineEvent.kind.like("vote.%"))
                    .order_by(TimelineEvent.id)
                )
            )
            .scalars()
            .all()
        )
        assert kinds == [EventKind.VOTE_OPENED, EventKind.VOTE_CLOSED]
        report = await verify(s)
        assert report.ok, (report.chain_problems, [p.problems for p in report.polls])
        assert report.head == head
    published = next(m for m, _ in bus.messages if m["kind"] == "vote.closed")
    assert published["payload"]["tally"] == {"yes": 2, "no": 1, "abstain": 1}
    assert {v["name"] for v in published["payload"]["votes"]} == present_names
    assert published["payload"]["chain_head"] == head


async def test_simple_majority_tie_rejects_and_result_goes_to_item(db: Any) -> None:
    async with db.sessionmaker() as s:
        vt = await make_vote_town(s)
        poll = await _poll(s, vt)
        await service.open_poll(s, None, poll.id)
        for i, c in enumerate(["yes", "no", "yes", "abstain"]):
            await _vote(s, vt, poll, i, c)
        closed = await service.close_poll(s, None, poll.id)
        assert closed.result["adopted"] is True
        item = await s.get(AgendaItem, vt.item_id, populate_existing=True)
        assert item.result.startswith("angenommen (2 Ja, 1 Nein, 1 Enthaltungen)")
        assert item.resolution_text == "Der Rat beschließt die Sanierung."
        # annulment with a reason takes the result back off the item
        with pytest.raises(service.InvalidVoteInput):
            await service.annul_poll(s, None, poll.id, "  \x00 ")
        annulled = await service.annul_poll(s, None, poll.id, "Zählfehler festgestellt")
        assert annulled.state == "annulled" and annulled.annul_reason == "Zählfehler festgestellt"
        item = await s.get(AgendaItem, vt.item_id, populate_existing=True)
        assert item.result is None and item.resolution_text is None
        with pytest.raises(service.VoteError):
            await service.annul_poll(s, None, poll.id, "nochmal")

        tie = await _poll(s, vt)
        await service.open_poll(s, None, tie.id)
        for i, c in enumerate(["yes", "no", "yes", "no"]):
            await _vote(s, vt, tie, i, c)
        tie = await service.close_poll(s, None, tie.id)
        assert tie.result["adopted"] is False and "Stimmengleichheit" in tie.result["explanation"]
        assert (await verify(s)).ok


async def test_conflict_of_interest_excludes_and_is_shown(db: Any) -> None:
    async with db.sessionmaker() as s:
        vt = await make_vote_town(s, conflicted=1)
        poll = await _poll(s, vt)
        await service.open_poll(s, None, poll.id)
        refused = await _vote(s, vt, poll, 0, "yes")
        assert refused.status == 403 and "befangen" in refused.body["detail"]
        assert (await _vote(s, vt, poll, 1, "yes")).status == 201
        # not a member of the council at all
        outsider = await service.cast_ballot(
            s, poll.id, person_id=vt.outsider_person_id, account_id=vt.clerk_account_id, choice="yes"
        )
        assert outsider.status == 403 and "stimmberechtigt" in outsider.body["detail"]
        no_person = await service.cast_ballot(
            s, poll.id, person_id=None, account_id=vt.clerk_account_id, choice="yes"
        )
        assert no_person.status == 403
        closed = await service.close_poll(s, None, poll.id)
        assert [e["person_id"] for e in closed.result["excluded"]] == [vt.members[0]]
        assert closed.result["tally"] == {"yes": 1, "no": 0, "abstain": 0}
        assert len(closed.result["not_voted"]) == 2  # present, eligible, silent


async def test_secret_ballot_is_unlinkable(db: Any) -> None:
    async with db.sessionmaker() as s:
        vt = await make_vote_town(s, absent=0)
        poll = await _poll(s, vt, kind="secret")
        await service.open_poll(s, None, poll.id)
        choices = ["yes", "no", "yes", "abstain", "yes"]
        for i, c in enumerate(choices):
            assert (await _vote(s, vt, poll, i, c, key=f"key-secret-{i:04d}")).status == 201
        # retry with the same key: the same answer, and nothing counted twice
        retry = await _vote(s, vt, poll, 0, "no", key="key-secret-0000")
        assert retry.status == 201 and "choice" not in retry.body
        closed = await service.close_poll(s, None, poll.id)
        assert closed.result["tally"] == {"yes": 3, "no": 1, "abstain": 1}
        assert closed.result["votes"] == [] and closed.result["participants"] == 5

        # the choice table has no voter, no time, no order
        cols = await s.run_sync(
            lambda ss: [c["name"] for c in sa_inspect(ss.connection()).get_columns("secret_choice")]
        )
        assert sorted(cols) == ["choice", "count", "poll_id"]
        rows = (
            await s.execute(
                select(SecretChoice.choice, SecretChoice.count).where(SecretChoice.poll_id == poll.id)
            )
        ).all()
        assert dict(rows) == {"yes": 3, "no": 1, "abstain": 1}
        participants = (
            (
                await s.execute(
                    select(SecretParticipation.person_id).where(SecretParticipation.poll_id == poll.id)
                )
            )
            .scalars()
            .all()
        )
        assert sorted(participants) == sorted(vt.members)
        # neither the log nor the idempotency records know who chose what
        entries = (
            (await s.execute(select(HashLogEntry.data).where(HashLogEntry.poll_id == poll.id)))
            .scalars()
            .all()
        )
        for data in entries:
            record = json.loads(data)
            if record["kind"] == "participation":
                assert "choice" not in record
        keys = (await s.execute(select(IdempotencyKey))).scalars().all()
        assert keys and all("secret" in k.fingerprint and "choice" not in k.response for k in keys)
        assert (await verify(s, poll_id=poll.id)).ok


async def test_show_of_hands(db: Any) -> None:
    async with db.sessionmaker() as s:
        vt = await make_vote_town(s)
        poll = await _poll(s, vt, kind="hands", majority="two_thirds_cast")
        await service.open_poll(s, None, poll.id)
        assert (await _vote(s, vt, poll, 0, "yes")).body["code"] == "hands"
        with pytest.raises(service.InvalidVoteInput):
            await service.close_poll(s, None, poll.id)
        with pytest.raises(service.InvalidVoteInput):  # 4 present, 5 votes
            await service.close_poll(s, None, poll.id, hands=Tally(3, 1, 1))
        closed = await service.close_poll(s, None, poll.id, hands=Tally(2, 1, 1))
        assert closed.result["tally"] == {"yes": 2, "no": 1, "abstain": 1}
        assert closed.result["adopted"] is True  # 2 of 3 cast = two thirds
        assert (await verify(s, poll_id=poll.id)).ok


async def test_quorum_at_opening_and_closing(db: Any) -> None:
    async with db.sessionmaker() as s:
        vt = await make_vote_town(s, absent=3)  # 2 of 5 present: no quorum
        poll = await _poll(s, vt)
        with pytest.raises(service.VoteError) as exc:
            await service.open_poll(s, None, poll.id)
        assert exc.value.code == "no_quorum" and "Nicht beschlussfähig" in exc.value.message
        assert (await s.get(Poll, poll.id, populate_existing=True)).state == "draft"
        for pid in vt.members[2:4]:
            s.add(
                TimelineEvent(
                    meeting_id=vt.meeting_id, kind=EventKind.ATTENDANCE_JOINED, person_id=pid, payload={}
                )
            )
        await s.commit()
        await service.open_poll(s, None, poll.id)
        for i in range(3):
            await _vote(s, vt, poll, i, "yes")
        # two leave before the close: the council is no longer quorate
        for pid in vt.members[2:4]:
            s.add(
                TimelineEvent(
                    meeting_id=vt.meeting_id, kind=EventKind.ATTENDANCE_LEFT, person_id=pid, payload={}
                )
            )
        await s.commit()
        closed = await service.close_poll(s, None, poll.id)
        assert closed.result["adopted"] is False and closed.result["outcome"] == "nicht beschlussfähig"
        assert closed.result["quorum_close"]["reached"] is False


async def test_one_open_poll_per_meeting_and_bad_settings(db: Any) -> None:
    async with db.sessionmaker() as s:
        vt = await make_vote_town(s)
        other_meetings_item = vt.town.public_item.id
        first, second = await _poll(s, vt), await _poll(s, vt)
        await service.open_poll(s, None, first.id)
        with pytest.raises(service.VoteError) as exc:
            await service.open_poll(s, None, second.id)
        assert exc.value.code == "other_open"
        with pytest.raises(service.InvalidVoteInput):
            await _poll(s, vt, kind="raise-hands")
        with pytest.raises(service.InvalidVoteInput):
            await _poll(s, vt, majority="most")
        with pytest.raises(service.InvalidVoteInput):
            await _poll(s, vt, item=other_meetings_item)  # an item of another meeting
        hostile = await service.create_poll(
            s,
            meeting_id=vt.meeting_id,
            agenda_item_id=vt.item_id,
            question="a\x00b\ud800c\u202ed<script>" + "x" * 10_000,
        )
        assert (
            "\x00" not in hostile.question
            and "\u202e" not in hostile.question
            and len(hostile.question) == 1000
        )
        for bad in ("", "maybe", "\x00", "ja" * 1000, None):
            assert (await _vote(s, vt, first, 0, bad)).status == 400
        assert (
            await service.cast_ballot(s, 2**31 - 1, person_id=vt.members[0], account_id=1, choice="yes")
        ).status == 404


async def test_idempotency_key_replays_the_answer(db: Any) -> None:
    async with db.sessionmaker() as s:
        vt = await make_vote_town(s)
        poll = await _poll(s, vt)
        await service.open_poll(s, None, poll.id)
        first = await _vote(s, vt, poll, 0, "yes", key="retry-key-0001")
        again = await _vote(s, vt, poll, 0, "yes", key="retry-key-0001")
        assert first.status == again.status == 201 and first.body == again.body
        other = await _vote(s, vt, poll, 0, "no", key="retry-key-0001")
        assert other.status == 422
        fresh = await _vote(s, vt, poll, 0, "yes", key="retry-key-0002")
        assert fresh.status == 409
        assert (await _vote(s, vt, poll, 0, "yes", key="retry-key-0002")).status == 409
        n = (await s.execute(select(Ballot).where(Ballot.poll_id == poll.id))).scalars().all()
        assert len(n) == 1


async def test_tampering_is_detected_and_log_is_append_only(db: Any) -> None:
    async with db.sessionmaker() as s:
        vt = await make_vote_town(s)
        poll = await _poll(s, vt)
        await service.open_poll(s, None, poll.id)
        for i, c in enumerate(["yes", "yes", "no"]):
            await _vote(s, vt, poll, i, c)
        await service.close_poll(s, None, poll.id)
        assert (await verify(s)).ok
        # the log refuses updates and deletes, also as raw SQL
        for sql in ("UPDATE vote_log SET kind = 'x'", "DELETE FROM vote_log"):
            with pytest.raises(Exception, match="append-only"):
                await s.execute(text(sql))
            await s.rollback()
        # a changed ballot row no longer matches the log
        await s.execute(
            update(Ballot).where(Ballot.poll_id == poll.id, Ballot.choice == "no").values(choice="yes")
        )
        await s.commit()
        report = await verify(s, poll_id=poll.id)
        assert report.chain_ok and not report.ok
        assert any("weichen vom Protokoll ab" in p for p in report.polls[0].problems)


def test_cli_verify_votes(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """``rathaus verify-votes``: exit 0 on an intact log, 1 after tampering (runs its own event loop)."""
    import asyncio

    from click.testing import CliRunner

    import web.cli.votes as cli_votes
    from council.core.db import Database
    from web.cli import main

    async def prepare(tamper: bool) -> int:
        db = Database(settings)
        try:
            async with db.sessionmaker() as s:
                if not tamper:
                    vt = await make_vote_town(s)
                    poll = await _poll(s, vt, kind="secret")
                    await service.open_poll(s, None, poll.id)
                    for i in range(3):
                        await _vote(s, vt, poll, i, "yes")
                    await _closed(s, poll)
                    return vt.meeting_id
                await s.execute(update(SecretChoice).where(SecretChoice.choice == "no").values(count=5))
                await s.commit()
                return 0
        finally:
            await db.dispose()

    monkeypatch.setattr(cli_votes, "get_settings", lambda: settings)
    loop = asyncio.new_event_loop()
    try:
        meeting_id = loop.run_until_complete(prepare(False))
        ok = CliRunner().invoke(main, ["verify-votes", str(meeting_id)])
        assert ok.exit_code == 0, ok.output
        assert "Kette: unversehrt" in ok.output and "nachgezählt: 3 Ja, 0 Nein, 0 Enthaltungen" in ok.output
        loop.run_until_complete(prepare(True))
        bad = CliRunner().invoke(main, ["verify-votes"])
        assert bad.exit_code == 1 and "FEHLER" in bad.output
    finally:
        loop.close()


async def test_voting_right_is_judged_for_the_polls_meeting_on_its_day(db: Any) -> None:
    """The ballot's eligibility is one statement correlated to the poll: voting right in the organizations
    of *this poll's* meeting (a committee member does not become a council member because a committee
    meeting has a poll too), judged on the *meeting's* day (a membership that ends before it counts as
    ended, even while it runs today) — for the ballot and for the ballot page alike."""
    async with db.sessionmaker() as s:
        vt = await make_vote_town(s, extra_members=1, absent=0)
        town = vt.town
        assert town.past_meeting is not None and town.public_item is not None
        assert town.council_meeting is not None and town.council_meeting.start is not None
        await service.create_poll(s, meeting_id=town.past_meeting.id, agenda_item_id=town.public_item.id)
        s.add(
            Membership(
                person_id=vt.outsider_person_id,
                organization_id=town.committee.id,
                role="Mitglied",
                voting_right=True,
                start_date=date(2025, 11, 1),
            )
        )
        s.add(
            TimelineEvent(
                meeting_id=vt.meeting_id,
                kind=EventKind.ATTENDANCE_JOINED,
                person_id=vt.outsider_person_id,
                payload={},
            )
        )
        day = service.meeting_day(town.council_meeting.start)
        await s.execute(
            update(Membership)
            .where(Membership.person_id == vt.members[5], Membership.organization_id == town.council.id)
            .values(end_date=day - timedelta(days=1))
        )
        await s.commit()
        poll = await _poll(s, vt)
        await service.open_poll(s, None, poll.id)
        # (a first ballot, so that the next ones are judged by the read statement alone: see _DAYS)
        assert (await _vote(s, vt, poll, 0, "yes")).status == 201
        outsider = await service.cast_ballot(
            s, poll.id, person_id=vt.outsider_person_id, account_id=vt.clerk_account_id, choice="yes"
        )
        assert outsider.status == 403 and "stimmberechtigt" in outsider.body["detail"]
        ended = await _vote(s, vt, poll, 5, "yes")
        assert ended.status == 403 and "stimmberechtigt" in ended.body["detail"]
        assert (await _vote(s, vt, poll, 1, "no")).status == 201
        loaded = await service.get_poll(s, poll.id)
        for person in (vt.outsider_person_id, vt.members[5]):
            assert person not in (await service.voter_eligibility(s, loaded, person)).eligible
        assert vt.members[1] in (await service.voter_eligibility(s, loaded, vt.members[1])).eligible


async def test_parallel_retries_with_one_key_get_one_answer(db: Any) -> None:
    """The same request sent twice at once (a retry racing the original): one ballot, and both get the
    answer stored under the key — the loser of the race replays it instead of answering 409."""
    async with db.sessionmaker() as s:
        vt = await make_vote_town(s)
        poll = await _poll(s, vt)
        await service.open_poll(s, None, poll.id)
    pid = vt.members[0]

    async def send() -> service.Answer:
        async with db.sessionmaker() as s:
            return await service.cast_ballot(
                s,
                poll.id,
                person_id=pid,
                account_id=vt.account_ids[pid],
                choice="no",
                idempotency_key="twice-0001",
            )

    answers = await asyncio.gather(*(send() for _ in range(4)))
    assert [a.status for a in answers] == [201] * 4
    assert all(a.body == answers[0].body for a in answers)
    async with db.sessionmaker() as s:
        rows = (await s.execute(select(Ballot).where(Ballot.poll_id == poll.id))).scalars().all()
        assert [(b.person_id, b.choice) for b in rows] == [(pid, "no")]
        assert (await verify(s, poll_id=poll.id)).ok
