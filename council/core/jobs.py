"""The durable job runner.

Jobs are rows in the ``job`` table. ``enqueue`` writes a row in the caller's transaction; a worker
claims queued rows, runs the registered function and records progress and the outcome. The embedded
default runs one worker inside the web process; ``rathaus worker`` runs the same loop in its own
process. A job left ``running`` by a crashed process is put back in the queue when a worker starts
(and when its heartbeat is older than ``stale_after``), so work is resumed, not lost. Job functions
must therefore be idempotent (or checkpoint their own progress).

A job that should try again later without holding a worker (a mail server that refused, say) raises
:class:`RetryLater`: the row goes back to the queue with ``run_after`` set and, optionally, a new
payload (its next round); that does not count as a failed attempt, and no worker sleeps meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, Float, Integer, String, Text, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from council.core.base import Base
from council.core.settings import Settings, get_settings
from council.core.types import UTCDateTime, utcnow

log = logging.getLogger(__name__)


class Job(Base):
    __tablename__ = "job"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(100), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: queued | running | done | failed
    state: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    error: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(200))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Not claimed before this time (set by :class:`RetryLater`); None: as soon as a worker is free.
    run_after: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RetryLater(Exception):
    """Raised by a job function: queue this job again in ``delay_s`` seconds (with ``payload``)."""

    def __init__(self, delay_s: float, payload: dict[str, Any] | None = None, message: str = "") -> None:
        super().__init__(message or f"retry in {delay_s:g} s")
        self.delay_s = max(0.0, float(delay_s))
        self.payload = payload
        self.message = message


@dataclass
class JobContext:
    """Handed to every job function: a session factory and a way to report progress."""

    job_id: int
    payload: dict[str, Any]
    sessionmaker: async_sessionmaker[AsyncSession]
    #: The settings of the process running the job (file store location, limits).
    settings: Settings

    async def progress(self, fraction: float, message: str | None = None) -> None:
        async with self.sessionmaker() as s:
            await s.execute(
                update(Job)
                .where(Job.id == self.job_id)
                .values(progress=max(0.0, min(1.0, fraction)), message=message, heartbeat=utcnow())
            )
            await s.commit()


JobFunc = Callable[[JobContext], Awaitable[None]]
_REGISTRY: dict[str, JobFunc] = {}


def job(kind: str) -> Callable[[JobFunc], JobFunc]:
    """Register a job function under ``kind``."""

    def deco(fn: JobFunc) -> JobFunc:
        _REGISTRY[kind] = fn
        return fn

    return deco


def registered_kinds() -> list[str]:
    return sorted(_REGISTRY)


#: Daily jobs: kind → the local (Europe/Berlin) hour from which it is due each day (from the settings).
_DAILY: dict[str, Callable[[Settings], int]] = {}
LOCAL_TZ = ZoneInfo("Europe/Berlin")


def daily(kind: str, hour: Callable[[Settings], int]) -> None:
    """Run the job ``kind`` once a day, from ``hour(settings)`` o'clock local time on: every job runner
    looks every few minutes and enqueues it when no job of that kind was created since local midnight."""
    _DAILY[kind] = hour


async def enqueue_due_daily(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, now: datetime | None = None
) -> list[int]:
    """Enqueue the daily jobs that are due and not yet queued today; returns the new job ids. Two
    runners looking at once may both enqueue: daily jobs must be idempotent (the digest is)."""
    now = now or utcnow()
    local = now.astimezone(LOCAL_TZ)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    created: list[int] = []
    async with sessionmaker() as session:
        for kind, hour in _DAILY.items():
            if kind not in _REGISTRY or local.hour < hour(settings):
                continue
            seen = await session.scalar(
                select(Job.id).where(Job.kind == kind, Job.created >= midnight.astimezone(UTC)).limit(1)
            )
            if seen is None:
                row = enqueue(session, kind, {}, max_attempts=2)
                row.created = now  # the scheduler's clock (tests control it)
                await session.flush()
                created.append(row.id)
        await session.commit()
    return created


def enqueue(
    session: AsyncSession, kind: str, payload: dict[str, Any] | None = None, max_attempts: int = 3
) -> Job:
    """Add a job to the caller's transaction; it runs once the caller commits."""
    if kind not in _REGISTRY:
        raise KeyError(f"unknown job kind {kind!r}")
    row = Job(kind=kind, payload=payload or {}, max_attempts=max_attempts)
    session.add(row)
    return row


class JobRunner:
    """Claims and runs jobs, one at a time per runner (``concurrency`` tasks)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        settings: Settings | None = None,
        concurrency: int = 1,
        poll_interval: float = 1.0,
        stale_after: timedelta = timedelta(minutes=5),
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings or get_settings()
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.stale_after = stale_after
        self.daily_interval = 300.0
        self.name = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    def wake(self) -> None:
        """Call after committing an enqueue to start the job without waiting for the next poll."""
        self._wake.set()

    async def recover(self) -> int:
        """Put back jobs whose worker died (state running, heartbeat stale or missing)."""
        cutoff = utcnow() - self.stale_after
        async with self.sessionmaker() as s:
            res = await s.execute(
                update(Job)
                .where(Job.state == "running", or_(Job.heartbeat.is_(None), Job.heartbeat < cutoff))
                .values(state="queued", worker=None)
            )
            await s.commit()
            return int(res.rowcount or 0)  # type: ignore[attr-defined]

    async def recover_all_running(self) -> int:
        """At start of the only worker (embedded default): everything 'running' was interrupted."""
        async with self.sessionmaker() as s:
            res = await s.execute(
                update(Job).where(Job.state == "running").values(state="queued", worker=None)
            )
            await s.commit()
            return int(res.rowcount or 0)  # type: ignore[attr-defined]

    async def _claim(self) -> Job | None:
        async with self.sessionmaker() as s:
            now = utcnow()
            candidate = (
                await s.execute(
                    select(Job.id)
                    .where(Job.state == "queued", or_(Job.run_after.is_(None), Job.run_after <= now))
                    .order_by(Job.id)
                    .limit(1)
                )
            ).scalar_one_or_none()
            if candidate is None:
                return None
            # Compare-and-set: only one worker wins the row, on SQLite and PostgreSQL alike.
            res = await s.execute(
                update(Job)
                .where(Job.id == candidate, Job.state == "queued")
                .values(
                    state="running",
                    worker=self.name,
                    started=now,
                    heartbeat=now,
                    attempts=Job.attempts + 1,
                )
            )
            await s.commit()
            if not res.rowcount:  # type: ignore[attr-defined]
                return None
            return await s.get(Job, candidate)

    async def run_one(self) -> bool:
        """Claim and run one job. Returns False when the queue was empty."""
        row = await self._claim()
        if row is None:
            return False
        fn = _REGISTRY.get(row.kind)
        ctx = JobContext(
            job_id=row.id,
            payload=dict(row.payload or {}),
            sessionmaker=self.sessionmaker,
            settings=self.settings,
        )
        beat = asyncio.create_task(self._heartbeat(row.id))
        try:
            if fn is None:
                raise LookupError(f"no job function registered for {row.kind!r}")
            await fn(ctx)
        except RetryLater as later:
            values: dict[str, Any] = {
                "state": "queued",
                "run_after": utcnow() + timedelta(seconds=later.delay_s),
                "attempts": Job.attempts - 1,  # waiting is not a failed attempt
                "worker": None,
                "message": later.message or None,
            }
            if later.payload is not None:
                values["payload"] = later.payload
            async with self.sessionmaker() as s:
                await s.execute(update(Job).where(Job.id == row.id).values(**values))
                await s.commit()
        except Exception as exc:
            log.exception("job %s (%s) failed", row.id, row.kind)
            final = row.attempts >= row.max_attempts or fn is None
            async with self.sessionmaker() as s:
                await s.execute(
                    update(Job)
                    .where(Job.id == row.id)
                    .values(
                        state="failed" if final else "queued",
                        error="".join(traceback.format_exception_only(type(exc), exc))[:4000],
                        finished=utcnow() if final else None,
                        worker=None,
                    )
                )
                await s.commit()
        else:
            async with self.sessionmaker() as s:
                await s.execute(
                    update(Job)
                    .where(Job.id == row.id)
                    .values(state="done", progress=1.0, finished=utcnow(), heartbeat=utcnow())
                )
                await s.commit()
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
        return True

    async def _heartbeat(self, job_id: int) -> None:
        interval = max(1.0, self.stale_after.total_seconds() / 5)
        while True:
            await asyncio.sleep(interval)
            async with self.sessionmaker() as s:
                await s.execute(update(Job).where(Job.id == job_id).values(heartbeat=utcnow()))
                await s.commit()

    async def run_until_empty(self, max_jobs: int = 100_000) -> int:
        """Run queued jobs until none is left (CLI, tests). Returns the number run."""
        n = 0
        while n < max_jobs and await self.run_one():
            n += 1
        return n

    async def _loop(self) -> None:
        while not self._stopping:
            # Clear before looking at the queue: a wake() while we look must not be lost.
            self._wake.clear()
            try:
                ran = await self.run_one()
            except Exception:
                log.exception("job runner loop error")
                ran = False
            if ran:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)
            with contextlib.suppress(Exception):
                await self.recover()

    async def start(self, *, sole_worker: bool = True) -> None:
        if sole_worker:
            await self.recover_all_running()
        else:
            await self.recover()
        self._stopping = False
        self._tasks = [asyncio.create_task(self._loop()) for _ in range(self.concurrency)]
        if _DAILY:
            self._tasks.append(asyncio.create_task(self._daily_loop()))

    async def _daily_loop(self) -> None:
        """Enqueue the daily jobs when due (checked every ``daily_interval`` seconds)."""
        while not self._stopping:
            try:
                if await enqueue_due_daily(self.sessionmaker, self.settings):
                    self.wake()
            except Exception:  # a database hiccup must not end the runner; next look in a while
                log.exception("could not enqueue the daily jobs")
            await asyncio.sleep(self.daily_interval)

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []
