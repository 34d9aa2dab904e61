"""The access matrix of the councillor's workspace: every document, file, bundle and note URL ×
{anonymous, resident, councillor of the organization, councillor of another organization, faction
colleague, clerk} → the right status; and the bundles never hold what the viewer may not see."""

from __future__ import annotations

import io
import zipfile

import pytest
from pypdf import PdfReader

from tests.factories import keep_upcoming
from tests.integration.workspace_support import (
    SECRET_PAGES,
    WorkspaceTown,
    browser,
    build_workspace_town,
    csrf_token,
    quiet,
)

ACTORS = ["anonymous", "resident", "councillor", "committee_colleague", "faction_colleague", "other", "clerk"]
LOGIN = 303  # anonymous visitors are sent to the login page


@pytest.fixture
async def wt(db, settings) -> WorkspaceTown:
    return await build_workspace_town(db, quiet(settings))


def _row(anon: int, resident: int, councillor: int, committee: int, faction: int, other: int, clerk: int):
    return dict(zip(ACTORS, (anon, resident, councillor, committee, faction, other, clerk), strict=True))


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


async def test_access_matrix(settings, wt: WorkspaceTown):
    m = wt.meeting_id
    secret_m = wt.town.secret_meeting.id
    p, s, o = wt.public_file.id, wt.secret_file.id, wt.other_secret_file.id
    matrix = {
        "/arbeitsbereich": _row(LOGIN, 403, 200, 200, 200, 200, 200),
        f"/arbeitsbereich/sitzungen/{m}": _row(LOGIN, 403, 200, 200, 200, 200, 200),
        f"/arbeitsbereich/sitzungen/{m}/dokumente.zip": _row(LOGIN, 403, 200, 200, 200, 200, 200),
        f"/arbeitsbereich/sitzungen/{m}/dokumente.pdf": _row(LOGIN, 403, 200, 200, 200, 200, 200),
        f"/arbeitsbereich/sitzungen/{m}/notizen.md": _row(LOGIN, 403, 200, 200, 200, 200, 200),
        # the non-public meeting of the other committee
        f"/arbeitsbereich/sitzungen/{secret_m}": _row(LOGIN, 403, 404, 404, 404, 200, 200),
        f"/arbeitsbereich/sitzungen/{secret_m}/dokumente.zip": _row(LOGIN, 403, 404, 404, 404, 200, 200),
        f"/arbeitsbereich/sitzungen/{secret_m}/dokumente.pdf": _row(LOGIN, 403, 404, 404, 404, 200, 200),
        f"/arbeitsbereich/sitzungen/{secret_m}/notizen.md": _row(LOGIN, 403, 404, 404, 404, 200, 200),
        # the reader
        f"/arbeitsbereich/dokumente/{p}": _row(LOGIN, 403, 200, 200, 200, 200, 200),
        f"/arbeitsbereich/dokumente/{s}": _row(LOGIN, 403, 200, 200, 404, 404, 200),
        f"/arbeitsbereich/dokumente/{o}": _row(LOGIN, 403, 404, 404, 404, 200, 200),
        f"/arbeitsbereich/dokumente/{p}/download": _row(LOGIN, 403, 303, 303, 303, 303, 303),
        f"/arbeitsbereich/dokumente/{s}/download": _row(LOGIN, 403, 200, 200, 404, 404, 200),
        f"/arbeitsbereich/dokumente/{o}/download": _row(LOGIN, 403, 404, 404, 404, 200, 200),
        # the file itself (what pdf.js loads): access-checked, no guessable static path
        f"/dokumente/{p}/datei": _row(200, 200, 200, 200, 200, 200, 200),
        f"/dokumente/{s}/datei": _row(404, 404, 200, 200, 404, 404, 200),
        f"/dokumente/{o}/datei": _row(404, 404, 404, 404, 404, 200, 200),
        # hostile ids
        "/arbeitsbereich/dokumente/999999": _row(LOGIN, 403, 404, 404, 404, 404, 404),
        "/arbeitsbereich/dokumente/99999999999": _row(LOGIN, 403, 404, 404, 404, 404, 404),
        "/arbeitsbereich/sitzungen/0": _row(LOGIN, 403, 404, 404, 404, 404, 404),
    }
    wrong: list[str] = []
    async with browser(settings, wt) as b:
        for url, expected in matrix.items():
            for actor, status in expected.items():
                r = await b.as_(actor).get(url, follow_redirects=False)
                if r.status_code != status:
                    wrong.append(f"{actor} GET {url}: {r.status_code}, expected {status}")
                elif status == LOGIN and actor == "anonymous":
                    assert r.headers["location"].startswith("/anmelden")
    assert not wrong, "\n".join(wrong)


async def test_bundles_hold_only_what_the_viewer_may_see(settings, wt: WorkspaceTown):
    m = wt.meeting_id
    async with browser(settings, wt) as b:
        seen: dict[str, tuple[set[str], str]] = {}
        for actor in ("councillor", "faction_colleague", "other", "clerk"):
            client = b.as_(actor)
            z = await client.get(f"/arbeitsbereich/sitzungen/{m}/dokumente.zip")
            assert z.status_code == 200 and z.headers["content-type"] == "application/zip"
            assert "no-store" in z.headers["cache-control"]
            names = set(zipfile.ZipFile(io.BytesIO(z.content)).namelist())
            pdf = await client.get(f"/arbeitsbereich/sitzungen/{m}/dokumente.pdf")
            assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
            seen[actor] = (names, _pdf_text(pdf.content))
            page = await client.get(f"/arbeitsbereich/sitzungen/{m}")
            assert ("Kaufvertrag Geheimweg" in page.text) == (actor in ("councillor", "clerk"))
            assert "Mitteilung Radweg" in page.text
    for actor, (names, text) in seen.items():
        may = actor in ("councillor", "clerk")
        assert any("Kaufvertrag" in n for n in names) == may, (actor, names)
        assert ("Geheimweg" in text) == may, actor
        assert ("Grundstücksangelegenheiten" in text) == may, actor  # not even the agenda item title
        assert any("Mitteilung" in n for n in names), (actor, names)
        assert "Radweg" in text
    # non-public pages carry the downloader's name
    assert "heruntergeladen von Anna Becker" in seen["councillor"][1]
    assert "heruntergeladen von" not in seen["other"][1]


WORKSPACE_TEMPLATES = {
    "workspace/_files.html",
    "workspace/index.html",
    "workspace/meeting.html",
    "workspace/reader.html",
}


async def test_home_lists_upcoming_meetings_of_my_organizations(settings, db, wt: WorkspaceTown):
    from tests.integration.test_templates import RecordingLoader

    async with db.sessionmaker() as s:
        await keep_upcoming(s, wt.town.next_meeting.id, 7)
        await keep_upcoming(s, wt.town.secret_meeting.id, 9)
        await s.commit()

    async with browser(settings, wt) as b:
        env = b.client.app.template_engine.engine
        recorder = RecordingLoader(env.loader)
        env.loader, env.cache = recorder, None
        mine = await b.as_("councillor").get("/arbeitsbereich")
        other = await b.as_("other").get("/arbeitsbereich")
        for path in (
            f"/arbeitsbereich/sitzungen/{wt.meeting_id}",
            f"/arbeitsbereich/dokumente/{wt.public_file.id}",
        ):
            assert (await b.client.get(path)).status_code == 200
        assert WORKSPACE_TEMPLATES <= recorder.loaded
    assert wt.town.next_meeting.name in mine.text
    assert "Kaufvertrag Geheimweg" in mine.text and "nichtöffentlich" in mine.text
    assert wt.town.secret_meeting.name not in mine.text
    assert past_not_listed(mine.text, wt)
    assert wt.town.secret_meeting.name in other.text
    assert wt.town.next_meeting.name not in other.text  # a public meeting, but not of their committee


def past_not_listed(html: str, wt: WorkspaceTown) -> bool:
    return wt.town.past_meeting.name not in html


async def test_notes_never_leak(settings, wt: WorkspaceTown):
    s_id, p_id = wt.secret_file.id, wt.public_file.id
    async with browser(settings, wt) as b:
        token = await csrf_token(b.as_("councillor"))
        client = b.as_("councillor")
        for file_id, vis, body in (
            (s_id, "private", "PRIVAT-GEHEIM-NOTIZ"),
            (s_id, "faction", "FRAKTION-GEHEIM-NOTIZ"),
            (p_id, "faction", "FRAKTION-OEFFENTLICH-NOTIZ"),
        ):
            r = await client.post(
                f"/arbeitsbereich/dokumente/{file_id}/notizen",
                data={"_csrf_token": token, "body": body, "visibility": vis, "quote": SECRET_PAGES[0][:20]},
                follow_redirects=False,
            )
            assert r.status_code == 303, r.text
        note_ids = [
            int(x)
            for x in __import__("re").findall(
                r'id="notiz-(\d+)"', (await client.get(f"/arbeitsbereich/dokumente/{s_id}")).text
            )
        ]
        assert len(note_ids) == 2
        expected = {
            # actor: (sees on secret reader, sees on public reader)
            "councillor": ({"PRIVAT-GEHEIM-NOTIZ", "FRAKTION-GEHEIM-NOTIZ"}, {"FRAKTION-OEFFENTLICH-NOTIZ"}),
            "committee_colleague": ({"FRAKTION-GEHEIM-NOTIZ"}, {"FRAKTION-OEFFENTLICH-NOTIZ"}),
            "faction_colleague": (None, {"FRAKTION-OEFFENTLICH-NOTIZ"}),
            "other": (None, set()),
            "clerk": (set(), set()),
        }
        all_bodies = {"PRIVAT-GEHEIM-NOTIZ", "FRAKTION-GEHEIM-NOTIZ", "FRAKTION-OEFFENTLICH-NOTIZ"}
        for actor, (on_secret, on_public) in expected.items():
            c = b.as_(actor)
            r = await c.get(f"/arbeitsbereich/dokumente/{s_id}")
            if on_secret is None:
                assert r.status_code == 404
            else:
                assert {x for x in all_bodies if x in r.text} == on_secret, actor
            r = await c.get(f"/arbeitsbereich/dokumente/{p_id}")
            assert {x for x in all_bodies if x in r.text} == on_public, actor
            md = await c.get(f"/arbeitsbereich/sitzungen/{wt.meeting_id}/notizen.md")
            assert {x for x in all_bodies if x in md.text} == (on_secret or set()) | on_public, actor
            listing = await c.get(f"/arbeitsbereich/sitzungen/{wt.meeting_id}")
            assert {x for x in all_bodies if x in listing.text} == (on_secret or set()) | on_public, actor
            # nobody but the author edits or deletes
            if actor != "councillor":
                for nid in note_ids:
                    for path in (f"/arbeitsbereich/notizen/{nid}", f"/arbeitsbereich/notizen/{nid}/loeschen"):
                        r = await c.post(
                            path, data={"_csrf_token": token, "body": "x"}, follow_redirects=False
                        )
                        assert r.status_code == 404, (actor, path, r.status_code)
        for actor in ("anonymous", "resident"):
            r = await b.as_(actor).post(
                f"/arbeitsbereich/notizen/{note_ids[0]}",
                data={"_csrf_token": token, "body": "x"},
                follow_redirects=False,
            )
            assert r.status_code in (LOGIN, 403)
            r = await b.as_(actor).post(
                f"/arbeitsbereich/dokumente/{p_id}/notizen",
                data={"_csrf_token": token, "body": "x"},
                follow_redirects=False,
            )
            assert r.status_code in (LOGIN, 403)
        # without the CSRF token nothing changes
        r = await b.as_("councillor").post(
            f"/arbeitsbereich/notizen/{note_ids[0]}/loeschen", data={}, follow_redirects=False
        )
        assert r.status_code == 403
        r = await b.as_("councillor").get(f"/arbeitsbereich/dokumente/{s_id}")
        assert "PRIVAT-GEHEIM-NOTIZ" in r.text
