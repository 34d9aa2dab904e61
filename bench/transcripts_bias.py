"""Agenda-biased transcription (issue #10): accuracy per audio variant, speed against plain
faster-whisper, peak RSS, and the time from an agenda item's end to its published final transcript.

    .venv/bin/python -m bench.transcripts_bias [--minutes 10] [--meeting-minutes 4] [--threads 2]

Test set (generated here with espeak-ng, never checked in; needs ``espeak-ng`` on PATH): council-meeting
German — agenda items with place names and motion titles, votes, councillors' names, and sentences with
no agenda words — spoken by four espeak voices with 0.4-2 s pauses and one 40 s silent stretch, about
``--minutes`` long, with its reference text. Variants: ``clean``; ``noise10`` (white noise at 10 dB SNR
against the speech); ``reverb`` (ffmpeg ``aecho``, a room-like tail).

Accuracy (WER and CER, jiwer, lower-cased, punctuation removed, numbers as words) per variant for:
``plain`` — one ``BatchedInferencePipeline.transcribe`` call on the whole array (batch 8, beam 5, VAD:
the baseline); ``pipeline`` — what the final job runs without the vocabulary (30-60 s chunks cut at
pauses, their speech packed into windows across chunks and decoded in groups, batch 6, beam 3, no repeated
16-token runs, word timestamps, our filters);
``+correct`` — that plus the post-correction; ``+hotwords`` — with hotwords (each chunk gets those of
the agenda item it falls in, as the final job picks them by the timeline) and the deletion guard;
``+hotwords+correct`` — the whole thing.
Speed: audio seconds / wall seconds of ``plain`` and of ``+hotwords`` on the same audio in the same
run (each variant and condition in its own subprocess, plain and pipeline back to back per variant so
the shared machine's drifting load hits both alike; peak RSS is the largest ``ru_maxrss`` of a
condition's processes, model included). ``--repeats N`` times each pair N times, the order flipped
each round, and reports the median ratio with every round's (the same code's wall time varies 10-15 %
between runs on this machine).

Simulated meeting (``--meeting-minutes``, 30 for the issue's target; ``--only-meeting`` runs just this):
the clean audio's first minutes (a longer set, ~31 min, is generated when the meeting is longer than the
test set) + a 640x360 test picture as an H.264 file, streamed in real time through the real
``StreamManager`` (remux, 1 s segments), timeline events written on schedule at the agenda items'
boundaries, each ended item queued by ``web.transcripts_wiring.queue_item`` and run on the ``JobRunner``;
when the media ends the meeting closes (``meeting.closed``), the stream stops and is archived
(``streaming.finalize``), and ``web.transcripts_wiring.on_archived`` queues the whole-meeting run, which
skips the published items. Reported: item end (event) → item transcript published, and meeting close →
whole-meeting transcript published. Writes bench/results/transcripts_bias*-*.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

from bench._load import REPO_ROOT, machine_info, write_json

WORK = REPO_ROOT / "var" / "bench" / "transcripts_bias"
SR = 16_000
VOICES = ("de", "de+m3", "de+f2", "de+m1")

ITEMS = [
    ("Ausbau des Breitbandnetzes in Uckerath und Stoßdorf", ["Breitbandnetzes", "Uckerath", "Stoßdorf"]),
    ("Bebauungsplan Nummer vierzehn Gewerbegebiet Hossenberg", ["Bebauungsplan", "Hossenberg"]),
    ("Sanierung der Grundschule Söven", ["Grundschule", "Söven"]),
    (
        "Radverkehrskonzept für Geistingen und Weldergoven",
        ["Radverkehrskonzept", "Geistingen", "Weldergoven"],
    ),
    ("Haushaltssatzung und Stellenplan", ["Haushaltssatzung", "Stellenplan"]),
    ("Feuerwehrgerätehaus in Happerschoß", ["Feuerwehrgerätehaus", "Happerschoß"]),
]
PEOPLE = ["Schmitz", "Hülsmann", "Wirtz", "Kotthaus", "Overath", "Büchel"]
FACTIONS = ["CDU", "SPD", "Grünen", "FDP"]
NUM = ["null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun", "zehn", "elf",
       "zwölf", "dreizehn", "vierzehn", "fünfzehn"]  # fmt: skip
FILLER = [
    "Die Kosten betragen rund zwei Millionen Euro und sind im Haushalt eingeplant.",
    "Ich halte den Vorschlag für richtig, weil die Bürgerinnen und Bürger schon lange darauf warten.",
    "Wir haben im Ausschuss lange darüber gesprochen und viele Fragen geklärt.",
    "Die Verwaltung wird bis zur nächsten Sitzung einen Bericht vorlegen.",
    "Ich bitte um eine kurze Pause, damit sich die Fraktionen beraten können.",
    "Das Gutachten zeigt, dass der Zustand der Gebäude schlechter ist als erwartet.",
    "Wir sollten auch an die Kinder und die älteren Menschen in der Stadt denken.",
    "Die Arbeiten sollen im Frühjahr beginnen und im Herbst abgeschlossen sein.",
]


def utterances(minutes: float, seed: int = 5) -> list[tuple[int, str]]:
    """(agenda item index, sentence) in meeting order, about ``minutes`` of espeak speech."""
    rng = np.random.default_rng(seed)
    words_needed = int(minutes * 60 * 2.3)  # espeak at 150 wpm, minus pauses
    out: list[tuple[int, str]] = [(0, "Ich eröffne die Sitzung und stelle die Beschlussfähigkeit fest.")]
    out.append((0, "Die Niederschrift der letzten Sitzung wird ohne Änderungen genehmigt."))
    per_item = max(4, words_needed // 14 // len(ITEMS))
    for i, (title, words) in enumerate(ITEMS):
        out.append((i, f"Wir kommen zum Tagesordnungspunkt {NUM[i + 2]}, {title}."))
        out.append((i, "Der Beschlussvorschlag der Verwaltung liegt Ihnen vor."))
        for _ in range(per_item):
            kind = rng.integers(0, 4)
            if kind == 0:
                out.append(
                    (
                        i,
                        f"Herr {rng.choice(PEOPLE)} von der Fraktion der {rng.choice(FACTIONS)} "
                        "hat das Wort.",
                    )
                )
            elif kind == 1:
                w = rng.choice(words)
                out.append((i, f"Zum Thema {w} möchte ich sagen, dass wir {w} nicht aufschieben dürfen."))
            else:
                out.append((i, str(rng.choice(FILLER))))
        g, e = int(rng.integers(0, 6)), int(rng.integers(0, 6))
        out.append(
            (
                i,
                f"Damit ist der Beschlussvorschlag mit {NUM[g]} Gegenstimmen "
                f"und {NUM[e]} Enthaltungen angenommen.",
            )
        )
    return out


def build_set(minutes: float) -> dict[str, Any]:
    """The WAV (clean), the reference, and each item's span (seconds), cached under var/."""
    WORK.mkdir(parents=True, exist_ok=True)
    meta_path = WORK / f"set-{minutes:g}.json"
    wav_path = WORK / f"clean-{minutes:g}.wav"
    if meta_path.exists() and wav_path.exists():
        return dict(json.loads(meta_path.read_text()))
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is needed to generate the test set")
    rng = np.random.default_rng(9)
    pieces: list[np.ndarray] = []
    pos = 0.0
    spans: dict[int, list[float]] = {}
    refs: list[str] = []
    utts = utterances(minutes)
    silence_at = len(utts) // 2
    for n, (item, text) in enumerate(utts):
        raw = subprocess.run(
            ["espeak-ng", "-v", VOICES[n % len(VOICES)], "-s", "150", "--stdout", text],
            capture_output=True, check=True, timeout=60,
        ).stdout  # fmt: skip
        audio = _decode(raw)
        pause = np.zeros(int(rng.uniform(0.4, 2.0) * SR), dtype=np.float32)
        if n == silence_at:
            pause = np.zeros(40 * SR, dtype=np.float32)  # a silent stretch (a break)
        spans.setdefault(item, [pos, pos])
        pieces += [pause, audio]
        pos += (len(pause) + len(audio)) / SR
        spans[item][1] = pos
        refs.append(text)
    pieces.append(np.zeros(SR, dtype=np.float32))
    _write_wav(wav_path, np.concatenate(pieces))
    meta = {"reference": " ".join(refs), "spans": {str(k): v for k, v in spans.items()}, "duration": pos + 1}
    meta_path.write_text(json.dumps(meta, ensure_ascii=False))
    return meta


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def _decode(data: bytes, filters: str | None = None) -> np.ndarray:
    args = [_ffmpeg(), "-v", "error", "-i", "pipe:0"]
    if filters:
        args += ["-af", filters]
    args += ["-ac", "1", "-ar", str(SR), "-f", "s16le", "pipe:1"]
    out = subprocess.run(args, input=data, capture_output=True, check=True, timeout=300).stdout
    return np.frombuffer(out, dtype="<i2").astype(np.float32) / 32768.0


def _write_wav(path: Path, audio: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())


def variant(minutes: float, name: str) -> Path:
    path = WORK / f"{name}-{minutes:g}.wav"
    if path.exists():
        return path
    clean = WORK / f"clean-{minutes:g}.wav"
    if name == "noise10":
        audio = _decode(clean.read_bytes())
        voiced = audio[np.abs(audio) > 0.01]
        p_speech = float(np.mean(voiced**2)) if voiced.size else 1e-4
        noise = np.random.default_rng(3).normal(0, np.sqrt(p_speech / 10 ** (10 / 10)), audio.size)
        _write_wav(path, audio + noise.astype(np.float32))
    elif name == "reverb":
        _write_wav(path, _decode(clean.read_bytes(), "aecho=0.8:0.7:40|75|110:0.45|0.3|0.2"))
    return path


_NUMS = {str(i): w for i, w in enumerate(NUM)}


def normalize(text: str) -> str:
    text = text.lower().replace("ß", "ss")
    text = re.sub(r"\d+", lambda m: _NUMS.get(m.group(), m.group()), text)
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


def scores(ref: str, hyp: str) -> dict[str, float]:
    import jiwer

    r, h = normalize(ref), normalize(hyp) or "<leer>"
    return {"wer": round(float(jiwer.wer(r, h)) * 100, 1), "cer": round(float(jiwer.cer(r, h)) * 100, 1)}


def _vocabulary() -> Any:
    """The test meeting's ``MeetingVocabulary``, as ``vocabulary.meeting_vocabulary`` builds it from the
    records: each agenda item's title, the people and factions, the standing terms."""
    from transcripts.vocabulary import STANDING_TERMS, MeetingVocabulary

    vocab = MeetingVocabulary()
    for i, (title, _words) in enumerate(ITEMS):
        vocab.add_item(i, title)
    vocab.general.terms.extend(PEOPLE)
    vocab.general.terms.extend(f"Fraktion {f}" for f in FACTIONS)
    vocab.general.add(*STANDING_TERMS)
    return vocab


def _item_at(spans: dict[str, list[float]], start: float, end: float) -> int | None:
    """The agenda item that runs longest in [start, end] (as ``align.Timeline.item_during``)."""
    overlap = {int(k): min(end, b) - max(start, a) for k, (a, b) in spans.items()}
    best = max(overlap, key=lambda k: overlap[k])
    return best if overlap[best] > 0 else None


# --- the subprocess workers -----------------------------------------------------------------------


def worker(
    kind: str, minutes: float, names: list[str], threads: int, *, timing: bool = False
) -> dict[str, Any]:
    sys.path.insert(0, str(REPO_ROOT))
    from council.core.settings import Settings
    from transcripts.model_files import ensure_model_dir

    settings = Settings(var_dir=WORK / "var", whisper_threads=threads)
    model_dir = ensure_model_dir(settings)
    settings = Settings(var_dir=WORK / "var", whisper_threads=threads, whisper_model_dir=str(model_dir))
    out: dict[str, Any] = {}
    if kind == "plain":
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads)
        pipe = BatchedInferencePipeline(model=model)
        for name in names:
            audio = _decode(variant(minutes, name).read_bytes())
            t = time.perf_counter()
            segs, _ = pipe.transcribe(audio, batch_size=8, beam_size=5, language="de")
            text = " ".join(s.text.strip() for s in segs)
            out[name] = {"plain": {"text": text, "wall_s": time.perf_counter() - t}}
    else:
        from transcripts.correct import Corrector
        from transcripts.engine import WhisperTranscriber
        from transcripts.final import decode_chunks, decode_many, grouped
        from transcripts.vad import has_sound
        from transcripts.vocabulary import model_token_counter

        vocab = _vocabulary()
        count = model_token_counter(str(model_dir))
        words, by_item = vocab.hotwords(count)  # as vocabulary.meeting_bias
        spans = build_set(minutes)["spans"]
        corrector = Corrector(vocab.words())
        tr = WhisperTranscriber(settings)
        tr.model  # noqa: B018 - load before timing
        # a timing round (``--repeats``) runs the condition that is held against plain only
        conditions = [("+hotwords", words)] if timing else [("pipeline", None), ("+hotwords", words)]
        for name in names:
            res: dict[str, Any] = {}
            for label, hw in conditions:
                t = time.perf_counter()
                texts: list[str] = []
                chunks: list[int] = []
                redecoded = 0

                async def run(
                    hw: str | None = hw,
                    path: Path = variant(minutes, name),
                    texts: list[str] = texts,
                    chunks: list[int] = chunks,
                ) -> None:
                    nonlocal redecoded
                    # as transcripts.final.run_final decodes: groups of chunks, windows batched
                    async for group in grouped(decode_chunks(settings, path)):
                        kept = [(off, x) for off, x in group if has_sound(x)]
                        audios = [x for _off, x in kept]
                        # each chunk with its agenda item's own hotwords where the agenda has them
                        # (as run_final picks them)
                        prompts = [
                            by_item.get(_item_at(spans, off, off + len(x) / SR), hw) if hw else None
                            for off, x in kept
                        ]
                        for r in await decode_many(tr, audios, hotwords=prompts):
                            redecoded += int(r.redecoded)
                            chunks.append(1)
                            texts.extend(s.text for s in r.segments)

                asyncio.run(run())
                wall = time.perf_counter() - t
                text = " ".join(texts)
                res[label] = {
                    "text": text,
                    "wall_s": wall,
                    "redecoded_chunks": redecoded,
                    "chunks": len(chunks),
                }
                fixed = " ".join(corrector.correct(x)[0] for x in texts)
                res["+correct" if hw is None else f"{label}+correct"] = {"text": fixed}
            out[name] = res
        out["hotwords"] = words
        out["hotword_tokens"] = count(words)
        out["item_hotword_tokens"] = [count(w) for w in by_item.values()]
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def run_worker(
    kind: str, minutes: float, names: list[str], threads: int, *, timing: bool = False
) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.transcripts_bias", "--worker", kind, "--minutes", str(minutes),
         "--threads", str(threads), "--variants", *names, *(["--timing"] if timing else [])],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=3600,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"worker {kind} failed:\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


# --- the simulated meeting ------------------------------------------------------------------------


async def meeting(minutes: float, meeting_minutes: float, threads: int) -> dict[str, Any]:
    sys.path.insert(0, str(REPO_ROOT))
    from datetime import timedelta
    from types import SimpleNamespace

    import streaming.jobs  # noqa: F401 - registers streaming.finalize (the archive → recording.mp4)
    from council.core.db import Database
    from council.core.jobs import JobRunner
    from council.core.models import metadata  # noqa: F401 - the records' tables
    from council.core.settings import Settings
    from council.live.models import TimelineEvent
    from council.records.models import AgendaItem, Body, Meeting
    from streaming.manager import StreamManager
    from streaming.paths import meeting_paths
    from streaming.playlist import load_journal
    from streaming.sources import FileSource
    from transcripts.item_models import TranscriptItemRun
    from transcripts.jobs import ITEM_KIND  # noqa: F401 - registers the job kinds
    from transcripts.model_files import ensure_model_dir
    from transcripts.models import TranscriptRun
    from web.models import metadata as all_tables
    from web.transcripts_wiring import on_archived, queue_item

    meta = build_set(minutes)
    if meeting_minutes * 60 > meta["duration"]:
        # a longer meeting needs a longer set (it runs 1.1-1.2x its nominal minutes; 29 → ~31 min)
        minutes = float(math.ceil(meeting_minutes * 0.95))
        meta = build_set(minutes)
    root = WORK / "meeting"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    base = Settings(var_dir=WORK / "var", whisper_threads=threads)
    settings = Settings(
        var_dir=root / "var",
        database_url=f"sqlite+aiosqlite:///{root / 'bench.db'}",
        whisper_threads=threads,
        whisper_model_dir=str(ensure_model_dir(base)),
    )
    settings.hls_segment_seconds = 1.0
    settings.disk_alarm_free_bytes = 0
    seconds = min(meeting_minutes * 60, float(meta["duration"]))
    media = root / "meeting.mp4"
    clean = str(WORK / f"clean-{minutes:g}.wav")
    subprocess.run(  # noqa: ASYNC221 - before the stream starts; nothing else runs yet
        [_ffmpeg(), "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
         "-t", str(seconds), "-i", clean, "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast",
         "-g", "25", "-c:a", "aac", "-shortest", str(media)],
        check=True, timeout=900,
    )  # fmt: skip
    db = Database(settings)
    async with db.engine.begin() as conn:
        await conn.run_sync(all_tables.create_all)
    spans = {int(k): v for k, v in meta["spans"].items() if v[1] <= seconds}
    async with db.sessionmaker() as s:
        body = Body(name="Stadt Hennef")
        s.add(body)
        await s.flush()
        m = Meeting(body=body, name="Sitzung des Rates", public=True)
        s.add(m)
        await s.flush()
        items = {i: AgendaItem(meeting_id=m.id, number=str(i + 1), order=i, name=ITEMS[i][0]) for i in spans}
        s.add_all(items.values())
        await s.commit()
        mid, item_ids = m.id, {i: it.id for i, it in items.items()}
    runner = JobRunner(db.sessionmaker, settings=settings)
    app = SimpleNamespace(state=SimpleNamespace(settings=settings, db=db, jobs=runner))

    async def archived(meeting_id: int, media_path: Path, started_at: Any, *_: Any) -> None:
        await on_archived(app, meeting_id, media_path, started_at)  # type: ignore[arg-type]

    manager = StreamManager(settings, db.sessionmaker, on_archived=archived)
    await manager.start()
    results: list[dict[str, Any]] = []
    jobs_done = asyncio.Event()

    async def jobs_loop() -> None:
        while not jobs_done.is_set():
            if not await runner.run_one():
                await asyncio.sleep(0.5)

    await manager.start_stream(mid, FileSource(path=media))
    paths = meeting_paths(settings.media_dir, mid)
    for _ in range(600):
        if load_journal(paths.journal):
            break
        await asyncio.sleep(0.1)
    t0 = load_journal(paths.journal)[0].pdt
    loop_task = asyncio.create_task(jobs_loop())
    queued: list[asyncio.Task[Any]] = []
    from council.core.types import utcnow

    for i in sorted(spans):
        a, b = spans[i]
        start, end = t0 + timedelta(seconds=a), t0 + timedelta(seconds=b + 0.3)
        async with db.sessionmaker() as s:
            s.add(
                TimelineEvent(
                    meeting_id=mid, kind="agenda_item.started", at=start, agenda_item_id=item_ids[i]
                )
            )
            await s.commit()
        wait = (end - utcnow()).total_seconds()
        if wait > 0:
            await asyncio.sleep(wait)
        async with db.sessionmaker() as s:
            s.add(TimelineEvent(meeting_id=mid, kind="agenda_item.ended", at=end, agenda_item_id=item_ids[i]))
            await s.commit()
        queued.append(asyncio.create_task(queue_item(app, mid, item_ids[i], start, end)))
    await asyncio.gather(*queued)
    # the meeting closes when its media ends: the stream stops, is archived, the whole-meeting job runs
    close_at = t0 + timedelta(seconds=seconds)
    wait = (close_at - utcnow()).total_seconds()
    if wait > 0:
        await asyncio.sleep(wait)
    async with db.sessionmaker() as s:
        s.add(TimelineEvent(meeting_id=mid, kind="meeting.closed", at=close_at))
        await s.commit()
    closed_wall = utcnow()
    with contextlib.suppress(Exception):  # the source may have ended (and stopped the stream) already
        await manager.stop_stream(mid)
    from sqlalchemy import select

    deadline = time.monotonic() + 1800
    final_run: Any = None
    while time.monotonic() < deadline:
        async with db.sessionmaker() as s:
            runs = (await s.execute(select(TranscriptItemRun))).scalars().all()
            final_run = (
                await s.execute(select(TranscriptRun).where(TranscriptRun.meeting_id == mid))
            ).scalar_one_or_none()
        items_over = len(runs) >= len(spans) and all(r.state in ("done", "empty", "failed") for r in runs)
        if items_over and final_run is not None and final_run.state in ("done", "empty", "failed"):
            break
        await asyncio.sleep(1.0)
    jobs_done.set()
    await loop_task
    for r in runs:
        assert r.item_ended_at is not None
        results.append(
            {
                "item": r.agenda_item_id,
                "span_s": [round(r.start_s, 1), round(r.end_s, 1)],
                "state": r.state,
                "segments": r.segments,
                "end_to_published_s": round((r.published - r.item_ended_at).total_seconds(), 1)
                if r.published
                else None,
            }
        )
    whole: dict[str, Any] = {"state": final_run.state if final_run else None}
    if final_run is not None and final_run.finished is not None:
        finished = final_run.finished.replace(tzinfo=closed_wall.tzinfo)
        whole["close_to_published_s"] = round((finished - closed_wall).total_seconds(), 1)
        whole["message"] = final_run.message
    await manager.stop()
    await db.dispose()
    return {
        "meeting_minutes": round(seconds / 60, 1),
        "items": results,
        "whole_meeting": whole,
        "load_after": _load(),
    }


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run_meeting(args: argparse.Namespace) -> None:
    print(f"simulated meeting: {args.meeting_minutes:g} min in real time, load before {_load()}", flush=True)
    sim = asyncio.run(meeting(args.minutes, args.meeting_minutes, args.threads))
    for it in sim["items"]:
        print(f"item {it['item']} {it['span_s']}: {it['state']}, {it['segments']} segments, "
              f"end → published {it['end_to_published_s']} s")  # fmt: skip
    whole = sim["whole_meeting"]
    print(f"meeting ({sim['meeting_minutes']} min) close → whole transcript published: "
          f"{whole.get('close_to_published_s')} s ({whole['state']}); "
          f"load after {sim['load_after']}")  # fmt: skip
    write_json("transcripts_bias_meeting", {"machine": machine_info(), "meeting": sim})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--meeting-minutes", type=float, default=4.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variants", nargs="+", default=["clean", "noise10", "reverb"])
    ap.add_argument("--worker", choices=["plain", "pipeline"])
    ap.add_argument("--timing", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="rounds of (plain, +hotwords) per variant, order flipped each round; the ratio is their median",
    )
    ap.add_argument("--skip-meeting", action="store_true")
    ap.add_argument("--only-meeting", action="store_true", help="just the simulated meeting")
    args = ap.parse_args()
    if args.worker:
        got = worker(args.worker, args.minutes, args.variants, args.threads, timing=args.timing)
        print(json.dumps(got, ensure_ascii=False))
        return
    if args.only_meeting:
        run_meeting(args)
        return
    meta = build_set(args.minutes)
    for name in args.variants:
        variant(args.minutes, name)
    ref, duration = meta["reference"], meta["duration"]
    print(f"load {_load()}; test set: {duration / 60:.1f} min, {len(ref.split())} words, "
          f"variants {args.variants}")  # fmt: skip
    # interleaved, one process per variant and condition: the shared machine's load drifts over
    # minutes, so each pair (plain, pipeline) on the same audio runs back to back
    # with --repeats, further rounds (timing only, the order flipped each round) give the ratio's spread:
    # the same code's wall time varies 10-15 % between runs here
    plain: dict[str, Any] = {"peak_rss_mb": 0.0}
    pipe: dict[str, Any] = {"peak_rss_mb": 0.0}
    rounds: dict[str, list[float]] = {}
    for name in args.variants:
        for r in range(max(1, args.repeats)):
            walls: dict[str, float] = {}
            order = (("plain", plain), ("pipeline", pipe))
            for kind, into in order if r % 2 == 0 else order[::-1]:
                got = run_worker(kind, args.minutes, [name], args.threads, timing=r > 0)
                into["peak_rss_mb"] = max(into["peak_rss_mb"], got.pop("peak_rss_mb"))
                walls[kind] = got[name]["plain" if kind == "plain" else "+hotwords"]["wall_s"]
                if r > 0:
                    continue
                if name in got and name in into:
                    into[name].update(got.pop(name))
                into.update(got)
            rounds.setdefault(name, []).append(round(walls["plain"] / walls["pipeline"], 3))
        print(f"{name}: done, ratios {rounds[name]}, load {_load()}", flush=True)
    table: dict[str, Any] = {}
    print(f"{'variant':8} {'condition':20} {'WER':>6} {'CER':>6} {'xRT':>6}")
    for name in args.variants:
        rows = {"plain": plain[name]["plain"], **pipe[name]}
        table[name] = {}
        for cond, r in rows.items():
            sc = scores(ref, r["text"])
            rtf = round(duration / r["wall_s"], 1) if "wall_s" in r else None
            table[name][cond] = {
                **sc,
                "xrt": rtf,
                "redecoded_chunks": r.get("redecoded_chunks"),
                "chunks": r.get("chunks"),
            }
            print(f"{name:8} {cond:20} {sc['wer']:6.1f} {sc['cer']:6.1f} {rtf or '':>6}")
    speed = {n: round(statistics.median(rounds[n]), 2) for n in args.variants}
    print(f"speed of +hotwords vs plain batched (same audio, same run; median of {args.repeats}): {speed}")
    if args.repeats > 1:
        print(f"  per round: {rounds}")
    print(f"peak RSS: plain {plain['peak_rss_mb']:.0f} MB, pipeline {pipe['peak_rss_mb']:.0f} MB")
    print(
        f"hotwords: meeting {pipe['hotword_tokens']} tokens, per item {pipe['item_hotword_tokens']}; "
        f"load {_load()}"
    )
    for name in args.variants:
        r = pipe[name]["+hotwords"]
        print(f"{name}: {r['chunks']} chunks, decoded again without hotwords {r['redecoded_chunks']}")
    write_json(  # written before the meeting: a failure there must not lose these figures
        "transcripts_bias",
        {
            "machine": machine_info(),
            "minutes": duration / 60,
            "table": table,
            "speed_vs_plain": speed,
            "speed_rounds": rounds,
            "load_after": _load(),
            "peak_rss_mb": {"plain": plain["peak_rss_mb"], "pipeline": pipe["peak_rss_mb"]},
            "hotword_tokens": pipe["hotword_tokens"],
            "item_hotword_tokens": pipe["item_hotword_tokens"],
        },
    )
    if not args.skip_meeting:
        run_meeting(args)


if __name__ == "__main__":
    main()
