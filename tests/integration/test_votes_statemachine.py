"""The poll lifecycle as a Hypothesis state machine, on the real database.

Rules: open, vote (any member, any choice, with or without a retried idempotency key), change settings,
close (show of hands: the clerk's counts), annul. The model says what each call must answer.
Invariants after every step: at most one ballot per voter; the stored tally equals the sum of the
accepted ballots (so nothing is counted after the close); secret ballots stay unlinkable (counters only,
as many votes as participants, no choice in the idempotency records); at the end the log verifies.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select

from council.core.db import Database
from tests.vote_helpers import make_vote_town
from votes import service
from votes.models import Ballot, IdempotencyKey, SecretChoice, SecretParticipation
from votes.rules import Tally
from votes.verify import verify

CHOICES = ["yes", "no", "abstain"]
KEYS = [None, "key-alpha-0001", "key-bravo-0002"]


class PollMachine(RuleBasedStateMachine):
    loop: asyncio.AbstractEventLoop
    db: Database
    vt: Any
    eligible: set[int]

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def _call(self, fn: Any, *args: Any, **kw: Any) -> Any:
        async with self.db.sessionmaker() as s:
            return await fn(s, *args, **kw)

    @initialize(
        kind=st.sampled_from(["named", "secret", "hands"]), majority=st.sampled_from(["simple", "absolute"])
    )
    def create(self, kind: str, majority: str) -> None:
        poll = self.run(
            self._call(
                service.create_poll,
                meeting_id=self.vt.meeting_id,
                agenda_item_id=self.vt.item_id,
                kind=kind,
                majority=majority,
            )
        )
        self.poll_id, self.kind, self.state = poll.id, kind, "draft"
        self.ballots: dict[int, str] = {}
        self.replies: dict[tuple[int, str], tuple[str, service.Answer]] = {}

    def _expect_error(self, fn: Any, *args: Any, **kw: Any) -> None:
        try:
            self.run(self._call(fn, None, self.poll_id, *args, **kw))
        except service.VoteError:
            return
        raise AssertionError(f"{fn.__name__} in state {self.state} should have been refused")

    @rule()
    def open(self) -> None:
        if self.state == "draft":
            self.run(self._call(service.open_poll, None, self.poll_id))
            self.state = "open"
        else:
            self._expect_error(service.open_poll)

    @rule(majority=st.sampled_from(["simple", "two_thirds_cast"]))
    def change_settings(self, majority: str) -> None:
        try:
            self.run(self._call(service.update_poll, self.poll_id, majority=majority))
            assert self.state == "draft"
        except service.VoteError as exc:
            assert self.state != "draft" and exc.code in ("locked",)

    @rule(voter=st.integers(0, 4), choice=st.sampled_from(CHOICES), key=st.sampled_from(KEYS))
    def vote(self, voter: int, choice: str, key: str | None) -> None:
        pid = self.vt.members[voter]
        if key is not None:  # keys are per account; a client makes a fresh one per page, never per poll again
            key = f"{key}-p{self.poll_id}"
        answer = self.run(
            self._call(
                service.cast_ballot,
                self.poll_id,
                person_id=pid,
                account_id=self.vt.account_ids[pid],
                choice=choice,
                idempotency_key=key,
            )
        )
        fingerprint = f"{self.poll_id}:secret" if self.kind == "secret" else f"{self.poll_id}:{choice}"
        if key is not None and (pid, key) in self.replies:
            stored_fp, stored = self.replies[(pid, key)]
            if stored_fp == fingerprint:
                assert (answer.status, answer.body) == (stored.status, stored.body)
            else:
                assert answer.status == 422
            return
        if self.state != "open" or self.kind == "hands":
            expected = 409
        elif pid not in self.eligible:
            expected = 403
        elif pid in self.ballots:
            expected = 409
        else:
            expected = 201
        assert answer.status == expected, (self.state, self.kind, voter, answer)
        if expected == 201:
            self.ballots[pid] = choice
        if key is not None and answer.status in (201, 403, 409):
            self.replies[(pid, key)] = (fingerprint, answer)

    def _model_tally(self) -> Tally:
        values = list(self.ballots.values())
        return Tally(values.count("yes"), values.count("no"), values.count("abstain"))

    @rule(yes=st.integers(0, 2), no=st.integers(0, 1))
    def close(self, yes: int, no: int) -> None:
        if self.state != "open":
            self._expect_error(service.close_poll)
            return
        hands = Tally(yes, no, 0) if self.kind == "hands" else None
        poll = self.run(self._call(service.close_poll, None, self.poll_id, hands=hands))
        self.state = "closed"
        expected = hands if hands is not None else self._model_tally()
        assert poll.result["tally"] == expected.as_dict()

    @rule(reason=st.text(min_size=1, max_size=20).filter(lambda s: service.clean_text(s, 100) != ""))
    def annul(self, reason: str) -> None:
        if self.state == "annulled":
            self._expect_error(service.annul_poll, reason)
            return
        poll = self.run(self._call(service.annul_poll, None, self.poll_id, reason))
        assert poll.annul_reason == service.clean_text(reason, 1000)
        self.state = "annulled"

    @invariant()
    def ballots_match_the_model(self) -> None:
        if not hasattr(self, "poll_id") or self.kind == "hands":
            return

        async def check() -> None:
            async with self.db.sessionmaker() as s:
                poll = await service.get_poll(s, self.poll_id)
                table = Ballot if self.kind == "named" else SecretParticipation
                rows = (
                    (await s.execute(select(table.person_id).where(table.poll_id == self.poll_id)))
                    .scalars()
                    .all()
                )
                assert len(rows) == len(set(rows)) == len(self.ballots)  # one ballot per voter
                assert set(rows) == set(self.ballots)
                assert await service.tally_of(s, poll) == self._model_tally()  # tally = sum of ballots
                if self.kind == "secret":
                    total = (
                        await s.execute(
                            select(func.coalesce(func.sum(SecretChoice.count), 0)).where(
                                SecretChoice.poll_id == self.poll_id
                            )
                        )
                    ).scalar_one()
                    assert total == len(rows)
                    keys = (
                        await s.execute(select(IdempotencyKey.fingerprint, IdempotencyKey.response))
                    ).all()
                    for fp, response in keys:
                        if fp.startswith(f"{self.poll_id}:"):
                            assert fp.endswith(":secret") and "choice" not in response

        self.run(check())

    def teardown(self) -> None:
        if not hasattr(self, "poll_id"):
            return

        async def finish() -> None:
            async with self.db.sessionmaker() as s:
                report = await verify(s, poll_id=self.poll_id)
                assert report.ok, (report.chain_problems, report.polls[0].problems)
                if self.state == "open":  # one open poll per meeting: make room for the next example
                    await service.annul_poll(s, None, self.poll_id, "Ende des Beispiels")

        self.run(finish())


def test_poll_lifecycle_state_machine(settings: Any) -> None:
    loop = asyncio.new_event_loop()
    db = Database(settings)

    async def setup() -> Any:
        async with db.sessionmaker() as s:
            return await make_vote_town(s, conflicted=1)  # members 0-3 present, 0 conflicted, 4 absent

    try:
        vt = loop.run_until_complete(setup())
        PollMachine.loop, PollMachine.db, PollMachine.vt = loop, db, vt
        PollMachine.eligible = set(vt.members[1:4])
        run_state_machine_as_test(
            PollMachine,
            settings=hsettings(
                max_examples=15,
                stateful_step_count=10,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        loop.run_until_complete(db.dispose())
        loop.close()
