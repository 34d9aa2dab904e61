"""Full-text search on the real database (SQLite FTS5 or PostgreSQL tsvector): stemming, ranking,
filters, pagination, hostile queries, visibility, deletion, the page at /suche and its htmx partial."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

import pytest
from sqlalchemy import func, select

from council.core.jobs import JobRunner
from council.records.access import ANONYMOUS, Viewer
from council.records.models import File, Paper
from council.search.indexer import index_files, index_papers, reindex_all
from council.search.jobs import enqueue_index, enqueue_reindex
from council.search.models import SearchDocument
from council.search.query import search
from tests.factories import make_town

STAFF = Viewer(account_id=1, roles=frozenset({"clerk"}))

HOSTILE = [
    '"',
    '""',
    'Radweg"',
    '"Radweg',
    "Radweg AND Schule",
    "Radweg OR",
    "OR",
    "NOT Radweg",
    "NEAR(Radweg Schule, 3)",
    "Radweg*",
    "*",
    "^Radweg",
    "title:Radweg",
    "-",
    "-Radweg",
    "+Radweg",
    "(Radweg",
    "Radweg)",
    "()",
    "a<->b",
    "x & y | !z",
    "'; DROP TABLE paper; --",
    "1' OR '1'='1",
    "<script>alert(1)</script>",
    "Rad\x00weg",
    "\x00",
    "Rad\ud800weg",
    "\ud800",
    "\u202eRadweg",
    "😀",
    "Radweg 😀",
    "x" * 10_000,
    "Radweg " * 1_500,
    "\\",
    "%",
    "_",
    "die der das",
]


async def _town(session):
    town = await make_town(session)
    await reindex_all(session)
    await session.commit()
    return town


def _refs(results, kind=None):
    return {(h.kind, h.ref_id) for h in results.hits if kind is None or h.kind == kind}


async def test_german_stemming_finds_inflected_forms(session):
    town = await make_town(session)
    bplan = Paper(
        body=town.body,
        name="Aufstellung des Bebauungsplanes Nr. 12 „Am Markt“",
        public=True,
        paper_type="Beschlussvorlage",
        date=date(2026, 3, 1),
    )
    schools = Paper(
        body=town.body,
        name="Neubau zweier Schulen im Ortsteil Uckerath",
        public=True,
        paper_type="Antrag",
        date=date(2026, 4, 1),
    )
    session.add_all([bplan, schools])
    await session.commit()
    await reindex_all(session)
    await session.commit()

    r = await search(session, ANONYMOUS, "Radwege")
    assert ("paper", town.paper.id) in _refs(r)
    assert ("agenda_item", town.public_item.id) in _refs(r)
    assert ("file", town.public_file.id) in _refs(r)
    assert ("paper", bplan.id) in _refs(await search(session, ANONYMOUS, "Bebauungspläne"))
    assert ("paper", bplan.id) in _refs(await search(session, ANONYMOUS, "bebauungsplan"))
    assert ("paper", schools.id) in _refs(await search(session, ANONYMOUS, "Schule"))
    assert ("paper", schools.id) in _refs(await search(session, ANONYMOUS, "SCHULEN uckerath"))
    # all words must match
    assert ("paper", schools.id) not in _refs(await search(session, ANONYMOUS, "Schule Radweg"))
    # alternatives and exclusion
    both = _refs(await search(session, ANONYMOUS, "Schulen or Bebauungsplan"))
    assert {("paper", schools.id), ("paper", bplan.id)} <= both
    assert ("paper", schools.id) not in _refs(await search(session, ANONYMOUS, "Schule -Uckerath"))
    # phrases
    assert ("paper", town.paper.id) in _refs(await search(session, ANONYMOUS, '"Sanierung des Radwegs"'))
    assert ("paper", town.paper.id) not in _refs(await search(session, ANONYMOUS, '"Radwegs Sanierung"'))


async def test_hits_carry_urls_dates_and_highlighted_snippets(session):
    town = await _town(session)
    r = await search(session, ANONYMOUS, "Radweg saniert")
    hits = {(h.kind, h.ref_id): h for h in r.hits}
    f = hits[("file", town.public_file.id)]
    assert f.url == f"/dokumente/{town.public_file.id}"
    assert "\x02Radweg\x03" in f.snippet
    p = hits.get(("paper", town.paper.id))
    if p is not None:  # the paper's own text has no "saniert"
        assert p.url == f"/vorlagen/{town.paper.id}"
    r = await search(session, ANONYMOUS, "Radweg")
    hits = {(h.kind, h.ref_id): h for h in r.hits}
    p = hits[("paper", town.paper.id)]
    assert p.url == f"/vorlagen/{town.paper.id}"
    assert p.date == date(2026, 10, 1) and p.paper_type == "Beschlussvorlage"
    assert "\x02Radwegs\x03" in p.title_marked
    item = hits[("agenda_item", town.public_item.id)]
    assert item.url == f"/sitzungen/{town.past_meeting.id}#top-{town.public_item.id}"
    assert item.date == date(2026, 11, 11)
    assert "\x02Radwegs\x03" in item.snippet
    assert r.facets == {"paper": 1, "agenda_item": 2, "file": 1}
    assert r.total == 4


async def test_title_hits_rank_before_body_hits(session):
    town = await make_town(session)
    body_file = File(
        body_id=town.body.id,
        name="Anlage 3 zum Haushalt",
        file_name="anlage3.pdf",
        public=True,
        text="Das Feuerwehrhaus wird erweitert. " * 5 + "Sonst nichts. " * 30,
        text_state="done",
    )
    session.add(body_file)
    await session.flush()
    titled = Paper(
        body=town.body, name="Erweiterung Feuerwehrhaus Stadtmitte", public=True, date=date(2020, 1, 1)
    )
    session.add(titled)
    await session.commit()
    await reindex_all(session)
    await session.commit()
    r = await search(session, ANONYMOUS, "Feuerwehrhaus")
    assert [(h.kind, h.ref_id) for h in r.hits] == [("paper", titled.id), ("file", body_file.id)]


async def test_filters(session):
    town = await _town(session)
    r = await search(session, ANONYMOUS, "Radweg", kinds=["file"])
    assert _refs(r) == {("file", town.public_file.id)}
    assert r.total == 1 and r.facets["paper"] == 1  # facets ignore the kind filter
    r = await search(session, ANONYMOUS, "Radweg", kinds=["paper", "agenda_item"])
    assert {k for k, _ in _refs(r)} == {"paper", "agenda_item"}
    assert (await search(session, ANONYMOUS, "Radweg", kinds=["bogus"])).total == 0

    r = await search(session, ANONYMOUS, "Radweg", organization_id=town.council.id)
    assert _refs(r) == {
        ("paper", town.paper.id),
        ("agenda_item", town.council_item.id),
        ("file", town.public_file.id),
    }
    r = await search(session, ANONYMOUS, "Radweg", organization_id=town.committee.id)
    assert ("agenda_item", town.public_item.id) in _refs(r)
    assert ("agenda_item", town.council_item.id) not in _refs(r)
    assert (await search(session, ANONYMOUS, "Radweg", organization_id=town.other_committee.id)).total == 0
    assert (await search(session, ANONYMOUS, "Radweg", organization_id=10**30)).total == 0

    r = await search(session, ANONYMOUS, "Radweg", date_from=date(2026, 12, 1))
    assert _refs(r) == {("agenda_item", town.council_item.id)}
    r = await search(session, ANONYMOUS, "Radweg", date_from=date(2026, 9, 1), date_to=date(2026, 10, 31))
    assert _refs(r) == {("paper", town.paper.id), ("file", town.public_file.id)}
    assert (
        await search(session, ANONYMOUS, "Radweg", date_from=date(2027, 1, 1), date_to=date(2026, 1, 1))
    ).total == 0

    r = await search(session, ANONYMOUS, "Radweg", paper_type="Beschlussvorlage")
    assert ("paper", town.paper.id) in _refs(r) and ("agenda_item", town.public_item.id) in _refs(r)
    assert (await search(session, ANONYMOUS, "Radweg", paper_type="Antrag")).total == 0
    assert (await search(session, ANONYMOUS, "Radweg", paper_type="\x00\ud800" + "x" * 500)).total == 0


async def test_pagination(session):
    town = await make_town(session)
    for i in range(25):
        session.add(
            Paper(body=town.body, name=f"Haushaltssatzung Teil {i}", public=True, date=date(2025, 1, 1 + i))
        )
    await session.commit()
    await reindex_all(session)
    await session.commit()
    seen = []
    for page in (1, 2, 3):
        r = await search(session, ANONYMOUS, "Haushaltssatzungen", page=page, per_page=10)
        assert r.total == 25 and r.pages == 3 and r.page == page
        seen.extend((h.kind, h.ref_id) for h in r.hits)
        assert r.has_prev == (page > 1) and r.has_next == (page < 3)
    assert len(seen) == 25 and len(set(seen)) == 25
    r = await search(session, ANONYMOUS, "Haushaltssatzung", page=4, per_page=10)
    assert r.total == 25 and r.hits == []
    r = await search(session, ANONYMOUS, "Haushaltssatzung", page=10**12, per_page=10**9)
    assert r.hits == []
    r = await search(session, ANONYMOUS, "Haushaltssatzung", page=-5, per_page=0)
    assert r.page == 1 and len(r.hits) == 1
    # equal scores: newest first
    r = await search(session, ANONYMOUS, "Haushaltssatzung", per_page=3)
    assert [h.date for h in r.hits] == sorted((h.date for h in r.hits), reverse=True)


@pytest.mark.parametrize("viewer", [ANONYMOUS, STAFF], ids=["anonymous", "staff"])
async def test_hostile_queries_never_raise(session, viewer):
    await _town(session)
    for q in HOSTILE:
        r = await search(session, viewer, q)
        assert isinstance(r.hits, list) and r.total >= 0
        for h in r.hits:
            h.snippet.encode("utf-8")
    assert (await search(session, viewer, None)).total == 0  # type: ignore[arg-type]


async def test_non_public_records_are_found_only_by_those_who_may_see_them(session):
    town = await _town(session)
    secret = {
        ("paper", town.secret_paper.id),
        ("agenda_item", town.secret_item.id),
        ("file", town.secret_file.id),
    }
    assert (await search(session, ANONYMOUS, "Geheimweg")).total == 0
    assert (await search(session, ANONYMOUS, "Grundstücksangelegenheiten")).total == 0
    assert (await search(session, ANONYMOUS, "Einladung nichtöffentlichen Sitzung")).total == 0
    staff = await search(session, STAFF, "Geheimweg")
    assert secret <= _refs(staff)
    assert ("file", town.secret_meeting_file.id) in _refs(await search(session, STAFF, "Einladung"))
    member = Viewer(account_id=2, person_id=town.member.id, organization_ids=frozenset({town.committee.id}))
    assert secret <= _refs(await search(session, member, "Geheimweg"))
    outsider = Viewer(account_id=3, organization_ids=frozenset({town.faction.id}))
    assert (await search(session, outsider, "Geheimweg")).total == 0

    # Publicity changes after indexing take effect at once (visibility is never copied into the index).
    town.paper.public = False
    town.public_file.public = False
    await session.commit()
    r = await search(session, ANONYMOUS, "Radweg")
    assert ("paper", town.paper.id) not in _refs(r) and ("file", town.public_file.id) not in _refs(r)
    assert ("agenda_item", town.public_item.id) in _refs(r)
    town.past_meeting.public = False
    await session.commit()
    assert ("agenda_item", town.public_item.id) not in _refs(await search(session, ANONYMOUS, "Radweg"))


async def _docs(session, kind, ref_id):
    stmt = select(func.count()).where(SearchDocument.kind == kind, SearchDocument.ref_id == ref_id)
    return (await session.execute(stmt)).scalar()


async def test_deleted_records_vanish(session):
    town = await _town(session)
    town.paper.deleted = True
    await session.commit()
    # Soft-deleted: never found, even before the index catches up ...
    assert ("paper", town.paper.id) not in _refs(await search(session, STAFF, "Radweg"))
    await index_papers(session, [town.paper.id])
    await session.commit()
    # ... and gone from the index after reindexing the record.
    assert await _docs(session, "paper", town.paper.id) == 0

    town.public_file.deleted = True
    await session.commit()
    await reindex_all(session)
    await session.commit()
    assert await _docs(session, "file", town.public_file.id) == 0
    assert ("file", town.public_file.id) not in _refs(await search(session, STAFF, "Radweg"))
    # unknown ids are simply not indexed
    await index_files(session, [987654])
    await session.commit()
    assert await _docs(session, "file", 987654) == 0


async def test_reindexing_replaces_rows_and_follows_text_changes(session):
    town = await _town(session)
    n = (await session.execute(select(func.count(SearchDocument.id)))).scalar()
    await reindex_all(session)
    await session.commit()
    assert (await session.execute(select(func.count(SearchDocument.id)))).scalar() == n
    town.public_file.text = "Neuer Inhalt über Photovoltaikanlagen auf Dächern."
    await session.commit()
    await index_files(session, [town.public_file.id, town.public_file.id])
    await session.commit()
    assert await _docs(session, "file", town.public_file.id) == 1
    assert ("file", town.public_file.id) in _refs(await search(session, ANONYMOUS, "Photovoltaikanlage"))
    assert ("file", town.public_file.id) not in _refs(await search(session, ANONYMOUS, "saniert"))


async def test_text_with_control_characters_is_indexed(session):
    town = await make_town(session)
    # PostgreSQL cannot store NUL in text at all; SQLite can, and the index must cope.
    nul = "\x00" if os.environ.get("RATHAUS_TEST_DATABASE", "sqlite") == "sqlite" else ""
    f = File(
        body_id=town.body.id,
        name=f"Kaputt{nul}\x02",
        file_name="k.pdf",
        public=True,
        text_state="done",
        text=f"Zisternen{nul}\x03 und Regen\x1bwasser \u202e im Klärwerk",
    )
    session.add(f)
    await session.flush()
    await index_files(session, [f.id])
    await session.commit()
    r = await search(session, ANONYMOUS, "Zisterne Klärwerke")
    assert ("file", f.id) in _refs(r)


async def test_jobs_reindex_and_index(session, db):
    town = await make_town(session)
    enqueue_reindex(session)
    await session.commit()
    assert await JobRunner(db.sessionmaker).run_until_empty() == 1
    assert ("paper", town.paper.id) in _refs(await search(session, ANONYMOUS, "Radweg"))
    p = Paper(body=town.body, name="Klimaschutzkonzept", public=True)
    session.add(p)
    await session.flush()
    enqueue_index(session, "paper", [p.id])
    await session.commit()
    assert await JobRunner(db.sessionmaker).run_until_empty() == 1
    assert ("paper", p.id) in _refs(await search(session, ANONYMOUS, "Klimaschutzkonzepte"))


# --- the page ---------------------------------------------------------------------------------------


async def test_search_page(client, session):
    town = await _town(session)
    r = await client.get("/suche", params={"q": "Radwege"})
    assert r.status_code == 200
    html = r.text
    assert "<mark>" in html
    assert f'href="/vorlagen/{town.paper.id}"' in html
    assert f'href="/sitzungen/{town.past_meeting.id}#top-{town.public_item.id}"' in html
    assert f'href="/dokumente/{town.public_file.id}"' in html
    assert 'hx-get="/suche"' in html and 'for="s-q"' in html
    assert "Geheimweg" not in html

    r = await client.get("/suche", params={"q": "Geheimweg"})
    assert r.status_code == 200 and "Geheimweg 7" not in r.text.split('id="search-results"')[1]

    r = await client.get("/suche")
    assert r.status_code == 200 and 'id="search-results"' in r.text and "<mark>" not in r.text

    r = await client.get("/suche", params={"q": "Radweg", "art": "dokument"})
    assert r.status_code == 200
    assert f'href="/dokumente/{town.public_file.id}"' in r.text
    assert f'href="/vorlagen/{town.paper.id}"' not in r.text

    r = await client.get(
        "/suche",
        params={
            "q": "Radweg",
            "gremium": str(town.council.id),
            "von": "2026-12-01",
            "bis": "2026-12-31",
            "typ": "Beschlussvorlage",
        },
    )
    assert r.status_code == 200
    assert f"#top-{town.council_item.id}" in r.text and f"#top-{town.public_item.id}" not in r.text


async def test_search_page_pagination_links(client, session):
    town = await make_town(session)
    for i in range(45):
        session.add(Paper(body=town.body, name=f"Haushaltssatzung Teil {i}", public=True))
    await session.commit()
    await reindex_all(session)
    await session.commit()
    r = await client.get("/suche", params={"q": "Haushaltssatzung"})
    assert r.status_code == 200
    assert 'rel="next"' in r.text and "seite=2" in r.text and 'rel="prev"' not in r.text
    r = await client.get("/suche", params={"q": "Haushaltssatzung", "seite": "3"})
    assert r.status_code == 200 and 'rel="prev"' in r.text and 'rel="next"' not in r.text
    r = await client.get("/suche", params={"q": "Haushaltssatzung", "seite": "99"})
    assert r.status_code == 200


async def test_search_page_htmx_partial(client, session):
    await _town(session)
    r = await client.get("/suche", params={"q": "Radweg"}, headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert "<html" not in r.text and "<form" not in r.text
    assert 'id="search-results"' in r.text and "<mark>" in r.text
    r = await client.get(
        "/suche", params={"q": "Radweg"}, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in r.text


BAD_FILTERS = [
    {"q": "x", "von": "2024-13-01"},
    {"q": "x", "bis": "gestern"},
    {"q": "x", "von": "2026-02-30"},
    {"q": "x", "von": "2026-12-01", "bis": "2026-01-01"},
    {"q": "x", "seite": "abc"},
    {"q": "x", "seite": "0"},
    {"q": "x", "seite": "-1"},
    {"q": "x", "seite": "9" * 30},
    {"q": "x", "gremium": "Rat"},
    {"q": "x", "gremium": "9" * 30},
    {"q": "x", "art": "bogus"},
    {"q": "x", "typ": "y" * 500},
]


async def test_search_page_bad_filters_are_400(client):
    for params in BAD_FILTERS:
        r = await client.get("/suche", params=params)
        assert r.status_code == 400, (params, r.text)
        assert "error-detail" in r.text


async def test_search_page_hostile_queries(client, session):
    await _town(session)
    for q in HOSTILE:
        if "\ud800" in q:
            continue  # not encodable by the client; sent raw below
        r = await client.get("/suche", params={"q": q})
        assert r.status_code == 200, q
        assert "<script>alert" not in r.text
    for raw in ("%ED%A0%80", "%00", "%FF%FE", "Rad%C3weg", "%E2%80%AERadweg", "%%", "%", "Radweg%00Schule"):
        r = await client.get(f"/suche?q={raw}")
        assert r.status_code == 200, raw
    r = await client.get("/suche?q=Radweg&q=Schule&art=vorlage&art=top")
    assert r.status_code == 200


def test_cli_reindex_and_query(settings):
    env = {
        **os.environ,
        "RATHAUS_DATABASE_URL": settings.resolved_database_url,
        "RATHAUS_VAR_DIR": str(settings.var_dir),
    }
    code = "from web.cli import main; main()"
    out = subprocess.run(
        [sys.executable, "-c", code, "search", "reindex", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "documents indexed" in out.stdout
    out = subprocess.run(
        [sys.executable, "-c", code, "search", "query", "Radweg"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "0 hits" in out.stdout
