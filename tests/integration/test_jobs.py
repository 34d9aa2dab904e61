"""The durable job runner: runs, records progress, retries, fails cleanly, resumes after a crash."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select, update

from council.core.jobs import Job, JobContext, JobRunner, RetryLater, enqueue, job
from council.core.types import utcnow

calls: list[dict] = []


@job("test.record")
async def _record(ctx: JobContext) -> None:
    await ctx.progress(0.5, "halfway")
    calls.append(ctx.payload)


@job("test.flaky")
async def _flaky(ctx: JobContext) -> None:
    calls.append({"flaky": True})
    if len([c for c in calls if c.get("flaky")]) < 2:
        raise RuntimeError("first try fails")


@job("test.broken")
async def _broken(ctx: JobContext) -> None:
    raise ValueError("always broken")


@job("test.later")
async def _later(ctx: JobContext) -> None:
    calls.append(dict(ctx.payload))
    rounds = int(ctx.payload.get("round", 0))
    if rounds < 2:
        raise RetryLater(0.3, {"round": rounds + 1}, f"round {rounds} waits")


async def test_job_can_wait_without_holding_a_worker(db):
    """RetryLater: queued again with run_after and the new payload; not claimed before it is due, and
    waiting is not a failed attempt (max_attempts=1 still lets it finish)."""
    calls.clear()
    async with db.sessionmaker() as s:
        row = enqueue(s, "test.later", {"round": 0}, max_attempts=1)
        await s.commit()
        job_id = row.id
    runner = JobRunner(db.sessionmaker)
    assert await runner.run_one() is True
    async with db.sessionmaker() as s:
        waiting = await s.get(Job, job_id)
        assert waiting.state == "queued" and waiting.payload == {"round": 1}
        assert waiting.run_after is not None and waiting.run_after > utcnow()
        assert waiting.attempts == 0 and waiting.message == "round 0 waits"
    # Not due yet: the runner finds nothing to do (and does not sleep on it).
    assert await runner.run_one() is False
    deadline = asyncio.get_running_loop().time() + 10
    while len(calls) < 3 and asyncio.get_running_loop().time() < deadline:
        if not await runner.run_one():
            await asyncio.sleep(0.05)
    assert calls == [{"round": 0}, {"round": 1}, {"round": 2}]
    async with db.sessionmaker() as s:
        done = await s.get(Job, job_id)
        assert done.state == "done" and done.attempts == 1


async def test_job_runs_once_and_is_done(db):
    calls.clear()
    async with db.sessionmaker() as s:
        row = enqueue(s, "test.record", {"n": 1})
        await s.commit()
        job_id = row.id
    runner = JobRunner(db.sessionmaker)
    assert await runner.run_until_empty() == 1
    assert calls == [{"n": 1}]
    async with db.sessionmaker() as s:
        done = await s.get(Job, job_id)
        assert done.state == "done" and done.progress == 1.0 and done.attempts == 1
        assert done.finished is not None


async def test_failed_job_is_retried_then_succeeds(db):
    calls.clear()
    async with db.sessionmaker() as s:
        enqueue(s, "test.flaky")
        await s.commit()
    runner = JobRunner(db.sessionmaker)
    assert await runner.run_until_empty() == 2
    async with db.sessionmaker() as s:
        row = (await s.execute(select(Job))).scalar_one()
        assert row.state == "done" and row.attempts == 2


async def test_job_that_always_fails_ends_failed_with_error(db):
    async with db.sessionmaker() as s:
        enqueue(s, "test.broken", max_attempts=2)
        await s.commit()
    runner = JobRunner(db.sessionmaker)
    assert await runner.run_until_empty() == 2
    async with db.sessionmaker() as s:
        row = (await s.execute(select(Job))).scalar_one()
        assert row.state == "failed" and "always broken" in row.error


async def test_job_interrupted_by_a_crash_is_resumed(db):
    calls.clear()
    async with db.sessionmaker() as s:
        enqueue(s, "test.record", {"n": 2})
        await s.commit()
        # a worker claimed it and died: running, heartbeat long ago
        await s.execute(
            update(Job).values(state="running", attempts=1, heartbeat=utcnow() - timedelta(hours=1))
        )
        await s.commit()
    runner = JobRunner(db.sessionmaker)
    assert await runner.run_until_empty() == 0  # still "running": nobody picks it up blindly
    assert await runner.recover() == 1
    assert await runner.run_until_empty() == 1
    assert calls == [{"n": 2}]


async def test_two_runners_never_run_the_same_job(db):
    calls.clear()
    async with db.sessionmaker() as s:
        for i in range(6):
            enqueue(s, "test.record", {"n": i})
        await s.commit()
    a, b = JobRunner(db.sessionmaker), JobRunner(db.sessionmaker)
    await asyncio.gather(a.run_until_empty(), b.run_until_empty())
    assert sorted(c["n"] for c in calls) == list(range(6))


async def test_background_runner_picks_up_work_when_woken(db):
    calls.clear()
    runner = JobRunner(db.sessionmaker, poll_interval=30)
    await runner.start()
    try:
        async with db.sessionmaker() as s:
            enqueue(s, "test.record", {"n": 9})
            await s.commit()
        runner.wake()
        for _ in range(100):
            if calls:
                break
            await asyncio.sleep(0.05)
        assert calls == [{"n": 9}]
    finally:
        await runner.stop()
