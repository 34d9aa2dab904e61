"""Back-office tables: the shared change/audit log, the meeting workflow state, and the invitation's
subscribers and mail send log.

Kept in Rathaus' own tables (not on the OParl records) so the OParl shapes stay as they are.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from council.core.base import Base
from council.core.types import UTCDateTime, utcnow


class ChangeLog(Base):
    """One change to a back-office record: who, when, what (append-only).

    ``entity`` is the record kind (``meeting``, ``agenda_item``, ``paper``, ``motion``, …),
    ``entity_id`` its id; ``meeting_id`` is set for agenda changes so the agenda's public change log
    is one indexed query. ``diff`` maps field → ``[old, new]`` (or free details).
    """

    __tablename__ = "change_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)
    #: The account that made the change (kept as a number: the log outlives accounts).
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor_name: Mapped[str | None] = mapped_column(String(200))
    entity: Mapped[str] = mapped_column(String(50), nullable=False)
    entity_id: Mapped[int] = mapped_column(Integer, nullable=False)
    action: Mapped[str] = mapped_column(String(50), nullable=False)
    diff: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    meeting_id: Mapped[int | None] = mapped_column(Integer, index=True)
    #: Shown on the public agenda's change log (changes after the invitation was sent).
    visible: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), nullable=False)


class MeetingWorkflow(Base):
    """Back-office state of a meeting prepared in Rathaus (meetings without a row are published).

    ``version`` is the optimistic lock for the meeting *and* its agenda: every back-office change
    bumps it with a conditional UPDATE, so a form carrying an older version is refused (409).
    A draft is kept ``deleted`` on the Meeting record while ``published`` is false: every public path
    (pages, search, feeds, iCal, OParl — where an unpublished record counts as deleted) already hides
    deleted records, so a draft cannot leak through a path that forgot a new flag.
    """

    __tablename__ = "meeting_workflow"

    meeting_id: Mapped[int] = mapped_column(ForeignKey("meeting.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    published: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    invited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: RFC 5545 SEQUENCE: bumped when a sent invitation's time or place changes.
    sequence: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    minutes_draft: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    minutes_approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AgendaItemDetail(Base):
    """What the agenda builder adds to an OParl AgendaItem: the item's text, sub-item level, urgency."""

    __tablename__ = "agenda_item_detail"

    agenda_item_id: Mapped[int] = mapped_column(
        ForeignKey("agenda_item.id", ondelete="CASCADE"), primary_key=True
    )
    text: Mapped[str | None] = mapped_column(Text)
    #: A sub-item (TOP 1.1) of the preceding top-level item.
    sub: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    #: Added as an urgent item (Dringlichkeit) after the invitation.
    urgent: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    #: A committee's standing item (Genehmigung der Niederschrift, Mitteilungen, …).
    standing: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)


class InvitationSubscription(Base):
    """Someone (a resident, anyone) who wants an organization's invitations by e-mail.

    Double opt-in: mails go out only once ``email_confirmed`` is set through the link mailed to the
    address; only the sha256 of that link's token is stored. Unsubscribing deletes the row (the link in
    every mail is an HMAC of the id, nothing stored). Unconfirmed rows are purged after a week.
    """

    __tablename__ = "invitation_subscription"
    __table_args__ = (UniqueConstraint("organization_id", "email", name="uq_invitation_subscription"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True, nullable=False
    )
    #: Lower-cased, validated (``council.questions.service.clean_email``).
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    email_confirmed: Mapped[datetime | None] = mapped_column(UTCDateTime)
    optin_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class InvitationDispatch(Base):
    """One sending of a meeting's invitation (first or updated): the mail text and its job.

    ``state``: ``queued`` → ``sending`` → ``done`` (every recipient reached) | ``partial`` (some failed
    or uncertain) | ``skipped`` (no SMTP server configured). The recipients are fixed when it is created
    (members and confirmed subscribers of that moment), one :class:`InvitationDelivery` each.
    """

    __tablename__ = "invitation_dispatch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meeting.id", ondelete="CASCADE"), index=True, nullable=False
    )
    #: The invitation File this mail announces.
    file_id: Mapped[int | None] = mapped_column(Integer)
    #: An updated invitation (sent again after changes).
    is_update: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    subject: Mapped[str] = mapped_column(String(500), nullable=False)
    #: The mail text without greeting and unsubscribe line (added per recipient).
    body: Mapped[str] = mapped_column(Text, nullable=False)
    state: Mapped[str] = mapped_column(String(20), default="queued", nullable=False)
    job_id: Mapped[int | None] = mapped_column(Integer)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    finished: Mapped[datetime | None] = mapped_column(UTCDateTime)


class InvitationDelivery(Base):
    """One recipient of one dispatch and what happened: the send log that keeps a retry from mailing
    anyone twice.

    ``state``: ``pending`` → ``sending`` (committed *before* the SMTP conversation) → ``sent`` | ``failed``
    (retried with backoff while attempts remain) | ``uncertain`` (a worker died mid-conversation: the
    mail may have gone out, so it is not sent again automatically) | ``skipped``.
    """

    __tablename__ = "invitation_delivery"
    __table_args__ = (
        UniqueConstraint("dispatch_id", "email", name="uq_invitation_delivery"),
        Index("ix_invitation_delivery_state", "dispatch_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dispatch_id: Mapped[int] = mapped_column(
        ForeignKey("invitation_dispatch.id", ondelete="CASCADE"), nullable=False
    )
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    #: The member's name for the greeting (subscribers: none).
    name: Mapped[str | None] = mapped_column(String(300))
    #: ``member`` | ``subscriber``
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    #: For the subscriber's unsubscribe link (no foreign key: the log outlives the subscription).
    subscription_id: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), default="pending", nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    last_error: Mapped[str | None] = mapped_column(String(500))
    message_id: Mapped[str | None] = mapped_column(String(200))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
