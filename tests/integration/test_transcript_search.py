"""Transcript segments in the site search: stemming, hits with meeting/item/speaker/second, privacy."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from council.records.access import ANONYMOUS, Viewer
from council.search import query as search_query
from council.search.indexer import reindex_all
from council.search.models import SearchDocument
from council.search.query import search
from tests.transcript_helpers import make_transcript_town
from transcripts import search as tsearch
from transcripts.models import TranscriptSegment

STAFF = Viewer(account_id=1, roles=frozenset({"clerk"}))


async def _indexed_town(session: Any) -> Any:
    tt = await make_transcript_town(session)
    for meeting in (tt.town.past_meeting, tt.town.secret_meeting):
        await tsearch.index_meeting(session, meeting.id)
    await session.commit()
    return tt


async def test_hits_show_meeting_item_speaker_and_the_second_in_the_video(session: Any) -> None:
    tt = await _indexed_town(session)
    # "Radweg" finds "Radwege" (German stemming) in the transcript, and the item and paper too.
    r = await search(session, ANONYMOUS, "Radweg", kinds=["transcript"])
    assert r.total == 1
    hit = r.hits[0]
    seg = tt.seg["radweg"]
    assert hit.kind == "transcript" and hit.ref_id == seg.id
    assert hit.url == f"/sitzungen/{tt.town.past_meeting.id}/video?t=3725"
    assert hit.details["time"] == "1:02:05"
    assert hit.details["speaker"] == tt.town.persons[0].name
    assert hit.details["agenda_item"].startswith("2 Sanierung des Radwegs")
    assert hit.details["meeting_name"] == tt.town.past_meeting.name
    assert "\x02Radwege\x03" in hit.snippet
    await reindex_all(session)  # the records too: transcript rows stay
    await session.commit()
    everything = await search(session, ANONYMOUS, "Radweg")
    assert everything.facets.get("transcript") == 1 and everything.facets.get("agenda_item", 0) >= 1


async def test_private_segments_and_non_public_meetings_never_reach_anonymous_users(session: Any) -> None:
    await _indexed_town(session)
    for q in ("Brückensanierung", "Geheimweg Kaufpreis", "Tauschvertrag Kiesgrube"):
        r = await search(session, ANONYMOUS, q)
        assert r.facets.get("transcript", 0) == 0, q
    # Staff find all of them; a committee member finds the non-public item but not the private speech.
    for q in ("Brückensanierung", "Kaufpreis", "Kiesgrube"):
        assert (await search(session, STAFF, q, kinds="transcript")).total == 1, q
    rows = (await session.execute(select(func.count()).select_from(SearchDocument))).scalar_one()
    assert rows > 0


async def test_correction_reindexes_and_deleted_meeting_vanishes(session: Any) -> None:
    tt = await _indexed_town(session)
    seg = await session.get(TranscriptSegment, tt.seg["chair"].id)
    seg.text = "Ich eröffne die Sitzung und begrüße die Feuerwehrkameraden."
    await tsearch.index_segments(session, [seg.id])
    await session.commit()
    assert (await search(session, ANONYMOUS, "Feuerwehrkamerad", kinds="transcript")).total == 1
    assert (await search(session, ANONYMOUS, "Anwesenden", kinds="transcript")).total == 0

    meeting = tt.town.past_meeting
    meeting.deleted = True
    await session.commit()
    assert (await search(session, ANONYMOUS, "Feuerwehrkameraden")).total == 0
    assert (await search(session, STAFF, "Feuerwehrkameraden")).total == 0


async def test_reindexing_the_records_keeps_transcript_rows(session: Any) -> None:
    await _indexed_town(session)
    await reindex_all(session)
    await session.commit()
    assert (await search(session, ANONYMOUS, "Schlaglöcher")).total == 1


async def test_many_matches_are_capped_and_ranked_within_the_newest(session: Any, monkeypatch: Any) -> None:
    tt = await _indexed_town(session)
    monkeypatch.setattr(search_query, "CANDIDATES", 3)
    meeting = tt.town.past_meeting
    for i in range(6):
        session.add(
            TranscriptSegment(
                meeting_id=meeting.id,
                start_s=100.0 + i,
                end_s=101.0 + i,
                at=meeting.start,
                text=f"Wortmeldung {i} zur Haushaltssatzung",
                machine_text="x",
                source="final",
            )
        )
    await session.flush()
    await tsearch.index_meeting(session, meeting.id)
    await session.commit()
    r = await search(session, ANONYMOUS, "Haushaltssatzung")
    assert r.capped and r.total == 3 and len(r.hits) == 3
    assert (await search(session, ANONYMOUS, "Haushaltssatzung", kinds="transcript")).capped


async def test_hostile_queries_on_transcripts_never_raise(session: Any) -> None:
    await _indexed_town(session)
    for q in ('"', "-", "OR", "\x00", "\ud800", "a" * 5000, "NEAR(", "*", "title:x", "‮Radweg"):
        r = await search(session, ANONYMOUS, q)
        assert r.total >= 0
