"""Where does a page's time go? Profile requests in-process (cProfile) and count SQL statements.

    .venv/bin/python -m bench.profile --reuse var/bench/sqlite-10y /sitzungen/123 "/suche?q=Radweg" \\
        [--requests 50] [--top 30]

Builds the app in this process on an existing var dir (``--reuse``; ``RATHAUS_DATABASE_URL`` for
PostgreSQL), sends each path ``--requests`` times through Litestar's test client after one warm-up request,
and prints: SQL statements per request (with the slowest statement shapes), wall time per request, and the
cProfile functions with the most cumulative and own time. No server process, no load: this is for
finding hot spots, the figures are not throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SECRET = "bench-secret-key-not-for-production"


class SQLCounter:
    """Counts statements (and their time) on an engine through SQLAlchemy's cursor events."""

    def __init__(self) -> None:
        self.count = 0
        self.shapes: Counter[str] = Counter()
        self.time_by_shape: dict[str, float] = defaultdict(float)
        self._started: dict[int, float] = {}

    def attach(self, engine: Any) -> None:
        from sqlalchemy import event

        event.listen(engine.sync_engine, "before_cursor_execute", self._before)
        event.listen(engine.sync_engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        self._started[id(cursor)] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        t0 = self._started.pop(id(cursor), None)
        shape = " ".join(statement.split())[:160]
        self.count += 1
        self.shapes[shape] += 1
        if t0 is not None:
            self.time_by_shape[shape] += time.perf_counter() - t0

    def reset(self) -> None:
        self.count = 0
        self.shapes.clear()
        self.time_by_shape.clear()


async def profile_paths(paths: Sequence[str], requests: int, top: int) -> None:
    import logging

    import httpx

    from council.core.settings import get_settings
    from web.app import create_app

    logging.getLogger("httpx").setLevel(logging.WARNING)
    app = create_app(get_settings())
    # The app runs on this thread's loop (ASGITransport, no portal thread), so cProfile sees all of it.
    transport = httpx.ASGITransport(app=app)
    headers = {"accept": "text/html", "accept-encoding": "gzip"}
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", headers=headers) as client,
    ):
        counter = SQLCounter()
        counter.attach(app.state.db.engine)
        for path in paths:
            first = await client.get(path)  # warm-up: templates compiled, pools filled
            counter.reset()
            prof = cProfile.Profile()
            t0 = time.perf_counter()
            prof.enable()
            statuses: Counter[int] = Counter()
            for _ in range(requests):
                resp = await client.get(path)
                statuses[resp.status_code] += 1
            prof.disable()
            wall = (time.perf_counter() - t0) / requests * 1000
            size = len(first.content)
            print(f"\n=== {path}: HTTP {dict(statuses)} (warm-up {first.status_code}), {size} B")
            print(f"    {wall:.2f} ms wall per request (in-process, under cProfile: read relatively)")
            print(f"    {counter.count / requests:.1f} SQL statements per request")
            shapes = sorted(counter.shapes, key=lambda sh: -counter.time_by_shape[sh])
            for sh in shapes[:8]:
                n = counter.shapes[sh] / requests
                ms = counter.time_by_shape[sh] / requests * 1000
                print(f"      {n:4.1f}x {ms:7.2f} ms  {sh}")
            for sort in ("cumulative", "tottime"):
                out = io.StringIO()
                stats = pstats.Stats(prof, stream=out)
                stats.strip_dirs().sort_stats(sort).print_stats(top)
                print(f"\n--- top {top} by {sort} ---")
                print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[-6000:])


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n\n")[0])
    p.add_argument("paths", nargs="+", help="paths to request, e.g. /sitzungen/12")
    p.add_argument("--reuse", metavar="DIR", required=True, help="var dir with the database (and files)")
    p.add_argument("--requests", type=int, default=50, help="requests per path (default 50)")
    p.add_argument("--top", type=int, default=30, help="profile lines to print (default 30)")
    args = p.parse_args(argv)
    var_dir = Path(args.reuse).resolve()
    os.environ["RATHAUS_VAR_DIR"] = str(var_dir)
    os.environ.setdefault("RATHAUS_SECRET_KEY", SECRET)
    os.environ["RATHAUS_JOBS_IN_PROCESS"] = "false"
    if not os.environ.get("RATHAUS_DATABASE_URL"):
        os.environ["RATHAUS_DATABASE_URL"] = f"sqlite+aiosqlite:///{var_dir / 'rathaus.db'}"
    asyncio.run(profile_paths(args.paths, max(1, min(args.requests, 10_000)), args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
