"""HLS text: reading ffmpeg's raw part playlists, the journal of published segments, and writing the
public playlists.

The public media playlist is a **sliding window** of ``settings.hls_list_size`` segments while live
(small to fetch every second, whatever the meeting's length; ``EXT-X-MEDIA-SEQUENCE`` and
``EXT-X-DISCONTINUITY-SEQUENCE`` keep players in step) and the **complete VOD** playlist with
``EXT-X-ENDLIST`` once the stream ends. Every segment carries its program-date-time (from the raw
playlist); ``EXT-X-DISCONTINUITY`` marks a new part (ffmpeg restart) and the edges of slate runs.

The journal (``segments.jsonl``, one JSON line per published segment, appended after the segment is
in place) is the source of truth for the public side: playlists, captions, chapters' media times and
the MP4 remux are all derived from it, and crash recovery continues from it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from council.live.models import EventKind


@dataclass(frozen=True)
class RawSegment:
    """One finished segment listed in a raw part playlist."""

    index: int
    name: str
    duration: float
    pdt: datetime | None


def parse_pdt(text: str) -> datetime:
    text = text.strip()
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        value = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_pdt(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_media_playlist(text: str) -> list[RawSegment]:
    """Segments of an ffmpeg media playlist, with program-date-time filled in for every segment (ffmpeg
    writes it on each; when one is missing it follows from the previous one and its duration)."""
    out: list[RawSegment] = []
    duration: float | None = None
    pdt: datetime | None = None
    last_end: datetime | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#EXTINF:"):
            duration = float(line[len("#EXTINF:") :].split(",", 1)[0])
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            pdt = parse_pdt(line.split(":", 1)[1])
        elif not line.startswith("#") and duration is not None:
            at = pdt or last_end
            out.append(RawSegment(index=len(out), name=line, duration=duration, pdt=at))
            last_end = at + timedelta(seconds=duration) if at is not None else None
            duration, pdt = None, None
    return out


def read_raw_playlist(path: Path) -> list[RawSegment]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return parse_media_playlist(text)


@dataclass
class Entry:
    """A published (public) segment."""

    seq: int
    part: int
    raw: str
    pdt: datetime
    dur: float
    #: Start timestamp of the segment's media (seconds, MPEG-TS clock) — for WebVTT X-TIMESTAMP-MAP.
    pts: float
    slate: bool
    #: A discontinuity precedes this segment (new part, or edge of a slate run).
    disc: bool

    @property
    def end(self) -> datetime:
        return self.pdt + timedelta(seconds=self.dur)

    def to_json(self) -> str:
        d = asdict(self)
        d["pdt"] = format_pdt(self.pdt)
        return json.dumps(d, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> Entry:
        d = json.loads(line)
        d["pdt"] = parse_pdt(d["pdt"])
        return cls(**d)


def load_journal(path: Path) -> list[Entry]:
    """Entries in order; a torn last line (crash while appending) is ignored."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    out: list[Entry] = []
    for line in lines:
        if not line.strip():
            continue
        try:
            out.append(Entry.from_json(line))
        except (ValueError, KeyError, TypeError):
            break
    return out


def append_journal(path: Path, entry: Entry) -> None:
    with open(path, "a") as fh:
        fh.write(entry.to_json() + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def target_duration(entries: Iterable[Entry], segment_seconds: float) -> int:
    longest = max((e.dur for e in entries), default=segment_seconds)
    return max(1, math.ceil(max(longest, segment_seconds) - 1e-3))


def render_media_playlist(
    entries: Sequence[Entry],
    *,
    segment_seconds: float,
    ended: bool,
    window: int | None = None,
    name_of: object = None,
) -> str:
    """The public media playlist. Live: the last ``window`` entries; ended: all, VOD, ENDLIST.

    ``name_of(entry)`` gives the URI of an entry (default the public segment name).
    """
    from streaming.paths import MeetingPaths

    namer = name_of if callable(name_of) else (lambda e: MeetingPaths.segment_name(e.seq))
    shown = list(entries) if ended or not window else list(entries)[-window:]
    first = shown[0].seq if shown else (entries[-1].seq + 1 if entries else 0)
    skipped = len(entries) - len(shown)
    disc_seq = sum(1 for e in list(entries)[:skipped] if e.disc)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:6",
        f"#EXT-X-TARGETDURATION:{target_duration(entries, segment_seconds)}",
        f"#EXT-X-MEDIA-SEQUENCE:{first}",
        f"#EXT-X-DISCONTINUITY-SEQUENCE:{disc_seq}",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    if ended:
        lines.append("#EXT-X-PLAYLIST-TYPE:VOD")
    for i, e in enumerate(shown):
        if e.disc and not (i == 0 and ended):
            lines.append("#EXT-X-DISCONTINUITY")
        lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{format_pdt(e.pdt)}")
        lines.append(f"#EXTINF:{e.dur:.6f},")
        lines.append(str(namer(e)))
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def render_master(*, bandwidth: int, subtitles: bool, resolution: str | None = None) -> str:
    """The multivariant playlist: one rendition (index.m3u8) and, optionally, the captions group."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:6", "#EXT-X-INDEPENDENT-SEGMENTS"]
    attrs = [f"BANDWIDTH={int(bandwidth)}"]
    if resolution:
        attrs.append(f"RESOLUTION={resolution}")
    if subtitles:
        lines.append(
            '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="Untertitel",LANGUAGE="de",'
            'DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI="subs.m3u8"'
        )
        attrs.append('SUBTITLES="subs"')
    lines.append("#EXT-X-STREAM-INF:" + ",".join(attrs))
    lines.append("index.m3u8")
    return "\n".join(lines) + "\n"


# --- speaker consent from the timeline --------------------------------------------------------------

CONSENT_KINDS = (
    EventKind.SPEAKER_STARTED.value,
    EventKind.SPEAKER_ENDED.value,
    EventKind.AGENDA_ITEM_STARTED.value,
    EventKind.AGENDA_ITEM_ENDED.value,
    EventKind.MEETING_CLOSED.value,
)


class ConsentTimeline:
    """When the public output must show the slate: from a SPEAKER_STARTED with ``consent=False``
    until a consenting speaker starts, the speaker ends, the agenda item changes or the meeting closes.
    """

    def __init__(self) -> None:
        self._changes: list[tuple[datetime, int, bool]] = []
        self.last_id = 0

    def add(self, event_id: int, kind: str, at: datetime, consent: bool | None) -> None:
        self.last_id = max(self.last_id, event_id)
        if kind == EventKind.SPEAKER_STARTED.value:
            on = consent is False
        elif kind in CONSENT_KINDS:
            on = False
        else:
            return
        self._changes.append((at, event_id, on))
        self._changes.sort()

    def active_at(self, when: datetime) -> bool:
        state = False
        for at, _, on in self._changes:
            if at > when:
                break
            state = on
        return state

    def slate_between(self, start: datetime, end: datetime) -> bool:
        """Does any part of [start, end) fall under a non-consenting speaker?"""
        if self.active_at(start):
            return True
        return any(on and start < at < end for at, _, on in self._changes)


def read_finished_part(raw_dir: Path, part: int) -> list[RawSegment]:
    """The finished segments of a part whose ffmpeg has exited (after a crash too).

    ffmpeg rewrites its playlist in place, so a kill can leave it empty or short; the segment files
    themselves are renamed into place only when complete (``temp_file``). So: the playlist's entries,
    then every further ``part-NNNN-xxxxx.ts`` on disk in order, with its duration probed and its
    program-date-time following from the previous segment.
    """
    from streaming.ffmpeg import probe

    listed = read_raw_playlist(raw_dir / f"part-{part:04d}.m3u8")
    prefix = f"part-{part:04d}-"
    names = sorted(
        n
        for n in os.listdir(raw_dir)
        if n.startswith(prefix) and n.endswith(".ts") and n[len(prefix) : -3].isdigit()
    )
    known = {s.name for s in listed}
    out = list(listed)
    for name in names:
        if name in known or (out and name < out[-1].name):
            continue
        try:
            info = probe(raw_dir / name)
        except ValueError:
            break  # unreadable: stop at the last good segment
        if not info.duration or info.duration <= 0:
            break
        pdt = out[-1].pdt + timedelta(seconds=out[-1].duration) if out and out[-1].pdt else None
        out.append(RawSegment(index=len(out), name=name, duration=round(info.duration, 6), pdt=pdt))
    return out
