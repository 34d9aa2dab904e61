"""Recompute the vote log's hash chain and every poll's tally from the log, and compare them with what
the tables say (``rathaus verify-votes`` and the public verification page use this).

Checked:
- each entry's SHA-256 over its stored canonical JSON, ``seq`` contiguous from 1, ``prev`` = the hash of
  the entry before (the first: ``GENESIS``);
- per poll: the state from the log's last lifecycle entry equals the poll's state; no ballot after the
  close; one ballot per voter; named: the ballots in the log equal the ``ballot`` rows and the tally
  of the close entry; secret: the participations in the log equal the ``secret_participation`` rows, and
  their number equals the counters' sum and the close entry's tally; every tally equals the stored result.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from votes.log import GENESIS, entry_hash
from votes.models import Ballot, HashLogEntry, Poll, PollKind, PollState, SecretChoice, SecretParticipation

_LIFECYCLE = {
    "poll.opened": PollState.OPEN,
    "poll.closed": PollState.CLOSED,
    "poll.annulled": PollState.ANNULLED,
}


@dataclass
class PollCheck:
    poll_id: int
    kind: str
    state: str
    tally_from_log: dict[str, int] | None = None
    ballots_in_log: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Report:
    entries: int = 0
    head_seq: int = 0
    head: str = GENESIS
    chain_problems: list[str] = field(default_factory=list)
    polls: list[PollCheck] = field(default_factory=list)

    @property
    def chain_ok(self) -> bool:
        return not self.chain_problems

    @property
    def ok(self) -> bool:
        return self.chain_ok and all(p.ok for p in self.polls)

    def contains(self, entry_hash_hex: str | None) -> bool:
        return entry_hash_hex is not None and entry_hash_hex in self._hashes

    _hashes: set[str] = field(default_factory=set, repr=False)


def _tally(counter: Counter[str]) -> dict[str, int]:
    return {"yes": counter.get("yes", 0), "no": counter.get("no", 0), "abstain": counter.get("abstain", 0)}


async def verify(
    session: AsyncSession, *, meeting_id: int | None = None, poll_id: int | None = None
) -> Report:
    """Check the whole chain, and the polls of one meeting, one poll, or all."""
    report = Report()
    rows = (
        await session.execute(
            select(HashLogEntry.seq, HashLogEntry.data, HashLogEntry.prev_hash, HashLogEntry.hash).order_by(
                HashLogEntry.seq
            )
        )
    ).all()
    prev = GENESIS
    expected_seq = 1
    by_poll: dict[int, list[dict[str, Any]]] = {}
    for seq, data, prev_hash, h in rows:
        report.entries += 1
        if seq != expected_seq:
            report.chain_problems.append(f"Eintrag {seq}: Lücke in der Folge (erwartet {expected_seq}).")
        expected_seq = seq + 1
        if entry_hash(data) != h:
            report.chain_problems.append(f"Eintrag {seq}: Prüfsumme stimmt nicht mit dem Inhalt überein.")
        try:
            record = json.loads(data)
        except ValueError:
            report.chain_problems.append(f"Eintrag {seq}: Inhalt ist kein JSON.")
            prev = h
            continue
        if record.get("prev") != prev or prev_hash != prev:
            report.chain_problems.append(f"Eintrag {seq}: Verkettung zum vorigen Eintrag gebrochen.")
        if record.get("seq") != seq:
            report.chain_problems.append(f"Eintrag {seq}: Laufnummer im Inhalt weicht ab.")
        prev = h
        report._hashes.add(h)
        pid = record.get("poll_id")
        if isinstance(pid, int):
            by_poll.setdefault(pid, []).append(record)
    report.head_seq = expected_seq - 1
    report.head = prev

    q = select(Poll).order_by(Poll.id)
    if poll_id is not None:
        q = q.where(Poll.id == poll_id)
    elif meeting_id is not None:
        q = q.where(Poll.meeting_id == meeting_id)
    for poll in (await session.execute(q)).scalars():
        report.polls.append(await _check_poll(session, poll, by_poll.get(poll.id, [])))
    return report


async def _check_poll(session: AsyncSession, poll: Poll, records: list[dict[str, Any]]) -> PollCheck:
    check = PollCheck(poll_id=poll.id, kind=poll.kind, state=poll.state)
    problems = check.problems
    state_from_log: str = PollState.DRAFT
    closed = False
    voters: Counter[int] = Counter()
    choices: Counter[str] = Counter()
    close_tally: dict[str, int] | None = None
    if not records or records[0].get("kind") != "poll.created":
        problems.append("Die Anlage der Abstimmung fehlt im Protokoll.")
    for r in records:
        kind = r.get("kind")
        if kind in _LIFECYCLE:
            state_from_log = _LIFECYCLE[kind]
            if kind == "poll.closed":
                closed = True
                t = r.get("tally") or {}
                close_tally = {k: int(t.get(k, 0)) for k in ("yes", "no", "abstain")}
        elif kind in ("ballot", "participation"):
            check.ballots_in_log += 1
            if closed or state_from_log != PollState.OPEN:
                problems.append(f"Stimmabgabe außerhalb der geöffneten Abstimmung (Eintrag {r.get('seq')}).")
            voters[int(r.get("person_id") or 0)] += 1
            if kind == "ballot":
                choices[str(r.get("choice"))] += 1
    if state_from_log != poll.state:
        problems.append(f"Status laut Protokoll „{state_from_log}“, gespeichert „{poll.state}“.")
    if any(n > 1 for n in voters.values()):
        problems.append("Mehr als eine Stimme derselben Person im Protokoll.")

    if poll.kind == PollKind.NAMED:
        rows = (
            await session.execute(select(Ballot.person_id, Ballot.choice).where(Ballot.poll_id == poll.id))
        ).all()
        from_table = Counter(str(c) for _, c in rows)
        logged = {(int(r["person_id"]), str(r["choice"])) for r in records if r.get("kind") == "ballot"}
        if {(int(p), str(c)) for p, c in rows} != logged:
            problems.append("Die gespeicherten Stimmen weichen vom Protokoll ab.")
        check.tally_from_log = _tally(choices)
        table_tally = _tally(from_table)
    elif poll.kind == PollKind.SECRET:
        people = {
            int(p)
            for p in (
                await session.execute(
                    select(SecretParticipation.person_id).where(SecretParticipation.poll_id == poll.id)
                )
            ).scalars()
        }
        if people != set(voters):
            problems.append("Die gespeicherte Teilnahme weicht vom Protokoll ab.")
        counters = {
            str(c): int(n)
            for c, n in await session.execute(
                select(SecretChoice.choice, SecretChoice.count).where(SecretChoice.poll_id == poll.id)
            )
        }
        table_tally = _tally(Counter(counters))
        if sum(table_tally.values()) != len(voters):
            problems.append("Die Zahl der Stimmen weicht von der Zahl der Teilnehmenden ab.")
        # The log cannot know secret choices; it knows how many took part and the tally at closing.
        check.tally_from_log = close_tally if close_tally is not None else None
    else:
        table_tally = close_tally or _tally(Counter())
        check.tally_from_log = close_tally
    if close_tally is not None:
        if poll.kind == PollKind.NAMED and close_tally != check.tally_from_log:
            problems.append("Das Ergebnis im Protokoll weicht von den protokollierten Stimmen ab.")
        if close_tally != table_tally:
            problems.append("Das Ergebnis im Protokoll weicht von den gespeicherten Stimmen ab.")
        if poll.kind == PollKind.SECRET and sum(close_tally.values()) != len(voters):
            problems.append("Das Ergebnis im Protokoll passt nicht zur Zahl der Teilnehmenden.")
        stored = (poll.result or {}).get("tally")
        if poll.state == PollState.CLOSED and stored != close_tally:
            problems.append("Das veröffentlichte Ergebnis weicht vom Protokoll ab.")
    return check
