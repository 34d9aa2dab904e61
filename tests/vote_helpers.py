"""Shared setup for the vote tests: a town whose council meets, members present, accounts with sessions.

Accounts get an unusable password hash and a session row made directly (no argon2, no login round
trip): the tests exercise voting, not signing in (tests/integration/test_accounts.py does that).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from council.accounts.models import Account
from council.accounts.sessions import SESSION_COOKIE, create_session
from council.live.models import EventKind, TimelineEvent
from council.records.models import AgendaItem, Membership, Person
from tests.factories import Town, make_town
from votes import models as _vote_models  # noqa: F401  (the tables must be in the metadata)


@dataclass
class VoteTown:
    town: Town
    meeting_id: int
    item_id: int
    secret_item_id: int
    members: list[int]
    tokens: dict[int, str] = field(default_factory=dict)
    account_ids: dict[int, int] = field(default_factory=dict)
    clerk_token: str = ""
    clerk_account_id: int = 0
    outsider_token: str = ""
    outsider_person_id: int = 0


async def _account(
    session: AsyncSession, username: str, roles: list[str], person_id: int | None
) -> tuple[int, str]:
    account = Account(
        username=username, display_name=username, password_hash="!unusable", roles=roles, person_id=person_id
    )
    session.add(account)
    await session.flush()
    token = await create_session(session, account.id)
    return account.id, token


async def make_vote_town(
    session: AsyncSession,
    *,
    extra_members: int = 0,
    absent: int = 1,
    conflicted: int = 0,
    accounts: bool = True,
) -> VoteTown:
    """The town's council meeting (public) with its public item, a non-public item, ``5 + extra_members``
    council members with voting right; all but the last ``absent`` are present; the first ``conflicted``
    present members declared a conflict of interest for the public item."""
    town = await make_town(session)
    council = town.council
    meeting = town.council_meeting
    assert meeting is not None and town.council_item is not None
    persons = list(town.persons)
    for i in range(extra_members):
        p = Person(
            body=town.body, name=f"Mitglied {i + 1:03d}", given_name="Mitglied", family_name=f"{i + 1:03d}"
        )
        session.add(p)
        persons.append(p)
    await session.flush()
    for p in persons[5:]:
        session.add(
            Membership(
                person=p,
                organization=council,
                role="Ratsmitglied",
                voting_right=True,
                start_date=date(2025, 11, 1),
            )
        )
    council.statutory_members = len(persons)
    secret_item = AgendaItem(meeting=meeting, number="5", order=5, name="Personalangelegenheit", public=False)
    session.add(secret_item)
    outsider = Person(
        body=town.body, name="Erika Außenstehend", given_name="Erika", family_name="Außenstehend"
    )
    session.add(outsider)
    await session.flush()
    members = [p.id for p in persons]
    present = members[: len(members) - absent] if absent else members
    for pid in present:
        session.add(
            TimelineEvent(meeting_id=meeting.id, kind=EventKind.ATTENDANCE_JOINED, person_id=pid, payload={})
        )
    for pid in present[:conflicted]:
        session.add(
            TimelineEvent(
                meeting_id=meeting.id,
                kind=EventKind.CONFLICT_DECLARED,
                person_id=pid,
                agenda_item_id=town.council_item.id,
                payload={},
            )
        )
    vt = VoteTown(
        town=town,
        meeting_id=meeting.id,
        item_id=town.council_item.id,
        secret_item_id=secret_item.id,
        members=members,
        outsider_person_id=outsider.id,
    )
    if accounts:
        for pid in members:
            aid, token = await _account(session, f"rat{pid}", ["councillor"], pid)
            vt.tokens[pid] = token
            vt.account_ids[pid] = aid
        vt.clerk_account_id, vt.clerk_token = await _account(session, "clerk", ["clerk"], None)
        _, vt.outsider_token = await _account(session, "outsider", ["councillor"], outsider.id)
    await session.commit()
    return vt


def cookies(token: str | None) -> dict[str, str]:
    return {SESSION_COOKIE: token} if token else {}


async def csrf(client: Any, token: str | None = None, path: str = "/anmelden") -> str:
    """A CSRF token (and cookie) for the client."""
    r = await client.get(path, cookies=cookies(token)) if token else await client.get(path)
    m = re.search(r'name="_csrf_token" value="([^"]+)"', r.text)
    assert m, f"no CSRF field on {path}"
    return m.group(1)
