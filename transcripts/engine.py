"""The Transcriber interface and its faster-whisper (CTranslate2) implementation.

Why these settings (measured on espeak German, see ARCHITECTURE.md): Whisper invents text on silence
and noise ("Untertitel im Auftrag des ZDF", "Vielen Dank."), so decoding runs with the Silero VAD filter,
``condition_on_previous_text=False`` (one hallucination must not seed the next window) and
``hallucination_silence_threshold`` (skips silent stretches inside a window when word timestamps are on);
what still comes out is filtered here by ``no_speech_prob``/``avg_logprob``/compression ratio and a short
list of the phrases Whisper is known to produce from nothing in German.

One model per process (module cache), loaded lazily; CTranslate2 would run concurrent calls, but on a
2-core server two at once only slow each other, so calls are serialised with one process-wide lock.
Inference is blocking: async callers use :func:`transcribe_async`, which runs it on the process's one
inference thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from council.core.settings import Settings
from transcripts.model_files import ensure_model_dir

log = logging.getLogger(__name__)
T = TypeVar("T")

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

    def transcribe_windows(
        self,
        windows: list[Window],
        *,
        beam_size: int = 5,
        hotwords: str | None = None,
        word_timestamps: bool = True,
    ) -> list[list[tuple[int, Segment]]]: ...


#: The one thread all inference of the process runs on (the models, the VAD). Inference is serialised
#: anyway (:data:`_INFERENCE_LOCK`); queued on its own thread, waiting decodes (live captions, an item,
#: the whole meeting) do not each hold one of the event loop's few default worker threads, which file
#: reads and the PDF jobs need.
_INFERENCE_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="whisper")


async def in_inference_thread(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` on the inference thread, awaited without blocking the event loop."""
    return await asyncio.get_running_loop().run_in_executor(_INFERENCE_THREAD, partial(fn, *args, **kwargs))


async def transcribe_async(transcriber: Transcriber, audio: np.ndarray, **kwargs: Any) -> list[Segment]:
    """Run ``transcriber.transcribe`` on the inference thread so the event loop keeps serving."""
    return await in_inference_thread(transcriber.transcribe, audio, **kwargs)


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


#: Silero VAD pads each speech part by this much on both sides (faster-whisper's default).
VAD_PAD_S = 0.4
#: The decoder's window: Whisper sees at most 30 s at once.
WINDOW_S = 30.0


@dataclass(frozen=True)
class Window:
    """Up to 30 s of speech, decoded as one unit by the batched decoder.

    Packed as faster-whisper's ``BatchedInferencePipeline`` packs one audio (Silero VAD speech parts,
    the silence between them left out, parts appended until 30 s are full), but across consecutive
    audios (the chunks of a recording): the parts of several chunks share a window, so a group of
    chunks needs as many windows as one plain batched call over the same audio.
    """

    samples: np.ndarray
    #: The speech parts in it, in order: (index of the source audio, first sample, end sample in it).
    parts: tuple[tuple[int, int, int], ...]
    #: For each part, the sample where its source audio starts with the sources laid end to end (keeps
    #: the packed speech's time map monotonic across sources).
    bases: tuple[int, ...]

    @property
    def sources(self) -> list[int]:
        """The source audios it holds speech of, in order."""
        return list(dict.fromkeys(src for src, _a, _b in self.parts))

    @property
    def voiced_s(self) -> float:
        """Seconds of speech in the window (the VAD's padding taken off again)."""
        return sum(max(0.0, (b - a) / SAMPLE_RATE - 2 * VAD_PAD_S) for _s, a, b in self.parts)


def speech_windows(
    audios: list[np.ndarray],
    *,
    breaks: list[Any] | None = None,
    min_silence_ms: int = 500,
    window_s: float = WINDOW_S,
) -> list[Window]:
    """The decoder windows of consecutive audios, in order (blocking: runs the Silero VAD).

    ``breaks``: one key per audio; a window never holds speech of two audios with different keys (each
    chunk's agenda item has its own hotwords, and a window is decoded with one prompt).
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    vad = VadOptions(min_silence_duration_ms=min_silence_ms, max_speech_duration_s=window_s)
    limit = int(window_s * SAMPLE_RATE)
    arrays = [np.asarray(raw, dtype=np.float32).reshape(-1) for raw in audios]
    windows: list[Window] = []
    parts: list[tuple[int, int, int]] = []
    bases: list[int] = []
    length = base = 0

    def flush() -> None:
        nonlocal parts, bases, length
        if parts:
            samples = np.concatenate([arrays[src][a:b] for src, a, b in parts])
            windows.append(Window(samples=samples, parts=tuple(parts), bases=tuple(bases)))
        parts, bases, length = [], [], 0

    for source, audio in enumerate(arrays):
        if breaks is not None and source > 0 and breaks[source] != breaks[source - 1]:
            flush()
        if audio.size >= SAMPLE_RATE // 10:
            for stamp in get_speech_timestamps(audio, vad):
                a, b = int(stamp["start"]), int(stamp["end"])
                if parts and length + (b - a) > limit:
                    flush()
                parts.append((source, a, b))
                bases.append(base)
                length += b - a
        base += audio.size
    flush()
    return windows


@dataclass
class DecodeOptions:
    """Settings handed to faster-whisper; one place so the bench and the pipeline use the same ones."""

    language: str = "de"
    vad_min_silence_ms: int = 500
    hallucination_silence_threshold: float = 2.0
    #: Windows per batched decoder call. Each decoder step reads all of the decoder's weights, so wide
    #: batches are cheap per window (plain faster-whisper on the 12-min bench set: beam search 13.6 s at
    #: 8 windows per call against 21.9 s at 2); what they cost is the beams' caches in memory (final pass
    #: with hotwords, beam 3, reverberant set: peak RSS 1.06 GB at 6, 1.26 GB at 8, at the same speed).
    batch_size: int = 6
    #: Windows per encoder call (its self-attention holds ~70 MB per window).
    encode_batch_size: int = 2
    #: The windowed (final) decode never repeats a run of this many tokens, so an exact decoder loop
    #: ("Wir haben einen … geklärt" again and again) ends where it starts. 16 tokens are 8-10 German words.
    no_repeat_ngram_size: int = 16
    extra: dict[str, Any] = field(default_factory=dict)


class WhisperTranscriber:
    """faster-whisper with int8 on CPU; the model is loaded on first use and shared in the process."""

    def __init__(self, settings: Settings, *, options: DecodeOptions | None = None) -> None:
        self.settings = settings
        self.options = options or DecodeOptions(
            language=settings.whisper_language, batch_size=settings.whisper_batch_size
        )
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
                raw, _info = self._pipeline(model).transcribe(audio, batch_size=opts.batch_size, **kwargs)
            else:
                raw, _info = model.transcribe(audio, **kwargs)
            segments = [_convert(s) for s in raw]  # the generator decodes here, under the lock
        kept = [s for s in segments if keep_segment(s)]
        if len(kept) != len(segments):
            log.debug(
                "dropped %d of %d segments as likely invented", len(segments) - len(kept), len(segments)
            )
        return kept

    def transcribe_windows(
        self,
        windows: list[Window],
        *,
        beam_size: int = 5,
        hotwords: str | None = None,
        word_timestamps: bool = True,
    ) -> list[list[tuple[int, Segment]]]:
        """Decode windows in batches of ``batch_size``; per window its segments as (source audio, segment
        with times in that audio), filtered like :meth:`transcribe`'s. A segment that spans speech of
        two sources is cut between them (at its words).

        Why: a recording's 30-60 s chunks hold one or two windows each; decoded chunk by chunk, the
        batches would be 1-2 windows wide, and each decoder step reads all of the decoder's weights
        whatever the number of rows. Packed and decoded together, the chunks of a group fill whole
        batches as one plain batched call over the whole file does.
        """
        if not windows:
            return []
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.vad import SpeechTimestampsMap

        out: list[list[tuple[int, Segment]]] = []
        with _INFERENCE_LOCK:
            model = self._load()
            pipe = self._pipeline(model)
            options, language = self._window_options(pipe, beam_size, hotwords, word_timestamps)
            tokenizer = Tokenizer(
                model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language
            )
            size = max(1, self.options.batch_size)
            try:
                for i in range(0, len(windows), size):
                    group = windows[i : i + size]
                    features = np.stack(
                        [pad_or_trim(model.feature_extractor(w.samples)[..., :-1]) for w in group]
                    )
                    meta = [
                        {"offset": 0.0, "duration": len(w.samples) / SAMPLE_RATE, "segments": []}
                        for w in group
                    ]
                    results = pipe.forward(features, tokenizer, meta, options)
                    for window, result in zip(group, results, strict=True):
                        tsmap = SpeechTimestampsMap(
                            [
                                {"start": base + a, "end": base + b}
                                for (_src, a, b), base in zip(window.parts, window.bases, strict=True)
                            ],
                            SAMPLE_RATE,
                        )
                        pieces = [p for raw in result for p in _from_window(raw, tsmap, window)]
                        out.append([(src, seg) for src, seg in pieces if keep_segment(seg)])
            finally:
                pipe.last_speech_timestamp = 0.0
        return out

    def _pipeline(self, model: Any) -> Any:
        if self._batched is None:
            from faster_whisper import BatchedInferencePipeline

            self._batched = BatchedInferencePipeline(
                model=_PartEncoder(model, self.options.encode_batch_size)
            )
        return self._batched

    def _window_options(
        self, pipe: Any, beam_size: int, hotwords: str | None, word_timestamps: bool
    ) -> tuple[Any, str]:
        """faster-whisper's own options object for these settings (what its ``transcribe`` would use).

        Built by its ``transcribe`` on one second of silence given as a clip, so no VAD runs and,
        the segment generator never being read, nothing is decoded; the options come back in ``info``.
        """
        opts = self.options
        language = opts.language or "de"
        _gen, info = pipe.transcribe(
            np.zeros(SAMPLE_RATE, dtype=np.float32),
            language=language,
            beam_size=beam_size,
            hotwords=hotwords or None,
            word_timestamps=word_timestamps,
            condition_on_previous_text=False,
            vad_filter=False,
            clip_timestamps=[{"start": 0.0, "end": 1.0}],
            **{"no_repeat_ngram_size": opts.no_repeat_ngram_size, **opts.extra},
        )
        return info.transcription_options, language


class _PartEncoder:
    """The WhisperModel with its encoder run ``part`` windows at a time (on CPU), and the encoder outputs
    of the last :data:`ENCODED_KEPT` windows kept.

    The encoder's self-attention holds ~70 MB per window, while the decoder is the one that gains from a
    wide batch. The outputs are kept because the hotword guard decodes doubtful windows a second time,
    right after the first pass: on noisy audio that is up to half of them, and the encoder is a third of
    the decode time. Everything else is the model's own (attribute access passes through).
    """

    def __init__(self, model: Any, part: int) -> None:
        self._model = model
        self._part = max(1, part)
        self._kept: OrderedDict[bytes, np.ndarray] = OrderedDict()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def encode(self, features: np.ndarray) -> Any:
        if self._model.model.device != "cpu":
            return self._model.encode(features)
        import ctranslate2

        keys = [hashlib.blake2b(np.ascontiguousarray(f).tobytes(), digest_size=16).digest() for f in features]
        todo = [i for i, key in enumerate(keys) if key not in self._kept]
        for start in range(0, len(todo), self._part):
            rows = todo[start : start + self._part]
            encoded = np.asarray(self._model.encode(features[rows]))
            for row, out in zip(rows, encoded, strict=True):
                self._kept[keys[row]] = np.array(out, copy=True)
        for key in keys:
            self._kept.move_to_end(key)
        result = np.ascontiguousarray(np.stack([self._kept[key] for key in keys]))
        while len(self._kept) > max(ENCODED_KEPT, len(keys)):
            self._kept.popitem(last=False)
        return ctranslate2.StorageView.from_array(result)


#: Encoder outputs kept for a second decode of the same window (3 MB each; a 6-minute group of chunks
#: has ~13 windows).
ENCODED_KEPT = 16


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


def _from_window(raw: dict[str, Any], tsmap: Any, window: Window) -> list[tuple[int, Segment]]:
    """A segment of a decoded window (times in the packed speech) as (source, segment with times in the
    source audio); cut into one segment per source where its words come from several."""
    text = str(raw["text"]).strip()
    avg, nsp, ratio = float(raw["avg_logprob"]), float(raw["no_speech_prob"]), float(raw["compression_ratio"])
    by_source: list[tuple[int, list[Word]]] = []
    for w in raw.get("words") or ():
        index = tsmap.get_chunk_index((w["start"] + w["end"]) / 2)
        src, base = window.parts[index][0], window.bases[index] / SAMPLE_RATE
        word = Word(  # a word at a part's edge may reach a hair before its source's start
            max(0.0, float(tsmap.get_original_time(w["start"], index)) - base),
            max(0.0, float(tsmap.get_original_time(w["end"], index)) - base),
            str(w["word"]),
            float(w["probability"]),
        )
        if by_source and by_source[-1][0] == src:
            by_source[-1][1].append(word)
        else:
            by_source.append((src, [word]))
    if len(by_source) == 1:
        src, ws = by_source[0]
        return [(src, Segment(ws[0].start, ws[-1].end, text, tuple(ws), avg, nsp, ratio))]
    if by_source:  # cut at the source boundary: each piece spelled by its own words
        return [
            (
                src,
                Segment(
                    ws[0].start, ws[-1].end, "".join(x.word for x in ws).strip(), tuple(ws), avg, nsp, ratio
                ),
            )
            for src, ws in by_source
        ]
    # no word timings: the whole segment goes to the source of its middle
    index = tsmap.get_chunk_index((raw["start"] + raw["end"]) / 2)
    src, base = window.parts[index][0], window.bases[index] / SAMPLE_RATE
    start = max(0.0, float(tsmap.get_original_time(raw["start"])) - base)
    end = max(start, float(tsmap.get_original_time(raw["end"], is_end=True)) - base)
    return [(src, Segment(start, end, text, (), avg, nsp, ratio))]


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


_TRANSCRIBERS: dict[tuple[str, str, int, str, int], WhisperTranscriber] = {}


def get_transcriber(settings: Settings) -> WhisperTranscriber:
    """The process's transcriber for these settings (the model loads on its first use)."""
    key = (
        settings.whisper_model_dir,
        str(settings.var_dir),
        settings.whisper_threads,
        settings.whisper_language,
        settings.whisper_batch_size,
    )
    with _MODELS_LOCK:
        t = _TRANSCRIBERS.get(key)
        if t is None:
            t = _TRANSCRIBERS[key] = WhisperTranscriber(settings)
        return t
