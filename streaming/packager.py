"""One supervised ffmpeg process per live stream, and the composer that turns its raw HLS parts into
the public playlist.

Supervisor: each ffmpeg run is a *part* (``raw/part-NNNN.m3u8``). When ffmpeg dies it is restarted
after 0.5 s (backoff up to 4 s, at most ``MAX_FAILS`` runs in a row that produce nothing — except
listeners, which re-arm until stopped: a refused key, garbage on the port or a publisher leaving ends
a run, and the next run listens again). A crash after segments were produced counts in
``Stream.restarts``; the next part follows a discontinuity in the public playlist. The stderr tail is
logged and kept in ``Stream.last_error``.

Composer: every ``POLL`` seconds (and once after each run) it reads the raw playlists; every segment
listed there is finished (``temp_file``: ffmpeg lists a segment only after renaming it into place).
For each new one it asks the timeline whether a non-consenting speaker was on during the segment's
span (``ConsentTimeline``; events are read from the database, those newer than the last one seen,
only when there is something to publish): if so a slate segment is written instead, otherwise the raw
segment is hard-linked into ``public/``. Then the journal gets a line, the captions segment is written
and the playlists are rewritten atomically.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from council.core.settings import Settings
from council.core.types import utcnow
from council.live.bus import Publisher, meeting_channel
from council.live.media import AudioChunk, Caption
from council.live.models import TimelineEvent
from streaming.archive import write_master, write_public_playlists
from streaming.audio import CHUNK_BYTES, AudioHub, PcmClock
from streaming.captions import CaptionWriter
from streaming.errors import BadSource
from streaming.ffmpeg import PackagerPlan, ffmpeg_binary, packager_command, probe
from streaming.models import Recording, Stream
from streaming.paths import MeetingPaths, link_or_copy, meeting_paths
from streaming.playlist import (
    CONSENT_KINDS,
    ConsentTimeline,
    Entry,
    RawSegment,
    append_journal,
    load_journal,
    read_finished_part,
    read_raw_playlist,
)
from streaming.slate import make_slate_like
from streaming.sources import Source

log = logging.getLogger(__name__)

POLL = 0.25
RESTART_DELAY = 0.5
MAX_DELAY = 4.0
MAX_FAILS = 5
REARM_DELAY = 0.3
STDERR_LINES = 40
DISK_CHECK_EVERY = 5.0
#: Tasks started from a finishing supervisor (the stream's end), held so they are not collected.
_background: set[asyncio.Future[Any]] = set()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """ffmpeg gets SIGTERM when the app dies (even by kill -9): it closes its segment and exits."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: S110 - not Linux: the orphan ends when its pipe breaks
        pass


class LiveStream:
    """A meeting's running stream: the packager process, the composer and the audio tap."""

    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        meeting_id: int,
        source: Source,
        *,
        publisher: Publisher | None = None,
        on_finished: Callable[[int], Awaitable[None]] | None = None,
        disk_alarm: Callable[[], bool] | None = None,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.meeting_id = meeting_id
        self.source = source
        self.publisher = publisher
        self.paths: MeetingPaths = meeting_paths(settings.media_dir, meeting_id)
        self.binary = ffmpeg_binary(settings)
        self.audio_hub = AudioHub(meeting_id)
        self.captions = CaptionWriter(self.paths)
        self.timeline = ConsentTimeline()
        self.entries: list[Entry] = []
        self.published: dict[int, int] = collections.Counter()
        self.started_at = utcnow()
        self.restarts = 0
        self.rearms = 0
        self.last_error: str | None = None
        self.current_part: int | None = None
        self.plan: PackagerPlan | None = None
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._on_finished = on_finished
        self._disk_alarm = disk_alarm
        self._alarmed = False
        self._refused: set[int] = set()
        self._proc: asyncio.subprocess.Process | None = None
        self._stopping = asyncio.Event()
        self._input_closed = False
        self._compose_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[Any]] = []
        self.finished = asyncio.Event()
        self.ended_naturally = False

    # --- public --------------------------------------------------------------------------------------

    @property
    def segments(self) -> int:
        return len(self.entries)

    @property
    def slate_active(self) -> bool:
        if self.timeline.active_at(utcnow()):
            return True
        return bool(self.entries) and self.entries[-1].slate

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    async def write(self, data: bytes) -> None:
        """Feed MPEG-TS/NUT bytes to the packager (``PipeSource`` only). While ffmpeg restarts, bytes
        are dropped (MPEG-TS resynchronises on the next packet)."""
        if not self.source.uses_stdin:
            raise BadSource("this stream does not read from a pipe")
        proc = self._proc
        if proc is None or proc.stdin is None or proc.returncode is not None:
            return
        try:
            proc.stdin.write(data)
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            return

    async def close(self) -> None:
        """End of the pipe input: ffmpeg finishes its last segment; the stream then ends."""
        # Not ``_stopping``: the supervisor sees ffmpeg finish, breaks out and lets the manager end the
        # stream (archive) through ``on_finished`` — a closed pipe is the publisher leaving.
        self.ended_naturally = True
        self._input_closed = True
        proc = self._proc
        if proc is not None and proc.stdin is not None:
            with contextlib.suppress(Exception):
                proc.stdin.close()

    def audio(self) -> Any:
        return self.audio_hub.subscribe()

    async def add_caption(self, caption: Caption) -> None:
        async with self._compose_lock:
            await asyncio.to_thread(self.captions.add, caption, list(self.entries))

    # --- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.source.prepare()
        self.paths.ensure()
        self.entries = load_journal(self.paths.journal)
        self.published = collections.Counter(e.part for e in self.entries)
        # Parts left from before (an earlier run, a crash) are composed first, up to their end.
        await self.compose_once()
        write_master(self.paths, self.entries, subtitles=self._subtitles)
        self._tasks = [
            asyncio.create_task(self._supervise(), name=f"packager-{self.meeting_id}"),
            asyncio.create_task(self._compose_loop(), name=f"composer-{self.meeting_id}"),
        ]

    async def stop(self, grace: float = 8.0) -> None:
        """Stop ffmpeg cleanly (SIGINT: it closes the current segment), compose what is left."""
        self._stopping.set()
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                if proc.stdin is not None:
                    proc.stdin.close()
                proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        for task in self._tasks:
            if task is not asyncio.current_task():
                try:
                    await asyncio.wait_for(task, grace)
                except (TimeoutError, asyncio.CancelledError):
                    task.cancel()
        await self.compose_once()
        self.audio_hub.close()
        self.finished.set()

    @property
    def _subtitles(self) -> bool:
        return bool(self.settings.live_captions or self.captions.captions)

    # --- supervisor ----------------------------------------------------------------------------------

    def _next_part(self) -> int:
        on_disk = self.paths.parts()
        journal = max((e.part for e in self.entries), default=0)
        last = max([*on_disk, journal, 0])
        if last and last not in self.published and not read_raw_playlist(self.paths.part_playlist(last)):
            self._remove_part(last)  # an earlier run produced nothing: reuse its number
            return last
        return last + 1

    def _remove_part(self, part: int) -> None:
        prefix = f"part-{part:04d}"
        for name in os.listdir(self.paths.raw):
            if name.startswith(prefix):
                with contextlib.suppress(OSError):
                    os.unlink(self.paths.raw / name)

    async def _supervise(self) -> None:
        fails = 0
        try:
            while not self._stopping.is_set():
                part = self._next_part()
                self._refused.discard(part)  # a refused run's number is reused (its files are gone)
                self.current_part = part
                self.plan = packager_command(
                    self.binary,
                    self.source,
                    self.paths.part_playlist(part),
                    self.paths.part_segment_pattern(part),
                    self.settings.hls_segment_seconds,
                )
                rc = await self._run(self.plan)
                await self.compose_once()
                produced = self.published.get(part, 0) > 0 and part not in self._refused
                tail = "\n".join(self.stderr_tail)
                if self._stopping.is_set():
                    break
                if self._input_closed or (rc == 0 and (self.source.finite or self.source.uses_stdin)):
                    self.ended_naturally = True
                    break
                if produced:
                    fails = 0
                    if self.source.is_listener and rc == 0:
                        log.info("stream %s: publisher left; listening again", self.meeting_id)
                        self.rearms += 1
                    else:
                        self.restarts += 1
                        self.last_error = f"ffmpeg exited with {rc}: {tail[-1500:]}"
                        log.warning(
                            "stream %s: ffmpeg exited (%s), restarting:\n%s", self.meeting_id, rc, tail
                        )
                        await self._save(restarts=self.restarts, last_error=self.last_error)
                    delay = RESTART_DELAY
                else:
                    self._remove_part(part)
                    if self.source.is_listener:
                        self.rearms += 1
                        log.warning(
                            "stream %s: %s refused or broken input (rc %s); listening again:\n%s",
                            self.meeting_id, self.source.describe(), rc, tail[-800:],
                        )  # fmt: skip
                        delay = REARM_DELAY
                    else:
                        fails += 1
                        self.last_error = f"ffmpeg exited with {rc} before any segment: {tail[-1500:]}"
                        log.warning("stream %s: %s", self.meeting_id, self.last_error)
                        if fails >= MAX_FAILS:
                            await self._save(last_error=self.last_error)
                            break
                        delay = min(RESTART_DELAY * 2 ** (fails - 1), MAX_DELAY)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
        except Exception:
            log.exception("stream %s: supervisor failed", self.meeting_id)
        finally:
            if not self._stopping.is_set() and self._on_finished is not None:
                # The source ended or gave up: the manager ends the stream (archive).
                task = asyncio.ensure_future(self._on_finished(self.meeting_id))
                _background.add(task)
                task.add_done_callback(_background.discard)

    async def _run(self, plan: PackagerPlan) -> int:
        self.stderr_tail.clear()
        proc = await asyncio.create_subprocess_exec(
            *plan.cmd,
            stdin=asyncio.subprocess.PIPE if plan.uses_stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if plan.audio_tap else asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=_die_with_parent,
            start_new_session=True,
        )
        self._proc = proc
        readers = [asyncio.create_task(self._read_stderr(proc))]
        if plan.audio_tap:
            readers.append(asyncio.create_task(self._read_audio(proc)))
        rc = await proc.wait()
        for r in readers:
            try:
                await asyncio.wait_for(r, 5)
            except (TimeoutError, asyncio.CancelledError):
                r.cancel()
        self._proc = None
        return rc

    async def _read_stderr(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        for _ in range(10_000_000):
            line = await proc.stderr.readline()
            if not line:
                return
            text = line.decode(errors="replace").rstrip()
            key = getattr(self.source, "key", "")
            if key:
                text = text.replace(key, "***")  # keys stay out of logs and last_error
            self.stderr_tail.append(text)
            if self.current_part is not None and self.source.refuses(text):
                # ffmpeg's RTMP listener only warns about a wrong stream name: we refuse it here,
                # before its first segment is published (the composer skips refused parts).
                self._refused.add(self.current_part)
                log.warning("stream %s: refused publisher (%s)", self.meeting_id, text)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()

    async def _read_audio(self, proc: asyncio.subprocess.Process) -> None:
        """Read the PCM tap as fast as ffmpeg writes it (never blocking ffmpeg), stamp, fan out."""
        assert proc.stdout is not None
        clock = PcmClock()
        buf = bytearray()
        while True:
            data = await proc.stdout.read(65536)
            if not data:
                break
            buf += data
            if len(buf) >= CHUNK_BYTES:
                n = len(buf) - len(buf) % 2
                pcm = bytes(buf[:n])
                del buf[:n]
                at = clock.stamp(utcnow(), len(pcm))
                self.audio_hub.publish(AudioChunk(meeting_id=self.meeting_id, at=at, pcm=pcm))

    async def _save(self, **values: Any) -> None:
        try:
            async with self.sessionmaker() as s:
                await s.execute(update(Stream).where(Stream.meeting_id == self.meeting_id).values(**values))
                await s.commit()
        except Exception:
            log.exception("stream %s: could not save %s", self.meeting_id, sorted(values))

    # --- composer ------------------------------------------------------------------------------------

    async def _compose_loop(self) -> None:
        last_disk = 0.0
        while not self._stopping.is_set():
            try:
                await self.compose_once()
                if time.monotonic() - last_disk > DISK_CHECK_EVERY:
                    last_disk = time.monotonic()
                    self._check_disk()
            except Exception:
                log.exception("stream %s: composing failed", self.meeting_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), POLL)

    def _check_disk(self) -> None:
        if self._disk_alarm is None:
            return
        alarm = self._disk_alarm()
        if alarm != self._alarmed:
            self._alarmed = alarm
            if self.publisher is not None:
                kind = "stream.disk_alarm" if alarm else "stream.disk_ok"
                self.publisher.publish(
                    {"kind": kind, "meeting_id": self.meeting_id, "at": utcnow().isoformat()},
                    [meeting_channel(self.meeting_id)],
                )

    async def compose_once(self) -> int:
        """Publish every finished raw segment not yet public, in order. Returns how many."""
        async with self._compose_lock:
            count = 0
            first_new = not self.entries
            for part in self.paths.parts():
                if part in self._refused:
                    continue
                if part == self.current_part and self._proc is not None:
                    raws = await asyncio.to_thread(read_raw_playlist, self.paths.part_playlist(part))
                else:  # ffmpeg of this part has exited: its files are the truth (see read_finished_part)
                    raws = await asyncio.to_thread(read_finished_part, self.paths.raw, part)
                new = raws[self.published.get(part, 0) :]
                if not new:
                    continue
                if not self.entries or (part < self.entries[-1].part):
                    # A part older than what is already public (should not happen): skip it.
                    if self.entries and part < self.entries[-1].part:
                        continue
                await self._refresh_timeline()
                for raw in new:
                    await self._publish(part, raw)
                    count += 1
            if count:
                await asyncio.to_thread(
                    write_public_playlists,
                    self.paths,
                    self.entries,
                    segment_seconds=self.settings.hls_segment_seconds,
                    ended=False,
                    window=self.settings.hls_list_size,
                    subtitles=self._subtitles,
                )
                if first_new:
                    await self._recording_started()
            return count

    async def _refresh_timeline(self) -> None:
        async with self.sessionmaker() as s:
            rows = (
                await s.execute(
                    select(TimelineEvent.id, TimelineEvent.kind, TimelineEvent.at, TimelineEvent.consent)
                    .where(
                        TimelineEvent.meeting_id == self.meeting_id,
                        TimelineEvent.id > self.timeline.last_id,
                        TimelineEvent.kind.in_(CONSENT_KINDS),
                    )
                    .order_by(TimelineEvent.id)
                )
            ).all()
        for event_id, kind, at, consent in rows:
            self.timeline.add(event_id, kind, at, consent)

    async def _publish(self, part: int, raw: RawSegment) -> None:
        src = self.paths.raw / raw.name
        seq = self.entries[-1].seq + 1 if self.entries else 0
        dst = self.paths.public / MeetingPaths.segment_name(seq)
        pdt = raw.pdt or utcnow() - timedelta(seconds=raw.duration)
        slate = self.timeline.slate_between(pdt, pdt + timedelta(seconds=raw.duration))
        if slate:
            pts = await make_slate_like(self.binary, src, dst, raw.duration)
            if not self.settings.raw_keeps_original:
                await asyncio.to_thread(link_or_copy, dst, src)
        else:
            info = await asyncio.to_thread(probe, src)
            pts = info.start_time or 0.0
            await asyncio.to_thread(link_or_copy, src, dst)
        prev = self.entries[-1] if self.entries else None
        disc = prev is not None and (prev.part != part or prev.slate != slate)
        entry = Entry(
            seq=seq, part=part, raw=raw.name, pdt=pdt, dur=raw.duration, pts=pts, slate=slate, disc=disc
        )
        await asyncio.to_thread(append_journal, self.paths.journal, entry)
        self.entries.append(entry)
        self.published[part] = self.published.get(part, 0) + 1
        if self._subtitles:
            await asyncio.to_thread(self.captions.write_segment, self.entries, entry)

    async def _recording_started(self) -> None:
        first = self.entries[0]
        try:
            async with self.sessionmaker() as s:
                rec = (
                    await s.execute(select(Recording).where(Recording.meeting_id == self.meeting_id))
                ).scalar_one_or_none()
                if rec is not None and rec.started_at is None:
                    rec.started_at = first.pdt
                    await s.commit()
        except Exception:
            log.exception("stream %s: could not record the start time", self.meeting_id)
