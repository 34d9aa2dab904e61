"""Jobs on a real SAQ worker process (``rathaus worker --saq``) against the local Redis.

The job table stays the source of truth: a row enqueued before the worker starts is run by the drain at
worker start; a row enqueued later is run after ``SaqWaker.wake()``. Each run uses its own queue name.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from council.core.jobs import Job
from council.core.saq import SaqWaker
from council.core.settings import Settings
from council.records.models import Body, Paper
from council.search.jobs import enqueue_index
from council.search.models import SearchDocument

REDIS_URL = os.environ.get("RATHAUS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_up() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


pytestmark = pytest.mark.skipif(not _redis_up(), reason="no Redis at " + REDIS_URL)


async def _wait_done(session_maker: Any, job_id: int, limit: float = 60.0) -> Job:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        async with session_maker() as s:
            row = await s.get(Job, job_id)
            assert row is not None
            if row.state in ("done", "failed"):
                return row
        if loop.time() > deadline:
            raise AssertionError(f"job {job_id} still {row.state} after {limit} s")
        await asyncio.sleep(0.2)


async def _paper(session: Any, name: str) -> Paper:
    body = (await session.execute(select(Body).limit(1))).scalar_one_or_none()
    if body is None:
        body = Body(name="Stadt Hennef")
        session.add(body)
        await session.flush()
    paper = Paper(body_id=body.id, name=name, reference="V/1", public=True)
    session.add(paper)
    await session.flush()
    return paper


async def test_saq_worker_process_runs_jobs_from_the_job_table(settings: Settings, db: Any) -> None:
    saq_settings = settings.model_copy(
        update={"saq_url": REDIS_URL, "saq_queue": f"rathaus-test-{uuid.uuid4().hex}"}
    )

    # A job queued while no worker runs: the worker's start-up drain must pick it up.
    async with db.sessionmaker() as s:
        first = await _paper(s, "Radverkehrskonzept Innenstadt")
        job1 = enqueue_index(s, "paper", [first.id])
        await s.commit()
        first_id, job1_id = first.id, job1.id

    env = {
        **os.environ,
        "RATHAUS_DATABASE_URL": saq_settings.resolved_database_url,
        "RATHAUS_VAR_DIR": str(saq_settings.var_dir),
        "RATHAUS_SAQ_URL": saq_settings.saq_url,
        "RATHAUS_SAQ_QUEUE": saq_settings.saq_queue,
    }
    rathaus = Path(sys.executable).parent / "rathaus"
    log_path = saq_settings.var_dir / "saq-worker.log"
    log_file = log_path.open("wb")
    proc = subprocess.Popen(  # noqa: ASYNC220 (started once, not awaited)
        [str(rathaus), "worker", "--saq"], env=env, stdout=log_file, stderr=subprocess.STDOUT
    )
    waker = SaqWaker(saq_settings)
    try:
        done = await _wait_done(db.sessionmaker, job1_id)
        assert done.state == "done", done.error

        # A job queued while the worker runs: woken through SAQ.
        await waker.start()
        async with db.sessionmaker() as s:
            second = await _paper(s, "Haushaltssatzung Feuerwehr")
            job2 = enqueue_index(s, "paper", [second.id])
            await s.commit()
            second_id, job2_id = second.id, job2.id
        waker.wake()
        done = await _wait_done(db.sessionmaker, job2_id)
        assert done.state == "done", done.error
        assert done.worker and str(proc.pid) in done.worker  # the worker process ran it, not us

        async with db.sessionmaker() as s:
            indexed = set(
                (
                    await s.execute(select(SearchDocument.ref_id).where(SearchDocument.kind == "paper"))
                ).scalars()
            )
        assert {first_id, second_id} <= indexed
        assert proc.poll() is None, "the worker must keep running"
    finally:
        await waker.stop()
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log_file.close()
        import redis

        r = redis.Redis.from_url(REDIS_URL)
        keys = list(r.scan_iter(f"saq:{saq_settings.saq_queue}:*", count=1000))
        if keys:
            r.delete(*keys)
    out = log_path.read_text(errors="replace")
    assert "Traceback" not in out, out[-3000:]


def test_saq_url_must_be_redis(settings: Settings) -> None:
    from council.core.saq import make_queue

    with pytest.raises(ValueError, match="redis"):
        make_queue(settings.model_copy(update={"saq_url": "postgresql://x/y"}))
