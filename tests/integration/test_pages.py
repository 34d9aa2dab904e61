"""The public pages: home, calendar, meetings, papers, organisations, persons.

Real database, real app, real HTTP through the test client. Each test builds its own small town
(tests.factories.make_town) and asserts what a visitor sees — and what an anonymous visitor must not.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from council.core.types import utcnow
from council.live.models import EventKind, TimelineEvent
from council.records import queries
from council.records.access import ANONYMOUS, Viewer
from council.records.models import AgendaItem, Consultation, File, Meeting, Paper
from tests.factories import keep_upcoming, make_town

SECRET_WORDS = ("Geheimweg", "Sondersitzung", "Grundstücksangelegenheit", "V/2026/0002")


def assert_no_secrets(html: str) -> None:
    for word in SECRET_WORDS:
        assert word not in html, f"non-public text {word!r} leaked"


def main_part(html: str) -> str:
    return html.split('<main id="main"', 1)[1].split("</main>", 1)[0]


# --- home -----------------------------------------------------------------------------------------


async def test_home_shows_upcoming_live_and_recent_papers(session, client):
    town = await make_town(session)
    soon = Meeting(
        body_id=town.body.id,
        name="Sitzung in drei Tagen",
        start=utcnow() + timedelta(days=3),
        public=True,
        meeting_state="eingeladen",
    )
    soon.organizations.append(town.committee)
    hidden_soon = Meeting(
        body_id=town.body.id, name="Sondersitzung geheim", start=utcnow() + timedelta(days=2), public=False
    )
    session.add_all([soon, hidden_soon])
    await session.flush()
    session.add(TimelineEvent(meeting_id=soon.id, kind=EventKind.MEETING_OPENED))
    session.add(TimelineEvent(meeting_id=town.secret_meeting.id, kind=EventKind.MEETING_OPENED))
    await session.commit()

    r = await client.get("/")
    assert r.status_code == 200
    html = main_part(r.text)
    assert "Stadt Teststadt" in html
    assert "Nächste Sitzungen" in html
    assert f'href="/sitzungen/{soon.id}"' in html
    assert "Jetzt live" in html
    live_section = html.split("Jetzt live", 1)[1].split("</section>", 1)[0]
    assert f'href="/sitzungen/{soon.id}"' in live_section
    assert f'href="/sitzungen/{town.secret_meeting.id}"' not in html
    assert "Neue Vorlagen" in html
    assert f'href="/vorlagen/{town.paper.id}"' in html
    assert f'href="/vorlagen/{town.secret_paper.id}"' not in html
    assert 'href="/feeds/sitzungen.ics"' in html and 'href="/feeds/vorlagen.rss"' in html
    assert 'href="/suche"' in html and 'href="/kalender"' in html
    assert_no_secrets(html)
    assert '<a href="/" aria-current="page">' in r.text


async def test_home_works_on_an_empty_database(client):
    r = await client.get("/")
    assert r.status_code == 200
    assert "Keine Sitzungen gefunden." in r.text
    assert "Keine Vorlagen gefunden." in r.text


# --- calendar -------------------------------------------------------------------------------------


async def test_calendar_month_grid(session, client):
    town = await make_town(session)
    cancelled = Meeting(
        body_id=town.body.id,
        name="Abgesagte Sitzung",
        start=datetime(2026, 11, 18, 17, tzinfo=UTC),
        public=True,
        cancelled=True,
    )
    cancelled.organizations.append(town.other_committee)
    session.add(cancelled)
    await session.commit()

    r = await client.get("/kalender?monat=2026-11")
    assert r.status_code == 200
    html = main_part(r.text)
    assert "<caption>November 2026</caption>" in html
    headers = re.findall(r'<th scope="col"><abbr title="([^"]+)">', html)
    assert headers == ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"]
    # Grid from Monday 26 Oct to Sunday 6 Dec 2026, six weeks.
    assert html.count("<tr>") == 1 + 6
    assert 'data-day="2026-10-26"' in html and 'data-day="2026-12-06"' in html
    cell = html.split('data-day="2026-11-11"', 1)[1].split("</td>", 1)[0]
    assert f'href="/sitzungen/{town.past_meeting.id}"' in cell
    assert "17:00" in cell  # 16:00 UTC is 17:00 in Berlin in November
    assert "Ausschuss für Stadtentwicklung und Verkehr" in cell
    cancelled_cell = html.split('data-day="2026-11-18"', 1)[1].split("</td>", 1)[0]
    assert "abgesagt" in cancelled_cell and 'class="cancelled"' in cancelled_cell
    # The non-public special meeting (4 Dec) is not there.
    assert f'href="/sitzungen/{town.secret_meeting.id}"' not in html
    assert_no_secrets(html)
    assert 'href="/kalender?monat=2026-10"' in html
    assert 'href="/kalender?monat=2026-12"' in html
    # The list below the grid has the month's meetings only (not the 2 Dec or 9 Dec ones).
    below = html.split("Sitzungen im November 2026", 1)[1]
    assert f'href="/sitzungen/{town.past_meeting.id}"' in below
    assert f'href="/sitzungen/{town.council_meeting.id}"' not in below


async def test_calendar_marks_today_and_wraps_the_year(client):
    r = await client.get("/kalender")
    assert r.status_code == 200
    assert 'aria-current="date"' in r.text
    assert "(heute)" in r.text
    r = await client.get("/kalender?monat=2026-12")
    assert 'href="/kalender?monat=2027-01"' in r.text and 'href="/kalender?monat=2026-11"' in r.text
    r = await client.get("/kalender?monat=2026-01")
    assert 'href="/kalender?monat=2025-12"' in r.text
    assert 'aria-current="date"' not in (await client.get("/kalender?monat=1990-01")).text


@pytest.mark.parametrize(
    "value",
    [
        "2026-13",
        "2026-00",
        "0000-01",
        "99999-01",
        "abc",
        "2026-1",
        "2026-11-01",
        "1899-12",
        "2026-11\x00",
        "２０２６-11",
    ],
)
async def test_calendar_rejects_bad_months(client, value):
    r = await client.get("/kalender", params={"monat": value})
    assert r.status_code == 400
    assert "monat" in r.text
    assert "Ungültige Anfrage" in r.text


# --- meetings list --------------------------------------------------------------------------------


async def test_meetings_list_filters(session, client):
    town = await make_town(session)
    r = await client.get("/sitzungen")
    assert r.status_code == 200
    html = main_part(r.text)
    for m in (town.past_meeting, town.next_meeting, town.council_meeting):
        assert f'href="/sitzungen/{m.id}"' in html
    assert f'href="/sitzungen/{town.secret_meeting.id}"' not in html
    assert_no_secrets(html)
    assert "3 Sitzungen" in html
    assert '<label for="f-gremium">' in html and 'id="f-gremium"' in html

    r = await client.get(f"/sitzungen?gremium={town.council.id}")
    html = main_part(r.text)
    assert f'href="/sitzungen/{town.council_meeting.id}"' in html
    assert f'href="/sitzungen/{town.past_meeting.id}"' not in html
    assert f'<option value="{town.council.id}" selected>' in html

    r = await client.get("/sitzungen?von=2026-12-01&bis=2026-12-05")
    html = main_part(r.text)
    assert f'href="/sitzungen/{town.next_meeting.id}"' in html  # 2 Dec
    assert f'href="/sitzungen/{town.council_meeting.id}"' not in html  # 9 Dec
    assert f'href="/sitzungen/{town.past_meeting.id}"' not in html

    now = utcnow()
    past = "vergangene"
    r = await client.get(f"/sitzungen?zeitraum={past}")
    html = main_part(r.text)
    for m in (town.past_meeting, town.next_meeting, town.council_meeting):
        shown = f'href="/sitzungen/{m.id}"' in html
        assert shown == (m.start < now)

    r = await client.get(f"/sitzungen?gremium={2**31 - 1}")
    assert r.status_code == 200 and "Keine Sitzungen gefunden." in r.text


async def test_meetings_list_paginates_and_answers_htmx_with_the_results_block(session, client):
    town = await make_town(session)
    base = datetime(2027, 3, 1, 17, tzinfo=UTC)
    for i in range(25):
        m = Meeting(body_id=town.body.id, name=f"Reihe {i:02d}", start=base + timedelta(days=i), public=True)
        m.organizations.append(town.other_committee)
        session.add(m)
    await session.commit()
    params = {"gremium": town.other_committee.id, "zeitraum": "kommende"}
    r = await client.get("/sitzungen", params=params)
    assert "25 Sitzungen" in r.text
    assert "Seite 1 von 2" in r.text
    names = re.findall(r">Reihe (\d\d)</a>", r.text)
    assert names == [f"{i:02d}" for i in range(20)]  # soonest first
    assert "seite=2" in r.text and 'rel="next"' in r.text
    r2 = await client.get("/sitzungen", params={**params, "seite": "2"})
    assert re.findall(r">Reihe (\d\d)</a>", r2.text) == [f"{i:02d}" for i in range(20, 25)]
    assert 'rel="prev"' in r2.text and 'rel="next"' not in r2.text
    r3 = await client.get("/sitzungen", params={**params, "seite": "99"})
    assert r3.status_code == 200 and "Keine Sitzungen gefunden." in r3.text

    fragment = await client.get("/sitzungen", params={**params, "seite": "2"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<div id="results"')
    assert "<html" not in fragment.text and "<form" not in fragment.text
    assert re.findall(r">Reihe (\d\d)</a>", fragment.text) == [f"{i:02d}" for i in range(20, 25)]
    assert "HX-Request" in fragment.headers.get("vary", "")
    # A history restore wants the whole page.
    full = await client.get(
        "/sitzungen", params=params, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in full.text


@pytest.mark.parametrize(
    "query",
    [
        "seite=0",
        "seite=-1",
        "seite=abc",
        "seite=1e3",
        "seite=99999999999999999999",
        "gremium=abc",
        "gremium=0",
        "gremium=99999999999",
        "von=2026-02-30",
        "von=0000-01-01",
        "von=99999-01-01",
        "von=gestern",
        "bis=2026-13-01",
        "von=2026-12-01&bis=2026-11-01",
        "zeitraum=morgen",
        "zeitraum=%00",
    ],
)
async def test_meetings_list_rejects_bad_parameters(client, query):
    r = await client.get(f"/sitzungen?{query}")
    assert r.status_code == 400, query
    assert "Ungültige Anfrage" in r.text
    assert (
        '<p class="error-detail">' in r.text
        and len(r.text.split('<p class="error-detail">')[1].split("<")[0]) > 5
    )


# --- meeting page ---------------------------------------------------------------------------------


async def test_meeting_page_agenda_documents_and_hidden_items(session, client):
    town = await make_town(session)
    protocol = File(
        body_id=town.body.id, name="Niederschrift öffentlich", file_name="protokoll.pdf", public=True
    )
    secret_annex = File(body_id=town.body.id, name="Anlage Geheimweg", file_name="anlage.pdf", public=False)
    item_file = File(body_id=town.body.id, name="Lageplan Radweg", file_name="lageplan.pdf", public=True)
    session.add_all([protocol, secret_annex, item_file])
    await session.flush()
    town.past_meeting.results_protocol_id = protocol.id
    meeting = await session.get(Meeting, town.past_meeting.id)
    await session.refresh(meeting, ["auxiliary_files"])
    meeting.auxiliary_files.append(secret_annex)
    item = await session.get(AgendaItem, town.public_item.id)
    await session.refresh(item, ["auxiliary_files"])
    item.auxiliary_files.append(item_file)
    await session.commit()

    r = await client.get(f"/sitzungen/{town.past_meeting.id}")
    assert r.status_code == 200
    html = main_part(r.text)
    assert "<h1>Ausschuss für Stadtentwicklung und Verkehr – Mittwoch, 11. November 2026</h1>" in html
    assert "5. Sitzung des Ausschusses für Stadtentwicklung und Verkehr" in html
    assert "17:00–19:00" in html
    assert "Rathaus, Ratssaal, Markt 1, Teststadt" in html
    assert "durchgeführt" in html
    # The agenda in order, each item addressable and marked for the live script.
    items = re.findall(r'<li id="top-(\d+)" data-agenda-item="(\d+)"', html)
    assert [int(a) for a, b in items] == [town.public_item.id - 1, town.public_item.id]
    assert all(a == b for a, b in items)
    assert re.findall(r"<span data-item-title>([^<]+)</span>", html) == [
        "Eröffnung der Sitzung",
        "Sanierung des Radwegs an der Landstraße",
    ]
    top2 = html.split(f'id="top-{town.public_item.id}"', 1)[1].split("</ol>", 1)[0]
    assert f'href="/vorlagen/{town.paper.id}"' in top2
    assert "V/2026/0001" in top2
    assert f'href="/dokumente/{item_file.id}"' in top2
    assert "einstimmig beschlossen" in top2
    assert "Der Ausschuss empfiehlt dem Rat die Sanierung des Radwegs." in top2
    # Non-public item: not shown, but a note says some exist.
    assert f'id="top-{town.secret_item.id}"' not in html
    assert "Nichtöffentliche Tagesordnungspunkte werden nicht angezeigt." in html
    assert f'href="/vorlagen/{town.secret_paper.id}"' not in html
    # Documents: the public protocol, not the secret annex.
    assert f'href="/dokumente/{protocol.id}"' in html and "Ergebnisprotokoll" in html
    assert f'href="/dokumente/{secret_annex.id}"' not in html
    assert_no_secrets(html)
    assert f'href="/sitzungen/{town.past_meeting.id}.ics"' in html
    # Live area, rendered with the current state.
    assert f'data-live-url="/sitzungen/{town.past_meeting.id}/live"' in html
    assert 'aria-live="polite"' in html and "data-live-status" in html
    assert "Die Sitzung hat bereits stattgefunden." in html

    # A meeting with only public items has no note.
    await keep_upcoming(session, town.next_meeting.id, 7)
    await session.commit()
    r = await client.get(f"/sitzungen/{town.next_meeting.id}")
    assert "Nichtöffentliche Tagesordnungspunkte" not in r.text
    assert "Die Sitzung hat noch nicht begonnen." in r.text


async def test_meeting_page_marks_the_current_item_while_live(session, client):
    town = await make_town(session)
    mid = town.past_meeting.id
    session.add(TimelineEvent(meeting_id=mid, kind=EventKind.MEETING_OPENED))
    session.add(
        TimelineEvent(meeting_id=mid, kind=EventKind.AGENDA_ITEM_STARTED, agenda_item_id=town.public_item.id)
    )
    await session.commit()
    r = await client.get(f"/sitzungen/{mid}")
    html = main_part(r.text)
    item = town.public_item.id
    assert f'<li id="top-{item}" data-agenda-item="{item}" class="is-current" aria-current="true">' in html
    assert html.count("is-current") == 1
    assert "Die Sitzung läuft. – Sanierung des Radwegs an der Landstraße" in html
    assert "live-area is-live" in html
    # While the secret item runs, anonymous visitors learn nothing about it.
    session.add(
        TimelineEvent(meeting_id=mid, kind=EventKind.AGENDA_ITEM_STARTED, agenda_item_id=town.secret_item.id)
    )
    await session.commit()
    html = main_part((await client.get(f"/sitzungen/{mid}")).text)
    assert "is-current" not in html.replace("live-area is-live", "")
    assert_no_secrets(html)
    session.add(TimelineEvent(meeting_id=mid, kind=EventKind.MEETING_CLOSED))
    await session.commit()
    html = main_part((await client.get(f"/sitzungen/{mid}")).text)
    assert "Die Sitzung ist beendet." in html and "is-current" not in html


async def test_meeting_page_not_found_cases(session, client):
    town = await make_town(session)
    for path in (
        f"/sitzungen/{town.secret_meeting.id}",
        f"/sitzungen/{town.secret_meeting.id}.ics",
        "/sitzungen/999999",
        "/sitzungen/999999.ics",
        "/sitzungen/abc",
        "/sitzungen/-1",
        "/sitzungen/0",
        "/sitzungen/99999999999999999999999",
        "/sitzungen/1.5",
        "/sitzungen/%F0%9F%98%80",
        "/sitzungen/%ED%A0%80",
        "/sitzungen/.ics",
        "/vorlagen/999999",
        f"/vorlagen/{town.secret_paper.id}",
        "/vorlagen/abc",
        "/vorlagen/99999999999999999999999",
        "/gremien/999999",
        "/gremien/abc",
        "/gremien/99999999999",
        "/personen/999999",
        "/personen/abc",
        "/personen/0",
    ):
        r = await client.get(path)
        assert r.status_code in (400, 404), path
        assert "Geheimweg" not in r.text
    r = await client.get("/sitzungen/999999")
    assert r.status_code == 404 and "Seite nicht gefunden" in r.text
    deleted = await session.get(Meeting, town.next_meeting.id)
    deleted.deleted = True
    await session.commit()
    assert (await client.get(f"/sitzungen/{town.next_meeting.id}")).status_code == 404


async def test_staff_viewer_sees_non_public_agenda_items(session):
    town = await make_town(session)
    staff = Viewer(account_id=1, roles=frozenset({"clerk"}))
    detail = await queries.meeting_detail(session, staff, town.past_meeting.id)
    assert detail is not None
    assert [e.item.id for e in detail.agenda][-1] == town.secret_item.id
    assert detail.hidden_items == 0
    assert await queries.meeting_detail(session, ANONYMOUS, town.secret_meeting.id) is None
    secret = await queries.meeting_detail(session, staff, town.secret_meeting.id)
    assert secret is not None and [label for label, _f in secret.documents] == ["Einladung"]
    member = Viewer(account_id=2, organization_ids=frozenset({town.committee.id}))
    detail = await queries.meeting_detail(session, member, town.past_meeting.id)
    assert town.secret_item.id in [e.item.id for e in detail.agenda]
    assert any(p.id == town.secret_paper.id for e in detail.agenda for p in e.papers)


# --- papers ---------------------------------------------------------------------------------------


async def test_papers_list_filters_and_fragment(session, client):
    town = await make_town(session)
    old = Paper(
        body_id=town.body.id,
        name="Antrag zur Straßenbeleuchtung",
        reference="A/2025/0007",
        date=date(2025, 5, 2),
        paper_type="Antrag",
        public=True,
    )
    session.add(old)
    await session.commit()
    r = await client.get("/vorlagen")
    html = main_part(r.text)
    assert r.status_code == 200
    assert f'href="/vorlagen/{town.paper.id}"' in html and f'href="/vorlagen/{old.id}"' in html
    assert f'href="/vorlagen/{town.secret_paper.id}"' not in html
    assert "2 Vorlagen" in html
    assert_no_secrets(html)
    # newest first
    assert html.index(f'href="/vorlagen/{town.paper.id}"') < html.index(f'href="/vorlagen/{old.id}"')
    assert '<option value="Antrag">' in html and '<option value="2025">' in html

    html = main_part((await client.get("/vorlagen?typ=Antrag")).text)
    assert f'href="/vorlagen/{old.id}"' in html and f'href="/vorlagen/{town.paper.id}"' not in html
    html = main_part((await client.get("/vorlagen?jahr=2026")).text)
    assert f'href="/vorlagen/{old.id}"' not in html and f'href="/vorlagen/{town.paper.id}"' in html
    html = main_part((await client.get(f"/vorlagen?gremium={town.council.id}")).text)
    assert f'href="/vorlagen/{town.paper.id}"' in html and f'href="/vorlagen/{old.id}"' not in html
    # The committee consulted the secret paper too: still hidden.
    html = main_part((await client.get(f"/vorlagen?gremium={town.committee.id}")).text)
    assert "1 Vorlage" in html and f'href="/vorlagen/{town.secret_paper.id}"' not in html

    fragment = await client.get("/vorlagen?typ=Antrag", headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<div id="results"') and "<html" not in fragment.text

    for bad in ("jahr=abc", "jahr=0", "jahr=99999", "seite=0", "gremium=x", "typ=%00", "typ=" + "x" * 10000):
        r = await client.get(f"/vorlagen?{bad}")
        assert r.status_code == 400, bad


async def test_paper_page_consultation_path_files_and_relations(session, client):
    town = await make_town(session)
    # A third step without a meeting yet, and one consultation whose position comes first but is in
    # a non-public meeting: the organization may show, the meeting may not.
    later = Consultation(paper_id=town.paper.id, role="Kenntnisnahme", position=3)
    early = Consultation(
        paper_id=town.paper.id, meeting_id=town.secret_meeting.id, role="Anhörung", position=0
    )
    session.add_all([later, early])
    await session.flush()
    annex_public = File(body_id=town.body.id, name="Anlage 1 Kostenschätzung", file_name="k.pdf", public=True)
    annex_secret = File(
        body_id=town.body.id, name="Anlage 2 Geheimweg Gutachten", file_name="g.pdf", public=False
    )
    session.add_all([annex_public, annex_secret])
    await session.flush()
    paper = await session.get(Paper, town.paper.id)
    await session.refresh(
        paper, ["auxiliary_files", "related_papers", "subordinated_papers", "originator_persons"]
    )
    paper.auxiliary_files.extend([annex_public, annex_secret])
    sub = Paper(
        body_id=town.body.id, name="Ergänzung zur Radwegsanierung", reference="V/2026/0001-1", public=True
    )
    session.add(sub)
    paper.subordinated_papers.append(sub)
    paper.related_papers.append(await session.get(Paper, town.secret_paper.id))
    paper.originator_persons.append(town.persons[0])
    await session.commit()

    r = await client.get(f"/vorlagen/{town.paper.id}")
    assert r.status_code == 200
    html = main_part(r.text)
    assert "<h1>Sanierung des Radwegs an der Landstraße" in html
    assert "V/2026/0001" in html and "Beschlussvorlage" in html and "1. Oktober 2026" in html
    assert 'href="/gremien/' + str(town.faction.id) + '"' in html  # originator organization
    assert f'href="/personen/{town.persons[0].id}"' in html
    path = html.split("Beratungsfolge", 1)[1].split("</ol>", 1)[0]
    steps = re.findall(r'data-consultation="(\d+)"', path)
    assert len(steps) == 4 and int(steps[0]) == early.id and int(steps[-1]) == later.id
    roles = re.findall(r'class="consultation-role">– ([^<]+)<', path)
    assert roles == ["Anhörung", "Vorberatung", "Entscheidung", "Kenntnisnahme"]
    assert f'href="/sitzungen/{town.past_meeting.id}#top-{town.public_item.id}"' in path
    assert f'href="/sitzungen/{town.council_meeting.id}#top-{town.council_item.id}"' in path
    assert f"/sitzungen/{town.secret_meeting.id}" not in path
    assert "einstimmig beschlossen" in path
    assert path.count("entscheidet") == 1
    assert "Sitzungstermin noch offen" in path
    assert "Rat der Stadt Teststadt" in path and "Ausschuss für Stadtentwicklung und Verkehr" in path
    assert f'href="/dokumente/{town.public_file.id}"' in html
    assert f'href="/dokumente/{annex_public.id}"' in html
    assert f'href="/dokumente/{annex_secret.id}"' not in html
    assert f'href="/vorlagen/{sub.id}"' in html and "Untergeordnete Vorlagen" in html
    assert f'href="/vorlagen/{town.secret_paper.id}"' not in html
    assert "Verwandte Vorlagen" not in html
    assert_no_secrets(html)


# --- organizations --------------------------------------------------------------------------------


async def test_organizations_grouped_and_detail(session, client):
    town = await make_town(session)
    r = await client.get("/gremien")
    assert r.status_code == 200
    html = main_part(r.text)
    groups = re.findall(r'<h2 id="group-[a-z]+">([^<]+)</h2>', html)
    assert groups == ["Rat", "Ausschüsse", "Fraktionen"]
    committees = html.split("Ausschüsse</h2>", 1)[1].split("</section>", 1)[0]
    assert (
        f'href="/gremien/{town.committee.id}"' in committees
        and f'href="/gremien/{town.other_committee.id}"' in committees
    )
    factions = html.split("Fraktionen</h2>", 1)[1].split("</section>", 1)[0]
    assert f'href="/gremien/{town.faction.id}"' in factions

    r = await client.get(f"/gremien/{town.council.id}")
    html = main_part(r.text)
    assert "<h1>Rat der Stadt Teststadt</h1>" in html
    rows = re.findall(r'<tr data-person="(\d+)">(.*?)</tr>', html, re.S)
    assert [int(pid) for pid, _ in rows] == [p.id for p in sorted(town.persons, key=lambda p: p.family_name)]
    becker = dict((int(pid), row) for pid, row in rows)[town.persons[0].id]
    assert "Ratsmitglied" in becker and f'href="/gremien/{town.faction.id}"' in becker and ">BL<" in becker
    assert "<td>ja</td>" in becker
    weiss = dict((int(pid), row) for pid, row in rows)[town.persons[3].id]
    assert "/gremien/" not in weiss  # no faction for Karl Weiß
    assert '<th scope="col">Fraktion</th>' in html
    assert f'href="/feeds/gremien/{town.council.id}.ics"' in html
    assert f'href="/sitzungen/{town.council_meeting.id}"' in html

    html = main_part((await client.get(f"/gremien/{town.committee.id}")).text)
    member_ids = [int(pid) for pid in re.findall(r'<tr data-person="(\d+)">', html)]
    assert member_ids == [town.persons[0].id, town.persons[1].id]  # Groß left in 2025
    assert "Vorsitz" in html
    upcoming = html.split("Kommende Sitzungen", 1)[1].split("</section>", 1)[0]
    past = html.split("Vergangene Sitzungen", 1)[1].split("</section>", 1)[0]
    now = utcnow()
    for m in (town.past_meeting, town.next_meeting):
        assert (f'href="/sitzungen/{m.id}"' in upcoming) == (m.start >= now)
        assert (f'href="/sitzungen/{m.id}"' in past) == (m.start < now)

    html = main_part((await client.get(f"/gremien/{town.other_committee.id}")).text)
    assert f'href="/sitzungen/{town.secret_meeting.id}"' not in html
    assert_no_secrets(html)


# --- persons --------------------------------------------------------------------------------------


async def test_persons_alphabetical_and_faction_filter(session, client):
    town = await make_town(session)
    r = await client.get("/personen")
    assert r.status_code == 200
    html = main_part(r.text)
    names = re.findall(r'<li data-person="\d+"><a href="/personen/\d+">([^<]+)</a>', html)
    assert names == ["Becker, Anna", "Groß, Maria", "Schäfer, Jürgen", "Weiß, Karl", "Yılmaz, Özlem"]
    assert re.findall(r'<h2 class="letter">(.)</h2>', html) == ["B", "G", "S", "W", "Y"]
    assert "5 Personen" in html
    html = main_part((await client.get(f"/personen?fraktion={town.faction.id}")).text)
    assert f'<option value="{town.faction.id}" selected>' in html
    assert "5 Personen" in html
    fragment = await client.get(f"/personen?fraktion={town.faction.id}", headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<div id="results"')
    for bad in ("fraktion=abc", "fraktion=-3", "fraktion=%00"):
        assert (await client.get(f"/personen?{bad}")).status_code == 400


async def test_person_page_memberships_and_papers(session, client):
    town = await make_town(session)
    groß = town.persons[4]
    paper = await session.get(Paper, town.paper.id)
    secret = await session.get(Paper, town.secret_paper.id)
    await session.refresh(paper, ["originator_persons"])
    await session.refresh(secret, ["originator_persons"])
    paper.originator_persons.append(groß)
    secret.originator_persons.append(groß)
    await session.commit()
    r = await client.get(f"/personen/{groß.id}")
    assert r.status_code == 200
    html = main_part(r.text)
    assert "<h1>Maria Groß</h1>" in html
    current = html.split("<caption>Aktuelle Mitgliedschaften</caption>", 1)[1].split("</table>", 1)[0]
    former = html.split("<caption>Frühere Mitgliedschaften</caption>", 1)[1].split("</table>", 1)[0]
    assert f'href="/gremien/{town.council.id}"' in current and f'href="/gremien/{town.faction.id}"' in current
    assert f'href="/gremien/{town.committee.id}"' in former
    assert "01.11.2020 – 31.10.2025" in former
    assert "seit 01.11.2025" in current
    assert f'href="/vorlagen/{town.paper.id}"' in html
    assert f'href="/vorlagen/{town.secret_paper.id}"' not in html
    assert_no_secrets(html)


# --- hostile input everywhere ---------------------------------------------------------------------

HOSTILE = [
    "%00",
    "%ED%A0%80",  # a lone surrogate, UTF-8 encoded
    "%E2%80%AE",  # right-to-left override
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "1%27%20OR%20%271%27%3D%271",
    "x" * 10_000,
    "%FF%FE",
]


@pytest.mark.parametrize("path", ["/kalender", "/sitzungen", "/vorlagen", "/personen", "/", "/gremien"])
async def test_hostile_query_strings_never_fail(session, client, path):
    await make_town(session)
    for value in HOSTILE:
        for name in ("monat", "gremium", "von", "bis", "zeitraum", "seite", "typ", "jahr", "fraktion", "q"):
            r = await client.get(f"{path}?{name}={value}")
            assert r.status_code in (200, 400), (path, name, value[:20], r.status_code)
            assert "<script>alert(1)</script>" not in r.text


# --- the shared demo (read-only) --------------------------------------------------------------------


async def test_every_page_renders_on_the_demo_town(demo_client, demo_db):
    from sqlalchemy import select

    from council.records.models import Organization, Person

    async with demo_db.sessionmaker() as s:
        meeting_ids = (
            (await s.execute(select(Meeting.id).where(Meeting.public.is_(True)).limit(5))).scalars().all()
        )
        paper_ids = (await s.execute(select(Paper.id).where(Paper.public.is_(True)).limit(5))).scalars().all()
        org_ids = (await s.execute(select(Organization.id).limit(40))).scalars().all()
        person_ids = (await s.execute(select(Person.id).limit(5))).scalars().all()
        secret_ids = (
            (await s.execute(select(Meeting.id).where(Meeting.public.is_(False)).limit(3))).scalars().all()
        )
    assert meeting_ids and paper_ids and org_ids and person_ids
    paths = [
        "/",
        "/kalender",
        "/sitzungen",
        "/sitzungen?zeitraum=vergangene&seite=2",
        "/vorlagen",
        "/gremien",
    ]
    paths += ["/personen", "/feeds/sitzungen.ics", "/feeds/vorlagen.rss", "/feeds/vorlagen.atom"]
    paths += [f"/sitzungen/{i}" for i in meeting_ids] + [f"/sitzungen/{i}.ics" for i in meeting_ids]
    paths += [f"/vorlagen/{i}" for i in paper_ids] + [f"/gremien/{i}" for i in org_ids]
    paths += [f"/feeds/gremien/{i}.ics" for i in org_ids[:3]] + [f"/personen/{i}" for i in person_ids]
    for path in paths:
        r = await demo_client.get(path)
        assert r.status_code == 200, (path, r.status_code)
    groups = re.findall(r'<h2 id="group-[a-z]+">([^<]+)</h2>', (await demo_client.get("/gremien")).text)
    assert groups[:3] == ["Rat", "Ausschüsse", "Fraktionen"]
    for i in secret_ids:
        assert (await demo_client.get(f"/sitzungen/{i}")).status_code == 404
