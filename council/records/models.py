"""OParl 1.1 shaped records. Field names follow OParl (snake_case); see ../shared/oparl-1.1-schema."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Column, Date, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from council.core.base import Base, Record
from council.core.types import UTCDateTime

# --- association tables -------------------------------------------------------------------------


def _link(
    name: str, left: str, right: str, left_col: str | None = None, right_col: str | None = None
) -> Table:
    lc = left_col or f"{left}_id"
    rc = right_col or f"{right}_id"
    return Table(
        name,
        Base.metadata,
        Column(lc, ForeignKey(f"{left}.id", ondelete="CASCADE"), primary_key=True),
        # The primary key indexes (left, right); lookups from the right side need their own index.
        Column(rc, ForeignKey(f"{right}.id", ondelete="CASCADE"), primary_key=True, index=True),
        Column("position", Integer, nullable=False, default=0),
    )


meeting_organization = _link("meeting_organization", "meeting", "organization")
meeting_auxiliary_file = _link("meeting_auxiliary_file", "meeting", "file")
agenda_item_auxiliary_file = _link("agenda_item_auxiliary_file", "agenda_item", "file")
paper_auxiliary_file = _link("paper_auxiliary_file", "paper", "file")
paper_related = _link("paper_related", "paper", "paper", "paper_id", "related_id")
paper_hierarchy = _link("paper_hierarchy", "paper", "paper", "superordinated_id", "subordinated_id")
paper_originator_person = _link("paper_originator_person", "paper", "person")
paper_originator_organization = _link("paper_originator_organization", "paper", "organization")
paper_under_direction_of = _link("paper_under_direction_of", "paper", "organization")
consultation_organization = _link("consultation_organization", "consultation", "organization")


# --- records -------------------------------------------------------------------------------------


class Body(Record):
    __tablename__ = "body"

    name: Mapped[str] = mapped_column(String(300))
    short_name: Mapped[str | None] = mapped_column(String(100))
    website: Mapped[str | None] = mapped_column(String(500))
    license: Mapped[str | None] = mapped_column(String(500))
    license_valid_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    oparl_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ags: Mapped[str | None] = mapped_column(String(20))
    rgs: Mapped[str | None] = mapped_column(String(20))
    equivalent: Mapped[list[str]] = mapped_column(JSON, default=list)
    contact_email: Mapped[str | None] = mapped_column(String(300))
    contact_name: Mapped[str | None] = mapped_column(String(300))
    classification: Mapped[str | None] = mapped_column(String(100))
    keyword: Mapped[list[str]] = mapped_column(JSON, default=list)
    location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    #: OParl ``web``: the HTML view of this object elsewhere (imported records keep their origin).
    web: Mapped[str | None] = mapped_column(String(500))
    #: Imported records remember the URL they came from.
    origin_id: Mapped[str | None] = mapped_column(String(500), index=True)

    legislative_terms: Mapped[list[LegislativeTerm]] = relationship(
        back_populates="body", order_by="LegislativeTerm.start_date"
    )
    location: Mapped[Location | None] = relationship(foreign_keys=[location_id])


class LegislativeTerm(Record):
    __tablename__ = "legislative_term"

    body_id: Mapped[int] = mapped_column(ForeignKey("body.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    keyword: Mapped[list[str]] = mapped_column(JSON, default=list)
    web: Mapped[str | None] = mapped_column(String(500))
    origin_id: Mapped[str | None] = mapped_column(String(500), index=True)

    body: Mapped[Body] = relationship(back_populates="legislative_terms")

    def embedded_in(self) -> Iterable[Record]:
        return (self.body,)


class Location(Record):
    __tablename__ = "location"

    #: The body a location belongs to. No foreign key: Body.location points here, and a cycle of
    #: foreign keys cannot be created in one pass on SQLite.
    body_id: Mapped[int | None] = mapped_column(Integer, index=True)
    description: Mapped[str | None] = mapped_column(String(500))
    street_address: Mapped[str | None] = mapped_column(String(300))
    room: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    sub_locality: Mapped[str | None] = mapped_column(String(200))
    locality: Mapped[str | None] = mapped_column(String(200))
    geojson: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    keyword: Mapped[list[str]] = mapped_column(JSON, default=list)
    web: Mapped[str | None] = mapped_column(String(500))
    origin_id: Mapped[str | None] = mapped_column(String(500), index=True)

    @property
    def label(self) -> str:
        parts = [p for p in (self.description, self.room, self.street_address, self.locality) if p]
        return ", ".join(dict.fromkeys(parts))


class Organization(Record):
    __tablename__ = "organization"

    body_id: Mapped[int] = mapped_column(ForeignKey("body.id"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    short_name: Mapped[str | None] = mapped_column(String(100))
    #: OParl organizationType: Gremium, Partei, Fraktion, Verwaltungsbereich, externes Gremium, …
    organization_type: Mapped[str | None] = mapped_column(String(100), index=True)
    #: Free classification, e.g. "Rat", "Ausschuss", "Fraktion", "Bezirksvertretung".
    classification: Mapped[str | None] = mapped_column(String(100))
    post: Mapped[list[str]] = mapped_column(JSON, default=list)
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    website: Mapped[str | None] = mapped_column(String(500))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    sub_organization_of_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    #: Statutory number of members (for quorum; GO NRW §49).
    statutory_members: Mapped[int | None] = mapped_column(Integer)
    keyword: Mapped[list[str]] = mapped_column(JSON, default=list)
    web: Mapped[str | None] = mapped_column(String(500))
    origin_id: Mapped[str | None] = mapped_column(String(500), index=True)

    body: Mapped[Body] = relationship()
    location: Mapped[Location | None] = relationship()
    memberships: Mapped[list[Membership]] = relationship(
        back_populates="organization", foreign_keys="Membership.organization_id"
    )


class Person(Record):
    __tablename__ = "person"

    body_id: Mapped[int] = mapped_column(ForeignKey("body.id"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    family_name: Mapped[str | None] = mapped_column(String(200))
    given_name: Mapped[str | None] = mapped_column(String(200))
    form_of_address: Mapped[str | None] = mapped_column(String(50))
    affix: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[list[str]] = mapped_column(JSON, default=list)
    gender: Mapped[str | None] = mapped_column(String(20))
    phone: Mapped[list[str]] = mapped_column(JSON, default=list)
    email: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[list[str]] = mapped_column(JSON, default=list)
    life: Mapped[str | None] = mapped_column(Text)
    life_source: Mapped[str | None] = mapped_column(String(300))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    keyword: Mapped[list[str]] = mapped_column(JSON, default=list)
    web: Mapped[str | None] = mapped_column(String(500))
    origin_id: Mapped[str | None] = mapped_column(String(500), index=True)

    body: Mapped[Body] = relationship()
    location: Mapped[Location | None] = relationship()
    memberships: Mapped[list[Membership]] = relationship(
        back_populates="person", order_by="Membership.start_date"
    )


class Membership(Record):
    __tablename__ = "membership"

    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    role: Mapped[str | None] = mapped_column(String(200))
    voting_right: Mapped[bool] = mapped_column(Boolean, default=True)
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    on_behalf_of_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    keyword: Mapped[list[str]] = mapped_column(JSON, default=list)
    web: Mapped[str | None] = mapped_column(String(500))
    origin_id: Mapped[str | None] = mapped_column(String(500), index=True)

    person: Mapped[Person] = relationship(back_populates="memberships")
    organization: Mapped[Organization] = relationship(
        back_populates="memberships", foreign_keys=[organization_id]
    )
    on_behalf_of: Mapped[Organization | None] = relationship(foreign_keys=[on_behalf_of_id])

    def embedded_in(self) -> Iterable[Record]:
        return (self.person,)

    def active_on(self, day: date) -> bool:
        return (self.start_date is None or self.start_date <= day) and (
            self.end_date is None or day <= self.end_date
        )


class File(Record):
    """A document. Content lives in the content-addressed store (``council.documents``)."""

    __tablename__ = "file"

    body_id: Mapped[int | None] = mapped_column(ForeignKey("body.id"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    file_name: Mapped[str] = mapped_column(String(300))
    mime_type: Mapped[str] = mapped_column(String(100), default="application/pdf")
    date: Mapped[date | None] = mapped_column(Date)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    sha512: Mapped[str | None] = mapped_column(String(128), index=True)
    #: Key in the content-addressed store (server-generated, never derived from user input).
    storage_key: Mapped[str | None] = mapped_column(String(200))
    #: Extracted text (pypdf, in a job). Deferred: pages that list files never need it, and it can be
    #: megabytes; load it with ``undefer(File.text)`` (touching it unloaded raises instead of querying).
    text: Mapped[str | None] = mapped_column(Text, deferred=True, deferred_raiseload=True)
    #: pending | done | no_text (nothing extractable: scanned, encrypted, malformed) | failed
    text_state: Mapped[str] = mapped_column(String(20), default="pending")
    page_count: Mapped[int | None] = mapped_column(Integer)
    public: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    license: Mapped[str | None] = mapped_column(String(500))
    file_license: Mapped[str | None] = mapped_column(String(500))
    external_service_url: Mapped[str | None] = mapped_column(String(500))
    keyword: Mapped[list[str]] = mapped_column(JSON, default=list)
    web: Mapped[str | None] = mapped_column(String(500))
    origin_id: Mapped[str | None] = mapped_column(String(500), index=True)


class Meeting(Record):
    __tablename__ = "meeting"

    body_id: Mapped[int] = mapped_column(ForeignKey("body.id"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    #: OParl meetingState: "terminiert" (scheduled), "eingeladen" (invited), "durchgeführt" (held)
    meeting_state: Mapped[str | None] = mapped_column(String(50))
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    start: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    invitation_id: Mapped[int | None] = mapped_column(ForeignKey("file.id"), index=True)
    results_protocol_id: Mapped[int | None] = mapped_column(ForeignKey("file.id"), index=True)
    verbatim_protocol_id: Mapped[int | None] = mapped_column(ForeignKey("file.id"), index=True)
    public: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    keyword: Mapped[list[str]] = mapped_column(JSON, default=list)
    web: Mapped[str | None] = mapped_column(String(500))
    origin_id: Mapped[str | None] = mapped_column(String(500), index=True)

    body: Mapped[Body] = relationship()
    location: Mapped[Location | None] = relationship()
    organizations: Mapped[list[Organization]] = relationship(secondary=meeting_organization)
    agenda_items: Mapped[list[AgendaItem]] = relationship(
        back_populates="meeting", order_by="AgendaItem.order"
    )
    invitation: Mapped[File | None] = relationship(foreign_keys=[invitation_id])
    results_protocol: Mapped[File | None] = relationship(foreign_keys=[results_protocol_id])
    verbatim_protocol: Mapped[File | None] = relationship(foreign_keys=[verbatim_protocol_id])
    auxiliary_files: Mapped[list[File]] = relationship(secondary=meeting_auxiliary_file)


class AgendaItem(Record):
    __tablename__ = "agenda_item"

    meeting_id: Mapped[int] = mapped_column(ForeignKey("meeting.id"), index=True)
    number: Mapped[str | None] = mapped_column(String(50))
    order: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(1000))
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    result: Mapped[str | None] = mapped_column(String(300))
    resolution_text: Mapped[str | None] = mapped_column(Text)
    resolution_file_id: Mapped[int | None] = mapped_column(ForeignKey("file.id"), index=True)
    start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    keyword: Mapped[list[str]] = mapped_column(JSON, default=list)
    web: Mapped[str | None] = mapped_column(String(500))
    origin_id: Mapped[str | None] = mapped_column(String(500), index=True)

    meeting: Mapped[Meeting] = relationship(back_populates="agenda_items")
    resolution_file: Mapped[File | None] = relationship(foreign_keys=[resolution_file_id])
    auxiliary_files: Mapped[list[File]] = relationship(secondary=agenda_item_auxiliary_file)
    consultations: Mapped[list[Consultation]] = relationship(back_populates="agenda_item")

    def embedded_in(self) -> Iterable[Record]:
        return (self.meeting,)


class Paper(Record):
    __tablename__ = "paper"

    body_id: Mapped[int] = mapped_column(ForeignKey("body.id"), index=True)
    name: Mapped[str] = mapped_column(String(1000))
    reference: Mapped[str | None] = mapped_column(String(100), index=True)
    date: Mapped[date | None] = mapped_column(Date, index=True)
    #: OParl paperType, e.g. "Beschlussvorlage", "Antrag", "Anfrage", "Mitteilungsvorlage".
    paper_type: Mapped[str | None] = mapped_column(String(100), index=True)
    main_file_id: Mapped[int | None] = mapped_column(ForeignKey("file.id"), index=True)
    public: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    keyword: Mapped[list[str]] = mapped_column(JSON, default=list)
    web: Mapped[str | None] = mapped_column(String(500))
    origin_id: Mapped[str | None] = mapped_column(String(500), index=True)

    body: Mapped[Body] = relationship()
    main_file: Mapped[File | None] = relationship(foreign_keys=[main_file_id])
    auxiliary_files: Mapped[list[File]] = relationship(secondary=paper_auxiliary_file)
    related_papers: Mapped[list[Paper]] = relationship(
        secondary=paper_related,
        primaryjoin=lambda: Paper.id == paper_related.c.paper_id,
        secondaryjoin=lambda: Paper.id == paper_related.c.related_id,
    )
    superordinated_papers: Mapped[list[Paper]] = relationship(
        secondary=paper_hierarchy,
        primaryjoin=lambda: Paper.id == paper_hierarchy.c.subordinated_id,
        secondaryjoin=lambda: Paper.id == paper_hierarchy.c.superordinated_id,
        back_populates="subordinated_papers",
    )
    subordinated_papers: Mapped[list[Paper]] = relationship(
        secondary=paper_hierarchy,
        primaryjoin=lambda: Paper.id == paper_hierarchy.c.superordinated_id,
        secondaryjoin=lambda: Paper.id == paper_hierarchy.c.subordinated_id,
        back_populates="superordinated_papers",
    )
    originator_persons: Mapped[list[Person]] = relationship(secondary=paper_originator_person)
    originator_organizations: Mapped[list[Organization]] = relationship(
        secondary=paper_originator_organization
    )
    under_direction_of: Mapped[list[Organization]] = relationship(secondary=paper_under_direction_of)
    consultations: Mapped[list[Consultation]] = relationship(back_populates="paper")


class Consultation(Record):
    __tablename__ = "consultation"

    paper_id: Mapped[int] = mapped_column(ForeignKey("paper.id"), index=True)
    agenda_item_id: Mapped[int | None] = mapped_column(ForeignKey("agenda_item.id"), index=True)
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meeting.id"), index=True)
    authoritative: Mapped[bool] = mapped_column(Boolean, default=False)
    #: e.g. "Vorberatung", "Entscheidung", "Kenntnisnahme"
    role: Mapped[str | None] = mapped_column(String(200))
    #: Position in the paper's consultation path (Beratungsfolge).
    position: Mapped[int] = mapped_column(Integer, default=0)
    keyword: Mapped[list[str]] = mapped_column(JSON, default=list)
    web: Mapped[str | None] = mapped_column(String(500))
    origin_id: Mapped[str | None] = mapped_column(String(500), index=True)

    paper: Mapped[Paper] = relationship(back_populates="consultations")
    agenda_item: Mapped[AgendaItem | None] = relationship(back_populates="consultations")
    meeting: Mapped[Meeting | None] = relationship()
    organizations: Mapped[list[Organization]] = relationship(secondary=consultation_organization)

    def embedded_in(self) -> Iterable[Record]:
        return (self.paper,)
