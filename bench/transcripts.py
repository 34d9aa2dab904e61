"""Transcription speed, accuracy and memory: our pipeline against a plain faster-whisper call.

    .venv/bin/python -m bench.transcripts [--repeats 6] [--live-seconds 60] [--threads 2]

Test audio: the checked-in espeak-ng German clips (tests/data/speech, three voices) repeated
``--repeats`` times with 1-3 s pauses, written as a WAV under var/bench/transcripts/.

Each offline variant runs in its **own subprocess** (peak RSS = that process's ``ru_maxrss``, model
included), on the same audio, in the same run:

- ``plain``: ``WhisperModel(...).transcribe(whole array, beam_size=5, language="de", vad_filter=True)``
  — the baseline, faster-whisper's defaults otherwise;
- ``pipeline``: the final job's reading (``transcripts.final.decode_chunks``: ffmpeg on a pipe, 30-60 s
  chunks cut at pauses) with ``WhisperTranscriber`` beam 5 sequential, our hallucination settings/filters;
- ``pipeline-batched``: what the final job runs without a vocabulary (``final.decode_many``: the
  speech of a group of chunks packed into shared decoder windows, batches of 8, beam 3 — the final
  pass's ``FINAL_BEAM_SIZE``).

RTF is audio seconds / wall seconds (higher is faster; target ≥ 8x at beam 5), WER against the
reference texts (jiwer, lower-cased, punctuation removed). Live: the first ``--live-seconds`` of the
audio fed in real time (20 ms chunks) through ``LiveCaptioner``; latency = caption out − arrival of the
utterance's last voiced audio (target median ≤ 3 s). Writes bench/results/transcripts-*.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bench._load import REPO_ROOT, machine_info, write_json

WORK = REPO_ROOT / "var" / "bench" / "transcripts"


def build_audio(repeats: int) -> tuple[Path, str]:
    sys.path.insert(0, str(REPO_ROOT))
    from tests.transcripts_support import references, write_wav

    refs = references()
    parts: list[str | float] = []
    texts: list[str] = []
    rng = np.random.default_rng(11)
    for _ in range(repeats):
        for name in ("chair", "member_a", "member_b"):
            parts += [float(rng.uniform(1.0, 3.0)), name]
            texts.append(refs[name])
    parts.append(1.0)
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"audio-{repeats}.wav"
    write_wav(path, parts)
    return path, " ".join(texts)


def load(path: Path) -> np.ndarray:
    import wave

    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0


def settings(threads: int) -> Any:
    from council.core.settings import Settings
    from transcripts.model_files import ensure_model_dir

    base = Settings(var_dir=WORK / "var", whisper_threads=threads)
    return Settings(
        var_dir=base.var_dir, whisper_model_dir=str(ensure_model_dir(base)), whisper_threads=threads
    )


def run_variant(variant: str, path: Path, threads: int) -> dict[str, Any]:
    """In the child process: transcribe, return text, timing and peak RSS."""
    s = settings(threads)
    duration = len(load(path)) / 16_000
    if variant == "plain":
        from faster_whisper import WhisperModel

        model = WhisperModel(s.whisper_model_dir, device="cpu", compute_type="int8", cpu_threads=threads)
        t0 = time.perf_counter()
        segs, _ = model.transcribe(str(path), beam_size=5, language="de", vad_filter=True)
        text = " ".join(x.text.strip() for x in segs)
        wall = time.perf_counter() - t0
    else:
        from transcripts.engine import WhisperTranscriber
        from transcripts.final import decode_chunks, decode_many, grouped
        from transcripts.vad import has_sound

        transcriber = WhisperTranscriber(s)
        transcriber.model  # load outside the timing, as the plain variant does  # noqa: B018
        batched = variant == "pipeline-batched"

        async def go() -> str:
            out: list[str] = []
            async for group in grouped(decode_chunks(s, path)):
                chunks = [samples for _offset, samples in group if has_sound(samples)]
                if batched:  # what the final job runs (without hotwords): the group's windows batched
                    out += [x.text for r in await decode_many(transcriber, chunks) for x in r.segments]
                    continue
                for samples in chunks:
                    segs = await asyncio.to_thread(transcriber.transcribe, samples, beam_size=5)
                    out += [x.text for x in segs]
            return " ".join(out)

        t0 = time.perf_counter()
        text = asyncio.run(go())
        wall = time.perf_counter() - t0
    return {
        "variant": variant,
        "audio_s": duration,
        "wall_s": wall,
        "rtf": duration / wall,
        "text": text,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_live(path: Path, seconds: float, threads: int) -> dict[str, Any]:
    from council.live.media import AudioChunk, Caption
    from transcripts.engine import WhisperTranscriber
    from transcripts.live import LiveCaptioner

    s = settings(threads)
    transcriber = WhisperTranscriber(s)
    transcriber.model  # noqa: B018
    pcm = (np.clip(load(path)[: int(seconds * 16_000)], -1, 1) * 32767).astype("<i2").tobytes()
    step = 640  # 20 ms
    start = datetime.now(UTC)

    class Sink:
        captions: list[Caption] = []

        async def add_caption(self, caption: Caption) -> None:
            self.captions.append(caption)

    async def tap() -> Any:
        t0 = time.monotonic()
        for i in range(0, len(pcm), step):
            due = t0 + (i + step) / 32_000  # a chunk arrives when its last sample was "recorded"
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            yield AudioChunk(meeting_id=1, at=start + timedelta(seconds=i / 32_000), pcm=pcm[i : i + step])

    captioner = LiveCaptioner(transcriber, Sink())
    stats = asyncio.run(captioner.run(tap()))
    lat = stats.latencies
    return {
        "audio_s": seconds,
        "captions": len(lat),
        "utterances": stats.utterances,
        "dropped": stats.dropped_utterances,
        "merged_batches": stats.merged_batches,
        "latency_median_s": statistics.median(lat) if lat else None,
        "latency_p90_s": sorted(lat)[int(0.9 * (len(lat) - 1))] if lat else None,
        "latency_max_s": max(lat) if lat else None,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def child(args: argparse.Namespace) -> None:
    path = Path(args.audio)
    result = (
        run_live(path, args.live_seconds, args.threads)
        if args.child == "live"
        else run_variant(args.child, path, args.threads)
    )
    print("RESULT " + json.dumps(result))


def spawn(kind: str, path: Path, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.transcripts", "--child", kind, "--audio", str(path)]
    cmd += ["--threads", str(args.threads), "--live-seconds", str(args.live_seconds)]
    out = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line[7:]))
    raise RuntimeError(f"{kind} failed:\n{out.stderr[-3000:]}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=6)
    p.add_argument("--live-seconds", type=float, default=60.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--child", default="")
    p.add_argument("--audio", default="")
    args = p.parse_args()
    if args.child:
        child(args)
        return
    sys.path.insert(0, str(REPO_ROOT))
    from tests.transcripts_support import wer

    path, reference = build_audio(args.repeats)
    settings(args.threads)  # assemble the model once, before any timing
    rows = []
    for variant in ("plain", "pipeline", "pipeline-batched"):
        r = spawn(variant, path, args)
        r["wer"] = wer(reference, r.pop("text"))
        rows.append(r)
        print(
            f"{variant:18s} audio {r['audio_s']:6.1f} s  wall {r['wall_s']:6.1f} s  RTF {r['rtf']:5.1f}x  "
            f"WER {r['wer']:.3f}  peak RSS {r['peak_rss_mb']:6.0f} MB",
            flush=True,
        )
    live = spawn("live", path, args) if args.live_seconds > 0 else None
    if live:
        print(
            f"live: {live['captions']} captions from {live['audio_s']:.0f} s, latency median "
            f"{live['latency_median_s']:.2f} s, p90 {live['latency_p90_s']:.2f} s, max "
            f"{live['latency_max_s']:.2f} s, dropped {live['dropped']}, peak RSS {live['peak_rss_mb']:.0f} MB"
        )
    write_json("transcripts", {"machine": machine_info(), "offline": rows, "live": live})


if __name__ == "__main__":
    main()
