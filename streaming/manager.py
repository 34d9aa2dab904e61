"""The stream manager: the one object web (and the WHIP side) use to run a meeting's stream.

Timeline events reach the packager by reading the database (the composer queries a meeting's
consent-relevant events newer than the last one it saw, whenever it has segments to publish): simple,
and nothing is lost when a bus message is — there is no ``notify_event``.

Crash recovery (``start()``): streams the database still calls ``live`` were interrupted. Their public
side is rebuilt from the parts on disk up to the last finished segment, the stream is set ``ended`` and
the archive is finalised (VOD playlist, MP4 by the ``streaming.finalize`` job). When the publisher
comes back, ``start_stream`` on the same meeting **resumes**: the new run is a new part of the same
recording (after a discontinuity), the VOD playlist becomes a live one again, and the archive is
finalised anew when the stream stops. (The stream key is stored only as a hash, so the app cannot
re-arm an RTMP/SRT listener on its own after a crash: the clerk's console starts it again.)
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from council.core.jobs import enqueue
from council.core.settings import Settings
from council.core.types import utcnow
from council.live.bus import Publisher, meeting_channel
from council.live.media import AudioChunk, Caption
from council.records.models import Meeting
from streaming import jobs as _jobs  # noqa: F401  (registers streaming.finalize)
from streaming.archive import (
    register_archived_callback,
    unregister_archived_callback,
    write_public_playlists,
    write_vod,
)
from streaming.audio import empty
from streaming.captions import CaptionWriter
from streaming.errors import BadSource, StreamBusy, StreamNotFound
from streaming.keys import new_key, verify_key
from streaming.models import Recording, Stream
from streaming.packager import LiveStream
from streaming.paths import meeting_paths
from streaming.playlist import load_journal
from streaming.sources import Source

log = logging.getLogger(__name__)

OnArchived = Callable[[int, Path, datetime], Awaitable[None]]
#: Called (synchronously, after the stream is live) with the meeting id and its live stream.
OnStarted = Callable[[int, "LiveStream"], None]


@dataclass(frozen=True)
class StreamStatus:
    state: str
    source: str | None
    started_at: datetime | None
    segments: int
    restarts: int
    slate_active: bool
    last_error: str | None


@dataclass(frozen=True)
class DiskStatus:
    free_bytes: int
    total_bytes: int
    alarm: bool


class StreamManager:
    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        publisher: Publisher | None = None,
        on_archived: OnArchived | None = None,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.publisher = publisher
        self.on_archived = on_archived
        #: Hooks run when a stream starts (web: live captions, the agenda-item watcher).
        self.on_started: list[OnStarted] = []
        self._live: dict[int, LiveStream] = {}
        self._known: dict[int, StreamStatus] = {}
        self._lock = asyncio.Lock()
        self._ending: set[int] = set()

    # --- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Register the archive callback and recover streams a crash left ``live``."""
        if self.on_archived is not None:
            register_archived_callback(self.on_archived)
        self.settings.media_dir.mkdir(parents=True, exist_ok=True)
        async with self.sessionmaker() as s:
            ids = list((await s.execute(select(Stream.meeting_id).where(Stream.state == "live"))).scalars())
        for meeting_id in ids:
            if meeting_id in self._live:
                continue
            try:
                await self.recover(meeting_id)
            except Exception:
                log.exception("stream %s: recovery failed", meeting_id)

    async def recover(self, meeting_id: int) -> None:
        """Rebuild the public side of an interrupted stream from its parts and archive it."""
        log.warning("stream %s: was live when the app stopped; archiving what is on disk", meeting_id)
        paths = meeting_paths(self.settings.media_dir, meeting_id)
        paths.ensure()
        # A LiveStream that never starts ffmpeg: its composer publishes the finished raw segments.
        ghost = LiveStream(self.settings, self.sessionmaker, meeting_id, _NoSource())
        ghost.entries = load_journal(paths.journal)
        ghost.published.update(collections.Counter(e.part for e in ghost.entries))
        await ghost.compose_once()
        await self._end(meeting_id, error="interrupted (app restarted)")

    async def stop(self) -> None:
        """App shutdown: stop every ffmpeg cleanly; streams stay ``live`` in the database, so the next
        ``start()`` archives them (or the clerk resumes them)."""
        for live in list(self._live.values()):
            with contextlib.suppress(Exception):
                await live.stop()
        self._live.clear()
        if self.on_archived is not None:
            unregister_archived_callback(self.on_archived)

    # --- keys ----------------------------------------------------------------------------------------

    async def issue_key(self, meeting_id: int) -> str:
        """A new stream key for the meeting (the old one stops working). Shown once; stored hashed."""
        key, key_hash = new_key()
        async with self.sessionmaker() as s:
            stream = await self._stream_row(s, meeting_id, create=True)
            stream.key_hash = key_hash
            await s.commit()
        return key

    async def verify_key(self, meeting_id: int, key: str | None) -> bool:
        async with self.sessionmaker() as s:
            stream = await self._stream_row(s, meeting_id, create=False)
            return stream is not None and verify_key(key, stream.key_hash)

    # --- streams -------------------------------------------------------------------------------------

    async def start_stream(self, meeting_id: int, source: Source) -> LiveStream:
        async with self._lock:
            if meeting_id in self._live or meeting_id in self._ending:
                raise StreamBusy(f"meeting {meeting_id} is already live")
            source.host = self.settings.host
            async with self.sessionmaker() as s:
                if await s.get(Meeting, meeting_id) is None:
                    raise StreamNotFound(f"no meeting {meeting_id}")
                stream = await self._stream_row(s, meeting_id, create=True)
                resumed = stream.state == "ended"
                stream.state = "live"
                stream.source = source.kind
                stream.ended_at = None
                stream.last_error = None
                if not resumed or stream.started_at is None:
                    stream.started_at = utcnow()
                rec = (
                    await s.execute(select(Recording).where(Recording.meeting_id == meeting_id))
                ).scalar_one_or_none()
                if rec is None:
                    rec = Recording(meeting_id=meeting_id, state="recording", duration_s=0.0, parts=0)
                    s.add(rec)
                else:
                    rec.state = "recording"
                await s.commit()
                restarts = stream.restarts or 0
            live = LiveStream(
                self.settings,
                self.sessionmaker,
                meeting_id,
                source,
                publisher=self.publisher,
                on_finished=self._source_finished,
                disk_alarm=lambda: self.disk_status().alarm,
            )
            live.restarts = restarts
            try:
                await live.start()
            except BadSource:
                await self._set_state(meeting_id, "ended" if resumed else "idle")
                raise
            self._live[meeting_id] = live
        self._publish(meeting_id, "stream.started")
        for hook in list(self.on_started):
            try:
                hook(meeting_id, live)
            except Exception:  # a hook's failure must not stop the stream
                log.exception("stream %s: start hook %r failed", meeting_id, hook)
        return live

    async def stop_stream(self, meeting_id: int) -> None:
        """End the stream: ffmpeg stopped cleanly, the public playlist closed as VOD, the MP4 job queued."""
        async with self._lock:
            live = self._live.get(meeting_id)
            if live is None or meeting_id in self._ending:
                raise StreamNotFound(f"meeting {meeting_id} is not live")
            self._ending.add(meeting_id)
        try:
            await live.stop()
            await self._end(meeting_id, error=live.last_error if live.ended_naturally else None, live=live)
        finally:
            self._live.pop(meeting_id, None)
            self._ending.discard(meeting_id)

    async def _source_finished(self, meeting_id: int) -> None:
        with contextlib.suppress(StreamNotFound):
            await self.stop_stream(meeting_id)

    async def _end(
        self, meeting_id: int, *, error: str | None = None, live: LiveStream | None = None
    ) -> None:
        paths = meeting_paths(self.settings.media_dir, meeting_id)
        entries = await asyncio.to_thread(write_vod, paths, self.settings.hls_segment_seconds)
        async with self.sessionmaker() as s:
            stream = await self._stream_row(s, meeting_id, create=True)
            stream.state = "ended"
            stream.ended_at = utcnow()
            if error:
                stream.last_error = error
            if live is not None:
                stream.restarts = live.restarts
            rec = (
                await s.execute(select(Recording).where(Recording.meeting_id == meeting_id))
            ).scalar_one_or_none()
            if rec is None:
                rec = Recording(meeting_id=meeting_id, state="recording", duration_s=0.0, parts=0)
                s.add(rec)
            if entries:
                rec.started_at = entries[0].pdt
                rec.duration_s = sum(e.dur for e in entries)
                rec.parts = len({e.part for e in entries})
                rec.state = "finalizing"
                enqueue(s, "streaming.finalize", {"meeting_id": meeting_id})
            else:
                rec.state = "failed"
                rec.last_error = "no segments were recorded"
            await s.commit()
            self._known[meeting_id] = StreamStatus(
                state="ended",
                source=stream.source,
                started_at=stream.started_at,
                segments=len(entries),
                restarts=stream.restarts or 0,
                slate_active=False,
                last_error=stream.last_error,
            )
        self._publish(meeting_id, "stream.ended")

    # --- queries -------------------------------------------------------------------------------------

    def live(self, meeting_id: int) -> LiveStream | None:
        return self._live.get(meeting_id)

    def status(self, meeting_id: int) -> StreamStatus:
        live = self._live.get(meeting_id)
        if live is None:
            return self._known.get(meeting_id) or StreamStatus("idle", None, None, 0, 0, False, None)
        return StreamStatus(
            state="live",
            source=live.source.kind,
            started_at=live.started_at,
            segments=live.segments,
            restarts=live.restarts,
            slate_active=live.slate_active,
            last_error=live.last_error,
        )

    def audio(self, meeting_id: int) -> AsyncIterator[AudioChunk]:
        live = self._live.get(meeting_id)
        if live is None:
            return empty()
        return live.audio()  # type: ignore[no-any-return]

    async def add_caption(self, caption: Caption) -> None:
        live = self._live.get(caption.meeting_id)
        if live is not None:
            await live.add_caption(caption)
            return
        # After the stream: into the archive's caption files.
        paths = meeting_paths(self.settings.media_dir, caption.meeting_id)
        if not paths.journal.exists():
            return
        entries = load_journal(paths.journal)
        writer = CaptionWriter(paths)
        await asyncio.to_thread(writer.add, caption, entries)
        await asyncio.to_thread(writer.write_all, entries)
        await asyncio.to_thread(
            write_public_playlists,
            paths,
            entries,
            segment_seconds=self.settings.hls_segment_seconds,
            ended=True,
            window=None,
            subtitles=True,
        )

    def disk_status(self) -> DiskStatus:
        path = self.settings.media_dir
        probe_path = path if path.exists() else Path(self.settings.var_dir).resolve()
        while not probe_path.exists() and probe_path != probe_path.parent:
            probe_path = probe_path.parent
        usage = shutil.disk_usage(probe_path)
        return DiskStatus(
            free_bytes=usage.free,
            total_bytes=usage.total,
            alarm=usage.free < self.settings.disk_alarm_free_bytes,
        )

    # --- helpers -------------------------------------------------------------------------------------

    async def _stream_row(self, s: AsyncSession, meeting_id: int, *, create: bool) -> Stream:
        stream = (await s.execute(select(Stream).where(Stream.meeting_id == meeting_id))).scalar_one_or_none()
        if stream is None and create:
            stream = Stream(meeting_id=meeting_id, state="idle", restarts=0)
            s.add(stream)
        return stream  # type: ignore[return-value]

    async def _set_state(self, meeting_id: int, state: str) -> None:
        async with self.sessionmaker() as s:
            stream = await self._stream_row(s, meeting_id, create=True)
            stream.state = state
            await s.commit()

    def _publish(self, meeting_id: int, kind: str) -> None:
        if self.publisher is None:
            return
        try:
            self.publisher.publish(
                {"kind": kind, "meeting_id": meeting_id, "at": utcnow().isoformat()},
                [meeting_channel(meeting_id)],
            )
        except Exception:
            log.exception("stream %s: could not publish %s", meeting_id, kind)


class _NoSource(Source):
    """Stands in for the source of a stream being recovered (nothing is started)."""

    kind = "recovered"

    def streams(self) -> tuple[object, object | None]:
        raise BadSource("a recovered stream has no source")
