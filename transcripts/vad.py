"""A small energy voice-activity detector: where to cut audio, not what is speech.

Two users: the live captioner cuts the stream into utterances at pauses (``UtteranceSegmenter``), and the
final job cuts a long recording into 30-60 s chunks at the quietest moment (``quietest_cut``) and skips
chunks with nothing above the noise floor (``has_sound``) without running the model. Deciding what is
*speech* stays with Whisper's own Silero VAD and the segment filters in ``engine``; this detector only
needs to be cheap (numpy over 30 ms frames) and never to cut in the middle of a word.

The noise floor adapts (it follows quiet frames down at once and rises slowly), so steady room noise or
a hum does not count as a never-ending utterance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16_000
FRAME = 480  # 30 ms at 16 kHz
#: Frames quieter than this (dBFS) are silence whatever the floor says.
ABSOLUTE_SILENCE_DB = -50.0
#: A frame is voiced when this many dB above the tracked noise floor.
ABOVE_FLOOR_DB = 9.0
#: How fast the floor may rise per frame (dB): slow, so speech does not become the floor.
FLOOR_RISE_DB = 0.05


def frame_db(samples: np.ndarray) -> np.ndarray:
    """RMS level of each full 30 ms frame in dBFS (float32 samples in [-1, 1])."""
    n = len(samples) // FRAME
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    frames = samples[: n * FRAME].astype(np.float32).reshape(n, FRAME)
    rms = np.sqrt(np.mean(frames * frames, axis=1) + 1e-12)
    return (20.0 * np.log10(rms)).astype(np.float32)


def has_sound(samples: np.ndarray, threshold_db: float = ABSOLUTE_SILENCE_DB) -> bool:
    """True if any frame rises above digital silence / a very quiet room (the fast skip)."""
    db = frame_db(samples)
    return bool(db.size and float(db.max()) > threshold_db)


def quietest_cut(samples: np.ndarray, lo: int, hi: int, window_frames: int = 10) -> int:
    """A sample index in [lo, hi) at the middle of the quietest ~300 ms: where a cut splits no word."""
    lo_f, hi_f = max(0, lo // FRAME), max(0, hi // FRAME)
    db = frame_db(samples[: hi_f * FRAME])
    if hi_f - lo_f <= window_frames or db.size < hi_f:
        return hi
    seg = db[lo_f:hi_f]
    # moving mean of the level: a pause, not a single quiet frame inside a word
    kernel = np.ones(window_frames, dtype=np.float32) / window_frames
    smooth = np.convolve(seg, kernel, mode="valid")
    best = int(np.argmin(smooth))
    return (lo_f + best + window_frames // 2) * FRAME


@dataclass(frozen=True)
class Utterance:
    """A stretch of voiced audio; ``start`` is its first sample's index in the whole stream."""

    start: int
    samples: np.ndarray
    #: Cut because it reached the maximum length (not at a pause).
    forced: bool = False
    #: Stream index of the last voiced sample (the utterance's acoustic end, before the padding).
    voice_end: int = 0

    @property
    def end(self) -> int:
        return self.start + len(self.samples)


class UtteranceSegmenter:
    """Feed samples as they come; get utterances back when a pause (or the length limit) ends them."""

    def __init__(
        self,
        *,
        min_pause_s: float = 0.5,
        max_utterance_s: float = 15.0,
        min_voiced_s: float = 0.25,
        pad_s: float = 0.2,
    ) -> None:
        self.min_pause = max(1, round(min_pause_s * SAMPLE_RATE / FRAME))
        self.max_frames = max(1, round(max_utterance_s * SAMPLE_RATE / FRAME))
        self.min_voiced = max(1, round(min_voiced_s * SAMPLE_RATE / FRAME))
        self.pad = round(pad_s * SAMPLE_RATE / FRAME)
        self.floor_db = ABSOLUTE_SILENCE_DB - 10.0
        self._pending = np.zeros(0, dtype=np.float32)  # samples not yet framed
        self._frames: list[np.ndarray] = []  # frames of the open utterance (incl. leading pad)
        self._pre: list[np.ndarray] = []  # last few silent frames (leading pad)
        self._next_frame = 0  # stream frame index of the next frame to come
        self._start_frame = 0  # stream frame index of self._frames[0]
        self._voiced = 0
        self._silent_run = 0
        self._last_voiced_frame = 0

    @property
    def in_utterance(self) -> bool:
        return bool(self._frames)

    def _is_voiced(self, db: float) -> bool:
        voiced = db > max(ABSOLUTE_SILENCE_DB, self.floor_db + ABOVE_FLOOR_DB)
        if db < self.floor_db:
            self.floor_db = db
        else:
            self.floor_db += FLOOR_RISE_DB
        return voiced

    def push(self, samples: np.ndarray) -> list[Utterance]:
        data = np.concatenate([self._pending, np.asarray(samples, dtype=np.float32).reshape(-1)])
        n = len(data) // FRAME
        self._pending = data[n * FRAME :].copy()
        out: list[Utterance] = []
        if n == 0:
            return out
        frames = data[: n * FRAME].reshape(n, FRAME)
        levels = frame_db(data[: n * FRAME])
        for frame, level in zip(frames, levels, strict=True):
            idx = self._next_frame
            self._next_frame += 1
            voiced = self._is_voiced(float(level))
            if not self._frames:
                if voiced:
                    self._start_frame = idx - len(self._pre)
                    self._frames = [*self._pre, frame.copy()]
                    self._pre = []
                    self._voiced, self._silent_run, self._last_voiced_frame = 1, 0, idx
                else:
                    self._pre.append(frame.copy())
                    if len(self._pre) > self.pad:
                        self._pre.pop(0)
                continue
            self._frames.append(frame.copy())
            if voiced:
                self._voiced += 1
                self._silent_run = 0
                self._last_voiced_frame = idx
            else:
                self._silent_run += 1
            if self._silent_run >= self.min_pause:
                out.extend(self._close(forced=False))
            elif len(self._frames) >= self.max_frames:
                out.extend(self._close(forced=True))
        return out

    def _close(self, *, forced: bool) -> list[Utterance]:
        frames, self._frames = self._frames, []
        voiced, self._voiced, self._silent_run = self._voiced, 0, 0
        if not forced:
            # keep `pad` frames of the trailing pause; the rest is silence
            keep = len(frames) - max(0, (self._next_frame - 1 - self._last_voiced_frame) - self.pad)
            frames = frames[:keep]
        if voiced < self.min_voiced:
            return []  # a click or a cough
        return [
            Utterance(
                start=self._start_frame * FRAME,
                samples=np.concatenate(frames),
                forced=forced,
                voice_end=(self._last_voiced_frame + 1) * FRAME,
            )
        ]

    def flush(self) -> list[Utterance]:
        """The stream ended: close whatever is open."""
        if not self._frames:
            return []
        return self._close(forced=False)
