"""The archive: the same public segments, closed as a VOD playlist, remuxed (``-c copy``) into
``recording.mp4`` with ``+faststart``, and chapters derived from the timeline.

Finalisation is a job (``streaming.finalize``, registered in ``streaming.jobs``) so that it survives a
crash and can run on a worker. When it is done, the callbacks registered with ``on_archived`` run
(the ``StreamManager`` registers its ``on_archived`` argument there; web hands it the transcript job).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from council.core.settings import Settings
from council.core.types import utcnow
from council.live.models import EventKind, TimelineEvent
from council.records.models import AgendaItem
from streaming.captions import CaptionWriter, media_time
from streaming.ffmpeg import GLOBAL_ARGS, ffmpeg_binary
from streaming.models import Recording, Stream
from streaming.paths import MeetingPaths, meeting_paths, write_atomic
from streaming.playlist import Entry, load_journal, render_master, render_media_playlist

log = logging.getLogger(__name__)

ArchivedCallback = Callable[[int, Path, datetime], Awaitable[None]]
_archived_callbacks: list[ArchivedCallback] = []


def register_archived_callback(cb: ArchivedCallback) -> None:
    if cb not in _archived_callbacks:
        _archived_callbacks.append(cb)


def unregister_archived_callback(cb: ArchivedCallback) -> None:
    if cb in _archived_callbacks:
        _archived_callbacks.remove(cb)


def write_public_playlists(
    paths: MeetingPaths,
    entries: list[Entry],
    *,
    segment_seconds: float,
    ended: bool,
    window: int | None,
    subtitles: bool,
) -> None:
    """index.m3u8 (+ subs.m3u8) and master.m3u8, each written atomically."""
    write_atomic(
        paths.index,
        render_media_playlist(entries, segment_seconds=segment_seconds, ended=ended, window=window),
    )
    if subtitles:
        CaptionWriter.write_playlist_for(paths, entries, segment_seconds, ended, window)
    write_master(paths, entries, subtitles=subtitles)


def write_master(paths: MeetingPaths, entries: list[Entry], *, subtitles: bool) -> None:
    bandwidth = 2_000_000
    sized = [e for e in entries[-20:] if e.dur > 0]
    if sized:
        try:
            peak = max(
                (paths.public / MeetingPaths.segment_name(e.seq)).stat().st_size * 8 / e.dur for e in sized
            )
            bandwidth = max(100_000, int(peak * 1.2))
        except OSError:
            pass
    write_atomic(paths.master, render_master(bandwidth=bandwidth, subtitles=subtitles))


def write_vod(paths: MeetingPaths, segment_seconds: float, *, subtitles: bool = True) -> list[Entry]:
    """Close the public playlists as VOD (EXT-X-ENDLIST) from the journal; write all caption files."""
    entries = load_journal(paths.journal)
    if not entries:
        return entries
    paths.public.mkdir(parents=True, exist_ok=True)
    if subtitles:
        CaptionWriter(paths).write_all(entries)
    write_public_playlists(
        paths, entries, segment_seconds=segment_seconds, ended=True, window=None, subtitles=subtitles
    )
    return entries


async def remux_mp4(binary: str, paths: MeetingPaths, entries: list[Entry]) -> tuple[int, float]:
    """``recording.mp4`` from the public segments (concat demuxer, ``-c copy``, ``+faststart``).
    Returns (bytes, duration). Written to a temporary name first: a crash leaves the old file or none."""
    listing = paths.root / "concat.txt"
    lines = ["ffconcat version 1.0"]
    for e in entries:
        lines.append(f"file 'public/{MeetingPaths.segment_name(e.seq)}'")
        lines.append(f"duration {e.dur:.6f}")
    write_atomic(listing, "\n".join(lines) + "\n")
    tmp = paths.root / ".recording.mp4.tmp"
    cmd = [
        binary, *GLOBAL_ARGS, "-nostdin", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
        "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy", "-movflags", "+faststart", "-f", "mp4", str(tmp),
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"remux failed: {err.decode(errors='replace')[-800:]}")
    tmp.replace(paths.recording)
    listing.unlink(missing_ok=True)
    return paths.recording.stat().st_size, sum(e.dur for e in entries)


async def finalize(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], meeting_id: int
) -> Path | None:
    """VOD playlist + MP4 + ``Recording.state = ready``; then the archived callbacks. Idempotent."""
    paths = meeting_paths(settings.media_dir, meeting_id)
    entries = await asyncio.to_thread(write_vod, paths, settings.hls_segment_seconds)
    async with sessionmaker() as s:
        rec = (
            await s.execute(select(Recording).where(Recording.meeting_id == meeting_id))
        ).scalar_one_or_none()
        if rec is None:
            return None
        if not entries:
            rec.state = "failed"
            rec.last_error = "no segments"
            await s.commit()
            return None
        rec.state = "finalizing"
        await s.commit()
    try:
        size, duration = await remux_mp4(ffmpeg_binary(settings), paths, entries)
    except Exception as exc:
        async with sessionmaker() as s:
            rec = (await s.execute(select(Recording).where(Recording.meeting_id == meeting_id))).scalar_one()
            rec.state = "failed"
            rec.last_error = str(exc)[-2000:]
            await s.commit()
        raise
    async with sessionmaker() as s:
        rec = (await s.execute(select(Recording).where(Recording.meeting_id == meeting_id))).scalar_one()
        rec.state = "ready"
        rec.mp4_path = f"{meeting_id}/recording.mp4"
        rec.mp4_bytes = size
        rec.duration_s = duration
        rec.started_at = entries[0].pdt
        rec.parts = len({e.part for e in entries})
        rec.last_error = None
        started_at = entries[0].pdt
        await s.commit()
    for cb in list(_archived_callbacks):
        try:
            await cb(meeting_id, paths.recording, started_at)
        except Exception:
            log.exception("on_archived callback failed for meeting %s", meeting_id)
    return paths.recording


# --- chapters ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chapter:
    agenda_item_id: int
    number: str | None
    title: str
    start_s: float
    end_s: float


async def chapters(session: AsyncSession, meeting_id: int, media_dir: Path | None = None) -> list[Chapter]:
    """Chapters of a meeting's recording from the timeline (agenda item started/ended).

    Times are seconds of the recording: ``event.at - Recording.started_at``; with ``media_dir`` the
    journal maps wall clock to media time exactly (skipping gaps between parts, as the VOD does).
    A chapter ends at its item's end event, else at the next item's start, else at the recording's end.
    """
    rec = (
        await session.execute(select(Recording).where(Recording.meeting_id == meeting_id))
    ).scalar_one_or_none()
    if rec is None or rec.started_at is None:
        return []
    entries = load_journal(meeting_paths(media_dir, meeting_id).journal) if media_dir is not None else []
    duration = sum(e.dur for e in entries) if entries else rec.duration_s
    if not duration and rec.state == "recording":
        duration = max(0.0, (utcnow() - rec.started_at).total_seconds())
    started_at = rec.started_at

    def at(when: datetime) -> float:
        t = media_time(entries, when) if entries else (when - started_at).total_seconds()
        return min(max(0.0, t), duration)

    rows = (
        await session.execute(
            select(TimelineEvent, AgendaItem)
            .join(AgendaItem, AgendaItem.id == TimelineEvent.agenda_item_id)
            .where(
                TimelineEvent.meeting_id == meeting_id,
                TimelineEvent.kind.in_(
                    [EventKind.AGENDA_ITEM_STARTED.value, EventKind.AGENDA_ITEM_ENDED.value]
                ),
            )
            .order_by(TimelineEvent.at, TimelineEvent.id)
        )
    ).all()
    out: list[Chapter] = []
    open_item: tuple[AgendaItem, float] | None = None
    for ev, item in rows:
        if ev.kind == EventKind.AGENDA_ITEM_STARTED.value:
            if open_item is not None:
                out.append(_chapter(open_item[0], open_item[1], at(ev.at)))
            open_item = (item, at(ev.at))
        elif open_item is not None and open_item[0].id == item.id:
            out.append(_chapter(open_item[0], open_item[1], at(ev.at)))
            open_item = None
    if open_item is not None:
        out.append(_chapter(open_item[0], open_item[1], duration))
    return [c for c in out if c.end_s > c.start_s or c.start_s < duration]


def _chapter(item: AgendaItem, start: float, end: float) -> Chapter:
    return Chapter(
        agenda_item_id=item.id, number=item.number, title=item.name, start_s=start, end_s=max(start, end)
    )


async def stream_state(session: AsyncSession, meeting_id: int) -> Stream | None:
    return (await session.execute(select(Stream).where(Stream.meeting_id == meeting_id))).scalar_one_or_none()
