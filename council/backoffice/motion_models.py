"""Tables of the paper back office and of online motion submission (Rathaus' own, beside OParl's).

``paper_state``: one row per paper managed here — its status (what the public timeline shows last) and
``version``, the optimistic lock: every edit names the version it was made on and bumps it atomically
(``UPDATE … WHERE version = :seen``), so a stale save is refused instead of overwriting.
``paper_status_event``: the status timeline (append-only). ``reference_counter``: the last number handed
out per (paper type, year), bumped with one atomic UPDATE so concurrent submissions never share a
number; ``paper_reference`` makes every assigned reference unique in the database on top of that.
``paper_file_version``: each file a paper ever had (original, replacement, supplement), all kept.
``motion``/``motion_signer``/``motion_attachment``: a councillor's draft motion or inquiry, its
co-signers from the faction (invited, then confirmed) and its attachments (documents-store files).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from council.core.base import Base, Record
from council.core.types import UTCDateTime, utcnow
from council.records.models import File, Meeting, Organization, Paper


class PaperState(Base):
    __tablename__ = "paper_state"

    paper_id: Mapped[int] = mapped_column(ForeignKey("paper.id", ondelete="CASCADE"), primary_key=True)
    #: eingereicht | eingegangen | in Beratung | beschlossen | geändert beschlossen | abgelehnt |
    #: vertagt | zurückverwiesen (see ``council.backoffice.papers.STATUS_*``)
    status: Mapped[str] = mapped_column(String(50), nullable=False, default="eingegangen")
    #: Optimistic lock: bumped by every edit of the paper through the back office.
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)


class PaperStatusEvent(Base):
    __tablename__ = "paper_status_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("paper.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    status: Mapped[str] = mapped_column(String(50), nullable=False)
    #: The consultation whose result moved the status (None for submission, reference, scheduling).
    consultation_id: Mapped[int | None] = mapped_column(ForeignKey("consultation.id", ondelete="SET NULL"))
    #: Organization name as it was (the timeline stays readable after renames).
    organization_name: Mapped[str | None] = mapped_column(String(300))
    #: Consultation result key (beschlossen, abgelehnt, geaendert, vertagt, zurueckverwiesen) or None.
    result: Mapped[str | None] = mapped_column(String(50))
    note: Mapped[str | None] = mapped_column(String(500))


class ReferenceCounter(Base):
    __tablename__ = "reference_counter"

    paper_type: Mapped[str] = mapped_column(String(100), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class PaperReference(Base):
    """Every reference the back office assigned; the primary key makes it unique in the database."""

    __tablename__ = "paper_reference"

    reference: Mapped[str] = mapped_column(String(100), primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("paper.id", ondelete="CASCADE"), index=True)


class PaperFileVersion(Base):
    __tablename__ = "paper_file_version"
    __table_args__ = (UniqueConstraint("paper_id", "number", name="uq_paper_file_version_paper_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("paper.id", ondelete="CASCADE"), index=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("file.id", ondelete="CASCADE"), index=True)
    #: 1, 2, 3 … per paper.
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    #: original | replacement (new main file; the old one stays as an attachment) | supplement
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    created: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="SET NULL"))

    file: Mapped[File] = relationship()


class Motion(Record):
    __tablename__ = "motion"

    author_account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    author_person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    faction_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    #: Antrag | Anfrage
    paper_type: Mapped[str] = mapped_column(String(100), nullable=False)
    title: Mapped[str] = mapped_column(String(1000), nullable=False, default="")
    text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    justification: Mapped[str] = mapped_column(Text, nullable=False, default="")
    #: The meeting it is meant for (its deadline applies); None: the next possible one.
    target_meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meeting.id"), index=True)
    #: draft | submitted | accepted (the clerk assigned the reference)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="draft", index=True)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paper_id: Mapped[int | None] = mapped_column(ForeignKey("paper.id"), index=True)
    #: A clerk scheduled it past the deadline: who, and why (also in the audit log).
    deadline_override_by: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    deadline_override_reason: Mapped[str | None] = mapped_column(String(500))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    faction: Mapped[Organization] = relationship(foreign_keys=[faction_id])
    target_meeting: Mapped[Meeting | None] = relationship(foreign_keys=[target_meeting_id])
    paper: Mapped[Paper | None] = relationship(foreign_keys=[paper_id])
    signers: Mapped[list[MotionSigner]] = relationship(back_populates="motion", order_by="MotionSigner.id")
    attachments: Mapped[list[MotionAttachment]] = relationship(order_by="MotionAttachment.id")


class MotionSigner(Base):
    __tablename__ = "motion_signer"
    __table_args__ = (UniqueConstraint("motion_id", "account_id", name="uq_motion_signer_motion_account"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    motion_id: Mapped[int] = mapped_column(ForeignKey("motion.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    #: Name as it was when invited (the PDF and the list stay stable).
    name: Mapped[str] = mapped_column(String(300), nullable=False)
    invited_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    motion: Mapped[Motion] = relationship(back_populates="signers")


class MotionAttachment(Base):
    __tablename__ = "motion_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    motion_id: Mapped[int] = mapped_column(ForeignKey("motion.id", ondelete="CASCADE"), index=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("file.id", ondelete="CASCADE"))

    file: Mapped[File] = relationship()
