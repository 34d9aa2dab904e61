"""Shared helpers of the transcript tests: the checked-in German clips, WER, recordings, one model.

The model is assembled once into a fixed directory under the system temp dir (``ensure_model_dir`` locks
and renames atomically, so parallel test processes share it safely) and loaded once per process.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import wave
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

from council.core.settings import Settings
from transcripts.engine import WhisperTranscriber

SPEECH = Path(__file__).parent / "data" / "speech"
SR = 16_000
DECODE = ["-ac", "1", "-ar", str(SR), "-f", "s16le", "-"]


@cache
def model_settings() -> Settings:
    from transcripts.model_files import ensure_model_dir

    base = Settings(var_dir=Path(tempfile.gettempdir()) / "rathaus-test-models")
    return Settings(var_dir=base.var_dir, whisper_model_dir=str(ensure_model_dir(base)))


@cache
def transcriber() -> WhisperTranscriber:
    return WhisperTranscriber(model_settings())


@cache
def references() -> dict[str, str]:
    data = json.loads((SPEECH / "references.json").read_text(encoding="utf-8"))
    return {name: entry["text"] for name, entry in data.items()}


@cache
def _clip(name: str) -> bytes:
    import imageio_ffmpeg

    out = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(SPEECH / f"{name}.opus"), *DECODE],
        capture_output=True,
        check=True,
    ).stdout
    return out


def clip_pcm(name: str) -> bytes:
    """s16le 16 kHz mono PCM of a checked-in clip."""
    return _clip(name)


def clip(name: str) -> np.ndarray:
    return np.frombuffer(_clip(name), dtype="<i2").astype(np.float32) / 32768.0


def noise(seconds: float, level: float = 0.1, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, level, int(seconds * SR)).astype(np.float32)


def normalize(text: str) -> str:
    text = text.lower().replace("ß", "ss")
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


def wer(reference: str, hypothesis: str) -> float:
    import jiwer

    return float(jiwer.wer(normalize(reference), normalize(hypothesis) or "<leer>"))


def write_wav(path: Path, parts: Sequence[str | float | np.ndarray]) -> list[tuple[float, float]]:
    """A 16 kHz mono WAV from clip names, silences (seconds) and arrays; returns each part's span."""
    arrays: list[np.ndarray] = []
    spans: list[tuple[float, float]] = []
    pos = 0.0
    for part in parts:
        if isinstance(part, str):
            arr = clip(part)
        elif isinstance(part, np.ndarray):
            arr = part
        else:
            arr = np.zeros(int(part * SR), dtype=np.float32)
        arrays.append(arr)
        spans.append((pos, pos + len(arr) / SR))
        pos += len(arr) / SR
    data = (np.clip(np.concatenate(arrays), -1, 1) * 32767).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(data)
    return spans


def pattern_recording(wav: Path, mp4: Path, duration: float) -> None:
    """A recording as the streaming tests feed it: a 320x240 test pattern (H.264, a keyframe a second)
    with ``wav`` as its AAC sound, ``duration`` seconds long."""
    import imageio_ffmpeg

    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=10:duration={duration:.2f}",
            "-i", str(wav),
            "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "64k", "-shortest", str(mp4),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )  # fmt: skip
