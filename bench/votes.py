"""Council votes under load: a vote burst and SSE fan-out, against the real server in its own process.

    .venv/bin/python -m bench.votes [--db sqlite|postgres] [--voters 60] [--burst-seconds 1]
                                    [--viewers 2000] [--events 10] [--workers 1] [--channels memory]
                                    [--strict]

1. **Baseline**: ``--voters`` GET /healthz spread over the same ``--burst-seconds`` (framework, transport,
   client; no database).
2. **Vote burst**: a council of ``--voters`` members, all present; the clerk opens a named vote over HTTP;
   every member casts one ballot (POST /abstimmungen/{id}/stimme with an idempotency key), the ballots
   spread evenly over ``--burst-seconds``. Figures: acknowledgement latency p50/p99/max, errors, the tally.
   Then the clerk closes the vote over HTTP while a viewer listens on SSE: **time from sending the close
   until ``vote.closed`` with the tally is on SSE**. Targets: ack p99 < 1 s, result on SSE < 1 s.
3. **SSE fan-out**: ``--viewers`` idle viewers hold /sitzungen/{id}/live open (lean raw-socket clients)
   while the clerk advances the timeline ``--events`` times (open + annul a vote: two events each); for
   every event the delivery latency to every viewer (p50/p99, time until the last viewer has it).
   Target: ≥ 2,000 viewers per process, every event delivered to all.

``--workers N`` serves with N uvicorn worker processes, as production does (``rathaus serve --workers 2``,
docs/deployment.md); they need a shared event bus, so ``--channels`` defaults to ``redis`` then
(``RATHAUS_REDIS_URL``, default ``redis://127.0.0.1:6379/0``; or ``postgres`` on PostgreSQL). Ballots,
the close and the SSE viewers then land on whichever worker the kernel picks. Server CPU is summed over
the worker processes.

Prints a table and writes ``bench/results/votes-<db>-*.json``. The database is fresh every run (SQLite
under ``var/bench/votes-sqlite``, PostgreSQL database ``rathaus_bench_votes``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import shutil
import sys
import time
from collections.abc import Sequence
from typing import Any

import httpx

from bench._load import (
    REPO_ROOT,
    RESULTS_DIR,
    Server,
    machine_info,
    percentile,
    write_json,
)

SECRET = "bench-votes-secret-key-not-for-production"
DEFAULT_PG = os.environ.get("RATHAUS_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


# --- the database ---------------------------------------------------------------------------------------


async def prepare(db_kind: str, voters: int, pg_admin: str) -> tuple[Any, Any]:
    """A fresh database with the schema and a council of ``voters`` members, all present."""
    from council.core.db import Database
    from council.core.settings import Settings
    from tests.vote_helpers import make_vote_town
    from web.models import metadata

    var_dir = REPO_ROOT / "var" / "bench" / f"votes-{db_kind}"
    if var_dir.exists():
        shutil.rmtree(var_dir)
    var_dir.mkdir(parents=True)
    if db_kind == "postgres":
        import asyncpg

        conn = await asyncpg.connect(pg_admin)
        try:
            await conn.execute('DROP DATABASE IF EXISTS "rathaus_bench_votes" WITH (FORCE)')
            await conn.execute('CREATE DATABASE "rathaus_bench_votes"')
        finally:
            await conn.close()
        url = (
            pg_admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
            + "/rathaus_bench_votes"
        )
    else:
        url = f"sqlite+aiosqlite:///{var_dir / 'rathaus.db'}"
    settings = Settings(database_url=url, var_dir=var_dir, secret_key=SECRET, jobs_in_process=False)
    db = Database(settings)
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    async with db.sessionmaker() as s:
        vt = await make_vote_town(s, extra_members=max(0, voters - 5), absent=0)
    await db.dispose()
    return settings, vt


def server_env(settings: Any, channels: str = "memory") -> dict[str, str]:
    return {
        "RATHAUS_DATABASE_URL": settings.resolved_database_url,
        "RATHAUS_VAR_DIR": str(settings.var_dir),
        "RATHAUS_SECRET_KEY": SECRET,
        "RATHAUS_JOBS_IN_PROCESS": "false",
        "RATHAUS_PAGE_CACHE_SECONDS": "0",
        "RATHAUS_CHANNELS_BACKEND": channels,
        "RATHAUS_REDIS_URL": os.environ.get("RATHAUS_REDIS_URL", "redis://127.0.0.1:6379/0"),
        "PYTHONPATH": str(REPO_ROOT),
    }


# --- helpers --------------------------------------------------------------------------------------------


def stats(values_ms: list[float]) -> dict[str, float | int | None]:
    v = sorted(values_ms)
    r = lambda x: None if x != x else round(x, 1)  # noqa: E731 (NaN → None)
    return {
        "n": len(v),
        "p50_ms": r(percentile(v, 50)),
        "p99_ms": r(percentile(v, 99)),
        "max_ms": r(v[-1]) if v else None,
    }


async def csrf_pair(base: str) -> tuple[str, str]:
    async with httpx.AsyncClient(base_url=base, timeout=10) as c:
        r = await c.get("/anmelden")
        m = re.search(r'name="_csrf_token" value="([^"]+)"', r.text)
        assert m, "no CSRF token on /anmelden"
        return m.group(1), c.cookies.get("csrftoken") or ""


def auth(token: str, csrf: tuple[str, str], **extra: str) -> dict[str, str]:
    return {"cookie": f"rathaus_session={token}; csrftoken={csrf[1]}", "x-csrftoken": csrf[0], **extra}


async def spread(n: int, seconds: float, fn: Any) -> list[Any]:
    """Start ``fn(i)`` for i < n evenly over ``seconds``; gather the results."""
    start = time.perf_counter()

    async def one(i: int) -> Any:
        delay = start + seconds * i / max(1, n) - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        return await fn(i)

    return await asyncio.gather(*(one(i) for i in range(n)))


class SSEViewer:
    """One lean SSE client on a raw socket: counts ``event: timeline`` messages and when they came."""

    def __init__(self) -> None:
        self.state_seen = asyncio.Event()
        self.events: list[tuple[float, bytes]] = []
        self.task: asyncio.Task[None] | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.error: str | None = None

    async def run(self, host: str, port: int, path: str) -> None:
        try:
            reader, self.writer = await asyncio.open_connection(host, port)
            self.writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode()
            )
            await self.writer.drain()
            buf = b""
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    return
                now = time.perf_counter()
                buf += chunk
                if not self.state_seen.is_set() and b"event: state" in buf:
                    self.state_seen.set()
                while b"event: timeline" in buf:
                    _head, _, buf = buf.partition(b"event: timeline")
                    end = buf.find(b"\n\n") if b"\n\n" in buf else buf.find(b"\r\n\r\n")
                    self.events.append((now, buf[: end if end >= 0 else 200]))
                if len(buf) > 1_000_000:
                    buf = buf[-1000:]
        except (OSError, asyncio.IncompleteReadError) as exc:
            self.error = repr(exc)
            self.state_seen.set()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.task is not None:
            self.task.cancel()


# --- the phases -----------------------------------------------------------------------------------------


async def baseline(base: str, n: int, seconds: float) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=n)) as c:

        async def one(i: int) -> tuple[float, int]:
            t = time.perf_counter()
            r = await c.get("/healthz")
            return (time.perf_counter() - t) * 1000, r.status_code

        res = await spread(n, seconds, one)
    return {**stats([ms for ms, _ in res]), "errors": sum(1 for _, code in res if code != 200)}


async def vote_burst(
    base: str, settings: Any, vt: Any, seconds: float, server: Server | None = None
) -> dict[str, Any]:
    from council.core.db import Database
    from votes import service

    db = Database(settings)
    async with db.sessionmaker() as s:
        poll = await service.create_poll(
            s, meeting_id=vt.meeting_id, agenda_item_id=vt.item_id, question="Bench"
        )
        poll_id = poll.id
    csrf = await csrf_pair(base)
    port = int(base.rsplit(":", 1)[1])
    viewer = SSEViewer()
    viewer.task = asyncio.create_task(viewer.run("127.0.0.1", port, f"/sitzungen/{vt.meeting_id}/live"))
    await asyncio.wait_for(viewer.state_seen.wait(), 30)
    n = len(vt.members)
    choices = ["yes", "no", "abstain"]
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=n + 2)) as c:
        r = await c.post(
            f"/abstimmungen/{poll_id}/oeffnen", headers=auth(vt.clerk_token, csrf, **{"hx-request": "true"})
        )
        assert r.status_code == 200, r.text[:300]

        async def ballot(i: int) -> tuple[float, int]:
            pid = vt.members[i]
            t = time.perf_counter()
            resp = await c.post(
                f"/abstimmungen/{poll_id}/stimme",
                data={"choice": choices[i % 3]},
                headers=auth(
                    vt.tokens[pid],
                    csrf,
                    accept="application/json",
                    **{"idempotency-key": f"bench-{poll_id}-{pid}"},
                ),
            )
            return (time.perf_counter() - t) * 1000, resp.status_code

        cpu0 = server.cpu_seconds() if server is not None else None
        t_burst = time.perf_counter()
        acks = await spread(n, seconds, ballot)
        burst_wall = time.perf_counter() - t_burst
        cpu1 = server.cpu_seconds() if server is not None else None
        before = len(viewer.events)
        t_close = time.perf_counter()
        r = await c.post(
            f"/abstimmungen/{poll_id}/schliessen",
            headers=auth(vt.clerk_token, csrf, **{"hx-request": "true"}),
        )
        close_ms = (time.perf_counter() - t_close) * 1000
        assert r.status_code == 200, r.text[:300]
    deadline = time.perf_counter() + 10
    sse_ms = None
    while time.perf_counter() < deadline:
        closed = [(t, data) for t, data in viewer.events[before:] if b"vote.closed" in data]
        if closed:
            sse_ms = (closed[0][0] - t_close) * 1000
            break
        await asyncio.sleep(0.005)
    viewer.close()
    async with db.sessionmaker() as s:
        tally = (await service.get_poll(s, poll_id)).result["tally"]
    await db.dispose()
    expected = {c: sum(1 for i in range(n) if choices[i % 3] == c) for c in choices}
    return {
        "voters": n,
        "burst_seconds": seconds,
        "burst_wall_s": round(burst_wall, 3),
        "ack": {
            **stats([ms for ms, code in acks if code == 201]),
            "errors": sum(1 for _, code in acks if code != 201),
        },
        "server_cpu_ms_per_ballot": None
        if cpu0 is None or cpu1 is None
        else round((cpu1 - cpu0) * 1000 / max(1, n), 2),
        "close_request_ms": round(close_ms, 1),
        "result_on_sse_ms": None if sse_ms is None else round(sse_ms, 1),
        "tally": tally,
        "tally_correct": tally == expected,
    }


async def fan_out(base: str, settings: Any, vt: Any, viewers: int, events: int) -> dict[str, Any]:
    from council.core.db import Database
    from votes import service

    db = Database(settings)
    poll_ids = []
    async with db.sessionmaker() as s:
        for _ in range(events):
            poll_ids.append(
                (await service.create_poll(s, meeting_id=vt.meeting_id, agenda_item_id=vt.item_id)).id
            )
    await db.dispose()
    csrf = await csrf_pair(base)
    port = int(base.rsplit(":", 1)[1])
    path = f"/sitzungen/{vt.meeting_id}/live"
    clients = [SSEViewer() for _ in range(viewers)]
    t0 = time.perf_counter()
    for i in range(0, viewers, 100):  # connect in waves: the accept queue is finite
        batch = clients[i : i + 100]
        for v in batch:
            v.task = asyncio.create_task(v.run("127.0.0.1", port, path))
        await asyncio.gather(
            *(asyncio.wait_for(v.state_seen.wait(), 60) for v in batch), return_exceptions=True
        )
    connect_s = time.perf_counter() - t0
    connected = sum(1 for v in clients if v.state_seen.is_set() and v.error is None)
    sent: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        t_health = time.perf_counter()
        health = await c.get("/healthz")
        health_ms = (time.perf_counter() - t_health) * 1000
        for pid in poll_ids:
            for action, body in (("oeffnen", {}), ("aufheben", {"reason": "Bench"})):
                sent.append(time.perf_counter())
                r = await c.post(
                    f"/abstimmungen/{pid}/{action}",
                    data=body,
                    headers=auth(vt.clerk_token, csrf, **{"hx-request": "true"}),
                )
                assert r.status_code == 200, r.text[:300]
                await asyncio.sleep(0.3)
    deadline = time.perf_counter() + 30
    while time.perf_counter() < deadline and any(  # noqa: ASYNC110 (polling the viewers' progress)
        len(v.events) < len(sent) for v in clients if v.error is None
    ):
        await asyncio.sleep(0.05)
    per_event_all: list[float] = []
    latencies: list[float] = []
    missing = 0
    for k, t_sent in enumerate(sent):
        arrivals = [v.events[k][0] for v in clients if v.error is None and len(v.events) > k]
        missing += connected - len(arrivals)
        latencies.extend((t - t_sent) * 1000 for t in arrivals)
        if arrivals:
            per_event_all.append((max(arrivals) - t_sent) * 1000)
    errors = sorted({v.error for v in clients if v.error})[:3]
    silent = [i for i, v in enumerate(clients) if v.error is None and not v.events]
    if silent:
        errors.append(f"{len(silent)} viewers got no timeline event (first {silent[:5]}, last {silent[-3:]})")
    for v in clients:
        v.close()
    await asyncio.sleep(0.1)
    return {
        "viewers_requested": viewers,
        "viewers_connected": connected,
        "connect_s": round(connect_s, 2),
        "events": len(sent),
        "delivery": stats(latencies),
        "time_to_all": stats(per_event_all),
        "missing_deliveries": missing,
        "healthz_ms_with_viewers": round(health_ms, 1) if health.status_code == 200 else None,
        "client_errors": errors,
    }


def raise_nofile(n: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, n)) if hard != resource.RLIM_INFINITY else max(soft, n)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    nofile = raise_nofile(2 * args.viewers + 512)  # before the server starts: it inherits the limit
    settings, vt = await prepare(args.db, args.voters, args.pg_url)
    log = RESULTS_DIR / f"server-votes-{args.db}.log"
    channels = args.channels or ("memory" if args.workers == 1 else "redis")
    env = server_env(settings, channels)
    with Server(env, log_path=log, workers=args.workers) as server:
        base = server.base_url
        base_line = await baseline(base, args.voters, args.burst_seconds)
        burst = await vote_burst(base, settings, vt, args.burst_seconds, server)
        cpu_before = server.cpu_seconds()
        fan = await fan_out(base, settings, vt, args.viewers, args.events)
        cpu_after = server.cpu_seconds()
        fan["server_cpu_s"] = (
            None if cpu_before is None or cpu_after is None else round(cpu_after - cpu_before, 2)
        )
    targets = {
        "ack_p99_under_1s": (burst["ack"]["p99_ms"] or 1e9) < 1000 and burst["ack"]["errors"] == 0,
        "result_on_sse_under_1s": burst["result_on_sse_ms"] is not None and burst["result_on_sse_ms"] < 1000,
        "tally_correct": burst["tally_correct"],
        "sse_viewers_at_least_2000": fan["viewers_connected"] >= 2000 and fan["missing_deliveries"] == 0,
    }
    return {
        "benchmark": "votes",
        "db": args.db,
        "workers": args.workers,
        "channels": channels,
        "nofile_limit": nofile,
        "machine": machine_info(),
        "baseline_healthz": base_line,
        "vote_burst": burst,
        "sse_fan_out": fan,
        "targets": targets,
    }


def report(res: dict[str, Any]) -> str:
    b, v, f = res["baseline_healthz"], res["vote_burst"], res["sse_fan_out"]
    lines = [
        f"votes benchmark ({res['db']}, {res['workers']} worker(s), bus {res['channels']}), "
        f"{v['voters']} voters in {v['burst_seconds']} s, {f['viewers_connected']} SSE viewers",
        f"  baseline /healthz burst     p50 {b['p50_ms']} ms  p99 {b['p99_ms']} ms  errors {b['errors']}",
        f"  ballot acknowledgement      p50 {v['ack']['p50_ms']} ms  p99 {v['ack']['p99_ms']} ms  "
        f"max {v['ack']['max_ms']} ms  errors {v['ack']['errors']}  (burst took {v['burst_wall_s']} s; "
        f"server CPU {v['server_cpu_ms_per_ballot']} ms per ballot)",
        f"  close → vote.closed on SSE  {v['result_on_sse_ms']} ms  "
        f"(close request {v['close_request_ms']} ms); "
        f"tally {v['tally']} correct={v['tally_correct']}",
        f"  SSE fan-out                 {f['viewers_connected']}/{f['viewers_requested']} connected "
        f"in {f['connect_s']} s; "
        f"{f['events']} events; delivery p50 {f['delivery']['p50_ms']} ms p99 {f['delivery']['p99_ms']} ms; "
        f"last viewer p50 {f['time_to_all']['p50_ms']} ms max {f['time_to_all']['max_ms']} ms; "
        f"missing {f['missing_deliveries']}; /healthz with viewers {f['healthz_ms_with_viewers']} ms; "
        f"server CPU {f['server_cpu_s']} s",
        "  targets: " + ", ".join(f"{k}={'PASS' if ok else 'FAIL'}" for k, ok in res["targets"].items()),
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--voters", type=int, default=60)
    p.add_argument("--burst-seconds", type=float, default=1.0)
    p.add_argument("--viewers", type=int, default=2000)
    p.add_argument("--events", type=int, default=10, help="votes opened and annulled (two events each)")
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (production: 2)")
    p.add_argument(
        "--channels",
        choices=["memory", "redis", "postgres"],
        default=None,
        help="event bus (default: memory for one worker, redis for several)",
    )
    p.add_argument("--pg-url", default=DEFAULT_PG)
    p.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    p.add_argument("--no-write", action="store_true", help="do not write JSON to bench/results")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    res = asyncio.run(bench(args))
    print(report(res))
    if not args.no_write:
        path = write_json(f"votes-{args.db}", res)
        print(f"written: {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")
    return 1 if args.strict and not all(res["targets"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
