"""The OParl importer's rate (objects/s) against the fake OParl endpoint on loopback, with a baseline.

    .venv/bin/python -m bench.oparl_import [--db sqlite|postgres] [--meetings 150] [--papers 300]
        [--items 8] [--page-size 50] [--files]

1. Serves ``tests/fake_oparl`` (uvicorn in a thread, 127.0.0.1) with a town of the given size.
2. **Baseline**: raw ``httpx`` GETs of the same list pages (following ``links.next``) and ``json.loads``,
   no mapping, no database: the ceiling set by HTTP + JSON on this machine.
3. **Full import** into an empty database (schema from the models): read, flatten, upsert, link, index.
4. **Re-run** (``full=True``: everything read again, nothing changes — the idempotent path) and an
   **incremental** run (``modified_since``, nothing changed: the cheap path a cron job takes).
With ``--files`` the first import also downloads every PDF (text extraction queued, not run).
Prints objects/s per phase and the ratio to the baseline; writes
``bench/results/oparl-import-<db>-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "bench" / "results"
sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402

from council.core.db import Database  # noqa: E402
from council.core.models import metadata  # noqa: E402
from council.core.settings import Settings  # noqa: E402
from council.oparl.importer import ImportOptions, import_oparl  # noqa: E402
from tests.fake_oparl import FakeOParl, serve  # noqa: E402

PG_ADMIN_URL = os.environ.get("RATHAUS_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


async def baseline(fake: FakeOParl) -> dict[str, Any]:
    """GET every list page of the body and parse it; count objects (top-level and embedded)."""
    requests = 0
    started = time.perf_counter()
    seen: set[str] = set()
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
        body = json.loads((await client.get(fake.url("/body/1"))).content)
        requests += 1
        seen.update(_ids(body.get("legislativeTerm")))
        for key in (
            "legislativeTermList",
            "locationList",
            "organization",
            "person",
            "membership",
            "meeting",
            "paper",
            "agendaItem",
            "consultation",
            "file",
        ):
            url: str | None = body[key]
            while url:
                page = json.loads((await client.get(url)).content)
                requests += 1
                for obj in page["data"]:
                    for oid in _ids(obj):
                        if oid not in seen:
                            seen.add(oid)
                url = page.get("links", {}).get("next")
    seconds = time.perf_counter() - started
    objects = len(seen) + 1
    return {"objects": objects, "requests": requests, "seconds": seconds, "objects_per_s": objects / seconds}


def _ids(value: Any) -> list[str]:
    out: list[str] = []
    if isinstance(value, dict):
        if isinstance(value.get("id"), str) and ("type" in value or "deleted" in value):
            out.append(value["id"])
        for v in value.values():
            out.extend(_ids(v))
    elif isinstance(value, list):
        for v in value:
            out.extend(_ids(v))
    return out


async def make_settings(kind: str, var_dir: Path) -> tuple[Settings, str | None]:
    if kind == "sqlite":
        settings = Settings(database_url=f"sqlite+aiosqlite:///{var_dir / 'rathaus.db'}", var_dir=var_dir)
        name = None
    else:
        import asyncpg

        name = f"rathaus_bench_oparl_{uuid.uuid4().hex[:8]}"
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        url = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + "/" + name
        settings = Settings(database_url=url, var_dir=var_dir)
    db = Database(settings)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
    finally:
        await db.dispose()
    return settings, name


async def drop_pg(name: str | None) -> None:
    if not name:
        return
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    fake = FakeOParl(
        meetings=args.meetings, papers=args.papers, items_per_meeting=args.items, page_size=args.page_size
    )
    var_dir = Path(tempfile.mkdtemp(prefix="rathaus-bench-oparl-"))
    settings, pg_name = await make_settings(args.db, var_dir)
    db = Database(settings)
    result: dict[str, Any] = {
        "benchmark": "oparl_import",
        "db": args.db,
        "time": datetime.now(UTC).isoformat(),
        "params": vars(args),
    }
    try:
        with serve(fake):
            base = await baseline(fake)
            result["baseline_raw_httpx"] = base
            print(f"objects in the fake town: {base['objects']} ({base['requests']} list pages)")
            print(
                f"{'baseline (httpx GET + json)':34} {base['objects_per_s']:9.0f} objects/s  "
                f"{base['seconds']:6.2f} s"
            )
            phases = [
                ("full import", ImportOptions(files=args.files, extract="none")),
                (
                    "re-run (full, nothing changed)",
                    ImportOptions(files=args.files, extract="none", full=True),
                ),
                ("incremental (nothing changed)", ImportOptions(files=args.files, extract="none")),
            ]
            for label, options in phases:
                started = time.perf_counter()
                report = await import_oparl(db, settings, fake.url("/system"), options)
                seconds = time.perf_counter() - started
                if not report.complete or report.warnings:
                    print(report.summary())
                rate = report.fetched / seconds if seconds else 0.0
                ratio = rate / base["objects_per_s"] if base["objects_per_s"] else 0.0
                result[label] = {
                    "objects": report.fetched,
                    "seconds": seconds,
                    "objects_per_s": rate,
                    "ratio_to_baseline": ratio,
                    "requests": report.requests,
                    "files_downloaded": report.files_downloaded,
                    "created": sum(report.created.values()),
                    "updated": sum(report.updated.values()),
                    "warnings": len(report.warnings),
                }
                print(
                    f"{label:34} {rate:9.0f} objects/s  {seconds:6.2f} s  ({report.fetched} objects, "
                    f"{report.requests} requests, {ratio:.2f}x baseline)"
                )
    finally:
        await db.dispose()
        await drop_pg(pg_name)
        shutil.rmtree(var_dir, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--meetings", type=int, default=150)
    parser.add_argument("--papers", type=int, default=300)
    parser.add_argument("--items", type=int, default=8, help="agenda items per meeting")
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--files", action="store_true", help="download the PDFs too")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    for name in (f"oparl-import-{args.db}-{stamp}.json", f"oparl-import-{args.db}-latest.json"):
        (RESULTS_DIR / name).write_text(json.dumps(result, indent=2, default=str))
    print(f"written to bench/results/oparl-import-{args.db}-{stamp}.json")


if __name__ == "__main__":
    main()
