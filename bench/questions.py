"""Question time under load: how many submissions per second the app accepts (one uvicorn process,
the real form POST with CSRF, every acknowledgement a committed row), and the latency of each.

    .venv/bin/python -m bench.questions [--db sqlite|postgres] [--seconds 20] [--concurrency 16]
                                        [--limited-seconds 5] [--strict]

1. **Accept**: ``--concurrency`` clients in a closed loop for ``--seconds`` post distinct questions
   (per-IP limit off); figures: accepted/s, latency p50/p99/max, non-303 answers, and a check that
   every acknowledged question has its row (tokens hashed in the database).
2. **Limited**: the same load against a per-IP limit of 20 per window for ``--limited-seconds``: how
   fast a flood is turned away with 429 (nothing written), and that 5xx never happen.

Prints a table and writes ``bench/results/questions-<db>-*.json``. The database is fresh every run
(SQLite under ``var/bench/questions-sqlite``, PostgreSQL database ``rathaus_bench_questions``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sys
import time
from collections.abc import Sequence
from typing import Any

import httpx

from bench._load import REPO_ROOT, RESULTS_DIR, Server, machine_info, percentile, write_json

SECRET = "bench-questions-secret-key-not-for-production"
DEFAULT_PG = os.environ.get("RATHAUS_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = "rathaus_bench_questions"


async def prepare(db_kind: str, pg_admin: str) -> tuple[Any, Any]:
    from council.core.db import Database
    from council.core.settings import Settings
    from tests.question_helpers import make_question_town
    from web.models import metadata

    var_dir = REPO_ROOT / "var" / "bench" / f"questions-{db_kind}"
    if var_dir.exists():
        shutil.rmtree(var_dir)
    var_dir.mkdir(parents=True)
    if db_kind == "postgres":
        import asyncpg

        conn = await asyncpg.connect(pg_admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{DB_NAME}"')
        finally:
            await conn.close()
        url = pg_admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + "/" + DB_NAME
    else:
        url = f"sqlite+aiosqlite:///{var_dir / 'rathaus.db'}"
    settings = Settings(database_url=url, var_dir=var_dir, secret_key=SECRET, jobs_in_process=False)
    db = Database(settings)
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    qt = await make_question_town(db)
    await db.dispose()
    return settings, qt


def server_env(settings: Any, ip_limit: int) -> dict[str, str]:
    return {
        "RATHAUS_DATABASE_URL": settings.resolved_database_url,
        "RATHAUS_VAR_DIR": str(settings.var_dir),
        "RATHAUS_SECRET_KEY": SECRET,
        "RATHAUS_JOBS_IN_PROCESS": "false",
        "RATHAUS_PAGE_CACHE_SECONDS": "0",
        "RATHAUS_QUESTIONS_IP_LIMIT": str(ip_limit),
        "RATHAUS_QUESTIONS_PER_PERSON": "1000000",
        "PYTHONPATH": str(REPO_ROOT),
    }


def stats(values_ms: list[float]) -> dict[str, float | int | None]:
    v = sorted(values_ms)
    r = lambda x: None if x != x else round(x, 1)  # noqa: E731 (NaN → None)
    return {
        "n": len(v),
        "p50_ms": r(percentile(v, 50)),
        "p99_ms": r(percentile(v, 99)),
        "max_ms": r(v[-1]) if v else None,
    }


async def load(base: str, mid: int, seconds: float, concurrency: int, tag: str) -> dict[str, Any]:
    async with httpx.AsyncClient(
        base_url=base, timeout=30, limits=httpx.Limits(max_connections=concurrency)
    ) as c:
        r = await c.get(f"/sitzungen/{mid}/fragen")
        m = re.search(r'name="_csrf_token" value="([^"]+)"', r.text)
        assert m, f"no CSRF token on the form ({r.status_code})"
        csrf = m.group(1)
        codes: dict[str, int] = {}
        lat: dict[int, list[float]] = {}
        acked: list[str] = []
        counter = iter(range(10**9))
        end = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < end:
                i = next(counter)
                t = time.perf_counter()
                try:
                    resp = await c.post(
                        f"/sitzungen/{mid}/fragen",
                        data={
                            "_csrf_token": csrf,
                            "text": f"Lastfrage {tag} {i}: wann kommt der Radweg?",
                            "name": f"Person {tag}{i}",
                        },
                        follow_redirects=False,
                    )
                    code = resp.status_code
                except httpx.HTTPError:
                    code = -1
                lat.setdefault(code, []).append((time.perf_counter() - t) * 1000)
                codes[str(code)] = codes.get(str(code), 0) + 1
                if code == 303:
                    acked.append(resp.headers["location"].rsplit("/", 1)[1])

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return {
        "seconds": round(wall, 2),
        "concurrency": concurrency,
        "codes": codes,
        "accepted": len(acked),
        "accepted_per_s": round(len(acked) / wall, 1),
        "answers_per_s": round(sum(codes.values()) / wall, 1),
        "ack_latency": stats(lat.get(303, [])),
        "limited_latency": stats(lat.get(429, [])),
        "server_errors": sum(n for k, n in codes.items() if k.startswith("5") or k == "-1"),
        "tokens": acked,
    }


async def stored_hashes(settings: Any) -> set[str]:
    from sqlalchemy import select

    from council.core.db import Database
    from council.questions.models import Question

    db = Database(settings)
    try:
        async with db.sessionmaker() as s:
            return set((await s.execute(select(Question.token_hash))).scalars())
    finally:
        await db.dispose()


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    from council.questions.service import token_hash

    settings, qt = await prepare(args.db, args.pg_url)
    log = RESULTS_DIR / f"server-questions-{args.db}.log"
    with Server(server_env(settings, 10**9), log_path=log) as server:
        await load(server.base_url, qt.meeting_id, 2, args.concurrency, "warm")  # first queries, templates
        accept = await load(server.base_url, qt.meeting_id, args.seconds, args.concurrency, "a")
    with Server(server_env(settings, 20), log_path=log) as server:
        limited = await load(server.base_url, qt.meeting_id, args.limited_seconds, args.concurrency, "l")
    stored = await stored_hashes(settings)
    acked = accept.pop("tokens") + limited.pop("tokens")
    missing = sum(1 for t in acked if token_hash(t) not in stored)
    targets = {
        "no_5xx": accept["server_errors"] == 0 and limited["server_errors"] == 0,
        "every_ack_stored": missing == 0,
        "limited_to_20": limited["accepted"] <= 20,
    }
    return {
        "benchmark": "questions",
        "db": args.db,
        "machine": machine_info(),
        "accept": accept,
        "limited": limited,
        "missing_rows": missing,
        "targets": targets,
    }


def report(res: dict[str, Any]) -> str:
    a, lim = res["accept"], res["limited"]
    return "\n".join(
        [
            f"questions benchmark ({res['db']}), {a['concurrency']} concurrent clients, one server process",
            f"  accept   {a['accepted_per_s']} submissions/s ({a['accepted']} in {a['seconds']} s)  "
            f"p50 {a['ack_latency']['p50_ms']} ms  p99 {a['ack_latency']['p99_ms']} ms  "
            f"max {a['ack_latency']['max_ms']} ms  codes {a['codes']}",
            f"  limited  {lim['answers_per_s']} answers/s, {lim['accepted']} accepted, 429 p50 "
            f"{lim['limited_latency']['p50_ms']} ms p99 {lim['limited_latency']['p99_ms']} ms  "
            f"codes {lim['codes']}",
            f"  acknowledged but missing rows: {res['missing_rows']}",
            "  targets: " + ", ".join(f"{k}={'PASS' if ok else 'FAIL'}" for k, ok in res["targets"].items()),
        ]
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--limited-seconds", type=float, default=5.0)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--pg-url", default=DEFAULT_PG)
    p.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    p.add_argument("--no-write", action="store_true", help="do not write JSON to bench/results")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    res = asyncio.run(bench(args))
    print(report(res))
    if not args.no_write:
        path = write_json(f"questions-{args.db}", res)
        print(f"written: {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")
    return 1 if args.strict and not all(res["targets"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
