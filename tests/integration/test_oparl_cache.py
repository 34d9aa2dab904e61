"""The OParl API's caches (council.oparl.cache) and what makes list pages cheap: serialised objects reused
only while nothing they show has changed, counts re-read after a change, a record made non-public gone
from every page at once, the meetings' smaller default page, gzip at level 1, and persons and
organisations read as rows giving the same JSON as the ORM records."""

from __future__ import annotations

import gzip
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from council.oparl import serialize as ser
from council.oparl.lists import DEFAULT_LIMITS
from council.records.models import AgendaItem, File, Meeting, Membership, Organization, Paper, Person
from tests.factories import Town, make_town
from tests.integration.test_oparl_crawl import API, BASE


def _fragments(app: Any) -> Any:
    return app.state.oparl_urls.fragments


async def _page(client: Any, url: str, **params: Any) -> dict[str, Any]:
    r = await client.get(url, params=params or None)  # (an empty mapping would drop the URL's query)
    assert r.status_code == 200, r.text[:300]
    return r.json()  # type: ignore[no-any-return]


def _ids(doc: dict[str, Any]) -> list[str]:
    return [o["id"] for o in doc["data"]]


async def test_fragments_are_reused_and_follow_changes(client: Any, app: Any, session: Any) -> None:
    town = await make_town(session)
    await session.commit()
    url = f"/oparl/v1/body/{town.body.id}/papers"
    first = await _page(client, url)
    frags = _fragments(app)
    hits = frags.hits
    again = await _page(client, url)
    assert again == first and frags.hits > hits  # served from the cache, the same JSON
    # an ORM change bumps ``modified``: the new name shows at once
    paper = await session.get(Paper, town.paper.id)
    paper.name = "Sanierung des Radwegs, neu gefasst"
    await session.commit()
    doc = await _page(client, url)
    (entry,) = [p for p in doc["data"] if p["id"] == f"{API}/paper/{town.paper.id}"]
    assert entry["name"] == "Sanierung des Radwegs, neu gefasst"
    standalone = await _page(client, f"/oparl/v1/paper/{town.paper.id}")
    assert standalone == entry
    # the cache emptied: the very same page again (what was cached is what would be built)
    frags.clear()
    assert await _page(client, url) == doc


async def test_non_public_records_leave_every_cached_page(client: Any, app: Any, session: Any) -> None:
    """A record made non-public disappears from lists, from the objects embedding it and from the links
    to it, although the objects linking to it keep their ``modified`` (the fragment key holds the
    links shown, not only the linking record's ``modified``)."""
    town = await make_town(session)
    other = Paper(body_id=town.body.id, name="Verwandte Vorlage", public=True)
    attachment = File(body_id=town.body.id, name="Anlage", file_name="anlage.pdf", public=True)
    session.add_all([other, attachment])
    await session.flush()
    paper, item = town.paper, town.public_item
    await session.refresh(paper, ["related_papers", "auxiliary_files"])
    await session.refresh(item, ["auxiliary_files"])
    paper.related_papers.append(other)
    paper.auxiliary_files.append(attachment)
    item.auxiliary_files.append(attachment)
    await session.commit()
    papers = f"/oparl/v1/body/{town.body.id}/papers"
    meetings = f"/oparl/v1/body/{town.body.id}/meetings"
    paper_url, other_url = f"{API}/paper/{paper.id}", f"{API}/paper/{other.id}"
    file_url = f"{API}/file/{attachment.id}"

    def entry(doc: dict[str, Any], url: str) -> dict[str, Any]:
        (found,) = [o for o in doc["data"] if o["id"] == url]
        return found

    doc = await _page(client, papers)
    assert entry(doc, paper_url)["relatedPaper"] == [other_url]
    assert file_url in [f["id"] for f in entry(doc, paper_url)["auxiliaryFile"]]
    meeting_doc = await _page(client, meetings)
    past = entry(meeting_doc, f"{API}/meeting/{town.past_meeting.id}")
    (cached_item,) = [i for i in past["agendaItem"] if i["id"] == f"{API}/agenda-item/{item.id}"]
    assert file_url in [f["id"] for f in cached_item["auxiliaryFile"]]
    total = doc["pagination"]["totalElements"]
    paper_modified = entry(doc, paper_url)["modified"]

    # Both made non-public through the ORM: the linked paper's flush does not touch the paper linking
    # to it (a link is not an embedding), so that paper's cached copy must not be served.
    other_row = await session.get(Paper, other.id)
    other_row.public = False
    file_row = await session.get(File, attachment.id)
    file_row.public = False
    await session.commit()
    doc = await _page(client, papers)
    assert other_url not in _ids(doc)
    assert doc["pagination"]["totalElements"] == total - 1  # the count is not the cached one
    shown = entry(doc, paper_url)
    assert "relatedPaper" not in shown
    assert file_url not in [f["id"] for f in shown.get("auxiliaryFile", [])]
    standalone = await _page(client, f"/oparl/v1/paper/{paper.id}")
    assert standalone == shown
    meeting_doc = await _page(client, meetings)
    past = entry(meeting_doc, f"{API}/meeting/{town.past_meeting.id}")
    (item_doc,) = [i for i in past["agendaItem"] if i["id"] == f"{API}/agenda-item/{item.id}"]
    assert file_url not in [f["id"] for f in item_doc.get("auxiliaryFile", [])]
    assert (await client.get(f"/oparl/v1/paper/{other.id}")).status_code == 404
    assert (await client.get(f"/oparl/v1/file/{attachment.id}")).status_code == 404
    # (the linking paper's own ``modified`` may or may not have moved: the answer is right either way)
    assert shown["modified"] >= paper_modified

    # an agenda item made non-public leaves the meeting page (the meeting's modified follows it)
    item_row = await session.get(AgendaItem, item.id)
    item_row.public = False
    await session.commit()
    meeting_doc = await _page(client, meetings)
    past = entry(meeting_doc, f"{API}/meeting/{town.past_meeting.id}")
    assert f"{API}/agenda-item/{item.id}" not in [i["id"] for i in past.get("agendaItem", [])]
    items = await _page(client, f"/oparl/v1/body/{town.body.id}/agenda-items")
    assert f"{API}/agenda-item/{item.id}" not in _ids(items)

    # a meeting made non-public: gone from the list and its count
    meetings_total = meeting_doc["pagination"]["totalElements"]
    meeting_row = await session.get(Meeting, town.past_meeting.id)
    meeting_row.public = False
    await session.commit()
    meeting_doc = await _page(client, meetings)
    assert f"{API}/meeting/{town.past_meeting.id}" not in _ids(meeting_doc)
    assert meeting_doc["pagination"]["totalElements"] == meetings_total - 1
    items_after = await _page(client, f"/oparl/v1/body/{town.body.id}/agenda-items")
    assert items_after["pagination"]["totalElements"] < items["pagination"]["totalElements"]


async def test_counts_and_last_modified_follow_changes(client: Any, app: Any, session: Any) -> None:
    town = await make_town(session)
    await session.commit()
    url = f"/oparl/v1/body/{town.body.id}/papers"
    r1 = await client.get(url)
    doc1 = r1.json()
    r2 = await client.get(url, headers={"If-Modified-Since": r1.headers["last-modified"]})
    assert r2.status_code == 304
    session.add(Paper(body_id=town.body.id, name="Neue Vorlage", public=True))
    session.add(Paper(body_id=town.body.id, name="Neue geheime Vorlage", public=False))
    await session.commit()
    r3 = await client.get(url, headers={"If-None-Match": r1.headers["etag"]})
    assert r3.status_code == 200
    doc3 = r3.json()
    assert doc3["pagination"]["totalElements"] == doc1["pagination"]["totalElements"] + 1
    assert r3.headers["etag"] != r1.headers["etag"]
    # numbered pages share the count
    numbered = await _page(client, url, limit=1, page=2)
    assert numbered["pagination"]["totalElements"] == doc3["pagination"]["totalElements"]
    # filters are part of the count's key
    since = await _page(client, url, modified_since="2000-01-01T00:00:00+01:00")
    assert since["pagination"]["totalElements"] >= doc3["pagination"]["totalElements"]
    future = await _page(client, url, created_since="2999-01-01T00:00:00+01:00")
    assert future["pagination"]["totalElements"] == 0 and future["data"] == []
    # a soft delete: the count drops, the deleted paper shows only with modified_since
    paper = await session.get(Paper, town.paper.id)
    paper.deleted = True
    await session.commit()
    doc4 = await _page(client, url)
    assert doc4["pagination"]["totalElements"] == doc3["pagination"]["totalElements"] - 1
    since2 = await _page(client, url, modified_since="2000-01-01T00:00:00+01:00")
    assert since2["pagination"]["totalElements"] == since["pagination"]["totalElements"]
    assert [p for p in since2["data"] if p["deleted"]]


async def test_meetings_page_size(client: Any, session: Any) -> None:
    town = await make_town(session)
    for i in range(DEFAULT_LIMITS["meeting"] + 3):
        session.add(Meeting(body_id=town.body.id, name=f"Sitzung {i}", public=True))
    await session.commit()
    url = f"/oparl/v1/body/{town.body.id}/meetings"
    doc = await _page(client, url)
    total = doc["pagination"]["totalElements"]
    assert doc["pagination"]["elementsPerPage"] == DEFAULT_LIMITS["meeting"] == len(doc["data"])
    assert "limit=" not in doc["links"]["next"]  # the server's own page size: no limit in the links
    seen = _ids(doc)
    for _ in range(10):  # two more pages at most
        if "next" not in doc["links"]:
            break
        doc = await _page(client, doc["links"]["next"].removeprefix(BASE))
        assert len(doc["data"]) <= DEFAULT_LIMITS["meeting"]
        seen += _ids(doc)
    assert len(seen) == len(set(seen)) == total
    # limit is honoured both ways, carried into the links, and capped
    small = await _page(client, url, limit=3)
    assert len(small["data"]) == 3 and "limit=3" in small["links"]["next"]
    big = await _page(client, url, limit=50)
    assert len(big["data"]) == total and big["pagination"]["elementsPerPage"] == 50
    assert (await _page(client, url, limit=99999))["pagination"]["elementsPerPage"] == 1000
    # the organisation's meetings list has the same page size
    org_doc = await _page(client, f"/oparl/v1/organization/{town.committee.id}/meetings")
    assert org_doc["pagination"]["elementsPerPage"] == DEFAULT_LIMITS["meeting"]


async def test_json_is_gzipped_when_asked(client: Any, session: Any) -> None:
    town = await make_town(session)
    await session.commit()
    url = f"/oparl/v1/body/{town.body.id}/persons"
    plain = await client.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.headers["vary"] == "Accept-Encoding"
    assert len(plain.content) > 1024
    for accept in ("gzip", "br, gzip;q=0.5", "deflate, GZIP"):
        zipped = await client.get(url, headers={"Accept-Encoding": accept})
        assert zipped.headers["content-encoding"] == "gzip", accept
        assert zipped.json() == plain.json()  # (the client unzips)
        assert zipped.headers["etag"] == plain.headers["etag"]
    refused = await client.get(url, headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers
    # the raw bytes are a gzip stream
    async with client.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as response:
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
    assert json.loads(gzip.decompress(raw)) == plain.json()


async def _orm_copy(session: Any, model: Any, record_id: int, options: list[Any]) -> Any:
    session.expire_all()
    return (await session.execute(select(model).where(model.id == record_id).options(*options))).scalar_one()


async def test_persons_and_organizations_from_rows_equal_the_orm(client: Any, session: Any) -> None:
    """Persons and organisations are read as rows now: the same JSON as serialising the ORM records."""
    town: Town = await make_town(session)
    assert town.member is not None
    member = town.member
    await session.refresh(member, ["memberships"])
    member.location_id = town.location.id
    member.title = ["Dr."]
    member.memberships[0].deleted = True  # a deleted membership is left out
    gone = Person(body_id=town.body.id, name="Ausgeschieden", deleted=True)
    session.add(gone)
    await session.flush()
    session.add(Membership(person_id=gone.id, organization_id=town.committee.id))  # of a deleted person
    await session.commit()
    u = ser.Urls(BASE)
    body_id, committee_id = town.body.id, town.committee.id  # (the checks below expire the session)
    persons = await _page(client, f"/oparl/v1/body/{body_id}/persons")
    assert persons["data"]
    for doc in persons["data"]:
        record_id = int(doc["id"].rsplit("/", 1)[1])
        orm = await _orm_copy(
            session, Person, record_id, [selectinload(Person.location), selectinload(Person.memberships)]
        )
        assert doc == ser.person(orm, u)
        assert await _page(client, f"/oparl/v1/person/{record_id}") == doc
    organizations = await _page(client, f"/oparl/v1/body/{body_id}/organizations")
    assert organizations["data"]
    for doc in organizations["data"]:
        record_id = int(doc["id"].rsplit("/", 1)[1])
        orm = await _orm_copy(
            session,
            Organization,
            record_id,
            [
                selectinload(Organization.location),
                selectinload(Organization.memberships).selectinload(Membership.person),
            ],
        )
        assert doc == ser.organization(orm, u)
        assert await _page(client, f"/oparl/v1/organization/{record_id}") == doc
    committee = [d for d in organizations["data"] if d["id"] == f"{API}/organization/{committee_id}"]
    assert committee and all("/membership/" in m for m in committee[0].get("membership", []))
