"""Meeting page and search on the demo municipality, SQLite and PostgreSQL, against a real server process.

    .venv/bin/python -m bench.pages --db sqlite|postgres|both --duration 20 --concurrency 16 \\
        [--scale 10y|standard|small] [--reuse DIR] [--fresh]

For each database it prepares (or reuses) a database with the demo at that scale, starts ``uvicorn
web.asgi:app`` as a separate process (one worker: the machine has two cores and the load generator needs
the other), warms up, then drives keep-alive HTTP/1.1 load against

* ``/healthz`` — the baseline: framework + transport + client ceiling, measured in the same run;
* ``/sitzungen/{id}`` — ~200 public meetings of varied size (evenly spread over the agenda-size order);
* ``/suche?q=…`` — ~30 German queries people type, without and with filters;

prints req/s, p50/p95/p99/max, errors (non-2xx, must be 0), server CPU per request, the ratio to the
baseline and PASS/FAIL against the targets (meeting page ≥ 500 req/s with p95 < 50 ms; search p95 <
100 ms), then times ``council.search.query.search`` in-process for the same queries (no HTTP) to show
where the time goes. Figures go to ``bench/results/pages-<db>-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench._load import (
    REPO_ROOT,
    RESULTS_DIR,
    EndpointResult,
    Server,
    Target,
    cancel_on_sigterm,
    drive,
    format_table,
    machine_info,
    make_client,
    percentile,
    warm_up,
    write_json,
)

CACHE_DIR = REPO_ROOT / "var" / "bench"  # var/ is gitignored
PG_ADMIN_URL = os.environ.get("RATHAUS_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = "bench-secret-key-not-for-production"

MEETING_TARGET = Target(min_rps=500, max_p95_ms=50)
SEARCH_TARGET = Target(max_p95_ms=100)

#: What residents type into the search box of a German town council site (Hennef: Uckerath, Söven,
#: Stadt Blankenberg, Sieg …): single words, compounds, place names, phrases, operators.
QUERIES: list[str] = [
    "Radweg",
    "Bebauungsplan Uckerath",
    "Haushaltssatzung",
    "Kita",
    "Breitband",
    "Schule Söven",
    '"Stadt Blankenberg"',
    "Sanierung",
    "Feuerwehr",
    "Bebauungsplan",
    "Kindertagesstätte",
    "Grundschule",
    "Straßenbeleuchtung",
    "Hochwasserschutz Sieg",
    "Spielplatz",
    "Friedhof",
    "Gewerbegebiet",
    "Photovoltaik",
    "Klimaschutz",
    "Jahresabschluss",
    "Bürgerantrag",
    "Windenergie",
    "ÖPNV Bus",
    "Turnhalle",
    "Stellenplan",
    "Sportplatz Kunstrasen",
    "Flächennutzungsplan Änderung",
    "Niederschrift",
    "Wasserversorgung Kanal",
    "Schulweg -Radweg",
]


# --- preparing the database ------------------------------------------------------------------------------


@dataclass
class Prepared:
    db: str  # sqlite | postgres
    scale: str
    var_dir: Path
    database_url: str
    reused: bool
    prepare_s: float | None
    counts: dict[str, int]
    schema: str | None = None

    def server_env(self, page_cache_seconds: float = 0.0) -> dict[str, str]:
        return {
            # 0: every request renders the page (the cost of a page); >0: anonymous micro-cache on.
            "RATHAUS_PAGE_CACHE_SECONDS": str(page_cache_seconds),
            "RATHAUS_DATABASE_URL": self.database_url,
            "RATHAUS_VAR_DIR": str(self.var_dir),
            "RATHAUS_SECRET_KEY": SECRET,
            # No job runner polling the job table while we measure; preparation ran all jobs.
            "RATHAUS_JOBS_IN_PROCESS": "false",
            "RATHAUS_DEBUG": "false",
            "RATHAUS_CHANNELS_BACKEND": "memory",
        }


def _settings(var_dir: Path, database_url: str) -> Any:
    from council.core.settings import Settings

    return Settings(var_dir=var_dir, database_url=database_url, secret_key=SECRET, jobs_in_process=False)


def _pg_url(dbname: str, admin_url: str) -> str:
    base = admin_url.rsplit("/", 1)[0]
    return base.replace("postgresql://", "postgresql+asyncpg://", 1) + "/" + dbname


async def _pg_admin(admin_url: str, sql: str, *args: Any) -> Any:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def _counts(settings: Any) -> dict[str, int]:
    from sqlalchemy import func, select

    from council.core.db import Database
    from council.records.models import AgendaItem, File, Meeting, Paper

    db = Database(settings)
    try:
        async with db.session() as s:
            out = {}
            for name, model in (
                ("meetings", Meeting),
                ("agenda_items", AgendaItem),
                ("papers", Paper),
                ("files", File),
            ):
                out[name] = int((await s.execute(select(func.count()).select_from(model))).scalar_one())
            return out
    finally:
        await db.dispose()


async def _run_jobs(settings: Any) -> int:
    """Run what the demo queued (text extraction, indexing) so nothing runs during the measurement."""
    from council.core.db import Database
    from council.core.jobs import JobRunner
    from web.app import _register_jobs

    _register_jobs()
    db = Database(settings)
    try:
        return await JobRunner(db.sessionmaker, settings=settings).run_until_empty()
    finally:
        await db.dispose()


async def _complete_schema(settings: Any) -> list[str]:
    """Create the tables the migrations do not (yet) have from the models (``create_all`` skips the rest)."""
    from sqlalchemy import inspect as sa_inspect

    from council.core.db import Database
    from council.core.models import metadata

    db = Database(settings)
    try:
        async with db.engine.begin() as conn:
            present = set(await conn.run_sync(lambda c: sa_inspect(c).get_table_names()))
            missing = [t.name for t in metadata.sorted_tables if t.name not in present]
            if missing:
                await conn.run_sync(metadata.create_all)
        return missing
    finally:
        await db.dispose()


async def _load_demo(settings: Any, scale: str) -> None:
    from council.core.db import Database
    from council.demo import load_demo

    db = Database(settings)
    try:
        await load_demo(db, settings, scale=scale)
    finally:
        await db.dispose()


async def prepare(db_kind: str, scale: str, *, fresh: bool, reuse: Path | None, admin_url: str) -> Prepared:
    """A database with the demo at ``scale``: cached under var/bench/ (SQLite) or as rathaus_bench_<scale>."""
    from council.core.migrate import upgrade

    if reuse is not None:
        var_dir = reuse  # already absolute (parse_args)
        if db_kind == "sqlite":
            url = f"sqlite+aiosqlite:///{var_dir / 'rathaus.db'}"
            if not (var_dir / "rathaus.db").exists():
                raise SystemExit(f"--reuse {reuse}: no rathaus.db there")
        else:
            url = os.environ.get("RATHAUS_DATABASE_URL") or _pg_url(
                f"rathaus_bench_{_ident(scale)}", admin_url
            )
        settings = _settings(var_dir, url)
        return Prepared(db_kind, scale, var_dir, url, True, None, await _counts(settings))

    var_dir = (CACHE_DIR / f"{db_kind}-{scale}").resolve()
    marker = var_dir / "prepared.json"
    if db_kind == "sqlite":
        url = f"sqlite+aiosqlite:///{var_dir / 'rathaus.db'}"
        exists = (var_dir / "rathaus.db").exists()
    else:
        dbname = f"rathaus_bench_{_ident(scale)}"
        url = _pg_url(dbname, admin_url)
        rows = await _pg_admin(admin_url, "SELECT 1 FROM pg_database WHERE datname = $1", dbname)
        exists = bool(rows)
    settings = _settings(var_dir, url)

    if exists and marker.exists() and not fresh:
        info = json.loads(marker.read_text())
        counts = await _counts(settings)
        return Prepared(db_kind, scale, var_dir, url, True, info.get("prepare_s"), counts, info.get("schema"))

    print(f"[{db_kind}] preparing the {scale!r} demo in {var_dir} …", flush=True)
    t0 = time.perf_counter()
    if var_dir.exists():
        shutil.rmtree(var_dir)
    var_dir.mkdir(parents=True)
    if db_kind == "postgres":
        await _pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        await _pg_admin(admin_url, f'CREATE DATABASE "{dbname}"')
    # upgrade() runs Alembic, which calls asyncio.run itself: keep it off this loop.
    schema = "alembic"
    try:
        await asyncio.to_thread(upgrade, settings)
    except Exception as exc:  # a broken migration must not stop the benchmark: say so, use the models
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        print(f"[{db_kind}] WARNING: the migration failed ({type(exc).__name__}: {first})", flush=True)
        print(f"[{db_kind}] creating the schema from the models instead (metadata.create_all)", flush=True)
        schema = "models (migration failed)"
        if db_kind == "postgres":
            await _pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            await _pg_admin(admin_url, f'CREATE DATABASE "{dbname}"')
        else:
            for suffix in ("", "-wal", "-shm"):
                (var_dir / f"rathaus.db{suffix}").unlink(missing_ok=True)
    missing = await _complete_schema(settings)
    if missing and schema == "alembic":
        schema = "alembic + models"
        print(f"[{db_kind}] the migration lacks {', '.join(missing)}: created from the models", flush=True)
    await _load_demo(settings, scale)
    jobs = await _run_jobs(settings)
    if db_kind == "postgres":
        import asyncpg

        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
        try:
            await conn.execute("VACUUM ANALYZE")  # what autovacuum would have done by the time anyone looks
        finally:
            await conn.close()
    prepare_s = time.perf_counter() - t0
    counts = await _counts(settings)
    marker.write_text(
        json.dumps({"scale": scale, "prepare_s": prepare_s, "jobs_run": jobs, "counts": counts})
    )
    print(f"[{db_kind}] prepared in {prepare_s:.0f} s: {counts}, {jobs} jobs run", flush=True)
    return Prepared(db_kind, scale, var_dir, url, False, prepare_s, counts, schema)


def _ident(s: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in s.lower())


# --- what to request ---------------------------------------------------------------------------------------


async def meeting_sample(settings: Any, n: int) -> list[int]:
    """``n`` public meetings spread evenly over (number of public agenda items, id): small to large, fixed."""
    from sqlalchemy import and_, false, func, select, true

    from council.core.db import Database
    from council.records.access import ANONYMOUS, meeting_visible
    from council.records.models import AgendaItem, Meeting

    db = Database(settings)
    try:
        async with db.session() as s:
            items = func.count(AgendaItem.id)
            stmt = (
                select(Meeting.id, items)
                .outerjoin(
                    AgendaItem,
                    and_(
                        AgendaItem.meeting_id == Meeting.id,
                        AgendaItem.deleted == false(),
                        AgendaItem.public == true(),
                    ),
                )
                .where(meeting_visible(ANONYMOUS))
                .group_by(Meeting.id)
                .order_by(items, Meeting.id)
            )
            rows = (await s.execute(stmt)).all()
    finally:
        await db.dispose()
    if not rows:
        return []
    if len(rows) <= n:
        return [r[0] for r in rows]
    step = (len(rows) - 1) / (n - 1)
    return sorted({rows[round(i * step)][0] for i in range(n)})


async def search_filters(settings: Any) -> list[dict[str, str]]:
    """Filters the search form offers: kind (``art``), committee, period, paper type."""
    from sqlalchemy import false, select

    from council.core.db import Database
    from council.records.models import Meeting, Organization, meeting_organization

    db = Database(settings)
    try:
        async with db.session() as s:
            org = (
                await s.execute(
                    select(Organization.id)
                    .join(meeting_organization, meeting_organization.c.organization_id == Organization.id)
                    .join(Meeting, Meeting.id == meeting_organization.c.meeting_id)
                    .where(Organization.deleted == false())
                    .group_by(Organization.id)
                    .order_by(Organization.id)
                    .limit(1)
                )
            ).scalar_one_or_none()
            last = (
                await s.execute(select(Meeting.start).order_by(Meeting.start.desc()).limit(1))
            ).scalar_one_or_none()
    finally:
        await db.dispose()
    year = (last.year if last else time.gmtime().tm_year) - 1
    filters: list[dict[str, str]] = [{"art": "vorlage"}, {"art": "top"}, {"art": "dokument"}]
    filters.append({"von": f"{year}-01-01", "bis": f"{year}-12-31"})
    if org is not None:
        filters.append({"gremium": str(org)})
    filters.append({"art": "vorlage", "typ": "Beschlussvorlage"})
    return filters


def search_paths(filters: Sequence[dict[str, str]]) -> list[str]:
    """Every query plain, and every query with one filter (round-robin) — interleaved."""
    paths = []
    for i, q in enumerate(QUERIES):
        paths.append("/suche?" + urlencode({"q": q}))
        if filters:
            paths.append("/suche?" + urlencode({"q": q, **filters[i % len(filters)]}))
    return paths


# --- the in-process query-level benchmark -----------------------------------------------------------------


async def query_level(settings: Any, rounds: int, budget_s: float) -> dict[str, Any] | None:
    """Time ``council.search.query.search`` directly (no HTTP, no templates) for each query."""
    try:
        from council.search import query as search_query
    except ImportError as exc:
        print(f"  (query-level benchmark skipped: {exc})")
        return None
    from council.core.db import Database
    from council.records.access import ANONYMOUS

    fn = search_query.search
    # search(session, viewer, q, *, kinds, organization_id, date_from, date_to, paper_type, page, per_page)
    kwargs: dict[str, Any] = {"per_page": 20} if "per_page" in inspect.signature(fn).parameters else {}
    db = Database(settings)
    per_query: dict[str, list[float]] = {q: [] for q in QUERIES}
    hits: dict[str, Any] = {}
    deadline = time.perf_counter() + budget_s
    try:
        for _ in range(rounds):
            for q in QUERIES:
                if time.perf_counter() > deadline:
                    break
                async with db.session() as s:
                    t0 = time.perf_counter()
                    res = await fn(s, ANONYMOUS, q, **kwargs)
                    per_query[q].append((time.perf_counter() - t0) * 1000)
                hits[q] = _hit_count(res)
    finally:
        await db.dispose()
    all_ms = sorted(x for v in per_query.values() for x in v)
    if not all_ms:
        return None
    rows = {
        q: {
            "median_ms": round(statistics.median(v), 2),
            "max_ms": round(max(v), 2),
            "runs": len(v),
            "hits": hits.get(q),
        }
        for q, v in per_query.items()
        if v
    }
    return {
        "calls": len(all_ms),
        "p50_ms": round(percentile(all_ms, 50), 2),
        "p95_ms": round(percentile(all_ms, 95), 2),
        "p99_ms": round(percentile(all_ms, 99), 2),
        "max_ms": round(all_ms[-1], 2),
        "per_query": rows,
    }


def _hit_count(res: Any) -> Any:
    for attr in ("total", "count"):
        if isinstance(getattr(res, attr, None), int):
            return getattr(res, attr)
    for attr in ("hits", "results", "items"):
        v = getattr(res, attr, None)
        if isinstance(v, list):
            return len(v)
    if isinstance(res, list | tuple):
        return len(res)
    return None


def print_query_level(ql: dict[str, Any]) -> None:
    print(
        f"\n  council.search.query.search in-process: {ql['calls']} calls, p50 {ql['p50_ms']} ms, "
        f"p95 {ql['p95_ms']} ms, p99 {ql['p99_ms']} ms, max {ql['max_ms']} ms"
    )
    slow = sorted(ql["per_query"].items(), key=lambda kv: -kv[1]["median_ms"])
    width = max(len(q) for q, _ in slow)
    print(f"  {'query'.ljust(width)}  median ms  max ms  hits")
    for q, row in slow:
        print(f"  {q.ljust(width)}  {row['median_ms']:9.2f}  {row['max_ms']:6.2f}  {row['hits']}")


# --- one database -------------------------------------------------------------------------------------------


async def bench_one(db_kind: str, args: argparse.Namespace) -> dict[str, Any]:
    prepared = await prepare(
        db_kind,
        args.scale,
        fresh=args.fresh,
        reuse=args.reuse,
        admin_url=args.pg_url,
    )
    settings = _settings(prepared.var_dir, prepared.database_url)
    if args.prepare_only:
        print(f"[{db_kind}] {prepared.var_dir} ({prepared.database_url}): {prepared.counts}")
        return {}
    meetings = await meeting_sample(settings, args.meetings)
    if not meetings:
        raise SystemExit(f"[{db_kind}] no public meetings in the database: is the demo loaded?")
    meeting_paths = [f"/sitzungen/{mid}" for mid in meetings]
    s_paths = search_paths(await search_filters(settings)) if not args.no_filters else search_paths([])
    print(
        f"\n[{db_kind}] scale {prepared.scale} ({'reused' if prepared.reused else 'fresh'}): "
        f"{prepared.counts}; "
        f"{len(meeting_paths)} meeting pages, {len(s_paths)} search URLs; "
        f"{args.duration:g} s × {args.concurrency} workers per endpoint",
        flush=True,
    )

    log_path = RESULTS_DIR / f"server-{db_kind}.log"
    results: list[EndpointResult] = []
    baseline: EndpointResult | None = None
    modes = {"off": [("", 0.0)], "on": [(" [page cache]", 10.0)]}.get(
        args.page_cache, [("", 0.0), (" [page cache]", 10.0)]
    )
    server_log = ""
    for suffix, ttl in modes:
        server_log += await _drive_server(
            prepared, args, log_path, suffix, ttl, meeting_paths, s_paths, results
        )
        baseline = baseline or next((r for r in results if r.name == "/healthz"), None)

    print(
        f"\n[{db_kind}] scale {prepared.scale}, concurrency {args.concurrency}, "
        f"{args.duration:g} s per endpoint"
    )
    print(format_table(results, baseline))
    ql = None
    if not args.no_query_bench:
        ql = await query_level(settings, rounds=args.query_rounds, budget_s=max(5.0, args.duration))
        if ql:
            print_query_level(ql)
    errors = sum(r.errors for r in results)
    if errors and server_log.strip():
        print(f"\n  server log tail ({log_path}):\n{server_log}")
    return {
        "db": db_kind,
        "scale": prepared.scale,
        "database_reused": prepared.reused,
        "prepare_s": prepared.prepare_s,
        "schema": prepared.schema,
        "counts": prepared.counts,
        "meeting_ids": meetings,
        "search_paths": s_paths,
        "endpoints": [r.as_json(baseline) for r in results],
        "query_level": ql,
    }


async def _drive_server(
    prepared: Prepared,
    args: argparse.Namespace,
    log_path: Path,
    suffix: str,
    page_cache_seconds: float,
    meeting_paths: list[str],
    s_paths: list[str],
    results: list[EndpointResult],
) -> str:
    """One server process (page cache off or on): baseline, meeting pages, search, baseline again."""
    with Server(prepared.server_env(page_cache_seconds), log_path=log_path) as server:
        async with make_client(server.base_url, args.concurrency, args.client) as client:
            plan: list[tuple[str, list[str], Target | None]] = [
                ("/healthz" + suffix, ["/healthz"], None),
                ("/sitzungen/{id}" + suffix, meeting_paths, MEETING_TARGET),
                ("/suche?q=…" + suffix, s_paths, SEARCH_TARGET),
                ("/healthz (end)" + suffix, ["/healthz"], None),
            ]
            for name, paths, target in plan:
                if args.only and not any(o in name for o in args.only):
                    continue
                if page_cache_seconds > 0:
                    # Steady state of a cache: every page has been asked for once (as readers do
                    # during a session) — expired entries are then re-rendered during the run.
                    await warm_up(client, paths, seconds=600, concurrency=args.concurrency)
                else:
                    await warm_up(client, paths, seconds=args.warmup, concurrency=args.concurrency)
                res = await drive(
                    client,
                    name,
                    paths,
                    duration=args.duration,
                    concurrency=args.concurrency,
                    max_requests=args.max_requests,
                    server=server,
                    target=target,
                )
                results.append(res)
                print(
                    f"  {name}: {res.requests} requests, {res.rps:.0f} req/s, p95 {res.p95:.1f} ms, "
                    f"{res.errors} errors",
                    flush=True,
                )
                for sample in res.error_samples[:3]:
                    print(f"    error: {sample}")
        return server.log_tail(2000)


async def main_async(args: argparse.Namespace) -> int:
    cancel_on_sigterm()
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    if args.reuse and len(kinds) > 1:
        raise SystemExit("--reuse names one database: use it with --db sqlite or --db postgres")
    command = " ".join([Path(sys.executable).name, "-m", "bench.pages", *sys.argv[1:]])
    failed = False
    for kind in kinds:
        started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        info = machine_info()
        figures = await bench_one(kind, args)
        if args.prepare_only:
            continue
        payload = {
            "benchmark": "pages",
            "started": started,
            "command": command,
            "settings": {
                "duration_s": args.duration,
                "concurrency": args.concurrency,
                "max_requests": args.max_requests,
                "warmup_s": args.warmup,
                "client": args.client,
            },
            "targets": {"meeting_page": MEETING_TARGET.describe(), "search": SEARCH_TARGET.describe()},
            "machine": {**info, "loadavg_at_end": os.getloadavg()},
            **figures,
        }
        path = write_json(f"pages-{kind}-{_ident(args.scale)}", payload)
        print(f"\n  figures: {path.relative_to(REPO_ROOT)}")
        failed |= any(e["verdict"].startswith("FAIL") for e in figures["endpoints"])
        failed |= any(e["errors"] for e in figures["endpoints"])
    return 1 if failed and args.strict else 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.pages", description=__doc__.split("\n\n")[0])
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    p.add_argument("--scale", default="10y", help="demo scale: 10y (default), standard, small")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of load per endpoint (default 20)")
    p.add_argument("--concurrency", type=int, default=16, help="concurrent keep-alive workers (default 16)")
    p.add_argument(
        "--max-requests", type=int, default=100_000, help="request cap per endpoint (default 100000)"
    )
    p.add_argument(
        "--warmup", type=float, default=3.0, help="seconds of warm-up per endpoint, at most (default 3)"
    )
    p.add_argument("--meetings", type=int, default=200, help="how many meeting pages to sample (default 200)")
    p.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="load generator: raw (lean httptools client, default) or httpx.AsyncClient",
    )
    p.add_argument("--reuse", metavar="DIR", help="use an existing var dir (and its database) as it is")
    p.add_argument("--fresh", action="store_true", help="re-create the cached database")
    p.add_argument("--prepare-only", action="store_true", help="prepare the databases only")
    p.add_argument("--pg-url", default=PG_ADMIN_URL, help="PostgreSQL admin URL (database 'postgres')")
    p.add_argument("--only", nargs="*", help="run only endpoints whose name contains one of these")
    p.add_argument("--no-filters", action="store_true", help="search without filters only")
    p.add_argument("--no-query-bench", action="store_true", help="skip the in-process query-level benchmark")
    p.add_argument(
        "--query-rounds", type=int, default=5, help="rounds over the queries in-process (default 5)"
    )
    p.add_argument(
        "--page-cache",
        choices=["off", "on", "both"],
        default="both",
        help="measure with the anonymous page cache off (every request renders), on, or both (default)",
    )
    p.add_argument("--strict", action="store_true", help="exit 1 when a target fails or any request errs")
    args = p.parse_args(argv)
    args.reuse = Path(args.reuse).resolve() if args.reuse else None
    if args.duration <= 0 or args.concurrency <= 0 or args.max_requests <= 0:
        p.error("--duration, --concurrency and --max-requests must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import uvloop

        run: Any = uvloop.run
    except ImportError:
        run = asyncio.run
    try:
        return int(run(main_async(args)))
    except (asyncio.CancelledError, KeyboardInterrupt):
        print("\ninterrupted: server stopped, nothing written for the unfinished database", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
