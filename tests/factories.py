"""A small town built directly with SQLAlchemy for tests that need specific records.

``await make_town(session)`` commits and returns a ``Town`` with handles on everything: public and
non-public meetings, agenda items, papers and files (file content is not stored; ``text`` is set).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from council.records.models import (
    AgendaItem,
    Body,
    Consultation,
    File,
    LegislativeTerm,
    Location,
    Meeting,
    Membership,
    Organization,
    Paper,
    Person,
)


@dataclass
class Town:
    body: Body
    term: LegislativeTerm
    location: Location
    council: Organization
    committee: Organization
    other_committee: Organization
    faction: Organization
    persons: list[Person] = field(default_factory=list)
    member: Person | None = None
    past_meeting: Meeting | None = None
    next_meeting: Meeting | None = None
    council_meeting: Meeting | None = None
    secret_meeting: Meeting | None = None
    public_item: AgendaItem | None = None
    secret_item: AgendaItem | None = None
    council_item: AgendaItem | None = None
    paper: Paper | None = None
    secret_paper: Paper | None = None
    public_file: File | None = None
    secret_file: File | None = None
    secret_meeting_file: File | None = None


def _at(days: int, hour: int = 17) -> datetime:
    base = datetime(2026, 11, 25, tzinfo=UTC).replace(hour=hour - 1)  # 17:00 Berlin = 16:00 UTC in winter
    return base + timedelta(days=days)


async def keep_upcoming(session: AsyncSession, meeting_id: int, days: int) -> None:
    """Move a meeting to ``days`` from now, its length kept (flushed, not committed).

    The town's meetings lie on fixed dates around 2026-11-25 (the golden iCal file and the calendar tests
    need them there); a test that needs one of them still upcoming calls this, or it fails from the
    meeting's date on (found by running the suite under ``faketime -f +20d``).
    """
    meeting = await session.get(Meeting, meeting_id)
    assert meeting is not None and meeting.start is not None
    length = meeting.end - meeting.start if meeting.end else None
    meeting.start = datetime.now(UTC) + timedelta(days=days)
    meeting.end = meeting.start + length if length else None
    await session.flush()


async def make_town(session: AsyncSession, *, now: datetime | None = None) -> Town:
    body = Body(name="Stadt Teststadt", short_name="Teststadt", ags="05382024", website="https://example.org")
    session.add(body)
    await session.flush()
    term = LegislativeTerm(
        body=body, name="Wahlperiode 2025–2030", start_date=date(2025, 11, 1), end_date=date(2030, 10, 31)
    )
    location = Location(
        body_id=body.id,
        description="Rathaus",
        room="Ratssaal",
        street_address="Markt 1",
        postal_code="53773",
        locality="Teststadt",
    )
    council = Organization(
        body=body,
        name="Rat der Stadt Teststadt",
        short_name="Rat",
        organization_type="Gremium",
        classification="Rat",
        statutory_members=5,
    )
    committee = Organization(
        body=body,
        name="Ausschuss für Stadtentwicklung und Verkehr",
        short_name="ASV",
        organization_type="Gremium",
        classification="Ausschuss",
    )
    other = Organization(
        body=body,
        name="Schulausschuss",
        short_name="SchA",
        organization_type="Gremium",
        classification="Ausschuss",
    )
    faction = Organization(
        body=body,
        name="Fraktion Bürgerliste",
        short_name="BL",
        organization_type="Fraktion",
        classification="Fraktion",
    )
    session.add_all([term, location, council, committee, other, faction])
    await session.flush()

    names = [
        ("Anna", "Becker"),
        ("Jürgen", "Schäfer"),
        ("Özlem", "Yılmaz"),
        ("Karl", "Weiß"),
        ("Maria", "Groß"),
    ]
    persons = []
    for given, family in names:
        p = Person(body=body, name=f"{given} {family}", given_name=given, family_name=family)
        persons.append(p)
    session.add_all(persons)
    await session.flush()
    for i, p in enumerate(persons):
        session.add(
            Membership(
                person=p,
                organization=council,
                role="Ratsmitglied",
                voting_right=True,
                start_date=date(2025, 11, 1),
                on_behalf_of=faction if i < 3 else None,
            )
        )
        session.add(Membership(person=p, organization=faction, role="Mitglied", start_date=date(2025, 11, 1)))
    session.add(
        Membership(person=persons[0], organization=committee, role="Vorsitz", start_date=date(2025, 11, 1))
    )
    session.add(
        Membership(person=persons[1], organization=committee, role="Mitglied", start_date=date(2025, 11, 1))
    )
    session.add(
        Membership(
            person=persons[4],
            organization=committee,
            role="Mitglied",
            start_date=date(2020, 11, 1),
            end_date=date(2025, 10, 31),
        )
    )

    public_file = File(
        body_id=body.id,
        name="Vorlage V/2026/0001",
        file_name="V-2026-0001.pdf",
        text="Der Radweg entlang der Landstraße wird saniert.",
        text_state="done",
        public=True,
    )
    secret_file = File(
        body_id=body.id,
        name="Vorlage V/2026/0002 (nichtöffentlich)",
        file_name="V-2026-0002.pdf",
        text="Grundstücksangelegenheit Geheimweg 7: Kaufpreis vertraulich.",
        text_state="done",
        public=False,
    )
    secret_meeting_file = File(
        body_id=body.id,
        name="Einladung nichtöffentliche Sitzung",
        file_name="einladung.pdf",
        text="Einladung zur nichtöffentlichen Sitzung.",
        text_state="done",
        public=False,
    )
    session.add_all([public_file, secret_file, secret_meeting_file])
    await session.flush()

    paper = Paper(
        body=body,
        name="Sanierung des Radwegs an der Landstraße",
        reference="V/2026/0001",
        date=date(2026, 10, 1),
        paper_type="Beschlussvorlage",
        public=True,
        main_file=public_file,
    )
    secret_paper = Paper(
        body=body,
        name="Verkauf des Grundstücks Geheimweg 7",
        reference="V/2026/0002",
        date=date(2026, 10, 2),
        paper_type="Beschlussvorlage",
        public=False,
        main_file=secret_file,
    )
    paper.originator_organizations.append(faction)
    session.add_all([paper, secret_paper])

    past = Meeting(
        body=body,
        name="5. Sitzung des Ausschusses für Stadtentwicklung und Verkehr",
        meeting_state="durchgeführt",
        start=_at(-14),
        end=_at(-14, 19),
        location=location,
        public=True,
    )
    past.organizations.append(committee)
    nxt = Meeting(
        body=body,
        name="6. Sitzung des Ausschusses für Stadtentwicklung und Verkehr",
        meeting_state="eingeladen",
        start=_at(7),
        end=_at(7, 19),
        location=location,
        public=True,
    )
    nxt.organizations.append(committee)
    council_meeting = Meeting(
        body=body,
        name="12. Sitzung des Rates",
        meeting_state="eingeladen",
        start=_at(14),
        end=_at(14, 20),
        location=location,
        public=True,
    )
    council_meeting.organizations.append(council)
    secret_meeting = Meeting(
        body=body,
        name="Sondersitzung Grundstücke",
        meeting_state="eingeladen",
        start=_at(9),
        location=location,
        public=False,
        invitation=secret_meeting_file,
    )
    secret_meeting.organizations.append(other)
    session.add_all([past, nxt, council_meeting, secret_meeting])
    await session.flush()

    opening = AgendaItem(meeting=past, number="1", order=1, name="Eröffnung der Sitzung", public=True)
    public_item = AgendaItem(
        meeting=past,
        number="2",
        order=2,
        name="Sanierung des Radwegs an der Landstraße",
        public=True,
        result="einstimmig beschlossen",
        resolution_text="Der Ausschuss empfiehlt dem Rat die Sanierung des Radwegs.",
    )
    secret_item = AgendaItem(
        meeting=past,
        number="3",
        order=3,
        name="Verkauf des Grundstücks Geheimweg 7",
        public=False,
        result="beschlossen",
    )
    council_item = AgendaItem(
        meeting=council_meeting,
        number="4",
        order=4,
        name="Sanierung des Radwegs an der Landstraße",
        public=True,
    )
    nxt_item = AgendaItem(meeting=nxt, number="1", order=1, name="Mitteilungen der Verwaltung", public=True)
    secret_meeting_item = AgendaItem(
        meeting=secret_meeting, number="1", order=1, name="Grundstücksangelegenheiten", public=False
    )
    session.add_all([opening, public_item, secret_item, council_item, nxt_item, secret_meeting_item])
    await session.flush()

    c1 = Consultation(
        paper=paper,
        agenda_item=public_item,
        meeting=past,
        role="Vorberatung",
        authoritative=False,
        position=1,
    )
    c1.organizations.append(committee)
    c2 = Consultation(
        paper=paper,
        agenda_item=council_item,
        meeting=council_meeting,
        role="Entscheidung",
        authoritative=True,
        position=2,
    )
    c2.organizations.append(council)
    c3 = Consultation(
        paper=secret_paper,
        agenda_item=secret_item,
        meeting=past,
        role="Entscheidung",
        authoritative=True,
        position=1,
    )
    c3.organizations.append(committee)
    session.add_all([c1, c2, c3])
    await session.commit()

    return Town(
        body=body,
        term=term,
        location=location,
        council=council,
        committee=committee,
        other_committee=other,
        faction=faction,
        persons=persons,
        member=persons[0],
        past_meeting=past,
        next_meeting=nxt,
        council_meeting=council_meeting,
        secret_meeting=secret_meeting,
        public_item=public_item,
        secret_item=secret_item,
        council_item=council_item,
        paper=paper,
        secret_paper=secret_paper,
        public_file=public_file,
        secret_file=secret_file,
        secret_meeting_file=secret_meeting_file,
    )
