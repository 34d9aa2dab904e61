"""Transcript pages, corrections, minutes draft and WebVTT over HTTP (anonymous, member, clerk)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from council.accounts.sessions import SESSION_COOKIE
from council.live.models import EventKind, TimelineEvent
from council.records.access import ANONYMOUS
from council.search.query import search
from tests.transcript_helpers import make_transcript_town
from transcripts import search as tsearch
from transcripts.models import RunState, SegmentRevision, TranscriptRun, TranscriptSegment


async def _town(session: Any) -> Any:
    tt = await make_transcript_town(session)
    for meeting in (tt.town.past_meeting, tt.town.secret_meeting):
        session.add(TranscriptRun(meeting_id=meeting.id, state=RunState.DONE, chunks_done=1, resume_s=0.0))
    await session.commit()
    return tt


def _c(token: str | None) -> dict[str, str]:
    return {SESSION_COOKIE: token} if token else {}


async def _csrf(client: Any, path: str, token: str) -> str:
    r = await client.get(path, cookies=_c(token))
    assert r.status_code == 200, r.text
    m = re.search(r'name="_csrf_token" value="([^"]+)"', r.text)
    assert m
    return m.group(1)


async def test_public_page_groups_by_item_and_hides_what_is_not_public(client: Any, session: Any) -> None:
    tt = await _town(session)
    mid = tt.town.past_meeting.id
    r = await client.get(f"/sitzungen/{mid}/wortprotokoll")
    assert r.status_code == 200
    page = r.text
    assert "Ich eröffne die Sitzung" in page and "Vorsitz" in page
    assert "Schlaglöcher" in page and tt.town.persons[0].name in page
    assert f'href="/sitzungen/{mid}/video?t=3725"' in page and "1:02:05" in page
    assert "Brückensanierung" not in page  # non-consenting speaker
    assert "Kaufpreis" not in page  # non-public agenda item
    assert "Korrigieren" not in page
    # Per agenda item.
    item_id = tt.seg["radweg"].agenda_item_id
    r = await client.get(f"/sitzungen/{mid}/wortprotokoll?top={item_id}")
    assert r.status_code == 200 and "Schlaglöcher" in r.text and "Ich eröffne" not in r.text
    assert (
        await client.get(f"/sitzungen/{mid}/wortprotokoll?top={tt.seg['secret_item'].agenda_item_id}")
    ).status_code == 404
    assert (await client.get(f"/sitzungen/{mid}/wortprotokoll?top=abc")).status_code == 400
    # The non-public meeting does not exist for the public.
    sid = tt.town.secret_meeting.id
    assert (await client.get(f"/sitzungen/{sid}/wortprotokoll")).status_code == 404
    assert (await client.get(f"/sitzungen/{sid}/wortprotokoll.vtt")).status_code == 404
    assert (await client.get("/sitzungen/999999/wortprotokoll")).status_code == 404


async def test_member_sees_non_public_item_staff_sees_private_speech(client: Any, session: Any) -> None:
    tt = await _town(session)
    mid = tt.town.past_meeting.id
    page = (await client.get(f"/sitzungen/{mid}/wortprotokoll", cookies=_c(tt.member_token))).text
    assert "Kaufpreis" in page and "Brückensanierung" not in page
    page = (await client.get(f"/sitzungen/{mid}/wortprotokoll", cookies=_c(tt.clerk_token))).text
    assert "Kaufpreis" in page and "Brückensanierung" in page and "nicht veröffentlicht" in page
    assert "Korrigieren" in page


async def test_webvtt_has_public_captions_only(client: Any, session: Any) -> None:
    tt = await _town(session)
    r = await client.get(
        f"/sitzungen/{tt.town.past_meeting.id}/wortprotokoll.vtt", cookies=_c(tt.clerk_token)
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/vtt")
    assert r.text.startswith("WEBVTT")
    assert "Schlaglöcher" in r.text and "Brückensanierung" not in r.text and "Kaufpreis" not in r.text
    assert "01:02:05.000 -->" in r.text


async def test_run_progress_is_shown(client: Any, session: Any) -> None:
    tt = await _town(session)
    run = (
        await session.execute(
            select(TranscriptRun).where(TranscriptRun.meeting_id == tt.town.past_meeting.id)
        )
    ).scalar_one()
    run.state = RunState.RUNNING
    await session.commit()
    r = await client.get(f"/sitzungen/{tt.town.past_meeting.id}/wortprotokoll")
    assert "wird gerade erstellt" in r.text and "<progress" in r.text


async def test_correction_by_clerk_with_history_and_public_mark(client: Any, session: Any) -> None:
    tt = await _town(session)
    mid = tt.town.past_meeting.id
    seg_id = tt.seg["radweg"].id
    p3_id, p3_name = tt.town.persons[3].id, tt.town.persons[3].name
    await tsearch.index_meeting(session, mid)
    await session.commit()
    token = await _csrf(client, f"/verwaltung/wortprotokoll/{seg_id}", tt.clerk_token)
    form = {
        "_csrf_token": token,
        "text": "Die Sanierung der Radwege an der Landstraße ist überfällig.",
        "speaker": f"p{p3_id}",
        "note": "Tippfehler",
    }
    r = await client.post(
        f"/verwaltung/wortprotokoll/{seg_id}", data=form, cookies=_c(tt.clerk_token), follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == f"/sitzungen/{mid}/wortprotokoll#s-{seg_id}"
    session.expire_all()
    seg = await session.get(TranscriptSegment, seg_id)
    assert seg.corrected and seg.version == 2 and seg.person_id == p3_id
    assert seg.machine_text.endswith("gefährden Kinder.")
    # The public sees the corrected text, marked.
    page = (await client.get(f"/sitzungen/{mid}/wortprotokoll")).text
    assert "überfällig" in page and "korrigiert" in page and p3_name in page
    # History: both versions.
    hist = (
        await client.get(f"/verwaltung/wortprotokoll/{seg_id}/versionen", cookies=_c(tt.clerk_token))
    ).text
    assert "überfällig" in hist and "gefährden Kinder" in hist and "Tippfehler" in hist
    # Search follows the correction.
    assert (await search(session, ANONYMOUS, "überfällig", kinds="transcript")).total == 1
    # htmx: the line comes back.
    r = await client.post(
        f"/verwaltung/wortprotokoll/{seg_id}",
        data={"_csrf_token": token, "text": "Zweite Korrektur.", "speaker": "chair"},
        cookies=_c(tt.clerk_token),
        headers={"hx-request": "true"},
    )
    assert (
        r.status_code == 200
        and f'id="s-{seg_id}"' in r.text
        and "Zweite Korrektur." in r.text
        and "Vorsitz" in r.text
    )


async def test_corrections_need_staff_and_csrf(client: Any, session: Any) -> None:
    tt = await _town(session)
    seg_id = tt.seg["chair"].id
    token = await _csrf(client, f"/verwaltung/wortprotokoll/{seg_id}", tt.clerk_token)
    r = await client.post(
        f"/verwaltung/wortprotokoll/{seg_id}", data={"text": "x"}, cookies=_c(tt.clerk_token)
    )
    assert r.status_code == 403  # no CSRF token
    r = await client.post(
        f"/verwaltung/wortprotokoll/{seg_id}",
        data={"_csrf_token": token, "text": "x"},
        cookies=_c(tt.member_token),
    )
    assert r.status_code == 403
    r = await client.post(
        f"/verwaltung/wortprotokoll/{seg_id}",
        data={"_csrf_token": token, "text": "x"},
        follow_redirects=False,
    )
    assert r.status_code in (303, 403)
    assert (
        await client.get(f"/verwaltung/wortprotokoll/{seg_id}", cookies=_c(tt.member_token))
    ).status_code == 403
    assert (
        await client.get(
            f"/verwaltung/sitzungen/{tt.town.past_meeting.id}/protokollentwurf", cookies=_c(tt.member_token)
        )
    ).status_code == 403
    session.expire_all()
    assert (await session.get(TranscriptSegment, seg_id)).version == 1


HOSTILE = {
    "nul": ("Text mit \x00 Nullzeichen", 400),
    # Bytes that are not UTF-8 reach the handler as U+FFFD (the form parser replaces them): stored inert.
    "lone surrogate": ("kaputt \ud800 Zeichen", None),
    "empty": ("   ", 400),
    "too long": ("a" * 6000, 400),
    "one megabyte": ("b" * 1_000_000, 400),
}


@pytest.mark.parametrize("name", list(HOSTILE))
async def test_hostile_corrections_are_4xx_and_write_nothing(client: Any, session: Any, name: str) -> None:
    tt = await _town(session)
    seg_id = tt.seg["chair"].id
    token = await _csrf(client, f"/verwaltung/wortprotokoll/{seg_id}", tt.clerk_token)
    text, status = HOSTILE[name]
    body = "&".join(f"{k}={v}" for k, v in {"_csrf_token": token}.items())
    from urllib.parse import quote

    body += "&text=" + quote(text, errors="surrogatepass") + "&speaker=chair"
    r = await client.post(
        f"/verwaltung/wortprotokoll/{seg_id}",
        content=body.encode("utf-8", errors="surrogatepass"),
        headers={"content-type": "application/x-www-form-urlencoded"},
        cookies=_c(tt.clerk_token),
        follow_redirects=False,
    )
    session.expire_all()
    if status is None and r.status_code == 303:
        stored = (await session.get(TranscriptSegment, seg_id)).text
        stored.encode("utf-8")  # no lone surrogate made it into the database
        assert "\ud800" not in stored
        return
    assert 400 <= r.status_code < 500, (name, r.status_code)
    assert (await session.get(TranscriptSegment, seg_id)).version == 1
    assert (await session.execute(select(SegmentRevision))).first() is None


async def test_markup_and_bidi_are_stored_inert(client: Any, session: Any) -> None:
    tt = await _town(session)
    seg_id = tt.seg["chair"].id
    token = await _csrf(client, f"/verwaltung/wortprotokoll/{seg_id}", tt.clerk_token)
    evil = '<script>alert(1)</script><b hx-get="/verwaltung" hx-trigger="load">x</b> \u202egnirts'
    r = await client.post(
        f"/verwaltung/wortprotokoll/{seg_id}",
        data={"_csrf_token": token, "text": evil, "speaker": "chair"},
        cookies=_c(tt.clerk_token),
    )
    assert r.status_code in (200, 303, 400)
    page = (await client.get(f"/sitzungen/{tt.town.past_meeting.id}/wortprotokoll")).text
    assert "<script>alert(1)" not in page and 'hx-trigger="load"' not in page
    bad = await client.post(
        f"/verwaltung/wortprotokoll/{seg_id}",
        data={"_csrf_token": token, "speaker": "p99999999999"},
        cookies=_c(tt.clerk_token),
    )
    assert bad.status_code == 400
    bad = await client.post(
        f"/verwaltung/wortprotokoll/{seg_id}",
        data={"_csrf_token": token, "speaker": "p424242"},
        cookies=_c(tt.clerk_token),
    )
    assert bad.status_code == 400 and "Unbekannte Person" in bad.text


async def test_minutes_draft_html_and_markdown_with_vote_result(client: Any, session: Any) -> None:
    tt = await _town(session)
    past = tt.town.past_meeting
    item_id = tt.seg["radweg"].agenda_item_id
    session.add(
        TimelineEvent(
            meeting_id=past.id,
            kind=EventKind.VOTE_CLOSED,
            at=past.start,
            agenda_item_id=item_id,
            payload={
                "question": "Sanierung beschließen",
                "summary": "angenommen mit 9 Ja-Stimmen",
                "adopted": True,
                "tally": {"yes": 9, "no": 1, "abstain": 0},
            },
        )
    )
    await session.commit()
    url = f"/verwaltung/sitzungen/{past.id}/protokollentwurf"
    html = await client.get(url, cookies=_c(tt.clerk_token))
    assert html.status_code == 200
    assert "Schlaglöcher" in html.text and "Kaufpreis" in html.text  # staff: non-public item included
    assert "angenommen mit 9 Ja-Stimmen" in html.text
    md = await client.get(url + ".md", cookies=_c(tt.clerk_token))
    assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
    assert "attachment" in md.headers["content-disposition"]
    assert "## 2 Sanierung des Radwegs" in md.text and "Schlaglöcher" in md.text
    assert "angenommen mit 9 Ja\\-Stimmen" in md.text or "angenommen mit 9 Ja-Stimmen" in md.text
    assert (await client.get(url, follow_redirects=False)).status_code in (303, 401)


async def test_meeting_page_renders_the_last_live_captions(client: Any, session: Any) -> None:
    tt = await _town(session)
    past = tt.town.past_meeting
    session.add(TimelineEvent(meeting_id=past.id, kind=EventKind.MEETING_OPENED, at=past.start))
    for i, (text, public) in enumerate(
        [("Erste Live-Zeile", True), ("Geheime Live-Zeile", False), ("Zweite Live-Zeile", True)]
    ):
        session.add(
            TranscriptSegment(
                meeting_id=past.id,
                start_s=10.0 + i,
                end_s=11.0 + i,
                at=past.start,
                text=text,
                machine_text=text,
                source="live",
                public=public,
                speaker_role="chair",
            )
        )
    await session.commit()
    page = (await client.get(f"/sitzungen/{past.id}")).text
    assert "Live-Untertitel" in page and 'aria-live="polite"' in page
    assert page.index("Erste Live-Zeile") < page.index("Zweite Live-Zeile")
    assert "Geheime Live-Zeile" not in page


async def test_archive_hook_queues_the_final_transcript(session: Any, db: Any) -> None:
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from council.core.jobs import Job
    from council.live.media import Caption
    from web import transcripts_wiring
    from web.transcripts_wiring import caption_message

    tt = await _town(session)
    mid = tt.town.past_meeting.id
    woken: list[bool] = []
    # The callback needs only the app's database and job runner (the test's own loop owns this one).
    app = SimpleNamespace(state=SimpleNamespace(db=db, jobs=SimpleNamespace(wake=lambda: woken.append(True))))
    started = datetime(2026, 11, 11, 16, tzinfo=UTC)
    await transcripts_wiring.on_archived(app, mid, "/nonexistent/recording.mp4", started)  # type: ignore[arg-type]
    job = (await session.execute(select(Job).where(Job.kind == "transcripts.final"))).scalars().first()
    assert job is not None and job.payload["meeting_id"] == mid and woken == [True]
    msg = caption_message(Caption(meeting_id=mid, start=started, end=started, text="Hallo"))
    assert msg["kind"] == "caption" and msg["text"] == "Hallo"


async def test_transcript_templates_are_rendered(app: Any, client: Any, session: Any) -> None:
    """Sweep of transcripts/*: page, line, inline edit (htmx) and edit page, history, minutes."""
    from tests.integration.test_templates import RecordingLoader, all_templates

    env = app.template_engine.engine
    recorder = RecordingLoader(env.loader)
    env.loader = recorder
    env.cache = None
    tt = await _town(session)
    mid, seg_id = tt.town.past_meeting.id, tt.seg["radweg"].id
    c = _c(tt.clerk_token)
    for path in (
        f"/sitzungen/{mid}/wortprotokoll",
        f"/verwaltung/wortprotokoll/{seg_id}",
        f"/verwaltung/wortprotokoll/{seg_id}/versionen",
        f"/verwaltung/sitzungen/{mid}/protokollentwurf",
    ):
        assert (await client.get(path, cookies=c)).status_code == 200, path
    assert (
        await client.get(f"/verwaltung/wortprotokoll/{seg_id}", cookies=c, headers={"hx-request": "true"})
    ).status_code == 200
    named = {
        "transcripts/page.html",
        "transcripts/_line.html",
        "transcripts/_edit.html",
        "transcripts/edit.html",
        "transcripts/history.html",
        "transcripts/minutes.html",
    }
    assert {n for n in all_templates() if n.startswith("transcripts/")} == named
    assert named <= recorder.loaded, sorted(named - recorder.loaded)
