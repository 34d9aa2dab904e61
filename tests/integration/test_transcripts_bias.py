"""Agenda-biased transcription (issue #10) with real Whisper inference, real ffmpeg and a real stream:
the vocabulary from the records, hotwords + post-correction lowering WER, the deletion guard, and an
agenda item's final transcript published from the stream's segments while the stream runs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from sqlalchemy import select

from council.core.db import Database
from council.core.jobs import Job, JobRunner
from council.core.settings import Settings
from council.live.models import TimelineEvent
from tests.factories import make_town
from tests.integration.streaming_helpers import stream_settings, wait_until
from tests.transcripts_support import (
    SR,
    clip,
    model_settings,
    pattern_recording,
    references,
    transcriber,
    wer,
    write_wav,
)
from transcripts import service
from transcripts.engine import speech_windows
from transcripts.final import decode_chunk, decode_many, run_final, speech_seconds
from transcripts.item_models import TranscriptItemRun
from transcripts.models import SegmentRevision, TranscriptSegment
from transcripts.vocabulary import (
    MAX_HOTWORD_TOKENS,
    STANDING_TERMS,
    Vocabulary,
    hotwords,
    meeting_bias,
    model_token_counter,
)

TITLE = "Ausbau des Breitbandnetzes in Uckerath und Stoßdorf"


def agenda_bias() -> tuple[str, Vocabulary]:
    vocab = Vocabulary()
    vocab.add(TITLE, "Neubau der Grundschule Hennef-Süd", "Bebauungsplan Frankfurter Straße")
    vocab.add(*STANDING_TERMS)
    count = model_token_counter(model_settings().whisper_model_dir)
    return hotwords(vocab.terms, count=count), vocab


async def test_vocabulary_from_the_records(db: Database) -> None:
    async with db.sessionmaker() as s:
        town = await make_town(s)
        m = town.past_meeting
        assert m is not None
        present = town.persons[0]
        s.add(TimelineEvent(meeting_id=m.id, kind="attendance.joined", person_id=present.id, at=m.start))
        await s.commit()
        words, corrector = await meeting_bias(s, m.id, model_dir=model_settings().whisper_model_dir)
    assert "Radwegs" in words and "Landstraße" in words  # agenda item and paper titles
    assert present.family_name and present.family_name in words  # who is present
    assert "Fraktion Bürgerliste" in words and "Ausschuss für Stadtentwicklung und Verkehr" in words
    assert "Markt" in words and "Teststadt" in words  # the meeting's location
    assert "Tagesordnungspunkt" in words and "Gegenstimmen" in words  # standing council terms
    assert "Geheimweg" not in words and "Grundstücks" not in words  # non-public items stay out
    count = model_token_counter(model_settings().whisper_model_dir)
    assert count(words) <= MAX_HOTWORD_TOKENS
    assert corrector.correct("zum Tag in Ordnungspunkt")[0] == "zum Tagesordnungspunkt"

    many = [f"Straßenname{i} Ortsteil{i}" for i in range(300)]  # a huge agenda is cut at the cap
    capped = hotwords(many, count=count)
    assert MAX_HOTWORD_TOKENS - 12 <= count(capped) <= MAX_HOTWORD_TOKENS


async def test_hotwords_and_correction_lower_wer() -> None:
    audio, ref = clip("agenda"), references()["agenda"]
    words, vocab = agenda_bias()
    from transcripts.correct import Corrector

    corrector = Corrector(vocab.words())
    plain = await decode_chunk(transcriber(), audio)
    biased = await decode_chunk(transcriber(), audio, hotwords=words)
    plain_text = " ".join(x.text for x in plain.segments)
    biased_text = " ".join(x.text for x in biased.segments)
    corrected = " ".join(corrector.correct(x.text)[0] for x in biased.segments)
    plain_corrected = " ".join(corrector.correct(x.text)[0] for x in plain.segments)
    w_plain, w_biased, w_corr = wer(ref, plain_text), wer(ref, biased_text), wer(ref, corrected)
    assert w_biased < w_plain, (plain_text, biased_text)
    assert w_corr <= w_biased, (biased_text, corrected)  # the correction never raises WER
    assert wer(ref, plain_corrected) <= w_plain
    assert "Uckerath" in corrected and "Tagesordnungspunkt" in corrected


async def test_guard_decodes_again_without_hotwords() -> None:
    audio = np.concatenate([np.zeros(SR, dtype=np.float32), clip("agenda"), np.zeros(SR, dtype=np.float32)])
    voiced = speech_seconds(audio)
    assert 6.0 < voiced < len(audio) / SR - 1.5  # the silence is not speech
    words, _ = agenda_bias()
    normal = await decode_chunk(transcriber(), audio, hotwords=words)
    assert not normal.redecoded  # ~2.3 words per voiced second: no reason to doubt it
    # a demand no decode meets forces the guard's path: both decodes run, the better-scoring one stays
    forced = await decode_chunk(transcriber(), audio, hotwords=words, min_words_per_voiced_s=50.0)
    assert forced.redecoded
    # the plain decode heard no more (it only splits compounds): the biased text stays
    assert not forced.plain_won
    assert [x.text for x in forced.segments] == [x.text for x in normal.segments]


async def test_chunks_decoded_together_read_as_each_alone() -> None:
    """``decode_many`` (what the final and item jobs run) batches the windows of several chunks into one
    decoder call; each chunk's text and times must be what decoding it alone gives, a silent chunk must
    stay empty, and the guard decodes again only the doubtful windows, not whole chunks."""
    gap = np.zeros(3 * SR, dtype=np.float32)
    long = np.concatenate([clip("chair"), np.zeros(2 * SR, dtype=np.float32), clip("member_a")])
    late = np.concatenate([gap, clip("member_b")])
    chunks = [clip("agenda"), np.zeros(5 * SR, dtype=np.float32), long, late]
    windows = speech_windows(chunks)
    assert [w.source for w in windows] == [0, 2, 3]  # nothing in the silent chunk; one window each
    assert all(2.0 < w.voiced_s <= 30.0 for w in windows)
    words, _ = agenda_bias()
    together = await decode_many(transcriber(), chunks, hotwords=words)
    alone = [await decode_chunk(transcriber(), c, hotwords=words) for c in chunks]
    assert together[1].segments == [] and alone[1].segments == []
    for a, b in zip(together, alone, strict=True):
        assert [x.text for x in a.segments] == [x.text for x in b.segments]
        assert [round(x.start, 1) for x in a.segments] == [round(x.start, 1) for x in b.segments]
        assert not a.redecoded
    # member_b starts after 3 s of silence: its times are the chunk's, not the packed speech's
    assert together[3].segments[0].start >= 2.5
    # an impossible demand marks every window doubtful: all are decoded again, each result is the
    # better-scoring one of its two decodes, and the silent chunk is still not decoded at all
    forced = await decode_many(transcriber(), chunks, hotwords=words, min_words_per_voiced_s=50.0)
    assert [r.redecoded for r in forced] == [True, False, True, True]
    assert " ".join(x.text for r in forced for x in r.segments).count(" ") > 40


async def test_item_published_from_the_stream_while_it_runs(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    from streaming.manager import StreamManager
    from streaming.paths import meeting_paths
    from streaming.playlist import load_journal
    from streaming.sources import FileSource
    from web.transcripts_wiring import closed_items, queue_item

    stream_settings(settings)
    settings.whisper_model_dir = model_settings().whisper_model_dir
    wav = tmp_path / "speech.wav"
    spans = write_wav(wav, [0.6, "agenda", 1.2, "member_b", 0.5])
    pattern_recording(wav, tmp_path / "in.mp4", spans[-1][1])
    async with db.sessionmaker() as s:
        town = await make_town(s)
        m, item, other = town.past_meeting, town.public_item, town.council_item
        assert m is not None and item is not None and other is not None
        item.name = TITLE  # the vocabulary comes from the records
        await s.commit()
        mid = m.id
    manager = StreamManager(settings, db.sessionmaker)
    await manager.start()
    runner = JobRunner(db.sessionmaker, settings=settings)
    app = SimpleNamespace(state=SimpleNamespace(settings=settings, db=db, jobs=runner))
    try:
        await manager.start_stream(mid, FileSource(path=tmp_path / "in.mp4"))
        paths = meeting_paths(settings.media_dir, mid)
        first = (await wait_until(lambda: load_journal(paths.journal), timeout=30))[0]
        t0 = first.pdt  # wall clock of media second 0
        item_end = t0 + timedelta(seconds=spans[1][1] + 0.6)
        async with db.sessionmaker() as s:
            s.add_all(
                [
                    TimelineEvent(
                        meeting_id=mid, kind="agenda_item.started", at=t0 + timedelta(seconds=0.1),
                        agenda_item_id=item.id,
                    ),
                    # the next item starting ends this one
                    TimelineEvent(
                        meeting_id=mid, kind="agenda_item.started", at=item_end, agenda_item_id=other.id
                    ),
                    TranscriptSegment(  # a live caption of the span, to be replaced by the final text
                        meeting_id=mid, start_s=2.0, end_s=4.0, at=t0, text="live", machine_text="live",
                        source="live", agenda_item_id=item.id,
                    ),
                ]
            )  # fmt: skip
            await s.commit()
            closed = await closed_items(s, mid)
        assert [(i, a) for i, a, _ in closed] == [(item.id, t0 + timedelta(seconds=0.1))]
        job = await queue_item(app, mid, item.id, closed[0][1], closed[0][2])  # waits for the segments
        assert job is not None
        assert await queue_item(app, mid, item.id, closed[0][1], closed[0][2]) is None  # once per item
        assert len(job.payload["files"]) >= 5
        # the item's job (and, if the short file has ended meanwhile, the stream's streaming.finalize)
        assert await runner.run_until_empty(max_jobs=3) >= 1
        async with db.sessionmaker() as s:
            row = await s.get(Job, job.id)
            assert row is not None and row.state == "done", row.error if row else None
            run = (
                await s.execute(select(TranscriptItemRun).where(TranscriptItemRun.meeting_id == mid))
            ).scalar_one()
            assert run.state == "done" and run.published is not None and run.segments > 0
            shown = await service.segments(s, mid)  # the meeting's run is not done: live + published items
            assert shown and all(x.source == "final" and x.agenda_item_id == item.id for x in shown)
            assert "live" not in [x.text for x in shown]
            text = " ".join(x.text for x in shown)
            assert wer(references()["agenda"], text) < 0.35, text
            assert "Uckerath" in text
            revs = (
                (
                    await s.execute(
                        select(SegmentRevision).where(SegmentRevision.segment_id.in_([x.id for x in shown]))
                    )
                )
                .scalars()
                .all()
            )
            assert all(r.editor is None for r in revs)
            assert all(r.note.startswith("automatische Korrektur") for r in revs if r.version == 2 and r.note)
            item_span = (run.start_s, run.end_s)
    finally:
        await manager.stop()

    # the whole-meeting run afterwards keeps the published item and transcribes the rest
    recording = tmp_path / "rec.wav"
    write_wav(recording, [0.6, "agenda", 1.2, "member_b", 0.5])
    result = await run_final(
        db.sessionmaker, settings, transcriber(), meeting_id=mid, media_path=recording, started_at=t0,
        chunk_min_s=6.0, chunk_max_s=9.0,
    )  # fmt: skip
    assert result.state == "done"
    async with db.sessionmaker() as s:
        final = await service.segments(s, mid)
    in_item = [x for x in final if item_span[0] <= x.start_s < item_span[1]]
    assert [x.id for x in in_item] == [x.id for x in shown]  # untouched, not transcribed twice
    rest = " ".join(x.text for x in final if x.start_s >= item_span[1])
    assert wer(references()["member_b"], rest) < 0.5, rest
