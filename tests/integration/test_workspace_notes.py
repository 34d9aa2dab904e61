"""Notes and documents in the workspace: CRUD with CSRF, hostile input, anchors across a new version
of the document, Markdown export; the reader's search; the merged PDF's outline; the watermark."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import undefer

from council.documents.extract import extract_pdf_text
from council.documents.store import FileStore
from council.records.models import File
from council.workspace.models import Note
from council.workspace.notes import find_anchor, md_escape
from tests.integration.workspace_support import (
    PUBLIC_PAGES,
    SECRET_PAGES,
    browser,
    build_workspace_town,
    csrf_token,
    quiet,
)
from tests.unit.test_extract import make_pdf


def test_find_anchor_prefers_context_and_ignores_whitespace():
    text = "Der Radweg ist kaputt.\fNeue Seite: der Radweg   wird\nsaniert. Ende"
    assert find_anchor(text, "Radweg") == find_anchor(text, "Radweg", "Der", "ist")
    assert find_anchor(text, "Radweg").page == 1
    assert find_anchor(text, "Radweg", "Seite: der", "wird").page == 2
    assert find_anchor(text, "Radweg wird saniert").page == 2
    assert find_anchor(text, "Brücke") is None
    assert find_anchor(None, "x") is None and find_anchor(text, "   ") is None


def test_markdown_is_inert():
    escaped = md_escape("[klick](javascript:alert(1)) <script>x</script> # H")
    assert "](" not in escaped and "<script>" not in escaped


async def test_note_crud_and_hostile_input(db, settings):
    s = quiet(settings)
    wt = await build_workspace_town(db, s)
    fid = wt.public_file.id
    url = f"/arbeitsbereich/dokumente/{fid}/notizen"
    async with browser(s, wt) as b:
        client = b.as_("councillor")
        token = await csrf_token(client)
        # selection on page 2 (the quote also occurs on page 1: the context decides)
        r = await client.post(
            url,
            data={
                "_csrf_token": token,
                "body": "Kosten prüfen <script>alert(1)</script>",
                "quote": "Der Radweg",
                "prefix": "120.000 Euro.",
                "suffix": "bleibt während",
                "page": "1",
            },
            follow_redirects=False,
        )
        assert r.status_code == 303
        note_id = int(r.headers["location"].rsplit("-", 1)[1])
        page = await client.get(f"/arbeitsbereich/dokumente/{fid}")
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>alert(1)" not in page.text
        assert re.search(rf'id="notiz-{note_id}".*?href="#seite-2"', page.text, re.S)

        bad = [
            ({"body": ""}, 400),
            ({"body": "   \x00 "}, 400),
            ({"body": "x" * 10_001}, 400),
            ({"body": "ok", "visibility": "public"}, 400),
            ({"body": "ok", "page": "0"}, 400),
            ({"body": "ok", "page": "99"}, 400),
            ({"body": "ok", "page": "-1"}, 400),
            ({"body": "ok", "page": "1e9"}, 400),
            ({"body": "ok", "faction_id": "abc", "visibility": "faction"}, 400),
            ({"body": "ok", "faction_id": str(wt.town.committee.id), "visibility": "faction"}, 400),
        ]
        async with db.sessionmaker() as sess:
            before = len((await sess.execute(select(Note.id))).all())
        for data, status in bad:
            r = await client.post(url, data={"_csrf_token": token, **data}, follow_redirects=False)
            assert r.status_code == status, (data, r.status_code)
            assert "notice-error" in r.text
        async with db.sessionmaker() as sess:
            assert len((await sess.execute(select(Note.id))).all()) == before  # nothing half-written
        # NUL bytes and a huge quote are cleaned / cut, not a 500
        r = await client.post(
            url,
            data={"_csrf_token": token, "body": "a\x00b\u202ec", "quote": "q" * 5000, "prefix": "p" * 500},
            follow_redirects=False,
        )
        assert r.status_code == 303
        async with db.sessionmaker() as sess:
            newest = (await sess.execute(select(Note).order_by(Note.id.desc()).limit(1))).scalar_one()
            assert newest.body == "abc"  # no NUL, no right-to-left override (it would disguise the text)
        # without the token: 403, nothing changes
        r = await client.post(url, data={"body": "ohne Token"}, follow_redirects=False)
        assert r.status_code == 403
        # update, share with the faction, delete
        r = await client.post(
            f"/arbeitsbereich/notizen/{note_id}",
            data={"_csrf_token": token, "body": "Geändert", "visibility": "faction"},
            follow_redirects=False,
        )
        assert r.status_code == 303
        colleague = await b.as_("faction_colleague").get(f"/arbeitsbereich/dokumente/{fid}")
        assert "Geändert" in colleague.text and "Anna Becker" in colleague.text
        r = await b.as_("councillor").post(
            f"/arbeitsbereich/notizen/{note_id}",
            data={"_csrf_token": token, "body": ""},
            follow_redirects=False,
        )
        assert r.status_code == 400
        r = await b.as_("councillor").post(
            f"/arbeitsbereich/notizen/{note_id}/loeschen", data={"_csrf_token": token}, follow_redirects=False
        )
        assert r.status_code == 303
        colleague = await b.as_("faction_colleague").get(f"/arbeitsbereich/dokumente/{fid}")
        assert "Geändert" not in colleague.text
        r = await b.as_("councillor").post(
            f"/arbeitsbereich/notizen/{note_id}/loeschen", data={"_csrf_token": token}, follow_redirects=False
        )
        assert r.status_code == 404


async def test_new_version_reanchors_or_detaches(db, settings):
    s = quiet(settings)
    wt = await build_workspace_town(db, s)
    fid = wt.public_file.id
    async with browser(s, wt) as b:
        client = b.as_("councillor")
        token = await csrf_token(client)
        for quote, body in (
            ("Kosten betragen 120.000 Euro", "WANDERT"),
            ("im Frühjahr saniert", "VERSCHWINDET"),
        ):
            r = await client.post(
                f"/arbeitsbereich/dokumente/{fid}/notizen",
                data={"_csrf_token": token, "body": body, "quote": quote},
                follow_redirects=False,
            )
            assert r.status_code == 303
        # a new version: the sentence with the costs moves to page 3, the spring sentence is gone
        new_pdf = make_pdf(
            ["Neue Fassung.", "Der Radweg wird im Sommer saniert.", "Die Kosten betragen 120.000 Euro."]
        )
        blob = FileStore(s.files_dir).put(new_pdf)
        extraction = extract_pdf_text(new_pdf)
        async with db.sessionmaker() as sess:
            record = (
                await sess.execute(select(File).where(File.id == fid).options(undefer(File.text)))
            ).scalar_one()
            record.storage_key, record.sha512, record.size = blob.key, blob.sha512, blob.size
            record.text, record.page_count, record.text_state = extraction.text, extraction.page_count, "done"
            await sess.commit()
        # the export re-anchors on its own (the documents' text is not loaded for lists)
        md = await client.get(f"/arbeitsbereich/sitzungen/{wt.meeting_id}/notizen.md")
        assert md.headers["content-type"].startswith("text/markdown")
        assert "Seite 3" in md.text and "losgelöst" in md.text
        page = await client.get(f"/arbeitsbereich/dokumente/{fid}")
        assert page.status_code == 200
        wandert = re.search(r'<li id="notiz-\d+"(?:(?!</li>).)*WANDERT', page.text, re.S)
        assert wandert and 'href="#seite-3"' in wandert.group(0)
        detached_part = page.text.split("Losgelöste Notizen", 1)[1]
        assert "VERSCHWINDET" in detached_part and "WANDERT" not in detached_part


async def test_reader_search_siblings_and_bundles(db, settings):
    s = quiet(settings)
    wt = await build_workspace_town(db, s)
    async with browser(s, wt) as b:
        client = b.as_("councillor")
        r = await client.get(f"/arbeitsbereich/dokumente/{wt.public_file.id}", params={"q": "radweg"})
        assert r.status_code == 200
        assert r.text.count("<mark>") == 2 and "2 Treffer" in r.text
        assert 'id="seite-1"' in r.text and 'id="seite-2"' in r.text
        assert (
            f'href="/arbeitsbereich/dokumente/{wt.second_public_file.id}' in r.text
        )  # next document of the item
        assert 'data-src="/dokumente/' in r.text and "/static/js/reader.js" in r.text
        r = await client.get(f"/arbeitsbereich/dokumente/{wt.public_file.id}", params={"q": "<b>(" * 80})
        assert r.status_code == 200 and "<b>(" not in r.text

        pdf = await client.get(f"/arbeitsbereich/sitzungen/{wt.meeting_id}/dokumente.pdf")
        reader = PdfReader(io.BytesIO(pdf.content))
        outline = reader.outline
        titles = [o.title for o in outline if not isinstance(o, list)]
        assert titles == ["TOP 1: Mitteilungen der Verwaltung", "TOP 2: Grundstücksangelegenheiten"]
        children = [o.title for o in outline[1]]
        assert children == ["Mitteilung Radweg", "Anlage Lageplan"]
        first = reader.get_destination_page_number(outline[0])
        assert "Mitteilungen der Verwaltung" in reader.pages[first].extract_text()
        cover = reader.pages[0].extract_text()
        assert "Inhalt" in cover and "Kaufvertrag Geheimweg" in cover
        assert len(reader.pages) == 1 + len(PUBLIC_PAGES) + 1 + len(SECRET_PAGES)

        # the single non-public download is stamped; the public one is the stored file
        d = await client.get(f"/arbeitsbereich/dokumente/{wt.secret_file.id}/download")
        assert d.status_code == 200 and "attachment" in d.headers["content-disposition"]
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(d.content)).pages)
        assert "heruntergeladen von Anna Becker" in text and "Geheimweg" in text
        assert d.headers["cache-control"] == "private, no-store"

    off = s.model_copy(update={"workspace_watermark": False})
    async with browser(off, wt) as b:
        d = await b.as_("councillor").get(
            f"/arbeitsbereich/dokumente/{wt.secret_file.id}/download", follow_redirects=False
        )
        assert d.status_code == 303  # unstamped: the ordinary access-checked download


def test_watermark_keeps_names_beyond_latin1():
    from council.workspace.documents import watermark_pdf, watermark_text

    stamped = watermark_pdf(make_pdf(["Seite eins", "Seite zwei"]), watermark_text("Özlem Yılmaz"))
    pages = PdfReader(io.BytesIO(stamped)).pages
    assert len(pages) == 2
    assert all("Özlem Yılmaz" in p.extract_text() for p in pages)
