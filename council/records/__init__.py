"""The council's records, shaped on OParl 1.1 so that the API is a view, not a translation.

Body, LegislativeTerm, Organization, Person, Membership, Location, Meeting, AgendaItem, Paper,
Consultation, File. Access rules (who may see non-public material) live in ``access``; read queries
that apply them live in ``queries``.
"""

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

__all__ = [
    "AgendaItem",
    "Body",
    "Consultation",
    "File",
    "LegislativeTerm",
    "Location",
    "Meeting",
    "Membership",
    "Organization",
    "Paper",
    "Person",
]
