"""Serving a meeting's media files (``/medien/{meeting_id}/{path}``): HLS playlists and segments,
WebVTT captions, the MP4 download — with access checks that cost no database work per segment.

Why this is its own small server and not ``litestar.static_files``: every file belongs to a meeting, and
a non-public meeting is non-public everywhere — so each request needs an access decision. A live
audience fetches one segment per second per viewer; a database round trip per segment would make the
app the bottleneck long before the network is. So:

- the meeting's visibility (exists, not deleted, public) is cached for ``VISIBILITY_TTL`` seconds per
  process; a meeting made non-public stops serving within that time;
- anonymous requests for a public meeting need nothing else; for a non-public meeting (or ``raw/``)
  the viewer is loaded from the session cookie and the answer is cached per (session, meeting) for the
  same few seconds (``web.deps.session_middleware`` skips ``/medien/`` for this reason);
- finished segments are immutable (ffmpeg writes them under a temporary name and renames them), so
  they are kept in a small in-memory LRU keyed by (path, inode, size, mtime) — a live audience fetches
  the same few newest segments, so nearly every request is a memory hit;
- behind nginx, a request carrying ``X-Sendfile-Type: X-Accel-Redirect`` gets only the access
  decision and an ``X-Accel-Redirect`` to ``/_medien_intern/…``; nginx then serves the bytes
  (docs/nginx/rathaus.conf).

What may be fetched: ``public/*`` and ``recording.mp4`` by everyone who may see the meeting; ``raw/*``
by staff only. Anything else, and any path that leaves the meeting's directory, is a 404.
"""

from __future__ import annotations

import hashlib
import logging
import re
import stat
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from council.core.db import Database
from council.records.access import ANONYMOUS, Viewer, meeting_visible
from council.records.models import Meeting

log = logging.getLogger(__name__)

#: How long a meeting's visibility and a session's access decision are trusted (seconds).
VISIBILITY_TTL = 5.0
#: Files up to this size are read whole (segments, playlists, captions); bigger ones are streamed.
SMALL_FILE_BYTES = 4 * 1024 * 1024
#: The segment cache: at most this many bytes of finished segments in memory per process.
SEGMENT_CACHE_BYTES = 64 * 1024 * 1024
#: nginx's internal location that aliases the media directory (docs/nginx/rathaus.conf).
ACCEL_PREFIX = "/_medien_intern/"

CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".vtt": "text/vtt; charset=utf-8",
    ".mp4": "video/mp4",
    ".jpg": "image/jpeg",
    ".png": "image/png",
}

_SAFE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class MediaNotFound(Exception):
    """No such file, or not for this viewer: always answered 404 (never say which)."""


@dataclass(frozen=True)
class MediaFile:
    path: Path
    relative: str  # below the meeting's directory, with forward slashes
    size: int
    mtime_ns: int
    inode: int
    content_type: str
    public_meeting: bool

    @property
    def etag(self) -> str:
        return f'"{self.size:x}-{self.mtime_ns:x}"'

    @property
    def modified(self) -> datetime:
        return datetime.fromtimestamp(self.mtime_ns / 1e9, tz=UTC)

    @property
    def kind(self) -> str:
        return self.path.suffix.lower()


def clean_relative(raw: str) -> str:
    """The requested path below a meeting's directory, or MediaNotFound. Only plain names joined by
    ``/``: no ``..``, no hidden files, no backslashes, no empty parts — checked before touching disk."""
    parts = raw.strip("/").split("/")
    if not parts or len(parts) > 4 or any(not _SAFE_PART.match(p) or ".." in p for p in parts):
        raise MediaNotFound()
    return "/".join(parts)


def area_of(relative: str) -> str | None:
    """``public`` (everyone who may see the meeting), ``staff`` (raw/), or None (not served)."""
    if relative.startswith("public/"):
        return "public"
    if relative == "recording.mp4":
        return "public"
    if relative.startswith("raw/"):
        return "staff"
    return None


def cache_control(file: MediaFile, *, ended: bool) -> str:
    """Segments never change; a live playlist changes every segment; an ended one rarely.
    Non-public meetings' files must never sit in a shared cache."""
    scope = "public" if file.public_meeting else "private"
    kind = file.kind
    if kind in (".ts", ".m4s"):
        return f"{scope}, max-age=31536000, immutable"
    if file.path.name == "master.m3u8":
        return f"{scope}, max-age=10"
    if kind == ".m3u8":
        return f"{scope}, max-age=60" if ended else f"{scope}, no-cache, max-age=1"
    if kind == ".vtt":
        return f"{scope}, max-age=10"
    return f"{scope}, max-age=3600"


class _SegmentCache:
    """A byte-bounded LRU of finished segment files keyed by (path, inode, size, mtime)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[str, int, int, int], bytes] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, int, int, int]) -> bytes | None:
        data = self._items.get(key)
        if data is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return data

    def put(self, key: tuple[str, int, int, int], data: bytes) -> None:
        if len(data) > self.max_bytes // 8:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= len(old)
        self._items[key] = data
        self._bytes += len(data)
        while self._bytes > self.max_bytes and self._items:
            _, dropped = self._items.popitem(last=False)
            self._bytes -= len(dropped)


class MediaAccess:
    """Per-process access decisions and file lookups for ``/medien`` (one instance in app.state)."""

    def __init__(self, db: Database, media_dir: Path, ttl: float = VISIBILITY_TTL) -> None:
        self.db = db
        self.media_dir = media_dir
        self.root = media_dir.resolve()
        self.ttl = ttl
        #: meeting id -> (expires, exists and not deleted, public)
        self._meetings: dict[int, tuple[float, bool, bool]] = {}
        #: (session token hash, meeting id, staff_needed) -> (expires, allowed)
        self._sessions: dict[tuple[str, int, bool], tuple[float, bool]] = {}
        self.segments = _SegmentCache(SEGMENT_CACHE_BYTES)

    def forget(self, meeting_id: int | None = None) -> None:
        """Drop cached decisions (after a meeting's visibility changed, or in tests)."""
        if meeting_id is None:
            self._meetings.clear()
            self._sessions.clear()
            return
        self._meetings.pop(meeting_id, None)
        for key in [k for k in self._sessions if k[1] == meeting_id]:
            self._sessions.pop(key, None)

    async def _meeting(self, meeting_id: int) -> tuple[bool, bool]:
        now = time.monotonic()
        cached = self._meetings.get(meeting_id)
        if cached is not None and cached[0] > now:
            return cached[1], cached[2]
        async with self.db.sessionmaker() as s:
            row = (
                await s.execute(select(Meeting.deleted, Meeting.public).where(Meeting.id == meeting_id))
            ).first()
        exists = row is not None and not row[0]
        public = bool(row is not None and row[1])
        if len(self._meetings) > 10_000:
            self._meetings.clear()
        self._meetings[meeting_id] = (now + self.ttl, exists, public)
        return exists, public

    async def _viewer_allowed(self, token: str | None, meeting_id: int, staff_needed: bool) -> bool:
        if not token:
            return False
        key = (hashlib.sha256(token.encode()).hexdigest(), meeting_id, staff_needed)
        now = time.monotonic()
        cached = self._sessions.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        from web.deps import load_viewer  # the one way a session becomes a Viewer

        try:
            viewer, _ = await load_viewer(self.db, token)
        except Exception:  # a broken session store opens nothing
            log.exception("could not load the session for a media request")
            viewer = ANONYMOUS
        allowed = await self.viewer_may_see(viewer, meeting_id, staff_needed=staff_needed)
        if len(self._sessions) > 10_000:
            self._sessions.clear()
        self._sessions[key] = (now + self.ttl, allowed)
        return allowed

    async def viewer_may_see(self, viewer: Viewer, meeting_id: int, *, staff_needed: bool = False) -> bool:
        if staff_needed and not viewer.is_staff:
            return False
        async with self.db.sessionmaker() as s:
            found = (
                await s.execute(select(Meeting.id).where(Meeting.id == meeting_id, meeting_visible(viewer)))
            ).scalar_one_or_none()
        return found is not None

    async def lookup(self, meeting_id: int, raw_path: str, session_token: str | None) -> MediaFile:
        """The file to serve, or MediaNotFound (unknown, not allowed, outside the directory)."""
        relative = clean_relative(raw_path)
        area = area_of(relative)
        suffix = Path(relative).suffix.lower()
        if area is None or suffix not in CONTENT_TYPES:
            raise MediaNotFound()
        exists, public = await self._meeting(meeting_id)
        if not exists:
            raise MediaNotFound()
        if area == "staff" or not public:
            if not await self._viewer_allowed(session_token, meeting_id, area == "staff"):
                raise MediaNotFound()
        base = self.root / str(meeting_id)
        path = base / relative
        try:
            resolved = path.resolve(strict=True)
            st = resolved.stat()
        except (OSError, RuntimeError) as exc:
            raise MediaNotFound() from exc
        if not resolved.is_relative_to(base) or not stat.S_ISREG(st.st_mode):
            raise MediaNotFound()
        return MediaFile(
            path=resolved,
            relative=relative,
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            inode=st.st_ino,
            content_type=CONTENT_TYPES[suffix],
            public_meeting=public and area == "public",
        )

    def read_small(self, file: MediaFile) -> bytes:
        """The whole file. Segments come from the cache when they can. Small reads of files the kernel
        has just written (page cache) take microseconds, so this runs on the event loop."""
        immutable = file.kind in (".ts", ".m4s")
        key = (str(file.path), file.inode, file.size, file.mtime_ns)
        if immutable:
            data = self.segments.get(key)
            if data is not None:
                return data
        with open(file.path, "rb") as fh:
            data = fh.read(file.size + 1)
        if immutable and len(data) == file.size:
            self.segments.put(key, data)
        return data


def playlist_ended(data: bytes) -> bool:
    return b"#EXT-X-ENDLIST" in data
