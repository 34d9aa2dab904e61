"""The job runner on SAQ workers (``settings.saq_url``): the job table stays the source of truth, SAQ
carries the wake-up.

Why this split: every job is still a row in ``job`` (``council.core.jobs.enqueue`` in the caller's
transaction), so nothing is lost if Redis restarts or a wake-up is dropped, progress and errors stay
where the pages read them, and the embedded runner and SAQ workers run the very same job functions.
SAQ adds what one machine cannot: workers on other machines (a GPU box for transcription) that are
woken at once instead of polling the database.

* The web process uses ``SaqWaker`` in place of the in-process ``JobRunner``: ``wake()`` (called after
  committing an enqueue, as before) puts a ``rathaus.drain`` job on the SAQ queue.
* ``rathaus worker --saq`` runs a SAQ ``Worker`` whose ``drain`` function claims queued rows with the
  runner's compare-and-set and runs them until the table has none left. A cron job every minute (and one
  drain at worker start) picks up rows whose wake-up was lost and puts back rows of crashed workers.
* SAQ gives a job 10 s by default. A drain may run a whole meeting's transcription, so it gets
  ``DRAIN_TIMEOUT_S`` and a SAQ heartbeat (``HEARTBEAT_S``, refreshed every ``HEARTBEAT_S / 4``); the
  job row has its own heartbeat from the runner, so a dead worker's row is requeued by another worker.

Redis queues only: SAQ's PostgreSQL queue needs psycopg 3, which Rathaus does not install.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from council.core.settings import Settings

log = logging.getLogger(__name__)

DRAIN = "drain"
#: A drain may transcribe a six-hour meeting on a slow machine.
DRAIN_TIMEOUT_S = 12 * 3600
#: SAQ considers a drain stuck after this long without an update (we update four times as often).
HEARTBEAT_S = 120
#: Jobs one drain runs at most before it hands over to the next wake-up.
DRAIN_MAX_JOBS = 1000


def make_queue(settings: Settings) -> Any:
    """The SAQ queue named ``settings.saq_queue`` at ``settings.saq_url``."""
    from saq import Queue

    if not settings.saq_url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("RATHAUS_SAQ_URL must be a redis:// URL (SAQ's PostgreSQL queue needs psycopg 3)")
    return Queue.from_url(settings.saq_url, name=settings.saq_queue)


def drain_job() -> Any:
    from saq import Job

    # A fresh key per wake-up: a drain already running must not swallow the next one.
    return Job(function=DRAIN, key=uuid.uuid4().hex, timeout=DRAIN_TIMEOUT_S, heartbeat=HEARTBEAT_S)


class SaqWaker:
    """Stands in for the in-process ``JobRunner`` in a web process whose jobs run on SAQ workers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.queue = make_queue(settings)
        self._pending: set[asyncio.Task[None]] = set()

    async def start(self, **_: Any) -> None:
        await self.queue.connect()

    def wake(self) -> None:
        """Call after committing an enqueue; the row is safe even if this wake-up is lost."""
        task = asyncio.get_running_loop().create_task(self.kick())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def kick(self) -> None:
        try:
            await self.queue.enqueue(drain_job())
        except Exception:  # Redis down: the worker's minute sweep finds the row
            log.exception("could not wake the SAQ workers")

    async def stop(self) -> None:
        for task in list(self._pending):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, timeout=5)
        with contextlib.suppress(Exception):
            await self.queue.disconnect()


# --- the worker side ---------------------------------------------------------------------------------


async def _beat(saq_job: Any) -> None:
    while True:
        await asyncio.sleep(HEARTBEAT_S / 4)
        with contextlib.suppress(Exception):
            await saq_job.update()


async def drain(ctx: dict[str, Any]) -> int:
    """SAQ function: run queued job rows until none is left (bounded). Returns the number run."""
    runner = ctx["rathaus_runner"]
    saq_job = ctx.get("job")
    beat = asyncio.create_task(_beat(saq_job)) if saq_job is not None else None
    try:
        n = 0
        while n < DRAIN_MAX_JOBS and await runner.run_one():
            n += 1
        return n
    finally:
        if beat is not None:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat


async def sweep(ctx: dict[str, Any]) -> int:
    """SAQ cron function: put back rows of dead workers, then drain (lost wake-ups)."""
    await ctx["rathaus_runner"].recover()
    return await drain(ctx)


def worker_settings(
    settings: Settings, job_modules: Iterable[str], *, concurrency: int = 2
) -> dict[str, Any]:
    """Keyword arguments for ``saq.Worker``: the drain function, the minute sweep, and a start-up that
    imports the modules registering job functions and opens the database."""
    from saq.job import CronJob

    from council.core.db import Database
    from council.core.jobs import JobRunner

    modules = list(job_modules)

    async def startup(ctx: dict[str, Any]) -> None:
        for module in modules:
            importlib.import_module(module)
        db = Database(settings)
        ctx["rathaus_db"] = db
        ctx["rathaus_runner"] = JobRunner(
            db.sessionmaker, settings=settings, stale_after=timedelta(seconds=HEARTBEAT_S * 2)
        )
        # Rows queued while no worker was up.
        await ctx["worker"].queue.enqueue(drain_job())

    async def shutdown(ctx: dict[str, Any]) -> None:
        db = ctx.get("rathaus_db")
        if db is not None:
            await db.dispose()

    return {
        "functions": [(DRAIN, drain)],
        "cron_jobs": [
            CronJob(sweep, cron="* * * * *", timeout=DRAIN_TIMEOUT_S, heartbeat=HEARTBEAT_S, unique=True)
        ],
        "startup": startup,
        "shutdown": shutdown,
        "concurrency": concurrency,
    }


async def run_worker(settings: Settings, job_modules: Iterable[str], *, concurrency: int = 2) -> None:
    """Run a SAQ worker until cancelled (``rathaus worker --saq``)."""
    from saq import Worker

    queue = make_queue(settings)
    kwargs = worker_settings(settings, job_modules, concurrency=concurrency)
    worker = Worker(queue, **kwargs)
    log.info("SAQ worker on queue %r", settings.saq_queue)
    try:
        await worker.start()
    finally:
        with contextlib.suppress(Exception):
            await worker.stop()
