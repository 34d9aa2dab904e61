"""OParl API behaviour on generated data: every optional field filled, deleted and non-public records,
filters, paging, errors, conditional GET, CORS, file access."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import update

from council.documents.store import FileStore
from council.live.models import TimelineEvent
from council.records.models import (
    AgendaItem,
    Consultation,
    File,
    Meeting,
    Membership,
    Paper,
    Person,
)
from tests.factories import Town, make_town
from tests.integration.test_oparl_crawl import (
    API,
    OParlChecker,
    assert_consistent,
    crawl,
    ids_of,
)

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


async def _enrich(session: Any, town: Town, settings: Any) -> dict[str, Any]:
    """Fill every optional field the model has, add stored blobs, deleted records and a timeline."""
    store = FileStore(settings.files_dir)
    blob = store.put(PDF)
    body = town.body
    body.license = "https://creativecommons.org/licenses/by/4.0/"
    body.license_valid_since = datetime(2020, 1, 1, tzinfo=UTC)
    body.oparl_since = datetime(2021, 6, 1, 8, 30, tzinfo=UTC)
    body.rgs = "053820024024"
    body.equivalent = ["https://www.wikidata.org/wiki/Q1"]
    body.contact_email = "rat@example.org"
    body.contact_name = "Ratsbüro"
    body.classification = "Stadt"
    body.keyword = ["kommune"]
    body.location_id = town.location.id
    loc = town.location
    loc.geojson = {"type": "Point", "coordinates": [7.28, 50.77]}
    loc.sub_locality = "Zentrum"
    loc.keyword = ["rathaus"]
    loc.web = "https://example.org/rathaus"
    town.term.keyword = ["wp"]
    town.term.web = "https://example.org/wp"
    c = town.committee
    c.post = ["Vorsitz", "Mitglied"]
    c.start_date = date(2025, 11, 1)
    c.end_date = date(2030, 10, 31)
    c.website = "https://example.org/asv"
    c.location = loc
    c.keyword = ["ausschuss"]
    town.faction.sub_organization_of_id = town.council.id
    p = town.member
    assert p is not None
    p.form_of_address = "Frau"
    p.affix = "von"
    p.title = ["Dr."]
    p.gender = "female"
    p.phone = ["+49 2242 888 0"]
    p.email = ["anna@example.org"]
    p.status = ["Ratsmitglied"]
    p.life = "Geboren in Teststadt."
    p.life_source = "Eigene Angabe"
    p.location = loc
    p.keyword = ["rat"]
    f = town.public_file
    assert f is not None
    f.storage_key, f.sha512, f.size = blob.key, blob.sha512, blob.size
    f.date = date(2026, 10, 1)
    f.license = "CC-BY-4.0"
    f.file_license = "https://creativecommons.org/licenses/by/4.0/"
    f.external_service_url = "https://example.org/viewer/1"
    f.keyword = ["vorlage"]
    paper = town.paper
    assert paper is not None
    aux = File(
        body_id=body.id,
        name="Anlage 1",
        file_name="anlage-1.pdf",
        public=True,
        storage_key=blob.key,
        sha512=blob.sha512,
        size=blob.size,
        text="Anlage",
        text_state="done",
    )
    hidden_aux = File(body_id=body.id, name="Anlage geheim", file_name="geheim.pdf", public=False)
    gone = File(
        body_id=body.id,
        name="Zurückgezogen",
        file_name="weg.pdf",
        public=True,
        deleted=True,
        storage_key=blob.key,
    )
    session.add_all([aux, hidden_aux, gone])
    await session.flush()
    await session.refresh(
        paper,
        [
            "auxiliary_files",
            "originator_persons",
            "under_direction_of",
            "related_papers",
            "subordinated_papers",
        ],
    )
    await session.refresh(town.past_meeting, ["auxiliary_files"])
    await session.refresh(town.public_item, ["auxiliary_files"])
    paper.auxiliary_files.extend([aux, hidden_aux])
    paper.keyword = ["radweg"]
    paper.originator_persons.append(p)
    paper.under_direction_of.append(town.committee)
    paper.related_papers.append(town.secret_paper)  # must not show
    sub = Paper(
        body=body,
        name="Ergänzung zur Radwegsanierung",
        reference="V/2026/0001-1",
        public=True,
        date=date(2026, 10, 5),
        paper_type="Ergänzungsvorlage",
    )
    session.add(sub)
    await session.flush()
    paper.subordinated_papers.append(sub)
    paper.related_papers.append(sub)
    past = town.past_meeting
    assert past is not None
    past.invitation = f
    past.results_protocol = aux
    past.verbatim_protocol = hidden_aux  # non-public: left out
    past.auxiliary_files.append(aux)
    past.keyword = ["sitzung"]
    item = town.public_item
    assert item is not None
    item.resolution_file = aux
    item.auxiliary_files.append(f)
    item.start = past.start
    item.end = past.start + timedelta(minutes=20) if past.start else None
    item.keyword = ["top"]
    deleted_meeting = Meeting(
        body=body,
        name="Abgesagte Sondersitzung",
        public=True,
        deleted=True,
        start=datetime(2026, 12, 1, 16, tzinfo=UTC),
    )
    deleted_paper = Paper(body=body, name="Zurückgezogener Antrag", public=True, deleted=True)
    deleted_secret = Paper(body=body, name="Geheim und gelöscht", public=False, deleted=True)
    deleted_person = Person(body=body, name="Ehemalige Person", deleted=True)
    session.add_all([deleted_meeting, deleted_paper, deleted_secret, deleted_person])
    await session.flush()
    session.add_all(
        [
            TimelineEvent(meeting_id=past.id, kind="meeting.opened", at=past.start),
            TimelineEvent(
                meeting_id=past.id, kind="agenda_item.started", agenda_item_id=item.id, at=item.start
            ),
            TimelineEvent(
                meeting_id=past.id,
                kind="speaker.started",
                agenda_item_id=item.id,
                person_id=p.id,
                consent=True,
                at=item.start,
            ),
            TimelineEvent(
                meeting_id=past.id,
                kind="agenda_item.started",
                agenda_item_id=town.secret_item.id,
                at=item.end,
            ),
        ]
    )
    await session.commit()
    return {
        "aux": aux,
        "hidden_aux": hidden_aux,
        "gone": gone,
        "sub": sub,
        "deleted_meeting": deleted_meeting,
        "deleted_paper": deleted_paper,
        "deleted_secret": deleted_secret,
        "deleted_person": deleted_person,
        "blob": blob,
    }


@pytest.fixture
async def world(session: Any, settings: Any) -> tuple[Town, dict[str, Any]]:
    town = await make_town(session)
    extra = await _enrich(session, town, settings)
    return town, extra


@pytest.fixture(scope="module")
def checker() -> OParlChecker:
    return OParlChecker()


async def test_generated_crawl_every_optional_field(client: Any, world: Any, checker: OParlChecker) -> None:
    town, extra = world
    result = await crawl(client, checker)
    assert_consistent(result)
    seen = result.referenced | set(result.objects) | set(result.embedded)
    assert town.secret_paper.id not in ids_of(seen, "paper")
    assert town.secret_meeting.id not in ids_of(seen, "meeting")
    assert {town.secret_item.id} & ids_of(seen, "agenda-item") == set()
    assert {town.secret_file.id, extra["hidden_aux"].id, town.secret_meeting_file.id} & ids_of(
        seen, "file"
    ) == set()
    # every optional field of every type appears somewhere
    present: dict[str, set[str]] = {}
    for obj in list(result.objects.values()) + [c for c, _ in result.embedded.values()]:
        present.setdefault(obj["type"].rsplit("/", 1)[1], set()).update(obj)
    expected = {
        "Body": {
            "license",
            "licenseValidSince",
            "oparlSince",
            "rgs",
            "equivalent",
            "contactEmail",
            "contactName",
            "classification",
            "location",
            "keyword",
            "website",
            "shortName",
            "ags",
        },
        "Location": {
            "geojson",
            "subLocality",
            "keyword",
            "web",
            "meetings",
            "persons",
            "organizations",
            "bodies",
        },
        "LegislativeTerm": {"keyword", "web", "startDate", "endDate", "body"},
        "Organization": {
            "post",
            "startDate",
            "endDate",
            "website",
            "location",
            "keyword",
            "subOrganizationOf",
            "membership",
            "organizationType",
            "classification",
            "shortName",
        },
        "Person": {
            "formOfAddress",
            "affix",
            "title",
            "gender",
            "phone",
            "email",
            "status",
            "life",
            "lifeSource",
            "location",
            "locationObject",
            "keyword",
            "membership",
            "familyName",
            "givenName",
        },
        "Membership": {"person", "role", "votingRight", "startDate", "endDate", "onBehalfOf"},
        "File": {
            "date",
            "size",
            "sha512Checksum",
            "text",
            "downloadUrl",
            "externalServiceUrl",
            "fileLicense",
            "license",
            "keyword",
            "meeting",
            "agendaItem",
            "paper",
        },
        "Paper": {
            "reference",
            "date",
            "paperType",
            "relatedPaper",
            "superordinatedPaper",
            "subordinatedPaper",
            "mainFile",
            "auxiliaryFile",
            "originatorPerson",
            "underDirectionOf",
            "originatorOrganization",
            "consultation",
            "keyword",
        },
        "Meeting": {
            "meetingState",
            "start",
            "end",
            "location",
            "organization",
            "invitation",
            "resultsProtocol",
            "auxiliaryFile",
            "agendaItem",
            "keyword",
            "rathaus:timeline",
        },
        "AgendaItem": {
            "meeting",
            "number",
            "consultation",
            "result",
            "resolutionText",
            "resolutionFile",
            "auxiliaryFile",
            "start",
            "end",
            "keyword",
            "rathaus:timeline",
        },
        "Consultation": {"paper", "agendaItem", "meeting", "organization", "authoritative", "role"},
    }
    for name, fields in expected.items():
        assert fields <= present.get(name, set()), f"{name} lacks {fields - present.get(name, set())}"
    # the related secret paper and the hidden verbatim protocol are left out
    paper = result.objects[f"{API}/paper/{town.paper.id}"]
    assert paper["relatedPaper"] == [f"{API}/paper/{extra['sub'].id}"]
    meeting = result.objects[f"{API}/meeting/{town.past_meeting.id}"]
    assert "verbatimProtocol" not in meeting


async def test_object_shapes_and_dates(client: Any, world: Any) -> None:
    town, extra = world
    body = (await client.get(f"/oparl/v1/body/{town.body.id}")).json()
    assert body["licenseValidSince"] == "2020-01-01T01:00:00+01:00"
    assert body["oparlSince"] == "2021-06-01T10:30:00+02:00"
    meeting = (await client.get(f"/oparl/v1/meeting/{town.past_meeting.id}")).json()
    assert meeting["start"].endswith("+01:00")
    assert all("meeting" not in item for item in meeting["agendaItem"])
    assert [i["id"].rsplit("/", 1)[1] for i in meeting["agendaItem"]] == [
        str(i) for i in sorted([town.public_item.id, town.public_item.id - 1])
    ]
    item = (await client.get(f"/oparl/v1/agenda-item/{town.public_item.id}")).json()
    assert item["meeting"] == f"{API}/meeting/{town.past_meeting.id}"
    f = (await client.get(f"/oparl/v1/file/{town.public_file.id}")).json()
    assert f["sha512Checksum"] == extra["blob"].sha512
    assert f["paper"] == [f"{API}/paper/{town.paper.id}"]
    assert f["meeting"] == [f"{API}/meeting/{town.past_meeting.id}"]
    assert f["agendaItem"] == [f"{API}/agenda-item/{town.public_item.id}"]
    person = (await client.get(f"/oparl/v1/person/{town.member.id}")).json()
    assert all("person" not in m for m in person["membership"])
    assert person["location"] == f"{API}/location/{town.location.id}"


async def test_timeline_vendor_extra(client: Any, world: Any) -> None:
    town, _ = world
    r = await client.get(f"/oparl/v1/meeting/{town.past_meeting.id}/rathaus-timeline")
    assert r.status_code == 200
    doc = r.json()
    kinds = [e["kind"] for e in doc["data"]]
    assert kinds == ["meeting.opened", "agenda_item.started", "speaker.started"]  # secret item left out
    assert doc["data"][2]["person"] == f"{API}/person/{town.member.id}"
    r = await client.get(
        f"/oparl/v1/meeting/{town.past_meeting.id}/rathaus-timeline?agenda_item={town.public_item.id}"
    )
    assert len(r.json()["data"]) == 2
    assert (
        await client.get(f"/oparl/v1/meeting/{town.secret_meeting.id}/rathaus-timeline")
    ).status_code == 404
    assert (
        await client.get(f"/oparl/v1/meeting/{town.past_meeting.id}/rathaus-timeline?agenda_item=x")
    ).status_code == 400


async def test_non_public_and_unknown_are_404(client: Any, world: Any) -> None:
    town, extra = world
    for path in (
        f"/oparl/v1/meeting/{town.secret_meeting.id}",
        f"/oparl/v1/paper/{town.secret_paper.id}",
        f"/oparl/v1/paper/{extra['deleted_secret'].id}",
        f"/oparl/v1/agenda-item/{town.secret_item.id}",
        f"/oparl/v1/file/{town.secret_file.id}",
        f"/oparl/v1/file/{town.secret_file.id}/access",
        f"/oparl/v1/file/{town.secret_file.id}/download",
        f"/oparl/v1/organization/{town.committee.id}/nothing",
        f"/oparl/v1/body/{town.body.id}/nothing",
        "/oparl/v1/meeting/999999",
        "/oparl/v1/meeting/99999999999999999999",
        "/oparl/v1/nothing/1",
        "/oparl/v1/body/999/papers",
    ):
        r = await client.get(path)
        assert r.status_code == 404, path
        assert r.headers["access-control-allow-origin"] == "*"
        err = r.json()
        assert err["type"] == "https://schema.oparl.org/1.1/Error" and err["message"], path


async def test_deleted_objects(client: Any, world: Any, checker: OParlChecker) -> None:
    town, extra = world
    for path in (
        f"/oparl/v1/meeting/{extra['deleted_meeting'].id}",
        f"/oparl/v1/paper/{extra['deleted_paper'].id}",
        f"/oparl/v1/file/{extra['gone'].id}",
        f"/oparl/v1/person/{extra['deleted_person'].id}",
    ):
        r = await client.get(path)
        assert r.status_code == 200, path
        doc = r.json()
        assert doc["deleted"] is True and set(doc) == {"id", "type", "created", "modified", "deleted"}
        assert not checker.check(doc)
    assert (await client.get(f"/oparl/v1/file/{extra['gone'].id}/access")).status_code == 410
    assert (await client.get(f"/oparl/v1/file/{extra['gone'].id}/download")).status_code == 410
    papers = f"/oparl/v1/body/{town.body.id}/papers"
    plain = (await client.get(papers)).json()
    assert all(not p["deleted"] for p in plain["data"])
    since = quote("2000-01-01T00:00:00+01:00")
    with_deleted = (await client.get(f"{papers}?modified_since={since}")).json()
    deleted = [p["id"] for p in with_deleted["data"] if p["deleted"]]
    assert deleted == [f"{API}/paper/{extra['deleted_paper'].id}"]  # not the secret one
    assert with_deleted["pagination"]["totalElements"] == plain["pagination"]["totalElements"] + 1
    assert "modified_since=" in with_deleted["links"]["self"]


async def test_paging_links_and_filters(client: Any, world: Any, session: Any) -> None:
    town, _ = world
    url = f"/oparl/v1/body/{town.body.id}/memberships"
    first = (await client.get(f"{url}?limit=4")).json()
    total = first["pagination"]["totalElements"]
    assert first["pagination"]["totalPages"] == -(-total // 4)
    assert first["pagination"]["currentPage"] == 1 and "prev" not in first["links"]
    assert first["links"]["last"].endswith(f"page={first['pagination']['totalPages']}")

    def get(link: str) -> Any:
        return client.get(link.removeprefix("http://127.0.0.1:8000"))

    ids: list[str] = []
    page = first
    chain = []
    while True:
        chain.append(page)
        ids += [m["id"] for m in page["data"]]
        assert "limit=4" in page["links"]["self"] and "limit=4" in page["links"]["first"]
        assert len(page["data"]) <= 4 and page["data"]
        if "next" not in page["links"]:
            break
        assert "after=" in page["links"]["next"]  # keyset links: no OFFSET, no count
        page = (await get(page["links"]["next"])).json()
        assert "prev" in page["links"] and "before=" in page["links"]["prev"]
        assert page["pagination"] == {"elementsPerPage": 4}
    assert len(chain) == first["pagination"]["totalPages"]
    assert len(ids) == len(set(ids)) == total
    assert ids == sorted(ids, key=lambda u: int(u.rsplit("/", 1)[1]))  # stable order by id
    # back again through prev: the same pages (full ones), then the first page has no prev
    page = chain[-1]
    back: list[str] = [m["id"] for m in page["data"]]
    while "prev" in page["links"]:
        page = (await get(page["links"]["prev"])).json()
        assert len(page["data"]) == 4 and "next" in page["links"]
        back = [m["id"] for m in page["data"]] + back
    assert back == ids
    # self links answer the same page; numbered pages still work and continue with keyset links
    again = (await get(chain[1]["links"]["self"])).json()
    assert again["data"] == chain[1]["data"]
    numbered = (await client.get(f"{url}?limit=4&page=2")).json()
    assert numbered["data"] == chain[1]["data"] and numbered["pagination"]["currentPage"] == 2
    assert (await get(numbered["links"]["next"])).json()["data"] == chain[2]["data"]
    last = (await get(first["links"]["last"])).json()
    assert last["data"] == chain[-1]["data"] and "next" not in last["links"]
    beyond = (await client.get(f"{url}?limit=4&after={ids[-1].rsplit('/', 1)[1]}")).json()
    assert beyond["data"] == [] and "next" not in beyond["links"]
    # limit is a hint: clamped
    big = (await client.get(f"{url}?limit=5000")).json()
    assert big["pagination"]["elementsPerPage"] == 1000
    # created/modified filters, with the "+" of the offset arriving as a space
    old = datetime(2001, 1, 1, tzinfo=UTC)
    await session.execute(
        update(Membership)
        .where(Membership.id == int(ids[0].rsplit("/", 1)[1]))
        .values(created=old, modified=old)
    )
    await session.commit()
    r = (await client.get(f"{url}?created_until=2001-01-01T01:00:00+01:00")).json()
    assert [m["id"] for m in r["data"]] == [ids[0]]
    assert "created_until=2001-01-01T01%3A00%3A00%2B01%3A00" in r["links"]["first"]
    r = (await client.get(f"{url}?modified_since={quote('2002-01-01T00:00:00Z')}&omit_internal=true")).json()
    assert ids[0] not in [m["id"] for m in r["data"]] and len(r["data"]) == total - 1
    assert "omit_internal=true" in r["links"]["self"]
    meetings = (await client.get(f"/oparl/v1/body/{town.body.id}/meetings?omit_internal=true")).json()
    assert meetings["data"] and all("agendaItem" not in m and "location" not in m for m in meetings["data"])


@pytest.mark.parametrize(
    "query",
    [
        "created_since=gestern",
        "created_since=2024-01-01",
        "modified_until=2024-13-01T00:00:00",
        "modified_since=2024-01-01T25:00:00Z",
        "created_since=%00",
        "created_since=%ED%A0%80",
        "modified_since=%E2%80%AE2024-01-01T00:00:00Z",
        "created_since=<script>alert(1)</script>",
        "created_since=' OR 1=1 --",
        "created_since=" + "9" * 10000,
        "created_since=0001-01-01T00:00:00+14:00",
        "created_since=2024-02-01T00:00:00Z&created_until=2024-01-01T00:00:00Z",
        "limit=0",
        "limit=-5",
        "limit=abc",
        "limit=99999999999999999999",
        "page=0",
        "page=x",
        "page=99999999999",
        "after=-1",
        "after=x",
        "before=-1",
        "after=99999999999",
        "page=2&after=3",
        "after=3&before=9",
        "omit_internal=vielleicht",
    ],
)
async def test_bad_filters_are_400_error_objects(client: Any, world: Any, query: str) -> None:
    town, _ = world
    r = await client.get(f"/oparl/v1/body/{town.body.id}/papers?{query}")
    assert r.status_code == 400, (query, r.status_code, r.text[:200])
    assert r.headers["access-control-allow-origin"] == "*"
    err = r.json()
    assert err["type"] == "https://schema.oparl.org/1.1/Error"
    assert err["message"]


async def test_conditional_get_cors_and_no_cookies(client: Any, world: Any, session: Any) -> None:
    town, _ = world
    for path in (
        f"/oparl/v1/paper/{town.paper.id}",
        f"/oparl/v1/body/{town.body.id}/papers",
        "/oparl/v1/system",
    ):
        r = await client.get(path)
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "*"
        assert r.headers["content-type"].startswith("application/json")
        assert "set-cookie" not in r.headers
        etag, last = r.headers["etag"], r.headers["last-modified"]
        r2 = await client.get(path, headers={"If-None-Match": etag})
        assert r2.status_code == 304 and r2.headers["access-control-allow-origin"] == "*"
        r3 = await client.get(path, headers={"If-Modified-Since": last})
        assert r3.status_code == 304
        r4 = await client.get(path, headers={"If-None-Match": '"other"'})
        assert r4.status_code == 200
    # a change makes the old ETag stale
    r = await client.get(f"/oparl/v1/paper/{town.paper.id}")
    etag = r.headers["etag"]
    await session.execute(
        update(Paper)
        .where(Paper.id == town.paper.id)
        .values(name="Neuer Titel", modified=datetime.now(UTC) + timedelta(seconds=2))
    )
    await session.commit()
    r = await client.get(f"/oparl/v1/paper/{town.paper.id}", headers={"If-None-Match": etag})
    assert r.status_code == 200 and r.json()["name"] == "Neuer Titel"


async def test_file_access_and_download(client: Any, world: Any) -> None:
    town, _ = world
    fid = town.public_file.id
    r = await client.get(f"/oparl/v1/file/{fid}/access")
    assert r.status_code == 200 and r.content == PDF
    assert "content-disposition" not in r.headers
    assert r.headers["content-type"].startswith("application/pdf")
    assert r.headers["access-control-allow-origin"] == "*"
    r2 = await client.get(f"/oparl/v1/file/{fid}/download")
    assert r2.status_code == 200 and r2.content == PDF
    assert r2.headers["content-disposition"].startswith("attachment")
    r3 = await client.get(f"/oparl/v1/file/{fid}/access", headers={"If-None-Match": r.headers["etag"]})
    assert r3.status_code == 304
    # a public file without stored content
    assert (await client.get(f"/oparl/v1/file/{town.public_file.id + 1000}/access")).status_code == 404


async def test_cookie_of_a_councillor_does_not_widen_the_api(client: Any, world: Any) -> None:
    town, _ = world
    r = await client.get(f"/oparl/v1/meeting/{town.secret_meeting.id}", cookies={"rathaus_session": "forged"})
    assert r.status_code == 404


async def _more_records(session: Any, town: Town, n: int) -> None:
    """``n`` public papers (main file, auxiliary file, consultation in a public meeting with an agenda
    item of its own), so that a page holds enough objects for an N+1 pattern to show."""
    assert town.past_meeting is not None
    for i in range(n):
        main = File(body_id=town.body.id, name=f"Vorlage {i}", file_name=f"v{i}.pdf", public=True,
                    text=f"Text {i}", text_state="done")  # fmt: skip
        aux = File(body_id=town.body.id, name=f"Anlage {i}", file_name=f"a{i}.pdf", public=True)
        paper = Paper(body_id=town.body.id, name=f"Vorlage {i}", public=True, main_file=main,
                      auxiliary_files=[aux])  # fmt: skip
        item = AgendaItem(meeting_id=town.past_meeting.id, number=f"X{i}", order=100 + i,
                          name=f"TOP {i}", public=True, auxiliary_files=[aux])  # fmt: skip
        session.add_all([main, aux, paper, item])
        session.add(Consultation(paper=paper, agenda_item=item, meeting_id=town.past_meeting.id,
                                 organizations=[town.committee]))  # fmt: skip
    await session.commit()


async def test_queries_per_list_page_are_bounded(client: Any, app: Any, world: Any, session: Any) -> None:
    """The number of SQL statements for a list page does not grow with the page size (no N+1): every
    list, a page of 2 against a page of 1000, on the first page and on a keyset page."""
    from sqlalchemy import event

    town, _ = world
    await _more_records(session, town, 30)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = app.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for segment in (
            "papers", "meetings", "agenda-items", "consultations", "files", "persons", "organizations",
            "memberships", "locations", "legislative-terms",
        ):  # fmt: skip
            url = f"/oparl/v1/body/{town.body.id}/{segment}"
            counts = {}
            for limit in (2, 1000):
                statements.clear()
                doc = (await client.get(f"{url}?limit={limit}")).json()
                counts[("first", limit)] = len(statements)
                if limit == 1000 and segment in ("papers", "files", "agenda-items", "consultations"):
                    assert len(doc["data"]) >= 30, segment
                statements.clear()
                doc = (await client.get(f"{url}?limit={limit}&after=1")).json()
                counts[("after", limit)] = len(statements)
            # A few more on the big page at most: selectinload skips a many-to-one relationship when no
            # row of the small page has one. One query per object (N+1) would add 28 and more.
            assert counts[("first", 1000)] <= counts[("first", 2)] + 3, (segment, counts)
            assert counts[("after", 1000)] <= counts[("after", 2)] + 3, (segment, counts)
            assert max(counts.values()) <= 24, (segment, counts)
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def test_several_auxiliary_files_are_all_embedded(client: Any, world: Any, session: Any) -> None:
    """A paper, a meeting and an agenda item with several auxiliary files embed all of them, in the same
    order in the list page and in the standalone object (pages are built from rows, see
    council.oparl.lists.attach_rows)."""
    town, _ = world
    assert town.past_meeting is not None
    files = [
        File(body_id=town.body.id, name=f"Anlage {i}", file_name=f"anlage-{i}.pdf", public=True)
        for i in range(3)
    ]
    paper = Paper(body_id=town.body.id, name="Vorlage mit Anlagen", public=True, auxiliary_files=files)
    item = AgendaItem(meeting_id=town.past_meeting.id, number="Z1", order=900, name="TOP mit Anlagen",
                      public=True, auxiliary_files=files[:2])  # fmt: skip
    session.add_all([*files, paper, item])
    await session.commit()
    wanted = {f"/oparl/v1/file/{f.id}" for f in files}

    def ids(obj: dict[str, Any]) -> list[str]:
        return ["/oparl/" + f["id"].split("/oparl/", 1)[1] for f in obj.get("auxiliaryFile", [])]

    standalone = (await client.get(f"/oparl/v1/paper/{paper.id}")).json()
    assert set(ids(standalone)) == wanted
    page = (await client.get(f"/oparl/v1/body/{town.body.id}/papers?after={paper.id - 1}&limit=1")).json()
    assert page["data"][0] == standalone
    item_doc = (await client.get(f"/oparl/v1/agenda-item/{item.id}")).json()
    assert set(ids(item_doc)) == {f"/oparl/v1/file/{f.id}" for f in files[:2]}
    meeting = (await client.get(f"/oparl/v1/meeting/{town.past_meeting.id}")).json()
    embedded = [i for i in meeting["agendaItem"] if i["id"] == item_doc["id"]]
    assert embedded and ids(embedded[0]) == ids(item_doc)
