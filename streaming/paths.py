"""Where a meeting's media lives, under ``settings.media_dir / str(meeting_id)``::

    raw/part-0001.m3u8, raw/part-0001-00000.ts …   what each ffmpeg run (part) writes; kept for the clerk
    public/index.m3u8                               public media playlist (live window, then VOD)
    public/master.m3u8                              multivariant playlist (+ SUBTITLES group)
    public/s-000000.ts …                            public segments (hard links of raw ones, or slate)
    public/subs.m3u8, public/c-000000.vtt …         WebVTT subtitle playlist and segments
    public/captions.vtt                             all captions in one file (archive)
    segments.jsonl                                  journal of published segments (not public)
    captions.jsonl                                  captions received (not public)
    recording.mp4                                   remux of the public segments (archive download)

Only ``public/`` and ``recording.mp4`` may be served to the public (after the access checks).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_PART_RE = re.compile(r"^part-(\d{4})\.m3u8$")


@dataclass(frozen=True)
class MeetingPaths:
    root: Path

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def public(self) -> Path:
        return self.root / "public"

    def part_playlist(self, part: int) -> Path:
        return self.raw / f"part-{part:04d}.m3u8"

    def part_segment_pattern(self, part: int) -> Path:
        return self.raw / f"part-{part:04d}-%05d.ts"

    @property
    def index(self) -> Path:
        return self.public / "index.m3u8"

    @property
    def master(self) -> Path:
        return self.public / "master.m3u8"

    @property
    def subs(self) -> Path:
        return self.public / "subs.m3u8"

    @property
    def captions_vtt(self) -> Path:
        return self.public / "captions.vtt"

    @property
    def journal(self) -> Path:
        return self.root / "segments.jsonl"

    @property
    def captions_journal(self) -> Path:
        return self.root / "captions.jsonl"

    @property
    def recording(self) -> Path:
        return self.root / "recording.mp4"

    @staticmethod
    def segment_name(seq: int) -> str:
        return f"s-{seq:06d}.ts"

    @staticmethod
    def caption_segment_name(seq: int) -> str:
        return f"c-{seq:06d}.vtt"

    def parts(self) -> list[int]:
        """Part numbers that have a playlist on disk, ascending."""
        if not self.raw.is_dir():
            return []
        found = []
        for name in os.listdir(self.raw):
            m = _PART_RE.match(name)
            if m:
                found.append(int(m.group(1)))
        return sorted(found)

    def ensure(self) -> None:
        self.raw.mkdir(parents=True, exist_ok=True)
        self.public.mkdir(parents=True, exist_ok=True)


def meeting_paths(media_dir: Path, meeting_id: int) -> MeetingPaths:
    return MeetingPaths(Path(media_dir) / str(int(meeting_id)))


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write via a temporary file and rename, so readers (players, nginx) never see half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(tmp, mode) as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link ``src`` to ``dst`` (same inode, no copy); copy when across devices. Replaces ``dst``."""
    tmp = dst.with_name(f".{dst.name}.tmp")
    if tmp.exists():
        tmp.unlink()
    try:
        os.link(src, tmp)
    except OSError:
        import shutil

        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
