"""The whole media pipeline of a meeting, as residents and the clerk meet it, with every real part:

a recording with German speech (video test pattern + the checked-in espeak clips) is streamed through the
app's stream manager → live captions (real Whisper) appear in the HLS subtitle playlist and on the meeting
page → the stream ends → the archive is finalised (VOD + MP4) → the final transcript job runs (real
Whisper, beam 5) on the job runner → the transcript page links each passage to its agenda item, its
speaker and the second in the video, and a non-consenting speaker's words appear nowhere in public.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from council.live.models import EventKind, TimelineEvent
from streaming.models import Recording
from streaming.sources import FileSource
from tests.factories import make_town
from tests.transcripts_support import model_settings, pattern_recording, references, wer, write_wav
from transcripts.models import TranscriptRun, TranscriptSegment

#: The audio of the recording: (part, seconds of silence before it).
CHAIR, MEMBER_A, MEMBER_B = "chair", "member_a", "member_b"


def _make_recording(tmp: Path) -> tuple[Path, dict[str, tuple[float, float]]]:
    wav = tmp / "speech.wav"
    spans = write_wav(wav, [1.0, CHAIR, 1.0, MEMBER_A, 1.0, MEMBER_B, 1.5])
    named = {CHAIR: spans[1], MEMBER_A: spans[3], MEMBER_B: spans[5]}
    duration = spans[-1][1]
    mp4 = tmp / "meeting.mp4"
    pattern_recording(wav, mp4, duration)
    return mp4, named


async def _until(predicate: Any, seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds:.0f} s")
        await asyncio.sleep(0.25)


@pytest.fixture
async def pipeline_client(settings: Any) -> AsyncIterator[Any]:
    from web.app import create_app

    settings.live_captions = True
    settings.whisper_model_dir = model_settings().whisper_model_dir
    settings.hls_segment_seconds = 1.0
    settings.disk_alarm_free_bytes = 0
    async with AsyncTestClient(app=create_app(settings), base_url="http://127.0.0.1:8000") as client:
        yield client


async def test_speech_stream_to_captions_archive_and_linked_transcript(
    session: Any, db: Any, pipeline_client: Any, tmp_path: Path
) -> None:
    client = pipeline_client
    town = await make_town(session)
    meeting = town.past_meeting
    item = town.public_item
    assert meeting is not None and item is not None
    speaker_a, speaker_b = town.persons[0], town.persons[1]
    mid, item_id = meeting.id, item.id
    a_id, b_id = speaker_a.id, speaker_b.id
    a_name = speaker_a.name
    await session.commit()

    mp4, spans = await asyncio.to_thread(_make_recording, tmp_path)
    streams = client.app.state.streams
    # The app (and its stream manager and database pool) runs on the test client's own event loop.
    await asyncio.to_thread(client.blocking_portal.call, streams.start_stream, mid, FileSource(path=mp4))

    async def started_at() -> Any:
        async with db.sessionmaker() as s:
            return (
                await s.execute(select(Recording.started_at).where(Recording.meeting_id == mid))
            ).scalar_one_or_none()

    t0 = await _until(started_at, 30, "first segment")

    def at(seconds: float) -> Any:
        return t0 + timedelta(seconds=seconds)

    # The clerk's console would write these as the meeting runs; here they are written at once, with the
    # times the speeches have in the recording (the chair opens and introduces the item; A speaks with
    # consent; B speaks without consent to being streamed).
    def event(kind: EventKind, seconds: float, **kw: Any) -> TimelineEvent:
        return TimelineEvent(meeting_id=mid, kind=kind.value, at=at(seconds), **kw)

    turn = {"agenda_item_id": item_id}
    a_from, b_from = spans[MEMBER_A][0] - 0.5, spans[MEMBER_B][0] - 0.5
    async with db.sessionmaker() as s:
        s.add_all(
            [
                event(EventKind.MEETING_OPENED, 0.2),
                event(EventKind.AGENDA_ITEM_STARTED, 0.5, **turn),
                event(EventKind.SPEAKER_STARTED, a_from, person_id=a_id, consent=True, **turn),
                event(EventKind.SPEAKER_ENDED, spans[MEMBER_A][1] + 0.4, person_id=a_id, **turn),
                event(EventKind.SPEAKER_STARTED, b_from, person_id=b_id, consent=False, **turn),
                event(EventKind.SPEAKER_ENDED, spans[MEMBER_B][1] + 0.4, person_id=b_id, **turn),
            ]
        )
        await s.commit()

    # Live: captions reach the HLS subtitle playlist (and the meeting page) while the stream runs.
    async def live_caption() -> Any:
        async with db.sessionmaker() as s:
            return (
                (
                    await s.execute(
                        select(TranscriptSegment).where(
                            TranscriptSegment.meeting_id == mid, TranscriptSegment.source == "live"
                        )
                    )
                )
                .scalars()
                .first()
            )

    await _until(live_caption, 40, "a live caption")
    master = await client.get(f"/medien/{mid}/public/master.m3u8")
    assert master.status_code == 200 and "TYPE=SUBTITLES" in master.text
    page = await client.get(f"/sitzungen/{mid}")
    assert page.status_code == 200 and "data-live-captions" in page.text

    # The file ends → the stream ends → archive (VOD + MP4) → the final transcript job.
    async def final_done() -> Any:
        async with db.sessionmaker() as s:
            run = (
                await s.execute(select(TranscriptRun).where(TranscriptRun.meeting_id == mid))
            ).scalar_one_or_none()
            return run if run is not None and run.state in ("done", "failed", "empty") else None

    run = await _until(final_done, 150, "the final transcript")
    assert run.state == "done", run.message
    vod = await client.get(f"/medien/{mid}/public/index.m3u8")
    assert "#EXT-X-ENDLIST" in vod.text
    captions = (await client.get(f"/medien/{mid}/public/captions.vtt")).text

    async with db.sessionmaker() as s:
        final = list(
            (
                await s.execute(
                    select(TranscriptSegment)
                    .where(TranscriptSegment.meeting_id == mid, TranscriptSegment.source == "final")
                    .order_by(TranscriptSegment.start_s)
                )
            ).scalars()
        )
    assert final, "no final segments"
    assert [x.start_s for x in final] == sorted(x.start_s for x in final)

    def spoken(name: str) -> list[TranscriptSegment]:
        lo, hi = spans[name]
        return [x for x in final if lo - 0.5 <= (x.start_s + x.end_s) / 2 <= hi + 0.5]

    chair, member_a, member_b = spoken(CHAIR), spoken(MEMBER_A), spoken(MEMBER_B)
    # Batched decoding returns one segment across all three voices; the word timestamps cut it where the
    # floor changed hands. B's sound is muted in the public recording (slate), so B is either absent
    # from the transcript or private.
    assert chair and member_a
    assert all(x.agenda_item_id == item_id for x in chair + member_a + member_b)
    assert all(x.speaker_role == "chair" and x.person_id is None for x in chair)
    assert all(x.person_id == a_id and x.public for x in member_a)
    assert all(not x.public for x in member_b)
    assert wer(references()[MEMBER_A], " ".join(x.text for x in member_a)) < 0.5

    # Public transcript page: A's words, linked to the second in the video and named; B's nowhere.
    transcript = await client.get(f"/sitzungen/{mid}/wortprotokoll")
    assert transcript.status_code == 200
    assert a_name in transcript.text
    second = int(member_a[0].start_s)
    assert f"/sitzungen/{mid}/video?t={second}" in transcript.text
    b_words = {w.strip(".,").lower() for w in references()[MEMBER_B].split() if len(w) > 6}
    public_text = (transcript.text + captions).lower()
    leaked = [w for w in b_words if re.search(rf"\b{re.escape(w)}\b", public_text)]
    assert not leaked, f"a non-consenting speaker's words are public: {leaked}"

    async def found() -> bool:
        search = await client.get("/suche", params={"q": "Frankfurter Straße"})
        return search.status_code == 200 and f"/sitzungen/{mid}/video?t=" in search.text

    await _until(found, 20, "a search hit in the transcript")
    hidden = await client.get("/suche", params={"q": "Radweg Schule Bürgerinnen"})
    assert f"/sitzungen/{mid}/video?t=" not in hidden.text
