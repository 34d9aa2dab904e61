"""A town with real PDFs for the workspace tests, and clients signed in as the actors of the matrix.

Actors (all real accounts with server-side sessions):
- ``resident``: an account without roles and without a person;
- ``councillor``: Anna Becker — committee (ASV), council, faction "Bürgerliste";
- ``committee_colleague``: Jürgen Schäfer — committee and the same faction;
- ``faction_colleague``: Özlem Yılmaz — council and the same faction, *not* on the committee;
- ``other``: a councillor of another committee only (Schulausschuss), no faction;
- ``clerk``: staff, no person.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import select

from council.accounts.service import create_account
from council.accounts.sessions import SESSION_COOKIE, create_session
from council.core.db import Database
from council.core.jobs import JobRunner
from council.core.settings import Settings
from council.documents.service import add_document
from council.documents.store import FileStore
from council.records.models import AgendaItem, File, Membership, Person
from tests.factories import Town, make_town
from tests.unit.test_extract import make_pdf

BASE = "http://127.0.0.1:8000"
PASSWORD = "correct horse battery staple 42"

PUBLIC_PAGES = [
    "Mitteilungen der Verwaltung: Der Radweg an der Landstraße wird im Frühjahr saniert.",
    "Seite zwei: Die Kosten betragen 120.000 Euro. Der Radweg bleibt während der Arbeiten offen.",
]
SECRET_PAGES = [
    "Nichtöffentlich: Grundstücksangelegenheit Geheimweg 7.",
    "Der Kaufpreis beträgt vertraulich 1 Euro je Quadratmeter.",
]
OTHER_SECRET_PAGES = ["Schulausschuss intern: Personalangelegenheit Musterschule."]


@dataclass
class Actor:
    name: str
    roles: tuple[str, ...]
    person_id: int | None
    token: str = ""
    account_id: int = 0


@dataclass
class WorkspaceTown:
    town: Town
    public_file: File
    secret_file: File
    second_public_file: File
    other_secret_file: File
    secret_item: AgendaItem
    actors: dict[str, Actor] = field(default_factory=dict)

    @property
    def meeting_id(self) -> int:
        assert self.town.next_meeting is not None
        return self.town.next_meeting.id


def quiet(settings: Settings) -> Settings:
    return settings.model_copy(update={"jobs_in_process": False})


async def _add(db: Database, settings: Settings, data: bytes, **kwargs: Any) -> File:
    async with db.sessionmaker() as s:
        record = await add_document(s, FileStore(settings.files_dir), data, max_bytes=10_000_000, **kwargs)
        await s.commit()
        return record


async def build_workspace_town(db: Database, settings: Settings) -> WorkspaceTown:
    async with db.sessionmaker() as s:
        town = await make_town(s)
        assert town.next_meeting is not None and town.secret_meeting is not None
        secret_item = AgendaItem(
            meeting_id=town.next_meeting.id,
            number="2",
            order=2,
            name="Grundstücksangelegenheiten",
            public=False,
        )
        other_person = Person(
            body_id=town.body.id, name="Paul Schulz", given_name="Paul", family_name="Schulz"
        )
        s.add_all([secret_item, other_person])
        await s.flush()
        s.add(
            Membership(
                person_id=other_person.id,
                organization_id=town.other_committee.id,
                role="Mitglied",
                start_date=date(2025, 11, 1),
            )
        )
        await s.commit()
        public_item_id = (
            await s.execute(
                select(AgendaItem.id).where(AgendaItem.meeting_id == town.next_meeting.id, AgendaItem.public)
            )
        ).scalar_one()
        secret_meeting_item_id = (
            await s.execute(select(AgendaItem.id).where(AgendaItem.meeting_id == town.secret_meeting.id))
        ).scalar_one()
        other_person_id = other_person.id
        secret_item_id = secret_item.id
    public_file = await _add(
        db,
        settings,
        make_pdf(PUBLIC_PAGES),
        name="Mitteilung Radweg",
        file_name="Mitteilung Radweg.pdf",
        agenda_item_id=public_item_id,
    )
    second_public_file = await _add(
        db,
        settings,
        make_pdf(["Anlage: Lageplan des Radwegs."]),
        name="Anlage Lageplan",
        file_name="Lageplan.pdf",
        agenda_item_id=public_item_id,
    )
    secret_file = await _add(
        db,
        settings,
        make_pdf(SECRET_PAGES),
        name="Kaufvertrag Geheimweg",
        file_name="Kaufvertrag.pdf",
        agenda_item_id=secret_item_id,
    )
    other_secret_file = await _add(
        db,
        settings,
        make_pdf(OTHER_SECRET_PAGES),
        name="Personalsache",
        file_name="Personal.pdf",
        agenda_item_id=secret_meeting_item_id,
    )
    await JobRunner(db.sessionmaker, settings=db.settings).run_until_empty()
    assert not secret_file.public and not other_secret_file.public and public_file.public
    persons = town.persons
    actors = {
        "resident": Actor("resident", (), None),
        "councillor": Actor("councillor", ("councillor",), persons[0].id),
        "committee_colleague": Actor("committee_colleague", ("councillor",), persons[1].id),
        "faction_colleague": Actor("faction_colleague", ("councillor",), persons[2].id),
        "other": Actor("other", ("councillor",), other_person_id),
        "clerk": Actor("clerk", ("clerk",), None),
    }
    async with db.sessionmaker() as s:
        for actor in actors.values():
            account = await create_account(
                s, f"{actor.name[:8]}{uuid.uuid4().hex[:8]}", PASSWORD, actor.roles, person_id=actor.person_id
            )
            if actor.person_id is not None:
                person = await s.get(Person, actor.person_id)
                assert person is not None
                account.display_name = person.name
            actor.account_id = account.id
            actor.token = await create_session(s, account.id)
        await s.commit()
    return WorkspaceTown(
        town=town,
        public_file=public_file,
        secret_file=secret_file,
        second_public_file=second_public_file,
        other_secret_file=other_secret_file,
        secret_item=secret_item,
        actors=actors,
    )


class Browser:
    """One test client on one app; ``as_(name)`` switches who is signed in (the session cookie).

    CSRF in Litestar is a double-submit cookie, independent of the session, so one token serves all.
    """

    def __init__(self, client: AsyncTestClient[Any], wt: WorkspaceTown) -> None:
        self.client = client
        self.wt = wt

    def as_(self, name: str) -> AsyncTestClient[Any]:
        self.client.cookies.delete(SESSION_COOKIE)
        if name != "anonymous":
            self.client.cookies.set(SESSION_COOKIE, self.wt.actors[name].token)
        return self.client


@asynccontextmanager
async def browser(settings: Settings, wt: WorkspaceTown) -> AsyncIterator[Browser]:
    from web.app import create_app

    async with AsyncTestClient(app=create_app(settings), base_url=BASE) as client:
        yield Browser(client, wt)


async def csrf_token(client: AsyncTestClient[Any], path: str = "/arbeitsbereich") -> str:
    await client.get(path)
    token = client.cookies.get("csrftoken")
    assert token
    return str(token)
