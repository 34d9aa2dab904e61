"""OParl JSON objects → column values of the records (``council.records.models``).

``collect`` walks an object, pulls out the embedded ones (agenda items of a meeting, files and
consultations of a paper, memberships of a person, locations, legislative terms) and replaces them by
their ids, so that every object can be written on its own and references resolved afterwards by
origin id. ``map_object`` turns one (flattened) object into a :class:`Mapped`: plain column values,
single references (a foreign key column to fill) and list references (an association table).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from council.oparl.importer.faults import (
    as_bool,
    as_int,
    as_list,
    clean_str,
    normalise_mime,
    parse_date,
    parse_datetime,
    short_type,
    str_list,
)

#: (code, message) for the object being read.
Warn = Callable[[str, str], None]

TYPES = (
    "Body",
    "LegislativeTerm",
    "Location",
    "Organization",
    "Person",
    "Membership",
    "File",
    "Meeting",
    "AgendaItem",
    "Paper",
    "Consultation",
)

#: type -> field -> (embedded type, many, back-reference field set on the child)
EMBEDDED: dict[str, dict[str, tuple[str, bool, str | None]]] = {
    "Body": {"legislativeTerm": ("LegislativeTerm", True, "body"), "location": ("Location", False, None)},
    "Organization": {"location": ("Location", False, None)},
    "Person": {
        "membership": ("Membership", True, "person"),
        "location": ("Location", False, None),
        "locationObject": ("Location", False, None),
    },
    "Meeting": {
        "location": ("Location", False, None),
        "invitation": ("File", False, None),
        "resultsProtocol": ("File", False, None),
        "verbatimProtocol": ("File", False, None),
        "auxiliaryFile": ("File", True, None),
        "agendaItem": ("AgendaItem", True, "meeting"),
    },
    "AgendaItem": {"resolutionFile": ("File", False, None), "auxiliaryFile": ("File", True, None)},
    "Paper": {
        "mainFile": ("File", False, None),
        "auxiliaryFile": ("File", True, None),
        "consultation": ("Consultation", True, "paper"),
        "location": ("Location", True, None),
    },
}


class Store:
    """All objects of one body read so far, flattened, by type and id (merged when seen twice)."""

    def __init__(self, warn: Callable[[str, str, str, str | None], None]) -> None:
        self.objects: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in TYPES}
        self._warn = warn
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def warn(self, code: str, url: str, message: str, kind: str | None = None) -> None:
        self._warn(code, url, message, kind)

    def collect(
        self,
        obj: dict[str, Any],
        expected: str,
        *,
        parent_id: str | None = None,
        back_field: str | None = None,
        synthetic_id: str | None = None,
    ) -> str | None:
        """Add ``obj`` (and what it embeds); returns its id, or ``None`` when it cannot be used."""
        raw_id = clean_str(obj.get("id"))
        kind = short_type(obj.get("type"))
        if kind not in TYPES:
            if kind is None:
                code = "deleted_without_type" if obj.get("deleted") is True else "missing_type"
                where = f" (embedded in {parent_id})" if parent_id else ""
                self.warn(code, raw_id or parent_id or "", f"{expected} without type{where}", expected)
            else:
                self.warn("unknown_type", raw_id or "", f"type {kind!r}; read as {expected}", expected)
            kind = expected
        elif kind != expected and parent_id is not None:
            self.warn("unexpected_type", raw_id or "", f"{kind} where {expected} was expected", expected)
        if raw_id is None:
            if synthetic_id is None:
                self.warn("missing_id", parent_id or "", f"{kind} without id; skipped", kind)
                return None
            raw_id = synthetic_id
        flat = dict(obj)
        flat["id"] = raw_id
        if parent_id and back_field and not clean_str(flat.get(back_field)):
            flat[back_field] = parent_id
        for name, (child_type, many, back) in EMBEDDED.get(kind, {}).items():
            if name not in flat or flat.get("deleted") is True:
                continue
            value = flat[name]
            if many:
                items = as_list(value, name, lambda c, m: self.warn(c, raw_id, m, kind))
                ids: list[str] = []
                for i, item in enumerate(items):
                    if isinstance(item, dict):
                        if child_type == "Consultation":
                            item = {**item, "_position": i}
                        child = self.collect(
                            item,
                            child_type,
                            parent_id=raw_id,
                            back_field=back,
                            synthetic_id=f"{raw_id}#{name}-{i}",
                        )
                    else:
                        child = clean_str(item)
                    if child and child not in ids:
                        ids.append(child)
                flat[name] = ids
            elif isinstance(value, dict):
                if kind == "Person" and name == "location":
                    self.warn("location_object", raw_id, "Person.location is an object, not a URL", kind)
                flat[name] = self.collect(
                    value, child_type, parent_id=raw_id, back_field=back, synthetic_id=f"{raw_id}#{name}"
                )
            elif isinstance(value, list):
                self.warn("array_not_object", raw_id, f"{name} is an array; first entry taken", kind)
                first = value[0] if value else None
                if isinstance(first, dict):
                    flat[name] = self.collect(
                        first, child_type, parent_id=raw_id, back_field=back, synthetic_id=f"{raw_id}#{name}"
                    )
                else:
                    flat[name] = clean_str(first)
            else:
                flat[name] = clean_str(value)
        self._merge(kind, raw_id, flat)
        return raw_id

    def _merge(self, kind: str, oid: str, flat: dict[str, Any]) -> None:
        bucket = self.objects[kind]
        old = bucket.get(oid)
        if old is None:
            bucket[oid] = flat
            self.count += 1
            return
        if flat.get("deleted") is True or old.get("deleted") is True:
            newer = flat if flat.get("deleted") is True else old
            bucket[oid] = {**old, **flat} if newer is flat else {**flat, **old}
            return
        m_old, m_new = parse_datetime(old.get("modified")), parse_datetime(flat.get("modified"))
        if m_old is not None and m_new is not None and m_old > m_new:
            bucket[oid] = {**flat, **{k: v for k, v in old.items() if v is not None}}
        else:
            bucket[oid] = {**old, **{k: v for k, v in flat.items() if v is not None}}


@dataclass
class Mapped:
    fields: dict[str, Any] = field(default_factory=dict)
    #: column -> (type, origin id or None)
    refs: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    #: link name -> (type, [origin ids]) (see service.LINKS)
    lists: dict[str, tuple[str, list[str]]] = field(default_factory=dict)


def _ref(value: Any) -> str | None:
    if isinstance(value, dict):
        return clean_str(value.get("id"))
    return clean_str(value)


def _refs(value: Any, name: str, warn: Warn) -> list[str]:
    out: list[str] = []
    for item in as_list(value, name, warn):
        ref = _ref(item)
        if ref and ref not in out:
            out.append(ref)
    return out


def _common(obj: dict[str, Any]) -> dict[str, Any]:
    return {"keyword": str_list(obj.get("keyword")), "web": clean_str(obj.get("web"))}


def map_body(o: dict[str, Any], warn: Warn) -> Mapped:
    return Mapped(
        fields={
            "name": clean_str(o.get("name")) or clean_str(o.get("shortName")) or "Körperschaft",
            "short_name": clean_str(o.get("shortName")),
            "website": clean_str(o.get("website")),
            "license": clean_str(o.get("license")),
            "license_valid_since": parse_datetime(o.get("licenseValidSince")),
            "oparl_since": parse_datetime(o.get("oparlSince")),
            "ags": clean_str(o.get("ags")),
            "rgs": clean_str(o.get("rgs")),
            "equivalent": str_list(o.get("equivalent")),
            "contact_email": clean_str(o.get("contactEmail")),
            "contact_name": clean_str(o.get("contactName")),
            "classification": clean_str(o.get("classification")),
            **_common(o),
        },
        refs={"location_id": ("Location", _ref(o.get("location")))},
    )


def map_legislative_term(o: dict[str, Any], warn: Warn) -> Mapped:
    return Mapped(
        fields={
            "name": clean_str(o.get("name")) or "Wahlperiode",
            "start_date": parse_date(o.get("startDate"), warn, "startDate"),
            "end_date": parse_date(o.get("endDate"), warn, "endDate"),
            **_common(o),
        }
    )


def map_location(o: dict[str, Any], warn: Warn) -> Mapped:
    geojson = o.get("geojson")
    return Mapped(
        fields={
            "description": clean_str(o.get("description")),
            "street_address": clean_str(o.get("streetAddress")),
            "room": clean_str(o.get("room")),
            "postal_code": clean_str(o.get("postalCode")),
            "sub_locality": clean_str(o.get("subLocality")),
            "locality": clean_str(o.get("locality")),
            "geojson": geojson if isinstance(geojson, dict) else None,
            **_common(o),
        }
    )


def map_organization(o: dict[str, Any], warn: Warn) -> Mapped:
    return Mapped(
        fields={
            "name": clean_str(o.get("name")) or clean_str(o.get("shortName")) or "Gremium",
            "short_name": clean_str(o.get("shortName")),
            "organization_type": clean_str(o.get("organizationType")),
            "classification": clean_str(o.get("classification")),
            "post": str_list(o.get("post")),
            "start_date": parse_date(o.get("startDate"), warn, "startDate"),
            "end_date": parse_date(o.get("endDate"), warn, "endDate"),
            "website": clean_str(o.get("website")),
            **_common(o),
        },
        refs={
            "location_id": ("Location", _ref(o.get("location"))),
            "sub_organization_of_id": ("Organization", _ref(o.get("subOrganizationOf"))),
        },
    )


def map_person(o: dict[str, Any], warn: Warn) -> Mapped:
    given, family = clean_str(o.get("givenName")), clean_str(o.get("familyName"))
    name = clean_str(o.get("name")) or " ".join(p for p in (given, family) if p) or "Unbekannt"
    location = _ref(o.get("location")) or _ref(o.get("locationObject"))
    return Mapped(
        fields={
            "name": name,
            "family_name": family,
            "given_name": given,
            "form_of_address": clean_str(o.get("formOfAddress")),
            "affix": clean_str(o.get("affix")),
            "title": str_list(o.get("title")),
            "gender": clean_str(o.get("gender")),
            "phone": str_list(o.get("phone")),
            "email": str_list(o.get("email")),
            "status": str_list(o.get("status")),
            "life": clean_str(o.get("life"), multiline=True),
            "life_source": clean_str(o.get("lifeSource")),
            **_common(o),
        },
        refs={"location_id": ("Location", location)},
    )


def map_membership(o: dict[str, Any], warn: Warn) -> Mapped:
    return Mapped(
        fields={
            "role": clean_str(o.get("role")),
            "voting_right": as_bool(o.get("votingRight"), True),
            "start_date": parse_date(o.get("startDate"), warn, "startDate"),
            "end_date": parse_date(o.get("endDate"), warn, "endDate"),
            **_common(o),
        },
        refs={
            "person_id": ("Person", _ref(o.get("person"))),
            "organization_id": ("Organization", _ref(o.get("organization"))),
            "on_behalf_of_id": ("Organization", _ref(o.get("onBehalfOf"))),
        },
    )


def map_file(o: dict[str, Any], warn: Warn) -> Mapped:
    file_name = clean_str(o.get("fileName"))
    name = clean_str(o.get("name")) or (file_name.rsplit(".", 1)[0] if file_name else None) or "Dokument"
    size = as_int(o.get("size"))
    if size is not None and size <= 0:
        warn("file_size_zero", f"size {size}; taken from the download")
        size = None
    return Mapped(
        fields={
            "name": name,
            "file_name": file_name or name,
            "mime_type": normalise_mime(o.get("mimeType"), file_name, warn),
            "date": parse_date(o.get("date"), warn, "File.date"),
            "license": clean_str(o.get("license")),
            "file_license": clean_str(o.get("fileLicense")),
            "external_service_url": clean_str(o.get("externalServiceUrl")),
            **_common(o),
        },
        # size / checksum / URLs are handled by the service (they decide about the download)
        lists={},
    )


def map_meeting(o: dict[str, Any], warn: Warn) -> Mapped:
    return Mapped(
        fields={
            "name": clean_str(o.get("name")) or "Sitzung",
            "meeting_state": clean_str(o.get("meetingState")),
            "cancelled": as_bool(o.get("cancelled"), False),
            "start": parse_datetime(o.get("start")),
            "end": parse_datetime(o.get("end")),
            **_common(o),
        },
        refs={
            "location_id": ("Location", _ref(o.get("location"))),
            "invitation_id": ("File", _ref(o.get("invitation"))),
            "results_protocol_id": ("File", _ref(o.get("resultsProtocol"))),
            "verbatim_protocol_id": ("File", _ref(o.get("verbatimProtocol"))),
        },
        lists={
            "meeting_organization": ("Organization", _refs(o.get("organization"), "organization", warn)),
            "meeting_auxiliary_file": ("File", _refs(o.get("auxiliaryFile"), "auxiliaryFile", warn)),
        },
    )


def map_agenda_item(o: dict[str, Any], warn: Warn) -> Mapped:
    return Mapped(
        fields={
            "number": clean_str(o.get("number")),
            "order": as_int(o.get("order")) or 0,
            "name": clean_str(o.get("name")) or clean_str(o.get("number")) or "Tagesordnungspunkt",
            "public": as_bool(o.get("public"), True),
            "result": clean_str(o.get("result")),
            "resolution_text": clean_str(o.get("resolutionText"), multiline=True),
            "start": parse_datetime(o.get("start")),
            "end": parse_datetime(o.get("end")),
            **_common(o),
        },
        refs={
            "meeting_id": ("Meeting", _ref(o.get("meeting"))),
            "resolution_file_id": ("File", _ref(o.get("resolutionFile"))),
        },
        lists={"agenda_item_auxiliary_file": ("File", _refs(o.get("auxiliaryFile"), "auxiliaryFile", warn))},
    )


def map_paper(o: dict[str, Any], warn: Warn) -> Mapped:
    return Mapped(
        fields={
            "name": clean_str(o.get("name")) or clean_str(o.get("reference")) or "Vorlage",
            "reference": clean_str(o.get("reference")),
            "date": parse_date(o.get("date"), warn, "Paper.date"),
            "paper_type": clean_str(o.get("paperType")),
            **_common(o),
        },
        refs={"main_file_id": ("File", _ref(o.get("mainFile")))},
        lists={
            "paper_auxiliary_file": ("File", _refs(o.get("auxiliaryFile"), "auxiliaryFile", warn)),
            "paper_related": ("Paper", _refs(o.get("relatedPaper"), "relatedPaper", warn)),
            "paper_superordinated": (
                "Paper",
                _refs(o.get("superordinatedPaper"), "superordinatedPaper", warn),
            ),
            "paper_subordinated": ("Paper", _refs(o.get("subordinatedPaper"), "subordinatedPaper", warn)),
            "paper_originator_person": ("Person", _refs(o.get("originatorPerson"), "originatorPerson", warn)),
            "paper_originator_organization": (
                "Organization",
                _refs(o.get("originatorOrganization"), "originatorOrganization", warn),
            ),
            "paper_under_direction_of": (
                "Organization",
                _refs(o.get("underDirectionOf"), "underDirectionOf", warn),
            ),
        },
    )


def map_consultation(o: dict[str, Any], warn: Warn) -> Mapped:
    fields: dict[str, Any] = {
        "authoritative": as_bool(o.get("authoritative"), False),
        "role": clean_str(o.get("role")),
        **_common(o),
    }
    if isinstance(o.get("_position"), int):
        fields["position"] = o["_position"]
    return Mapped(
        fields=fields,
        refs={
            "paper_id": ("Paper", _ref(o.get("paper"))),
            "agenda_item_id": ("AgendaItem", _ref(o.get("agendaItem"))),
            "meeting_id": ("Meeting", _ref(o.get("meeting"))),
        },
        lists={
            "consultation_organization": ("Organization", _refs(o.get("organization"), "organization", warn))
        },
    )


MAPPERS: dict[str, Callable[[dict[str, Any], Warn], Mapped]] = {
    "Body": map_body,
    "LegislativeTerm": map_legislative_term,
    "Location": map_location,
    "Organization": map_organization,
    "Person": map_person,
    "Membership": map_membership,
    "File": map_file,
    "Meeting": map_meeting,
    "AgendaItem": map_agenda_item,
    "Paper": map_paper,
    "Consultation": map_consultation,
}


def map_object(kind: str, obj: dict[str, Any], warn: Warn) -> Mapped:
    return MAPPERS[kind](obj, warn)
