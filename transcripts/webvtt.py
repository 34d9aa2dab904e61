"""WebVTT captions for the archive video, from transcript segments (times from recording start)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from council.live.media import vtt_timestamp as timestamp


class _Cue(Protocol):
    start_s: float
    end_s: float
    text: str
    public: bool

    @property
    def speaker_name(self) -> str | None: ...


def escape(text: str) -> str:
    """Cue text is a tiny markup language: escape ``&``, ``<``, ``>``; no blank line may end the cue."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(text.split())  # newlines and runs of spaces: one line, no accidental cue end


def webvtt(segments: Iterable[_Cue], *, include_private: bool = False, voices: bool = True) -> str:
    """A WebVTT file; each segment one cue, the speaker's name as a ``<v>`` voice span if known.

    Segments of speakers without consent are left out unless ``include_private``.
    """
    lines = ["WEBVTT", ""]
    n = 0
    for seg in sorted(segments, key=lambda s: (s.start_s, s.end_s)):
        if not seg.public and not include_private:
            continue
        text = escape(seg.text)
        if not text:
            continue
        start = seg.start_s
        end = max(seg.end_s, start + 0.5)
        n += 1
        name = seg.speaker_name if voices else None
        if name:
            text = f"<v {escape(name)}>{text}"
        lines += [str(n), f"{timestamp(start)} --> {timestamp(end)}", text, ""]
    return "\n".join(lines)
