"""Records → OParl 1.1 JSON objects. Pure functions over loaded records and a base URL.

Output rules (OParl 1.1, chapter "Datenmodell"/"Objekte"):

* optional fields that have no value are left out (never ``null``, ``""`` or ``[]``); required lists are
  ``[]`` when empty (``Body.legislativeTerm``);
* dates are ``yyyy-mm-dd``, date-times ISO 8601 with the offset of Europe/Berlin, to the second;
* embedded File copies leave out ``text`` (it is on the standalone File and in the files list);
* embedded copies leave out the back-reference to the object that embeds them (an AgendaItem inside a
  Meeting has no ``meeting``; a Consultation inside a Paper no ``paper``; a Membership inside a Person no
  ``person``; a LegislativeTerm inside a Body no ``body``; a File inside anything no
  ``meeting``/``agendaItem``/``paper``; a Location inside anything no ``bodies``/``meetings``/…);
  the standalone copy at the object's own URL has them;
* only what an anonymous visitor may see is emitted: references to non-public or deleted meetings,
  agenda items, papers and files are dropped (callers load records for the anonymous viewer; the
  predicates below re-check what was loaded through relationships);
* Rathaus' own fields carry the vendor prefix ``rathaus:`` (see docs/oparl.md).

Relationships the functions read must be loaded eagerly (see ``council.oparl.lists``).

With ``Urls.fragments`` set (the API's ``Urls``; ``council.oparl.cache``), the page serialisers
return already encoded objects (``msgspec.Raw``) for papers, meetings, agenda items, consultations,
files, persons and organisations, from a cache keyed by everything the serialiser reads (the ``key``
tuples below: ids and ``modified`` of the object and of what it embeds, the links computed for the page,
``omit_internal``); without it they return plain dicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from council.core.base import Record
from council.oparl.cache import Fragments
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

OPARL_VERSION = "https://schema.oparl.org/1.1/"
SCHEMA = "https://schema.oparl.org/1.1/"
BERLIN = ZoneInfo("Europe/Berlin")
VENDOR = "rathaus:"

#: URL segment of each object type (``/oparl/v1/{segment}/{id}``) → OParl type name.
KINDS: dict[str, str] = {
    "body": "Body",
    "legislative-term": "LegislativeTerm",
    "organization": "Organization",
    "person": "Person",
    "membership": "Membership",
    "meeting": "Meeting",
    "agenda-item": "AgendaItem",
    "paper": "Paper",
    "consultation": "Consultation",
    "file": "File",
    "location": "Location",
}

#: List URL segment under ``/oparl/v1/body/{id}/`` → (Body field, object kind).
BODY_LISTS: dict[str, tuple[str, str]] = {
    "organizations": ("organization", "organization"),
    "persons": ("person", "person"),
    "meetings": ("meeting", "meeting"),
    "papers": ("paper", "paper"),
    "agenda-items": ("agendaItem", "agenda-item"),
    "consultations": ("consultation", "consultation"),
    "files": ("file", "file"),
    "memberships": ("membership", "membership"),
    "locations": ("locationList", "location"),
    "legislative-terms": ("legislativeTermList", "legislative-term"),
}

#: Lists under ``/oparl/v1/organization/{id}/``: (Organization field, object kind).
ORGANIZATION_LISTS: dict[str, tuple[str, str]] = {
    "meetings": ("meeting", "meeting"),
    "consultations": ("consultation", "consultation"),
}


def type_uri(name: str) -> str:
    return SCHEMA + name


# --- URLs ------------------------------------------------------------------------------------------


class Urls:
    """Every URL the API emits, from one base URL (``settings.base_url``)."""

    def __init__(self, base_url: str, fragments: Fragments | None = None) -> None:
        self.base = base_url.rstrip("/")
        self.api = self.base + "/oparl/v1"
        #: Serialised objects to reuse (``council.oparl.cache``); ``None``: build every object.
        self.fragments = fragments

    def system(self) -> str:
        return f"{self.api}/system"

    def bodies(self) -> str:
        return f"{self.api}/bodies"

    def obj(self, kind: str, record_id: int) -> str:
        return f"{self.api}/{kind}/{record_id}"

    def body_list(self, body_id: int, segment: str) -> str:
        return f"{self.api}/body/{body_id}/{segment}"

    def organization_list(self, organization_id: int, segment: str) -> str:
        return f"{self.api}/organization/{organization_id}/{segment}"

    def file_access(self, file_id: int) -> str:
        return f"{self.api}/file/{file_id}/access"

    def file_download(self, file_id: int) -> str:
        return f"{self.api}/file/{file_id}/download"

    def timeline(self, meeting_id: int) -> str:
        return f"{self.api}/meeting/{meeting_id}/rathaus-timeline"

    def page(self, path: str) -> str:
        return self.base + path


# --- values ----------------------------------------------------------------------------------------


def fmt_datetime(value: datetime | None) -> str | None:
    """UTC → Europe/Berlin with offset, to the second: ``2026-11-25T17:00:00+01:00``."""
    if value is None:
        return None
    return value.astimezone(BERLIN).isoformat(timespec="seconds")


def fmt_date(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    """Set an optional field only when it has a value (no null, "", [] or {})."""
    if value is None:
        return
    if isinstance(value, (str, list, dict)) and not value:
        return
    out[key] = value


def _strings(values: Iterable[Any] | None) -> list[str]:
    return [str(v) for v in (values or []) if v is not None and str(v) != ""]


def _url(value: str | None) -> str | None:
    """Only absolute http(s) URLs go into ``format: url`` fields."""
    if value and value.startswith(("https://", "http://")):
        return value
    return None


# --- what an anonymous visitor may see (mirrors council.records.access for ANONYMOUS) --------------


def alive(record: Record | None) -> bool:
    return record is not None and not record.deleted


def meeting_ok(meeting: Meeting | None) -> bool:
    return meeting is not None and not meeting.deleted and bool(meeting.public)


def item_ok(item: AgendaItem | None, meeting: Meeting | None = None) -> bool:
    if item is None or item.deleted or not item.public:
        return False
    return meeting_ok(meeting if meeting is not None else item.meeting)


def paper_ok(paper: Paper | None) -> bool:
    return paper is not None and not paper.deleted and bool(paper.public)


def file_ok(file: File | None) -> bool:
    return file is not None and not file.deleted and bool(file.public)


# --- common parts ----------------------------------------------------------------------------------


def _head(record: Record, kind: str, u: Urls) -> dict[str, Any]:
    return {"id": u.obj(kind, record.id), "type": type_uri(KINDS[kind])}


def _tail(out: dict[str, Any], record: Any, web: str | None = None) -> dict[str, Any]:
    _put(out, "keyword", _strings(getattr(record, "keyword", None)))
    out["created"] = fmt_datetime(record.created)
    out["modified"] = fmt_datetime(record.modified)
    _put(out, "web", web or _url(getattr(record, "web", None)))
    out["deleted"] = False
    return out


def deleted_stub(record: Record, kind: str, u: Urls) -> dict[str, Any]:
    """A deleted object: id, type, created, modified and ``deleted: true`` — nothing else."""
    return {
        "id": u.obj(kind, record.id),
        "type": type_uri(KINDS[kind]),
        "created": fmt_datetime(record.created),
        "modified": fmt_datetime(record.modified),
        "deleted": True,
    }


# --- back-references that are not relationships on the record -------------------------------------


@dataclass
class FileRefs:
    """Visible records that use a file (its standalone copy lists them)."""

    meetings: list[int] = field(default_factory=list)
    agenda_items: list[int] = field(default_factory=list)
    papers: list[int] = field(default_factory=list)


@dataclass
class PaperRefs:
    """What a Paper links to, by id, already filtered to what an anonymous visitor may see
    (``council.oparl.lists.paper_refs``: one query for a page instead of six relationship loads)."""

    related: list[int] = field(default_factory=list)
    superordinated: list[int] = field(default_factory=list)
    subordinated: list[int] = field(default_factory=list)
    originator_persons: list[int] = field(default_factory=list)
    originator_organizations: list[int] = field(default_factory=list)
    under_direction_of: list[int] = field(default_factory=list)


@dataclass
class ConsultationRefs:
    """What a Consultation links to, visible only (``council.oparl.lists.consultation_refs``)."""

    agenda_item: int | None = None
    meeting: int | None = None
    organizations: list[int] = field(default_factory=list)


@dataclass
class LocationRefs:
    bodies: list[int] = field(default_factory=list)
    organizations: list[int] = field(default_factory=list)
    persons: list[int] = field(default_factory=list)
    meetings: list[int] = field(default_factory=list)


# --- System and Body -------------------------------------------------------------------------------


def system(
    u: Urls,
    *,
    name: str,
    created: datetime | None = None,
    modified: datetime | None = None,
    website: str | None = None,
    contact_email: str | None = None,
    license: str | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": u.system(),
        "type": type_uri("System"),
        "oparlVersion": OPARL_VERSION,
        "body": u.bodies(),
    }
    _put(out, "name", name)
    _put(out, "license", _url(license))
    _put(out, "contactEmail", contact_email)
    _put(out, "website", _url(website) or u.page("/"))
    _put(out, "vendor", "https://github.com/rathaus")
    _put(out, "product", "https://github.com/rathaus/rathaus")
    if created is not None:
        out["created"] = fmt_datetime(created)
    if modified is not None:
        out["modified"] = fmt_datetime(modified)
    _put(out, "web", u.page("/"))
    out["deleted"] = False
    return out


def body(record: Body, u: Urls, *, internal: bool = True) -> dict[str, Any]:
    out = _head(record, "body", u)
    out["system"] = u.system()
    out["name"] = record.name
    _put(out, "shortName", record.short_name)
    _put(out, "website", _url(record.website))
    _put(out, "license", _url(record.license))
    _put(out, "licenseValidSince", fmt_datetime(record.license_valid_since))
    _put(out, "oparlSince", fmt_datetime(record.oparl_since))
    _put(out, "ags", record.ags)
    _put(out, "rgs", record.rgs)
    _put(out, "equivalent", [v for v in _strings(record.equivalent) if _url(v)])
    _put(out, "contactEmail", record.contact_email)
    _put(out, "contactName", record.contact_name)
    for segment, (field_name, _kind) in BODY_LISTS.items():
        out[field_name] = u.body_list(record.id, segment)
    # Required, so embedded even with omit_internal.
    out["legislativeTerm"] = [
        legislative_term(t, u, embedded=True) for t in record.legislative_terms if alive(t)
    ]
    _put(out, "classification", record.classification)
    if internal and alive(record.location):
        assert record.location is not None
        out["location"] = location(record.location, u, embedded=True)
    return _tail(out, record, u.page("/"))


def legislative_term(record: LegislativeTerm, u: Urls, *, embedded: bool = False) -> dict[str, Any]:
    out = _head(record, "legislative-term", u)
    if not embedded:
        out["body"] = u.obj("body", record.body_id)
    _put(out, "name", record.name)
    _put(out, "startDate", fmt_date(record.start_date))
    _put(out, "endDate", fmt_date(record.end_date))
    return _tail(out, record)


def location(
    record: Location, u: Urls, *, embedded: bool = False, refs: LocationRefs | None = None
) -> dict[str, Any]:
    out = _head(record, "location", u)
    _put(out, "description", record.description)
    if isinstance(record.geojson, dict) and record.geojson:
        out["geojson"] = record.geojson
    _put(out, "streetAddress", record.street_address)
    _put(out, "room", record.room)
    _put(out, "postalCode", record.postal_code)
    _put(out, "subLocality", record.sub_locality)
    _put(out, "locality", record.locality)
    if not embedded and refs is not None:
        _put(out, "bodies", [u.obj("body", i) for i in refs.bodies])
        _put(out, "organizations", [u.obj("organization", i) for i in refs.organizations])
        _put(out, "persons", [u.obj("person", i) for i in refs.persons])
        _put(out, "meetings", [u.obj("meeting", i) for i in refs.meetings])
    return _tail(out, record)


# --- organisations and people ----------------------------------------------------------------------


def organization(record: Organization, u: Urls, *, internal: bool = True) -> Any:
    frags = u.fragments
    if frags is None:
        return _organization(record, u, internal=internal)
    key = (
        "organization",
        internal,
        record.id,
        record.modified,
        tuple(m.id for m in record.memberships if alive(m) and alive(m.person)),
        (record.location.id, record.location.modified)  # type: ignore[union-attr]
        if internal and alive(record.location)
        else None,
    )
    return frags.get(key, lambda: _organization(record, u, internal=internal))


def _organization(record: Organization, u: Urls, *, internal: bool = True) -> dict[str, Any]:
    out = _head(record, "organization", u)
    out["body"] = u.obj("body", record.body_id)
    out["name"] = record.name
    _put(
        out,
        "membership",
        [
            u.obj("membership", m.id)
            for m in sorted(record.memberships, key=lambda m: m.id)
            if alive(m) and alive(m.person)
        ],
    )
    out["meeting"] = u.organization_list(record.id, "meetings")
    out["consultation"] = u.organization_list(record.id, "consultations")
    _put(out, "shortName", record.short_name)
    _put(out, "post", _strings(record.post))
    if record.sub_organization_of_id is not None:
        out["subOrganizationOf"] = u.obj("organization", record.sub_organization_of_id)
    _put(out, "organizationType", record.organization_type)
    _put(out, "classification", record.classification)
    _put(out, "startDate", fmt_date(record.start_date))
    _put(out, "endDate", fmt_date(record.end_date))
    _put(out, "website", _url(record.website))
    if internal and alive(record.location):
        assert record.location is not None
        out["location"] = location(record.location, u, embedded=True)
    return _tail(out, record, u.page(f"/gremien/{record.id}"))


def person(record: Person, u: Urls, *, internal: bool = True) -> Any:
    frags = u.fragments
    if frags is None:
        return _person(record, u, internal=internal)
    key = (
        "person",
        internal,
        record.id,
        record.modified,
        (record.location.id, record.location.modified) if alive(record.location) else None,  # type: ignore[union-attr]
        tuple((m.id, m.modified) for m in record.memberships if alive(m)) if internal else None,
    )
    return frags.get(key, lambda: _person(record, u, internal=internal))


def _person(record: Person, u: Urls, *, internal: bool = True) -> dict[str, Any]:
    out = _head(record, "person", u)
    out["body"] = u.obj("body", record.body_id)
    out["name"] = record.name
    _put(out, "familyName", record.family_name)
    _put(out, "givenName", record.given_name)
    _put(out, "formOfAddress", record.form_of_address)
    _put(out, "affix", record.affix)
    _put(out, "title", _strings(record.title))
    _put(out, "gender", record.gender)
    _put(out, "phone", _strings(record.phone))
    _put(out, "email", _strings(record.email))
    if alive(record.location):
        assert record.location is not None
        out["location"] = u.obj("location", record.location.id)
        if internal:
            out["locationObject"] = location(record.location, u, embedded=True)
    _put(out, "status", _strings(record.status))
    if internal:
        _put(
            out,
            "membership",
            [
                membership(m, u, embedded=True)
                for m in sorted(record.memberships, key=lambda m: m.id)
                if alive(m)
            ],
        )
    _put(out, "life", record.life)
    _put(out, "lifeSource", record.life_source)
    return _tail(out, record, u.page(f"/personen/{record.id}"))


def membership(record: Membership, u: Urls, *, embedded: bool = False) -> dict[str, Any]:
    out = _head(record, "membership", u)
    if not embedded:
        out["person"] = u.obj("person", record.person_id)
    out["organization"] = u.obj("organization", record.organization_id)
    _put(out, "role", record.role)
    if record.voting_right is not None:
        out["votingRight"] = bool(record.voting_right)
    _put(out, "startDate", fmt_date(record.start_date))
    _put(out, "endDate", fmt_date(record.end_date))
    if record.on_behalf_of_id is not None:
        out["onBehalfOf"] = u.obj("organization", record.on_behalf_of_id)
    return _tail(out, record)


# --- files ------------------------------------------------------------------------------------------


def _file_key(record: File | None) -> tuple[int, Any] | None:
    """A file's part of a fragment key: ``None`` where it is not shown."""
    return (record.id, record.modified) if file_ok(record) else None  # type: ignore[union-attr]


def _files_key(records: Iterable[File]) -> tuple[Any, ...]:
    return tuple((f.id, f.modified) for f in records if file_ok(f))


def file(record: File, u: Urls, *, embedded: bool = False, refs: FileRefs | None = None) -> Any:
    frags = u.fragments
    if frags is None or not (embedded or refs is not None):
        return _file(record, u, embedded=embedded, refs=refs)
    key = (
        "file",
        embedded,
        record.id,
        record.modified,
        None if refs is None else (tuple(refs.meetings), tuple(refs.agenda_items), tuple(refs.papers)),
    )
    return frags.get(key, lambda: _file(record, u, embedded=embedded, refs=refs))


def _file(record: File, u: Urls, *, embedded: bool = False, refs: FileRefs | None = None) -> dict[str, Any]:
    out = _head(record, "file", u)
    _put(out, "name", record.name)
    _put(out, "fileName", record.file_name)
    _put(out, "mimeType", record.mime_type)
    _put(out, "date", fmt_date(record.date))
    if record.storage_key and record.size is not None:
        out["size"] = int(record.size)
    _put(out, "sha512Checksum", record.sha512)
    if not embedded and record.text_state == "done":
        # Only the standalone copy (and the files list) carries the extracted text: embedded copies would
        # multiply it into every meeting and paper page (OParl: embedded objects may be abridged).
        _put(out, "text", record.text)
    out["accessUrl"] = u.file_access(record.id)
    out["downloadUrl"] = u.file_download(record.id)
    _put(out, "externalServiceUrl", _url(record.external_service_url))
    _put(out, "fileLicense", _url(record.file_license))
    if not embedded and refs is not None:
        _put(out, "meeting", [u.obj("meeting", i) for i in refs.meetings])
        _put(out, "agendaItem", [u.obj("agenda-item", i) for i in refs.agenda_items])
        _put(out, "paper", [u.obj("paper", i) for i in refs.papers])
    _put(out, "license", record.license)
    return _tail(out, record, u.page(f"/dokumente/{record.id}"))


def _files(records: Iterable[File], u: Urls) -> list[Any]:
    return [file(f, u, embedded=True) for f in records if file_ok(f)]


def _one_file(out: dict[str, Any], key: str, record: File | None, u: Urls) -> None:
    if file_ok(record):
        assert record is not None
        out[key] = file(record, u, embedded=True)


# --- meetings, agenda items, papers, consultations --------------------------------------------------


def meeting(
    record: Meeting,
    u: Urls,
    *,
    internal: bool = True,
    first_consultation: Mapping[int, int] | None = None,
) -> Any:
    frags = u.fragments
    if frags is None or first_consultation is None:
        return _meeting(record, u, internal=internal, first_consultation=first_consultation)
    parts: Any = None
    if internal:
        parts = (
            (record.location.id, record.location.modified) if alive(record.location) else None,  # type: ignore[union-attr]
            _file_key(record.invitation),
            _file_key(record.results_protocol),
            _file_key(record.verbatim_protocol),
            _files_key(record.auxiliary_files),
            tuple(
                _item_key(i, True, True, first_consultation)
                for i in record.agenda_items
                if item_ok(i, record)
            ),
        )
    key = (
        "meeting",
        internal,
        record.id,
        record.modified,
        tuple(o.id for o in record.organizations if alive(o)),
        parts,
    )
    return frags.get(
        key, lambda: _meeting(record, u, internal=internal, first_consultation=first_consultation)
    )


def _meeting(
    record: Meeting,
    u: Urls,
    *,
    internal: bool = True,
    first_consultation: Mapping[int, int] | None = None,
) -> dict[str, Any]:
    out = _head(record, "meeting", u)
    _put(out, "name", record.name)
    _put(out, "meetingState", record.meeting_state)
    out["cancelled"] = bool(record.cancelled)
    _put(out, "start", fmt_datetime(record.start))
    _put(out, "end", fmt_datetime(record.end))
    if internal and alive(record.location):
        assert record.location is not None
        out["location"] = location(record.location, u, embedded=True)
    _put(out, "organization", [u.obj("organization", o.id) for o in record.organizations if alive(o)])
    if internal:
        _one_file(out, "invitation", record.invitation, u)
        _one_file(out, "resultsProtocol", record.results_protocol, u)
        _one_file(out, "verbatimProtocol", record.verbatim_protocol, u)
        _put(out, "auxiliaryFile", _files(record.auxiliary_files, u))
        _put(
            out,
            "agendaItem",
            [
                # (dicts: the meeting's own fragment holds them)
                _agenda_item(i, u, embedded=True, first_consultation=first_consultation)
                for i in record.agenda_items
                if item_ok(i, record)
            ],
        )
    out[VENDOR + "timeline"] = u.timeline(record.id)
    out[VENDOR + "live"] = u.page(f"/sitzungen/{record.id}/live")
    return _tail(out, record, u.page(f"/sitzungen/{record.id}"))


def agenda_item(
    record: AgendaItem,
    u: Urls,
    *,
    embedded: bool = False,
    meeting: Meeting | None = None,
    internal: bool = True,
    first_consultation: Mapping[int, int] | None = None,
) -> Any:
    """``first_consultation``: agenda item id → id of its first visible consultation, computed for a whole
    page at once (``council.oparl.lists.first_consultations``); without it ``record.consultations`` (and
    their papers) must be loaded."""
    frags = u.fragments
    if frags is None or first_consultation is None:
        return _agenda_item(
            record, u, embedded=embedded, internal=internal, first_consultation=first_consultation
        )
    return frags.get(
        _item_key(record, embedded, internal, first_consultation),
        lambda: _agenda_item(
            record, u, embedded=embedded, internal=internal, first_consultation=first_consultation
        ),
    )


def _item_key(
    record: AgendaItem, embedded: bool, internal: bool, first_consultation: Mapping[int, int]
) -> tuple[Any, ...]:
    return (
        "agenda-item",
        embedded,
        internal,
        record.id,
        record.modified,
        first_consultation.get(record.id),
        (_file_key(record.resolution_file), _files_key(record.auxiliary_files)) if internal else None,
    )


def _agenda_item(
    record: AgendaItem,
    u: Urls,
    *,
    embedded: bool = False,
    internal: bool = True,
    first_consultation: Mapping[int, int] | None = None,
) -> dict[str, Any]:
    out = _head(record, "agenda-item", u)
    if not embedded:
        out["meeting"] = u.obj("meeting", record.meeting_id)
    _put(out, "number", record.number)
    out["order"] = int(record.order or 0)
    _put(out, "name", record.name)
    out["public"] = bool(record.public)
    if first_consultation is not None:
        if record.id in first_consultation:
            out["consultation"] = u.obj("consultation", first_consultation[record.id])
    else:
        consultation_ids = sorted(c.id for c in record.consultations if alive(c) and paper_ok(c.paper))
        if consultation_ids:
            out["consultation"] = u.obj("consultation", consultation_ids[0])
    _put(out, "result", record.result)
    _put(out, "resolutionText", record.resolution_text)
    if internal:
        _one_file(out, "resolutionFile", record.resolution_file, u)
        _put(out, "auxiliaryFile", _files(record.auxiliary_files, u))
    _put(out, "start", fmt_datetime(record.start))
    _put(out, "end", fmt_datetime(record.end))
    out[VENDOR + "timeline"] = u.timeline(record.meeting_id) + f"?agenda_item={record.id}"
    return _tail(out, record, u.page(f"/sitzungen/{record.meeting_id}#top-{record.id}"))


def paper(
    record: Paper,
    u: Urls,
    *,
    internal: bool = True,
    refs: PaperRefs | None = None,
    consultation_refs: Mapping[int, ConsultationRefs] | None = None,
) -> Any:
    """``refs``/``consultation_refs``: the links computed for a whole page; without them the
    relationships must be loaded."""
    frags = u.fragments
    if frags is None or refs is None or consultation_refs is None:
        return _paper(record, u, internal=internal, refs=refs, consultation_refs=consultation_refs)
    parts: Any = None
    if internal:
        parts = (
            _file_key(record.main_file),
            _files_key(record.auxiliary_files),
            tuple(
                (c.id, c.modified, c.position, _consultation_refs_key(consultation_refs.get(c.id)))
                for c in record.consultations
                if alive(c)
            ),
        )
    key = (
        "paper",
        internal,
        record.id,
        record.modified,
        (
            tuple(refs.related),
            tuple(refs.superordinated),
            tuple(refs.subordinated),
            tuple(refs.originator_persons),
            tuple(refs.originator_organizations),
            tuple(refs.under_direction_of),
        ),
        parts,
    )
    return frags.get(
        key, lambda: _paper(record, u, internal=internal, refs=refs, consultation_refs=consultation_refs)
    )


def _consultation_refs_key(refs: ConsultationRefs | None) -> tuple[Any, ...] | None:
    if refs is None:
        return None
    return (refs.agenda_item, refs.meeting, tuple(refs.organizations))


def _paper(
    record: Paper,
    u: Urls,
    *,
    internal: bool = True,
    refs: PaperRefs | None = None,
    consultation_refs: Mapping[int, ConsultationRefs] | None = None,
) -> dict[str, Any]:
    out = _head(record, "paper", u)
    out["body"] = u.obj("body", record.body_id)
    _put(out, "name", record.name)
    _put(out, "reference", record.reference)
    _put(out, "date", fmt_date(record.date))
    _put(out, "paperType", record.paper_type)

    def papers(papers: Iterable[Paper]) -> list[str]:
        return [
            u.obj("paper", p.id)
            for p in sorted(papers, key=lambda p: p.id)
            if paper_ok(p) and p.id != record.id
        ]

    def ids(kind: str, values: list[int]) -> list[str]:
        return [u.obj(kind, i) for i in values]

    if refs is not None:
        _put(out, "relatedPaper", ids("paper", refs.related))
        _put(out, "superordinatedPaper", ids("paper", refs.superordinated))
        _put(out, "subordinatedPaper", ids("paper", refs.subordinated))
    else:
        _put(out, "relatedPaper", papers(record.related_papers))
        _put(out, "superordinatedPaper", papers(record.superordinated_papers))
        _put(out, "subordinatedPaper", papers(record.subordinated_papers))
    if internal:
        _one_file(out, "mainFile", record.main_file, u)
        _put(out, "auxiliaryFile", _files(record.auxiliary_files, u))
    if refs is not None:
        _put(out, "originatorPerson", ids("person", refs.originator_persons))
        _put(out, "underDirectionOf", ids("organization", refs.under_direction_of))
        _put(out, "originatorOrganization", ids("organization", refs.originator_organizations))
    else:
        _put(out, "originatorPerson", [u.obj("person", p.id) for p in record.originator_persons if alive(p)])
        _put(
            out,
            "underDirectionOf",
            [u.obj("organization", o.id) for o in record.under_direction_of if alive(o)],
        )
        _put(
            out,
            "originatorOrganization",
            [u.obj("organization", o.id) for o in record.originator_organizations if alive(o)],
        )
    if internal:
        consultations = sorted(
            (c for c in record.consultations if alive(c)), key=lambda c: (c.position, c.id)
        )
        _put(
            out,
            "consultation",
            [
                _consultation(
                    c,
                    u,
                    embedded=True,
                    refs=consultation_refs.get(c.id, ConsultationRefs())
                    if consultation_refs is not None
                    else None,
                )
                for c in consultations
            ],
        )
    return _tail(out, record, u.page(f"/vorlagen/{record.id}"))


def consultation(
    record: Consultation, u: Urls, *, embedded: bool = False, refs: ConsultationRefs | None = None
) -> Any:
    frags = u.fragments
    if frags is None or refs is None:
        return _consultation(record, u, embedded=embedded, refs=refs)
    key = ("consultation", embedded, record.id, record.modified, _consultation_refs_key(refs))
    return frags.get(key, lambda: _consultation(record, u, embedded=embedded, refs=refs))


def _consultation(
    record: Consultation, u: Urls, *, embedded: bool = False, refs: ConsultationRefs | None = None
) -> dict[str, Any]:
    out = _head(record, "consultation", u)
    if not embedded:
        out["paper"] = u.obj("paper", record.paper_id)
    if refs is not None:
        if refs.agenda_item is not None:
            out["agendaItem"] = u.obj("agenda-item", refs.agenda_item)
        if refs.meeting is not None:
            out["meeting"] = u.obj("meeting", refs.meeting)
        _put(out, "organization", [u.obj("organization", i) for i in refs.organizations])
    else:
        if record.agenda_item is not None and item_ok(record.agenda_item):
            out["agendaItem"] = u.obj("agenda-item", record.agenda_item.id)
        if record.meeting is not None and meeting_ok(record.meeting):
            out["meeting"] = u.obj("meeting", record.meeting.id)
        _put(out, "organization", [u.obj("organization", o.id) for o in record.organizations if alive(o)])
    out["authoritative"] = bool(record.authoritative)
    _put(out, "role", record.role)
    return _tail(out, record)


def serialize(
    kind: str,
    record: Any,
    u: Urls,
    *,
    internal: bool = True,
    file_refs: dict[int, FileRefs] | None = None,
    location_refs: dict[int, LocationRefs] | None = None,
    first_consultation: Mapping[int, int] | None = None,
    paper_refs: Mapping[int, PaperRefs] | None = None,
    consultation_refs: Mapping[int, ConsultationRefs] | None = None,
) -> Any:
    """The standalone copy of ``record`` (of URL segment ``kind``), or its deleted stub."""
    if record.deleted:
        return deleted_stub(record, kind, u)
    if kind == "body":
        return body(record, u, internal=internal)
    if kind == "legislative-term":
        return legislative_term(record, u)
    if kind == "organization":
        return organization(record, u, internal=internal)
    if kind == "person":
        return person(record, u, internal=internal)
    if kind == "membership":
        return membership(record, u)
    if kind == "meeting":
        return meeting(record, u, internal=internal, first_consultation=first_consultation)
    if kind == "agenda-item":
        return agenda_item(record, u, internal=internal, first_consultation=first_consultation)
    if kind == "paper":
        return paper(
            record,
            u,
            internal=internal,
            refs=paper_refs.get(record.id, PaperRefs()) if paper_refs is not None else None,
            consultation_refs=consultation_refs,
        )
    if kind == "consultation":
        return consultation(
            record,
            u,
            refs=consultation_refs.get(record.id, ConsultationRefs())
            if consultation_refs is not None
            else None,
        )
    if kind == "file":
        return file(record, u, refs=(file_refs or {}).get(record.id, FileRefs()))
    if kind == "location":
        return location(record, u, refs=(location_refs or {}).get(record.id, LocationRefs()))
    raise KeyError(kind)
