"""Who may see what. Non-public material is for members of the organisation holding the meeting
(or consulting the paper) and for staff; anonymous visitors see public records only — everywhere:
pages, search, feeds, OParl and file downloads all filter through these clauses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true

from council.records.models import (
    AgendaItem,
    Consultation,
    File,
    Meeting,
    Paper,
    agenda_item_auxiliary_file,
    consultation_organization,
    meeting_auxiliary_file,
    meeting_organization,
    paper_auxiliary_file,
)

STAFF_ROLES = frozenset({"clerk", "admin"})


@dataclass(frozen=True)
class Viewer:
    """The person looking: anonymous by default."""

    account_id: int | None = None
    person_id: int | None = None
    name: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    #: Organizations (council, committees) the viewer is currently a member of.
    organization_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def is_authenticated(self) -> bool:
        return self.account_id is not None

    @property
    def is_staff(self) -> bool:
        return bool(self.roles & STAFF_ROLES)


ANONYMOUS = Viewer()


def meeting_visible(viewer: Viewer) -> ColumnElement[bool]:
    if viewer.is_staff:
        return Meeting.deleted == false()
    if not viewer.organization_ids:
        return and_(Meeting.deleted == false(), Meeting.public == true())
    member = exists(
        select(meeting_organization.c.meeting_id).where(
            meeting_organization.c.meeting_id == Meeting.id,
            meeting_organization.c.organization_id.in_(viewer.organization_ids),
        )
    )
    return and_(Meeting.deleted == false(), or_(Meeting.public == true(), member))


def agenda_item_visible(viewer: Viewer) -> ColumnElement[bool]:
    """AgendaItem rows whose meeting is visible and which are public or the viewer's committee's."""
    meeting_ok = exists(
        select(Meeting.id).where(Meeting.id == AgendaItem.meeting_id, meeting_visible(viewer))
    )
    if viewer.is_staff:
        return and_(AgendaItem.deleted == false(), meeting_ok)
    if not viewer.organization_ids:
        return and_(AgendaItem.deleted == false(), AgendaItem.public == true(), meeting_ok)
    member = exists(
        select(meeting_organization.c.meeting_id).where(
            meeting_organization.c.meeting_id == AgendaItem.meeting_id,
            meeting_organization.c.organization_id.in_(viewer.organization_ids),
        )
    )
    return and_(AgendaItem.deleted == false(), meeting_ok, or_(AgendaItem.public == true(), member))


def paper_visible(viewer: Viewer) -> ColumnElement[bool]:
    if viewer.is_staff:
        return Paper.deleted == false()
    if not viewer.organization_ids:
        return and_(Paper.deleted == false(), Paper.public == true())
    consulted_by_mine = exists(
        select(Consultation.id)
        .join(consultation_organization, consultation_organization.c.consultation_id == Consultation.id)
        .where(
            Consultation.paper_id == Paper.id,
            consultation_organization.c.organization_id.in_(viewer.organization_ids),
        )
    )
    return and_(Paper.deleted == false(), or_(Paper.public == true(), consulted_by_mine))


def file_visible(viewer: Viewer) -> ColumnElement[bool]:
    """A file is visible when it is public, or when it belongs to a record the viewer may see."""
    if viewer.is_staff:
        return File.deleted == false()
    if not viewer.organization_ids:
        return and_(File.deleted == false(), File.public == true())
    via_paper = or_(
        exists(select(Paper.id).where(Paper.main_file_id == File.id, paper_visible(viewer))),
        exists(
            select(Paper.id)
            .join(paper_auxiliary_file, paper_auxiliary_file.c.paper_id == Paper.id)
            .where(paper_auxiliary_file.c.file_id == File.id, paper_visible(viewer))
        ),
    )
    via_meeting = or_(
        exists(
            select(Meeting.id).where(
                or_(
                    Meeting.invitation_id == File.id,
                    Meeting.results_protocol_id == File.id,
                    Meeting.verbatim_protocol_id == File.id,
                ),
                meeting_visible(viewer),
            )
        ),
        exists(
            select(Meeting.id)
            .join(meeting_auxiliary_file, meeting_auxiliary_file.c.meeting_id == Meeting.id)
            .where(meeting_auxiliary_file.c.file_id == File.id, meeting_visible(viewer))
        ),
    )
    via_item = or_(
        exists(
            select(AgendaItem.id).where(AgendaItem.resolution_file_id == File.id, agenda_item_visible(viewer))
        ),
        exists(
            select(AgendaItem.id)
            .join(agenda_item_auxiliary_file, agenda_item_auxiliary_file.c.agenda_item_id == AgendaItem.id)
            .where(agenda_item_auxiliary_file.c.file_id == File.id, agenda_item_visible(viewer))
        ),
    )
    return and_(File.deleted == false(), or_(File.public == true(), via_paper, via_meeting, via_item))
