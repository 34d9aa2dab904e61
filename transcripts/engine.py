"""The Transcriber interface and its faster-whisper (CTranslate2) implementation.

Why these settings (measured on espeak German, see ARCHITECTURE.md): Whisper invents text on silence
and noise ("Untertitel im Auftrag des ZDF", "Vielen Dank."), so decoding runs with the Silero VAD filter,
``condition_on_previous_text=False`` (one hallucination must not seed the next window) and
``hallucination_silence_threshold`` (skips silent stretches inside a window when word timestamps are on);
what still comes out is filtered here by ``no_speech_prob``/``avg_logprob``/compression ratio and a short
list of the phrases Whisper is known to produce from nothing in German.

One model per process (module cache), loaded lazily; CTranslate2 would run concurrent calls, but on a
2-core server two at once only slow each other, so calls are serialised with one process-wide lock.
Inference is blocking: async callers use :func:`transcribe_async`, which runs it in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from council.core.settings import Settings
from transcripts.model_files import ensure_model_dir

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000

#: Whisper's own thresholds for "this window is silence" (no_speech high AND logprob low).
NO_SPEECH_PROB = 0.6
LOGPROB_SILENT = -1.0
#: Below this the text is mostly guesswork, whatever no_speech says.
LOGPROB_FLOOR = -1.5
#: Above this gzip ratio a segment is a repetition loop.
COMPRESSION_RATIO_MAX = 2.4

#: Whole segments Whisper produces from silence/noise in German (subtitle credits from its training data).
_CREDITS = re.compile(
    r"^\W*(untertitel(ung)?\b.*|.*amara\.org.*|.*\bzdf\b.*|copyright.*|\.+|…)\W*$", re.IGNORECASE
)
#: Short phrases that are real in a meeting too: dropped only when the decoder was unsure.
_PHANTOM_IF_UNSURE = re.compile(
    r"^\W*(vielen dank( fürs zuschauen| für ihre aufmerksamkeit)?|danke( schön)?|tschüss|"
    r"bis zum nächsten mal|musik|applaus)\W*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    word: str
    probability: float


@dataclass(frozen=True)
class Segment:
    """A piece of recognised text; times in seconds from the start of the audio handed in."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 1.0

    def shifted(self, offset: float) -> Segment:
        """The same segment with times moved by ``offset`` seconds (chunk → recording time)."""
        return Segment(
            start=self.start + offset,
            end=self.end + offset,
            text=self.text,
            words=tuple(Word(w.start + offset, w.end + offset, w.word, w.probability) for w in self.words),
            avg_logprob=self.avg_logprob,
            no_speech_prob=self.no_speech_prob,
            compression_ratio=self.compression_ratio,
        )

    def words_json(self) -> list[dict[str, Any]]:
        return [
            {"start": round(w.start, 3), "end": round(w.end, 3), "word": w.word, "p": round(w.probability, 3)}
            for w in self.words
        ]


class Transcriber(Protocol):
    """Blocking speech-to-text on 16 kHz mono float32 audio (use :func:`transcribe_async` in async code)."""

    def transcribe(
        self,
        audio: np.ndarray,
        *,
        beam_size: int = 5,
        hotwords: str | None = None,
        word_timestamps: bool = True,
        batched: bool = False,
    ) -> list[Segment]: ...


async def transcribe_async(transcriber: Transcriber, audio: np.ndarray, **kwargs: Any) -> list[Segment]:
    """Run ``transcriber.transcribe`` in a worker thread so the event loop keeps serving."""
    return await asyncio.to_thread(transcriber.transcribe, audio, **kwargs)


def keep_segment(seg: Segment) -> bool:
    """False for the segments that are (very likely) invented rather than heard."""
    text = seg.text.strip()
    if not text:
        return False
    if seg.no_speech_prob > NO_SPEECH_PROB and seg.avg_logprob < LOGPROB_SILENT:
        return False
    if seg.avg_logprob < LOGPROB_FLOOR:
        return False
    if seg.compression_ratio > COMPRESSION_RATIO_MAX:
        return False
    if _CREDITS.match(text):
        return False
    unsure = seg.no_speech_prob > 0.2 or seg.avg_logprob < -0.7
    return not (unsure and _PHANTOM_IF_UNSURE.match(text))


def pcm16_to_float(pcm: bytes | np.ndarray) -> np.ndarray:
    """s16le PCM (bytes or int16 array) → float32 in [-1, 1], the form Whisper takes."""
    arr = np.frombuffer(pcm, dtype="<i2") if isinstance(pcm, bytes | bytearray | memoryview) else pcm
    return arr.astype(np.float32) / 32768.0


@dataclass
class DecodeOptions:
    """Settings handed to faster-whisper; one place so the bench and the pipeline use the same ones."""

    language: str = "de"
    vad_min_silence_ms: int = 500
    hallucination_silence_threshold: float = 2.0
    batch_size: int = 8
    extra: dict[str, Any] = field(default_factory=dict)


class WhisperTranscriber:
    """faster-whisper with int8 on CPU; the model is loaded on first use and shared in the process."""

    def __init__(self, settings: Settings, *, options: DecodeOptions | None = None) -> None:
        self.settings = settings
        self.options = options or DecodeOptions(language=settings.whisper_language)
        self._model: Any = None
        self._batched: Any = None

    @property
    def model(self) -> Any:
        """The WhisperModel (loads and, the first time, assembles the model files)."""
        with _INFERENCE_LOCK:
            return self._load()

    def _load(self) -> Any:
        if self._model is None:
            self._model = _shared_model(
                ensure_model_dir(self.settings),
                self.settings.whisper_threads,
                device=self.settings.whisper_device,
                compute_type=self.settings.whisper_compute_type,
            )
        return self._model

    def transcribe(
        self,
        audio: np.ndarray,
        *,
        beam_size: int = 5,
        hotwords: str | None = None,
        word_timestamps: bool = True,
        batched: bool = False,
    ) -> list[Segment]:
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        if audio.size < SAMPLE_RATE // 10:  # under 0.1 s: nothing to hear, and Whisper would guess
            return []
        opts = self.options
        kwargs: dict[str, Any] = {
            "language": opts.language or None,
            "beam_size": beam_size,
            "vad_filter": True,
            "vad_parameters": {"min_silence_duration_ms": opts.vad_min_silence_ms},
            "condition_on_previous_text": False,
            "word_timestamps": word_timestamps,
            "hotwords": hotwords or None,
            **opts.extra,
        }
        if word_timestamps:  # it needs word timings to find the silent stretches
            kwargs["hallucination_silence_threshold"] = opts.hallucination_silence_threshold
        with _INFERENCE_LOCK:
            model = self._load()
            if batched:
                if self._batched is None:
                    from faster_whisper import BatchedInferencePipeline

                    self._batched = BatchedInferencePipeline(model=model)
                raw, _info = self._batched.transcribe(audio, batch_size=opts.batch_size, **kwargs)
            else:
                raw, _info = model.transcribe(audio, **kwargs)
            segments = [_convert(s) for s in raw]  # the generator decodes here, under the lock
        kept = [s for s in segments if keep_segment(s)]
        if len(kept) != len(segments):
            log.debug(
                "dropped %d of %d segments as likely invented", len(segments) - len(kept), len(segments)
            )
        return kept


def _convert(s: Any) -> Segment:
    return Segment(
        start=float(s.start),
        end=float(s.end),
        text=str(s.text).strip(),
        words=tuple(
            Word(float(w.start), float(w.end), str(w.word), float(w.probability)) for w in s.words or ()
        ),
        avg_logprob=float(s.avg_logprob),
        no_speech_prob=float(s.no_speech_prob),
        compression_ratio=float(s.compression_ratio),
    )


_MODELS: dict[tuple[str, int, str, str], Any] = {}
_MODELS_LOCK = threading.Lock()
#: One inference at a time in the process: on a 2-core server parallel calls only slow each other down.
_INFERENCE_LOCK = threading.Lock()


def _shared_model(path: Path, threads: int, *, device: str = "cpu", compute_type: str = "int8") -> Any:
    """One loaded model per (directory, threads, device, compute type) in the process. A GPU worker sets
    ``RATHAUS_WHISPER_DEVICE=cuda`` (and e.g. ``RATHAUS_WHISPER_COMPUTE_TYPE=float16``) with a larger
    model directory; the code path is the same."""
    key = (str(path.resolve()), threads, device, compute_type)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            from faster_whisper import WhisperModel

            log.info("loading Whisper model %s (%s, %s, %d threads)", path, device, compute_type, threads)
            model = WhisperModel(
                str(path),
                device=device,
                compute_type=compute_type,
                cpu_threads=threads,
                local_files_only=True,
            )
            _MODELS[key] = model
        return model


_TRANSCRIBERS: dict[tuple[str, str, int, str], WhisperTranscriber] = {}


def get_transcriber(settings: Settings) -> WhisperTranscriber:
    """The process's transcriber for these settings (the model loads on its first use)."""
    key = (
        settings.whisper_model_dir,
        str(settings.var_dir),
        settings.whisper_threads,
        settings.whisper_language,
    )
    with _MODELS_LOCK:
        t = _TRANSCRIBERS.get(key)
        if t is None:
            t = _TRANSCRIBERS[key] = WhisperTranscriber(settings)
        return t
