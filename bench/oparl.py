"""The OParl API against a real server process: a full crawl of the demo and list-page latency.

    .venv/bin/python -m bench.oparl --db sqlite|postgres|both [--scale 10y|standard|small] \\
        [--duration 10] [--concurrency 2] [--crawl-concurrency 4] [--workers 2] [--limit 100] [--no-crawl]

Per database it prepares (or reuses) the demo like ``bench.pages`` (same cache under var/bench/), starts
``uvicorn web.asgi:app --workers N`` as a separate process group (``--workers``, default 2: one per core of
the 2-core target machine; server CPU is summed over the uvicorn processes), then

* ``/healthz`` — the baseline in the same run (framework + transport + client), first and at the end;
* list pages — ``/oparl/v1/body/{id}/{papers,meetings,agenda-items,files,persons,...}?after=<id>`` (the
  keyset pages ``links.next`` leads to, at the server's page sizes) spread over the whole id range of each
  list, first page included, requested by ``--concurrency`` clients at once (default 2: a couple of
  clients, not a load test). Target: **p95 < 50 ms**. The same pages are requested again and again, so
  after the warm-up they come from the server's caches of serialised objects and counts
  (``council.oparl.cache``); the phase before it, ``OParl list pages, 1st request``, asks for each page
  once, before the caches hold it (the first and last page of each list were read once to find the
  id range). The crawl reads every page once too;
* single objects — ``/oparl/v1/paper/{id}`` and ``/oparl/v1/meeting/{id}``;
* the **full crawl** — what an OParl client does: System → bodies → every list of the body, page by page
  following ``links.next`` (lists crawled side by side, ``--crawl-concurrency``), counting objects
  (embedded ones included) per second. Target: all papers (20,000 at 10y) in well under a minute.

Figures go to ``bench/results/oparl-<db>-<scale>-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from typing import Any

import httpx

from bench._load import (
    RESULTS_DIR,
    EndpointResult,
    Server,
    Target,
    drive,
    format_table,
    machine_info,
    make_client,
    warm_up,
    write_json,
)
from bench.pages import PG_ADMIN_URL, _settings, prepare

LIST_TARGET = Target(max_p95_ms=50)
CRAWL_PAPERS_BUDGET_S = 60.0
LISTS = ["papers", "meetings", "agenda-items", "consultations", "files", "persons", "organizations",
         "memberships", "locations", "legislative-terms"]  # fmt: skip


def _count_objects(node: Any) -> int:
    """OParl objects in a JSON document, embedded ones included."""
    if isinstance(node, dict):
        own = (
            1
            if isinstance(node.get("type"), str) and node["type"].startswith("https://schema.oparl.org/")
            else 0
        )
        return own + sum(_count_objects(v) for v in node.values())
    if isinstance(node, list):
        return sum(_count_objects(v) for v in node)
    return 0


async def _get_json(client: httpx.AsyncClient, url: str) -> Any:
    response = await client.get(url)
    response.raise_for_status()
    return response.json()


async def crawl(base_url: str, concurrency: int, limit: int | None) -> dict[str, Any]:
    """System → bodies → every list, all pages. Returns counts and timings."""
    stats: dict[str, Any] = {"lists": {}, "pages": 0, "objects": 0, "bytes": 0, "errors": []}
    limits = httpx.Limits(max_connections=concurrency + 2, max_keepalive_connections=concurrency + 2)
    t0 = time.perf_counter()
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60.0) as client:
        system = await _get_json(client, "/oparl/v1/system")
        bodies = await _get_json(client, system["body"])
        list_urls: list[tuple[str, str]] = []
        for body in bodies["data"]:
            for key in ("paper", "meeting", "agendaItem", "consultation", "file", "person", "organization",
                        "membership", "locationList", "legislativeTermList"):  # fmt: skip
                list_urls.append((key, body[key]))
        semaphore = asyncio.Semaphore(concurrency)

        async def walk(key: str, url: str) -> None:
            started = time.perf_counter()
            pages = objects = top = 0
            next_url: str | None = url + (f"?limit={limit}" if limit else "")
            async with semaphore:
                while next_url:
                    try:
                        response = await client.get(next_url)
                        response.raise_for_status()
                    except Exception as exc:  # report, keep crawling the other lists
                        stats["errors"].append(f"{next_url}: {exc}")
                        break
                    stats["bytes"] += len(response.content)
                    doc = response.json()
                    pages += 1
                    top += len(doc["data"])
                    objects += _count_objects(doc["data"])
                    next_url = doc["links"].get("next")
            stats["lists"][key] = {
                "pages": pages,
                "top_level_objects": top,
                "objects_with_embedded": objects,
                "seconds": round(time.perf_counter() - started, 3),
            }
            stats["pages"] += pages
            stats["objects"] += objects

        await asyncio.gather(*(walk(k, u) for k, u in list_urls))
    stats["seconds"] = round(time.perf_counter() - t0, 3)
    stats["objects_per_s"] = round(stats["objects"] / stats["seconds"], 1) if stats["seconds"] else None
    stats["pages_per_s"] = round(stats["pages"] / stats["seconds"], 1) if stats["seconds"] else None
    return stats


async def _list_paths(base_url: str, per_list: int) -> tuple[list[str], list[str]]:
    """List page paths spread over the whole id range of every list, and a sample of object paths.

    The pages are the ones a client following ``links.next`` gets: keyset pages ``?after=<id>``. Any id
    is a valid cursor (the page holds the elements after it), so the cursors are spread evenly from 0 to
    the largest id of the list (the last element of the ``last`` page); the first page is one of them."""
    paths: list[str] = []
    objects: list[str] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0) as client:
        bodies = await _get_json(client, "/oparl/v1/bodies")
        for body in bodies["data"]:
            body_id = body["id"].rsplit("/", 1)[1]
            for segment in LISTS:
                url = f"/oparl/v1/body/{body_id}/{segment}"
                first = await _get_json(client, url)
                last = (
                    first if "last" not in first["links"] else await _get_json(client, first["links"]["last"])
                )
                if not last["data"]:
                    paths.append(url)
                    continue
                low = int(first["data"][0]["id"].rsplit("/", 1)[1])
                high = int(last["data"][-1]["id"].rsplit("/", 1)[1])
                pages = max(1, min(per_list, first["pagination"].get("totalPages", 1)))
                paths.append(url)
                for n in range(1, pages):
                    paths.append(f"{url}?after={low + (high - low) * n // pages}")
                if segment in ("papers", "meetings"):
                    objects += [o["id"].split("/oparl/", 1)[1] for o in first["data"][:50]]
    return paths, ["/oparl/" + o for o in objects]


async def bench_one(db_kind: str, args: argparse.Namespace) -> dict[str, Any]:
    prepared = await prepare(db_kind, args.scale, fresh=args.fresh, reuse=args.reuse, admin_url=args.pg_url)
    _settings(prepared.var_dir, prepared.database_url)
    print(f"\n[{db_kind}] scale {prepared.scale}: {prepared.counts}", flush=True)
    log_path = RESULTS_DIR / f"server-oparl-{db_kind}.log"
    results: list[EndpointResult] = []
    baseline: EndpointResult | None = None
    crawl_stats: dict[str, Any] | None = None
    server = Server(prepared.server_env(), log_path=log_path, workers=args.workers)
    print(
        f"  server: uvicorn --workers {server.workers}; list pages and objects at client concurrency "
        f"{args.concurrency}, crawl at {args.crawl_concurrency}",
        flush=True,
    )
    server.env["RATHAUS_BASE_URL"] = server.base_url  # the API's absolute links point at this server
    with server:
        list_paths, object_paths = await _list_paths(server.base_url, args.pages_per_list)
        async with make_client(server.base_url, args.concurrency, args.client) as client:
            plan: list[tuple[str, list[str], Target | None]] = [
                ("/healthz", ["/healthz"], None),
                ("OParl list pages", list_paths, LIST_TARGET),
                ("OParl objects", object_paths, None),
            ]
            for name, paths, target in plan:
                if name == "OParl list pages":
                    # Each page once, before any warm-up: what a page costs without the server's caches
                    # of serialised objects and counts (the first and last pages were read once above).
                    res = await drive(
                        client, "OParl list pages, 1st request", paths, duration=120.0,
                        concurrency=args.concurrency, max_requests=len(paths), server=server,
                    )  # fmt: skip
                    results.append(res)
                    print(
                        f"  {res.name}: {res.requests} req, p95 {res.p95:.1f} ms, {res.errors} errors",
                        flush=True,
                    )
                await warm_up(client, paths, seconds=args.warmup, concurrency=args.concurrency)
                res = await drive(
                    client, name, paths, duration=args.duration, concurrency=args.concurrency,
                    max_requests=args.max_requests, server=server, target=target,
                )  # fmt: skip
                results.append(res)
                if baseline is None:
                    baseline = res
                print(f"  {name}: {res.requests} req, {res.rps:.0f} req/s, p95 {res.p95:.1f} ms, "
                      f"{res.errors} errors", flush=True)  # fmt: skip
        if not args.no_crawl:
            cpu0 = server.cpu_seconds()
            crawl_stats = await crawl(server.base_url, args.crawl_concurrency, args.limit)
            cpu1 = server.cpu_seconds()
            if cpu0 is not None and cpu1 is not None:
                crawl_stats["server_cpu_s"] = round(cpu1 - cpu0, 2)
        async with make_client(server.base_url, args.concurrency, args.client) as client:
            res = await drive(
                client, "/healthz (end)", ["/healthz"], duration=args.duration, concurrency=args.concurrency,
                max_requests=args.max_requests, server=server,
            )  # fmt: skip
            results.append(res)
        server_log = server.log_tail(2000)

    print(
        f"\n[{db_kind}] scale {prepared.scale}, uvicorn workers {args.workers}, client concurrency "
        f"{args.concurrency} (crawl {args.crawl_concurrency}), {args.duration:g} s per endpoint"
    )
    print(format_table(results, baseline))
    verdict = None
    if crawl_stats is not None:
        papers = crawl_stats["lists"].get("paper", {})
        verdict = (
            "PASS"
            if papers.get("seconds", 1e9) < CRAWL_PAPERS_BUDGET_S and not crawl_stats["errors"]
            else "FAIL"
        )
        print(
            f"\n  full crawl: {crawl_stats['pages']} list pages, {crawl_stats['objects']} objects (embedded "
            f"included) in {crawl_stats['seconds']:.1f} s = {crawl_stats['objects_per_s']} objects/s, "
            f"{crawl_stats['pages_per_s']} pages/s, {len(crawl_stats['errors'])} errors"
        )
        print(
            f"  papers list: {papers.get('top_level_objects')} papers in {papers.get('pages')} pages, "
            f"{papers.get('seconds')} s (target < {CRAWL_PAPERS_BUDGET_S:g} s): {verdict}"
        )
        for key, value in sorted(crawl_stats["lists"].items()):
            print(f"    {key:20} {value}")
        for error in crawl_stats["errors"][:5]:
            print(f"    error: {error}")
    if any(r.errors for r in results) or (crawl_stats and crawl_stats["errors"]):
        print(f"\n  server log tail ({log_path}):\n{server_log}")
    return {
        "db": db_kind,
        "scale": prepared.scale,
        "counts": prepared.counts,
        "endpoints": [r.as_json(baseline) for r in results],
        "list_paths": len(list_paths),
        "crawl": crawl_stats,
        "crawl_papers_verdict": verdict,
        "workers": args.workers,
        "concurrency": args.concurrency,
        "crawl_concurrency": args.crawl_concurrency,
    }


async def main_async(args: argparse.Namespace) -> int:
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    failed = False
    for kind in kinds:
        payload = await bench_one(kind, args)
        payload["machine"] = machine_info()
        payload["args"] = {k: str(v) for k, v in vars(args).items()}
        path = write_json(f"oparl-{kind}-{args.scale}", payload)
        print(f"\n  figures: {path}")
        checks = [e for e in payload["endpoints"] if e.get("name") == "OParl list pages"]
        failed |= payload.get("crawl_papers_verdict") == "FAIL" or any(
            e.get("errors") or (e.get("p95_ms") or 0) >= 50 for e in checks
        )
    return 1 if (failed and args.strict) else 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    p.add_argument("--scale", default="10y")
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument(
        "--concurrency", type=int, default=2, help="clients at once for /healthz, list pages, objects (2)"
    )
    p.add_argument(
        "--workers", type=int, default=2, help="uvicorn worker processes (default 2: the 2-core target)"
    )
    p.add_argument("--max-requests", type=int, default=200_000)
    p.add_argument("--crawl-concurrency", type=int, default=4, help="lists crawled side by side (4)")
    p.add_argument(
        "--limit", type=int, default=None, help="limit= for the crawl (default: the server's page sizes)"
    )
    p.add_argument("--pages-per-list", type=int, default=20)
    p.add_argument("--no-crawl", action="store_true")
    p.add_argument("--client", choices=["raw", "httpx"], default="raw")
    p.add_argument("--fresh", action="store_true")
    p.add_argument("--reuse", type=lambda s: __import__("pathlib").Path(s).resolve(), default=None)
    p.add_argument("--pg-url", default=PG_ADMIN_URL)
    p.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return int(asyncio.run(main_async(args)))
    except (asyncio.CancelledError, KeyboardInterrupt):
        print("\ninterrupted: server stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
