"""Captions into the HLS output (the streaming side of ``council.live.media.CaptionSink``).

Captions arrive with wall-clock times. Each media segment ``s-N.ts`` has a WebVTT twin ``c-N.vtt``
listed in ``subs.m3u8``; a caption goes into the segment that contains its start (one place only,
so players do not show it twice) with cue times relative to that segment's program-date-time and
``X-TIMESTAMP-MAP`` tying the segment's start to its MPEG-TS timestamp. Live captions come late
(the recogniser needs the speech first): a caption for a segment already written rewrites that
segment's file, so late joiners and the archive have it; ``captions.vtt`` holds all captions on the
archive's media time (cumulative segment durations, the same clock as the MP4 and the VOD playlist).
"""

from __future__ import annotations

import bisect
import json
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from council.live.media import Caption
from council.live.media import vtt_timestamp as vtt_time
from streaming.paths import MeetingPaths, write_atomic
from streaming.playlist import Entry, format_pdt, parse_pdt, render_media_playlist


def _clean(text: str) -> str:
    # WebVTT: no "-->" in cue text, no blank lines; escape the markup characters.
    text = " ".join(text.split()).replace("-->", "→")
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def caption_to_json(c: Caption) -> str:
    return json.dumps(
        {
            "meeting_id": c.meeting_id,
            "start": format_pdt(c.start),
            "end": format_pdt(c.end),
            "text": c.text,
            "agenda_item_id": c.agenda_item_id,
            "speaker_person_id": c.speaker_person_id,
        },
        ensure_ascii=False,
    )


def load_captions(path: Path) -> list[Caption]:
    out: list[Caption] = []
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return out
    for line in lines:
        try:
            d = json.loads(line)
            out.append(
                Caption(
                    meeting_id=int(d["meeting_id"]),
                    start=parse_pdt(d["start"]),
                    end=parse_pdt(d["end"]),
                    text=str(d["text"]),
                    agenda_item_id=d.get("agenda_item_id"),
                    speaker_person_id=d.get("speaker_person_id"),
                )
            )
        except (ValueError, KeyError, TypeError):
            break
    return out


def segment_for(entries: Sequence[Entry], when: datetime) -> Entry | None:
    """The published segment whose span holds ``when`` (or the first one after it, in a gap)."""
    ends = [e.end for e in entries]
    i = bisect.bisect_right(ends, when)
    return entries[i] if i < len(entries) else None


def render_segment_vtt(entry: Entry, captions: Sequence[Caption]) -> str:
    mpegts = round(entry.pts * 90000)
    lines = ["WEBVTT", f"X-TIMESTAMP-MAP=MPEGTS:{mpegts},LOCAL:00:00:00.000", ""]
    for c in captions:
        start = max(0.0, (c.start - entry.pdt).total_seconds())
        end = max(start + 0.1, (c.end - entry.pdt).total_seconds())
        lines += [f"{vtt_time(start)} --> {vtt_time(end)}", _clean(c.text), ""]
    return "\n".join(lines) + "\n"


def media_time(entries: Sequence[Entry], when: datetime) -> float:
    """Archive media time (seconds from the start of the recording) of a wall-clock instant:
    cumulative durations of the segments before, plus the offset inside its segment. Gaps between
    parts (an ffmpeg restart) are skipped, as in the VOD playlist and the MP4."""
    total = 0.0
    for e in entries:
        if when < e.pdt:
            return total
        if when < e.end:
            return total + (when - e.pdt).total_seconds()
        total += e.dur
    return total


def render_full_vtt(entries: Sequence[Entry], captions: Sequence[Caption]) -> str:
    lines = ["WEBVTT", ""]
    for c in sorted(captions, key=lambda c: c.start):
        start = media_time(entries, c.start)
        end = max(start + 0.1, media_time(entries, c.end))
        lines += [f"{vtt_time(start)} --> {vtt_time(end)}", _clean(c.text), ""]
    return "\n".join(lines) + "\n"


class CaptionWriter:
    """Keeps a meeting's captions and writes them next to its public segments."""

    def __init__(self, paths: MeetingPaths) -> None:
        self.paths = paths
        self.captions: list[Caption] = load_captions(paths.captions_journal)

    def _for_entry(self, entries: Sequence[Entry], entry: Entry) -> list[Caption]:
        """Captions whose start falls in this segment or in the gap just before it."""
        i = next((k for k in range(len(entries) - 1, -1, -1) if entries[k].seq == entry.seq), None)
        lo = entries[i - 1].end if i else None
        return [c for c in self.captions if (lo is None or c.start >= lo) and c.start < entry.end]

    def write_segment(self, entries: Sequence[Entry], entry: Entry) -> None:
        name = MeetingPaths.caption_segment_name(entry.seq)
        write_atomic(self.paths.public / name, render_segment_vtt(entry, self._for_entry(entries, entry)))

    @staticmethod
    def write_playlist_for(
        paths: MeetingPaths, entries: Sequence[Entry], segment_seconds: float, ended: bool, window: int | None
    ) -> None:
        text = render_media_playlist(
            entries,
            segment_seconds=segment_seconds,
            ended=ended,
            window=window,
            name_of=lambda e: MeetingPaths.caption_segment_name(e.seq),
        )
        write_atomic(paths.subs, text)

    def add(self, caption: Caption, entries: Sequence[Entry]) -> None:
        """Record a caption and rewrite the segment file it belongs to (if that segment exists yet)."""
        self.captions.append(caption)
        with open(self.paths.captions_journal, "a") as fh:
            fh.write(caption_to_json(caption) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        home = segment_for(entries, caption.start)
        if home is not None:
            self.write_segment(entries, home)

    def write_all(self, entries: Sequence[Entry]) -> None:
        """Every segment file and the single archive file (at the end of a stream, on recovery)."""
        for e in entries:
            self.write_segment(entries, e)
        write_atomic(self.paths.captions_vtt, render_full_vtt(entries, self.captions))
