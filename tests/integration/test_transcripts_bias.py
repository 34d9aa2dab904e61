"""Agenda-biased transcription (issue #10) with real Whisper inference, real ffmpeg and a real stream:
the vocabulary from the records, hotwords + post-correction lowering WER, the deletion guard, and an
agenda item's final transcript published from the stream's segments while the stream runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
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
from transcripts.align import Timeline
from transcripts.engine import speech_windows
from transcripts.final import chunk_hotwords, decode_chunk, decode_many, run_final, speech_seconds
from transcripts.item_models import TranscriptItemRun
from transcripts.models import SegmentRevision, TranscriptSegment
from transcripts.vocabulary import (
    MAX_HOTWORD_TOKENS,
    STANDING_TERMS,
    MeetingBias,
    MeetingVocabulary,
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
        assert m is not None and town.public_item is not None and town.secret_item is not None
        present, speaker = town.persons[0], town.persons[2]
        item_id = town.public_item.id
        s.add(TimelineEvent(meeting_id=m.id, kind="attendance.joined", person_id=present.id, at=m.start))
        s.add(TimelineEvent(meeting_id=m.id, kind="attendance.joined", person_id=speaker.id, at=m.start))
        at = m.start + timedelta(minutes=5)
        s.add(TimelineEvent(meeting_id=m.id, kind="agenda_item.started", agenda_item_id=item_id, at=at))
        s.add(
            TimelineEvent(
                meeting_id=m.id,
                kind="speaker.started",
                person_id=speaker.id,
                consent=True,
                at=at + timedelta(minutes=1),
            )
        )
        await s.commit()
        bias = await meeting_bias(s, m.id, model_dir=model_settings().whisper_model_dir)
    words = bias.hotwords
    assert "Radwegs" in words and "Landstraße" in words  # agenda item and paper titles
    assert present.family_name and present.family_name in words  # who is present
    assert "Fraktion Bürgerliste" in words and "Ausschuss für Stadtentwicklung und Verkehr" in words
    assert "Markt" in words and "Teststadt" in words  # the meeting's location
    assert "Tagesordnungspunkt" in words and "Gegenstimmen" in words  # standing council terms
    assert "Geheimweg" not in words and "Grundstücks" not in words  # non-public items stay out
    count = model_token_counter(model_settings().whisper_model_dir)
    assert count(words) <= MAX_HOTWORD_TOKENS
    assert bias.corrector.correct("zum Tag in Ordnungspunkt")[0] == "zum Tagesordnungspunkt"

    # a short agenda fits into the meeting's string: one prompt for all items (no per-item strings)
    assert bias.by_item == {} and bias.for_item(item_id) == bias.hotwords
    assert speaker.family_name and speaker.family_name in words  # spoke during the item

    # a long agenda does not: then each public item has its own hotwords, its title first, then its
    # paper and who spoke during it, then names and the standing terms; the meeting's are the fallback
    long_agenda = MeetingVocabulary()
    for i in range(40):
        v = long_agenda.add_item(i, f"Ausbau der Kreisstraße {i} im Ortsteil Ortsname{i}")
        v.add(f"Vorlage Brückensanierung{i}")
        v.terms.append(f"Sprecherin{i}")
    long_agenda.general.terms.extend(["Becker", "Fraktion Bürgerliste"])
    long_agenda.general.add(*STANDING_TERMS)
    whole, by_item = long_agenda.hotwords(count)
    assert "Ortsname39" not in whole and set(by_item) == set(range(40))
    own = by_item[39]
    assert own.startswith("Ausbau Kreisstraße Ortsteil Ortsname39 Vorlage Brückensanierung39 Sprecherin39")
    assert "Becker" in own and "Tagesordnungspunkt" in own and count(own) <= MAX_HOTWORD_TOKENS
    meeting = MeetingBias(hotwords=whole, by_item=by_item, corrector=bias.corrector)
    assert meeting.for_item(39) == own and meeting.for_item(None) == meeting.for_item(99) == whole

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


async def test_chunks_packed_together_keep_their_own_words_and_times() -> None:
    """``decode_many`` (what the final and item jobs run) packs the speech of consecutive chunks into
    shared decoder windows, as one plain batched call over the same audio would, and decodes them in wide
    batches. Each chunk must still get its own words, with times in that chunk, a silent chunk must stay
    empty, and the guard decodes again only the doubtful windows, not whole chunks."""
    gap = np.zeros(3 * SR, dtype=np.float32)
    long = np.concatenate([clip("chair"), np.zeros(2 * SR, dtype=np.float32), clip("member_a")])
    late = np.concatenate([gap, clip("member_b")])
    chunks = [clip("agenda"), np.zeros(5 * SR, dtype=np.float32), long, late]
    refs = references()
    expected = [refs["agenda"], "", f"{refs['chair']} {refs['member_a']}", refs["member_b"]]
    windows = speech_windows(chunks)
    assert all(w.voiced_s <= 30.0 for w in windows)
    assert sorted({src for w in windows for src in w.sources}) == [0, 2, 3]  # nothing of the silent one
    assert len(windows) < 3 and any(len(w.sources) > 1 for w in windows)  # chunks share windows
    # a break between chunks (another agenda item's hotwords) starts a new window
    assert speech_windows(chunks, breaks=["a", "a", "b", "b"])[0].sources == [0]

    together = await decode_many(transcriber(), chunks)
    alone = [await decode_chunk(transcriber(), c) for c in chunks]
    assert together[1].segments == [] and alone[1].segments == []
    for chunk, ref, a, b in zip(chunks, expected, together, alone, strict=True):
        if not ref:
            continue
        text = " ".join(x.text for x in a.segments)
        assert wer(ref, text) <= wer(ref, " ".join(x.text for x in b.segments)) + 0.1, text
        assert wer(ref, text) < 0.4, text
        for seg in a.segments:  # times in the chunk itself, words in order
            assert 0.0 <= seg.start <= seg.end <= len(chunk) / SR + 0.5
            assert [w.start for w in seg.words] == sorted(w.start for w in seg.words)
        assert not a.redecoded
    # member_b starts after 3 s of silence: its times are the chunk's, not the packed speech's
    assert together[3].segments[0].start >= 2.5
    # an impossible demand marks every window doubtful: all are decoded again, each result is the
    # better-scoring one of its two decodes, and the silent chunk is still not decoded at all
    words, _ = agenda_bias()
    forced = await decode_many(transcriber(), chunks, hotwords=words, min_words_per_voiced_s=50.0)
    assert [r.redecoded for r in forced] == [True, False, True, True]
    assert " ".join(x.text for r in forced for x in r.segments).count(" ") > 40


async def test_a_sentence_said_twice_is_heard_twice() -> None:
    """The final decode bans repeated runs of 16 tokens (``DecodeOptions.no_repeat_ngram_size``), which
    ends decoder loops early on noisy audio. A speaker who really says a sentence twice must still be
    heard twice: the ban may change a spelling in the second copy, never drop it."""
    tr = transcriber()
    options, _language = tr._window_options(tr._pipeline(tr.model), 3, None, True)
    assert options.no_repeat_ngram_size == tr.options.no_repeat_ngram_size == 16
    ref = references()["member_b"]
    audio = np.concatenate([clip("member_b"), np.zeros(SR, dtype=np.float32), clip("member_b")])
    [result] = await decode_many(tr, [audio])
    text = " ".join(s.text for s in result.segments)
    assert text.count("halte den Antrag") == 2, text
    assert text.count("schon lange auf den") == 2, text
    assert wer(f"{ref} {ref}", text) < 0.35, text


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


async def test_each_chunk_decoded_with_its_agenda_items_hotwords() -> None:
    """The final job biases each chunk towards the agenda item that ran longest in it (the timeline
    says which); chunks with different hotwords in one group read as each decoded alone with its own."""
    t0 = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
    timeline = Timeline(
        7,
        [
            {"id": 1, "kind": "meeting.opened", "at": t0},
            {"id": 2, "kind": "agenda_item.started", "agenda_item_id": 11, "at": t0 + timedelta(seconds=10)},
            {"id": 3, "kind": "agenda_item.started", "agenda_item_id": 12, "at": t0 + timedelta(seconds=40)},
            {"id": 4, "kind": "agenda_item.started", "agenda_item_id": 13, "at": t0 + timedelta(seconds=100)},
        ],
    )
    by_item = {11: "Breitbandnetzes Uckerath", 12: "Feuerwehrgerätehaus Happerschoß"}
    pick = partial(chunk_hotwords, timeline, t0, hotwords="Tagesordnungspunkt", item_hotwords=by_item)
    assert pick(0.0, 5.0) == "Tagesordnungspunkt"  # before the first item: the meeting's
    assert pick(5.0, 35.0) == by_item[11]
    assert pick(30.0, 70.0) == by_item[12]  # 30 s of item 12 against 10 s of item 11
    assert pick(100.0, 150.0) == "Tagesordnungspunkt"  # an item without its own (non-public)
    assert chunk_hotwords(timeline, t0, 5.0, 35.0, "x", None) == "x"

    words, _ = agenda_bias()
    prompts = [words, None, by_item[12]]
    chunks = [clip("agenda"), clip("member_a"), clip("chair")]
    assert [w.sources for w in speech_windows(chunks, breaks=prompts)] == [[0], [1], [2]]
    together = await decode_many(transcriber(), chunks, hotwords=prompts)
    alone = [await decode_chunk(transcriber(), c, hotwords=p) for c, p in zip(chunks, prompts, strict=True)]
    for a, b in zip(together, alone, strict=True):
        assert a.segments and [x.text for x in a.segments] == [x.text for x in b.segments]
