"""Feeds: iCalendar (all meetings, per organisation, one meeting), RSS 2.0 and Atom for new papers.

Every feed is parsed back (icalendar, xml.etree) rather than compared as text — except the golden
file, which pins the exact iCal output of one fixed meeting (DTSTAMP normalised).
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest

from council.core.types import utcnow
from council.records.ical import build_calendar, meeting_as_ical_event
from council.records.models import AgendaItem, Location, Meeting, Organization, Paper
from tests.factories import make_town

GOLDEN = Path(__file__).parent.parent / "golden" / "meeting.ics"
BERLIN = ZoneInfo("Europe/Berlin")
ATOM = "{http://www.w3.org/2005/Atom}"


def events(body: bytes) -> list[icalendar.Event]:
    cal = icalendar.Calendar.from_ical(body)
    return [c for c in cal.walk("VEVENT")]


# --- iCalendar --------------------------------------------------------------------------------------


def _fixed_meeting() -> Meeting:
    """A meeting that never touches a database: the golden file depends on nothing else."""
    org = Organization(id=7, name="Ausschuss für Umwelt, Klima und Verkehr", deleted=False)
    location = Location(
        id=3,
        description="Rathaus",
        room="Ratssaal",
        street_address="Frankfurter Straße 97",
        locality="Hennef (Sieg)",
    )
    meeting = Meeting(
        id=42,
        name="12. Sitzung des Ausschusses für Umwelt, Klima und Verkehr",
        start=datetime(2026, 3, 26, 16, 0, tzinfo=UTC),  # 17:00 CET
        end=datetime(2026, 3, 30, 17, 30, tzinfo=UTC),  # 19:30 CEST: across the DST change
        cancelled=False,
        public=True,
        created=datetime(2026, 2, 1, 9, 0, tzinfo=UTC),
        modified=datetime(2026, 3, 20, 8, 15, 30, tzinfo=UTC),
        deleted=False,
    )
    meeting.organizations = [org]
    meeting.location = location
    items = [
        AgendaItem(
            id=1,
            number="1",
            order=1,
            name="Eröffnung, Feststellung der Beschlussfähigkeit",
            public=True,
            deleted=False,
        ),
        AgendaItem(
            id=3, number="3", order=3, name="Grundstücksangelegenheit Geheimweg", public=False, deleted=False
        ),
        AgendaItem(
            id=2,
            number="2",
            order=2,
            name="Radverkehrskonzept; Beschluss, Teil 2",
            public=True,
            deleted=False,
        ),
        AgendaItem(id=4, number="4", order=4, name="Gestrichener Punkt", public=True, deleted=True),
    ]
    meeting.agenda_items = items
    return meeting


def _normalise(body: bytes) -> str:
    text = body.decode("utf-8")
    return re.sub(r"^DTSTAMP:.*$", "DTSTAMP:19700101T000000Z", text, flags=re.M)


def test_meeting_ical_matches_golden_file():
    cal = build_calendar(
        [_fixed_meeting()], "https://rathaus.hennef.de", name="Ratsinformationssystem Hennef"
    )
    got = _normalise(cal.to_ical())
    if os.environ.get("RATHAUS_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_bytes(got.encode("utf-8"))
    assert "\r\n" in got  # RFC 5545 line endings
    # Compared without line-ending differences, so a checkout's newline conversion cannot break it.
    assert got.replace("\r\n", "\n") == GOLDEN.read_bytes().decode("utf-8").replace("\r\n", "\n")


def test_meeting_ical_event_fields():
    meeting = _fixed_meeting()
    event = meeting_as_ical_event(meeting, "https://rathaus.hennef.de/")
    assert str(event["UID"]) == "meeting-42@rathaus.hennef.de"
    assert event.decoded("DTSTART") == datetime(2026, 3, 26, 17, 0, tzinfo=BERLIN)
    assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert event.decoded("DTEND") == datetime(2026, 3, 30, 19, 30, tzinfo=BERLIN)
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(event["URL"]) == "https://rathaus.hennef.de/sitzungen/42"
    assert str(event["LOCATION"]) == "Rathaus, Ratssaal, Frankfurter Straße 97, Hennef (Sieg)"
    description = str(event["DESCRIPTION"])
    assert description.index("1 Eröffnung") < description.index("2 Radverkehrskonzept")
    assert "Geheimweg" not in description and "Gestrichener Punkt" not in description
    meeting.cancelled = True
    meeting.end = None
    event = meeting_as_ical_event(meeting, "https://rathaus.hennef.de")
    assert str(event["STATUS"]) == "CANCELLED"
    assert str(event["SUMMARY"]).startswith("Abgesagt: ")
    assert "DTEND" not in event
    meeting.start = None
    with pytest.raises(ValueError):
        meeting_as_ical_event(meeting, "https://rathaus.hennef.de")


async def test_meetings_ics_feed(session, client):
    town = await make_town(session)
    cancelled = Meeting(
        body_id=town.body.id,
        name="Abgesagte Sitzung\x01 <b>",
        start=utcnow() + timedelta(days=20),
        public=True,
        cancelled=True,
    )
    ancient = Meeting(
        body_id=town.body.id, name="Uralte Sitzung", start=utcnow() - timedelta(days=400), public=True
    )
    no_time = Meeting(body_id=town.body.id, name="Sitzung ohne Termin", start=None, public=True)
    session.add_all([cancelled, ancient, no_time])
    await session.commit()

    r = await client.get("/feeds/sitzungen.ics")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/calendar; charset=utf-8"
    cal = icalendar.Calendar.from_ical(r.content)
    assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == ["Europe/Berlin"]
    evs = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    expected = {town.past_meeting.id, town.next_meeting.id, town.council_meeting.id, cancelled.id}
    assert set(evs) == {f"meeting-{i}@127.0.0.1" for i in expected}
    assert str(evs[f"meeting-{cancelled.id}@127.0.0.1"]["STATUS"]) == "CANCELLED"
    assert "\x01" not in r.text
    past = evs[f"meeting-{town.past_meeting.id}@127.0.0.1"]
    assert past["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert past.decoded("DTSTART") == town.past_meeting.start
    assert str(past["URL"]) == f"http://127.0.0.1:8000/sitzungen/{town.past_meeting.id}"
    assert "Sanierung des Radwegs an der Landstraße" in str(past["DESCRIPTION"])
    for word in ("Geheimweg", "Sondersitzung", "Grundstücksangelegenheiten"):
        assert word not in r.text
    # Stable: the same data gives the same feed.
    assert (await client.get("/feeds/sitzungen.ics")).content == r.content


async def test_organization_and_single_meeting_ics(session, client):
    town = await make_town(session)
    r = await client.get(f"/feeds/gremien/{town.committee.id}.ics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/calendar")
    uids = {str(e["UID"]) for e in events(r.content)}
    assert uids == {f"meeting-{town.past_meeting.id}@127.0.0.1", f"meeting-{town.next_meeting.id}@127.0.0.1"}
    assert (
        "Ausschuss für Stadtentwicklung und Verkehr"
        in icalendar.Calendar.from_ical(r.content)["X-WR-CALNAME"]
    )
    r = await client.get(f"/feeds/gremien/{town.other_committee.id}.ics")
    assert r.status_code == 200 and events(r.content) == []  # its only meeting is non-public

    r = await client.get(f"/sitzungen/{town.council_meeting.id}.ics")
    assert r.status_code == 200 and r.headers["content-type"] == "text/calendar; charset=utf-8"
    [event] = events(r.content)
    assert str(event["UID"]) == f"meeting-{town.council_meeting.id}@127.0.0.1"
    assert event.decoded("DTEND") == town.council_meeting.end

    for path in (
        f"/sitzungen/{town.secret_meeting.id}.ics",
        "/feeds/gremien/999999.ics",
        "/feeds/gremien/abc.ics",
        f"/feeds/gremien/{town.committee.id}",
        f"/feeds/gremien/{town.committee.id}.ics.ics",
        "/feeds/gremien/99999999999999999.ics",
        "/feeds/gremien/%00.ics",
    ):
        assert (await client.get(path)).status_code == 404, path


# --- RSS and Atom -----------------------------------------------------------------------------------


async def _many_papers(session, town, n: int) -> list[Paper]:
    papers = []
    for i in range(n):
        papers.append(
            Paper(
                body_id=town.body.id,
                name=f'Anfrage Nr. {i} zu <Straßen> & "Wegen"\x0b',
                reference=f"AF/2026/{i:04d}",
                date=date(2026, 1, 1) + timedelta(days=i),
                paper_type="Anfrage",
                public=True,
            )
        )
    session.add_all(papers)
    await session.commit()
    return papers


async def test_papers_rss(session, client):
    town = await make_town(session)
    await _many_papers(session, town, 55)
    r = await client.get("/feeds/vorlagen.rss")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/rss+xml")
    root = ET.fromstring(r.content)
    assert root.tag == "rss" and root.get("version") == "2.0"
    channel = root.find("channel")
    assert channel is not None and "Neue Vorlagen" in channel.findtext("title")
    assert channel.find(f"{ATOM}link").get("rel") == "self"
    items = channel.findall("item")
    assert len(items) == 50
    titles = [i.findtext("title") for i in items]
    assert not any("V/2026/0002" in t for t in titles)
    assert 'Anfrage Nr. 54 zu <Straßen> & "Wegen"' in titles[0]  # newest first, text unescaped by the parser
    for item in items:
        assert item.findtext("link").startswith("http://127.0.0.1:8000/vorlagen/")
        assert item.find("guid").get("isPermaLink") == "true"
        published = parsedate_to_datetime(item.findtext("pubDate"))
        assert published.tzinfo is not None
    parsedate_to_datetime(channel.findtext("lastBuildDate"))
    assert b"Geheimweg" not in r.content


async def test_papers_atom(session, client):
    town = await make_town(session)
    await _many_papers(session, town, 3)
    r = await client.get("/feeds/vorlagen.atom")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(r.content)
    assert feed.tag == f"{ATOM}feed"
    assert feed.get("{http://www.w3.org/XML/1998/namespace}lang") == "de"
    datetime.fromisoformat(feed.findtext(f"{ATOM}updated"))
    entries = feed.findall(f"{ATOM}entry")
    ids = [e.findtext(f"{ATOM}id") for e in entries]
    assert len(entries) == 4 and len(set(ids)) == 4
    assert f"tag:127.0.0.1,2024:paper-{town.paper.id}" in ids
    assert not any(f"paper-{town.secret_paper.id}" in i for i in ids)
    for e in entries:
        for tag in ("updated", "published"):
            value = datetime.fromisoformat(e.findtext(f"{ATOM}{tag}"))
            assert value.tzinfo is not None
            assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d([+-]\d\d:\d\d|Z)$", e.findtext(f"{ATOM}{tag}"))
        assert e.find(f"{ATOM}link").get("href").startswith("http://127.0.0.1:8000/vorlagen/")
    assert b"Geheimweg" not in r.content


async def test_feeds_on_an_empty_database(client):
    for path in ("/feeds/sitzungen.ics", "/feeds/vorlagen.rss", "/feeds/vorlagen.atom"):
        r = await client.get(path)
        assert r.status_code == 200, path
    assert events((await client.get("/feeds/sitzungen.ics")).content) == []
    assert ET.fromstring((await client.get("/feeds/vorlagen.rss")).content).find("channel/item") is None
