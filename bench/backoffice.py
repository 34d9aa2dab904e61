"""The clerk's back office: how long a 40-item invitation takes, and an agenda edit's round trip.

    .venv/bin/python -m bench.backoffice [--db sqlite|postgres|both] [--items 40] [--invitations 5]
                                         [--edits 60]

1. **Invitation**: a published meeting with ``--items`` agenda items (each with a paragraph of text,
   every other one with a linked paper, a quarter non-public) gets its invitation ``--invitations``
   times: PDF rendered from the records, stored content-addressed, recorded as the meeting's invitation
   File, state and iCal SEQUENCE moved, audit entry — committed (no SMTP: mail goes out after commit).
   Figures: seconds per invitation (median, max), PDF size and pages. Baseline in the same run: the
   PDF rendering alone.
2. **Agenda edit round trip**: through the real app in-process (Litestar over ASGI, CSRF, session
   cookie, form parsing, the conditional version UPDATE, renumbering, audit log, commit, 303), then the
   GET of the builder page the browser follows the redirect to (the full page with all items).
   ``--edits`` moves alternate up and down; figures p50/p95/max of POST+GET and of the POST alone.

Prints a table and writes ``bench/results/backoffice-<db>-*.json``. The database is fresh every run
(SQLite under ``var/bench/backoffice-sqlite``, PostgreSQL database ``rathaus_bench_backoffice``).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import re
import shutil
import statistics
import time
from typing import Any

from bench._load import REPO_ROOT, machine_info, percentile, write_json

SECRET = "bench-backoffice-secret-key-not-for-production"
DEFAULT_PG = os.environ.get("RATHAUS_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = "rathaus_bench_backoffice"
TEXT = (
    "Die Verwaltung schlägt vor, die Maßnahme im Haushaltsjahr umzusetzen. Die Kosten sind im "
    "Finanzplan veranschlagt; Einzelheiten ergeben sich aus der Vorlage und ihren Anlagen."
)


async def prepare(db_kind: str, pg_admin: str) -> Any:
    from council.core.settings import Settings

    var_dir = REPO_ROOT / "var" / "bench" / f"backoffice-{db_kind}"
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
    return Settings(
        database_url=url, var_dir=var_dir, secret_key=SECRET, jobs_in_process=False, page_cache_seconds=0
    )


async def run_db(db_kind: str, args: argparse.Namespace) -> dict[str, Any]:
    from pypdf import PdfReader
    from sqlalchemy import select

    from council.accounts import service
    from council.accounts.sessions import SESSION_COOKIE, create_session
    from council.backoffice import agenda, invitation, meetings
    from council.core.db import Database
    from council.documents.store import FileStore
    from council.records.models import Paper
    from tests.factories import make_town
    from web.models import metadata

    settings = await prepare(db_kind, args.pg_admin)
    db = Database(settings)
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    actor = meetings.Actor(None, "bench")
    async with db.sessionmaker() as s:
        town = await make_town(s)
        papers = []
        for i in range(args.items // 2):
            p = Paper(body_id=town.body.id, name=f"Vorlage {i} zur Sanierung", reference=f"B/2031/{i:04d}")
            s.add(p)
            papers.append(p)
        clerk = await service.create_account(s, "clerk1", "correct horse battery", ("clerk",))
        await s.flush()
        token = await create_session(s, clerk.id)
        data = meetings.parse_meeting_form(
            {
                "name": "Bench-Sitzung",
                "organization_id": str(town.committee.id),
                "date": "2031-06-03",
                "start_time": "17:00",
                "location": "Ratssaal",
                "public": "on",
            }
        )
        meeting = await meetings.create_meeting(s, actor, data, standing_items=False)
        mid = meeting.id
        version = 1
        for i in range(args.items):
            item = await agenda.add_item(
                s,
                actor,
                mid,
                version,
                name=f"Punkt {i + 1}: Sanierung und Ausbau Abschnitt {i + 1}",
                text=TEXT,
                public=i % 4 != 3,
            )
            version += 1
            if i % 2 == 0:
                await agenda.link_paper(s, actor, mid, version, item.id, papers[i // 2].reference)
                version += 1
        await meetings.publish(s, actor, mid, version)
        version += 1
        await s.commit()

    # 1. invitations
    store = FileStore(settings.files_dir)
    inv_times: list[float] = []
    render_times: list[float] = []
    size = pages = 0
    for _ in range(args.invitations):
        async with db.sessionmaker() as s:
            meeting, _wf = await meetings.load_meeting(s, mid)
            views = await agenda.items(s, mid)
            t0 = time.perf_counter()
            pdf = invitation.render_invitation_pdf(meeting, views, body_name="Stadt Teststadt")
            render_times.append(time.perf_counter() - t0)
        async with db.sessionmaker() as s:
            t0 = time.perf_counter()
            file, _mails = await invitation.send_invitation(s, store, settings, actor, mid, version)
            await s.commit()
            inv_times.append(time.perf_counter() - t0)
            version += 1
        size = len(pdf)
        pages = len(PdfReader(io.BytesIO(pdf)).pages)
        del file

    # 2. agenda edit round trips through the app
    from litestar.testing import AsyncTestClient

    from web.app import create_app

    app = create_app(settings)
    post_times: list[float] = []
    trip_times: list[float] = []
    async with db.sessionmaker() as s:
        target = (await agenda.items(s, mid))[5].item.id
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:8000") as client:
        client.cookies.set(SESSION_COOKIE, token, domain="127.0.0.1")
        page = await client.get(f"/verwaltung/sitzungsdienst/{mid}")
        for i in range(args.edits):
            csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
            ver = re.search(r'name="version" value="(\d+)"', page.text)
            assert csrf and ver, page.text[:300]
            action = "top-runter" if i % 2 == 0 else "top-hoch"
            t0 = time.perf_counter()
            r = await client.post(
                f"/verwaltung/sitzungsdienst/{mid}/{action}",
                data={"_csrf_token": csrf.group(1), "version": ver.group(1), "item_id": str(target)},
                follow_redirects=False,
            )
            t1 = time.perf_counter()
            assert r.status_code == 303, r.text[:300]
            page = await client.get(r.headers["location"].split("#")[0])
            t2 = time.perf_counter()
            assert page.status_code == 200
            post_times.append(t1 - t0)
            trip_times.append(t2 - t0)
    async with db.sessionmaker() as s:
        from council.backoffice.models import ChangeLog

        logged = len((await s.execute(select(ChangeLog.id).where(ChangeLog.meeting_id == mid))).all())
    await db.dispose()

    def ms(values: list[float], p: float) -> float:
        return round(percentile(sorted(values), p) * 1000, 1)

    return {
        "db": db_kind,
        "items": args.items,
        "invitation_s_median": round(statistics.median(inv_times), 3),
        "invitation_s_max": round(max(inv_times), 3),
        "render_only_s_median": round(statistics.median(render_times), 3),
        "pdf_bytes": size,
        "pdf_pages": pages,
        "edits": args.edits,
        "roundtrip_ms_p50": ms(trip_times, 50),
        "roundtrip_ms_p95": ms(trip_times, 95),
        "roundtrip_ms_max": round(max(trip_times) * 1000, 1),
        "post_ms_p50": ms(post_times, 50),
        "post_ms_p95": ms(post_times, 95),
        "audit_entries": logged,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--invitations", type=int, default=5)
    parser.add_argument("--edits", type=int, default=60)
    parser.add_argument("--pg-admin", default=DEFAULT_PG)
    args = parser.parse_args()
    args.items = max(4, min(args.items, 300))
    args.invitations = max(1, min(args.invitations, 50))
    args.edits = max(2, min(args.edits, 1000))
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    results = [asyncio.run(run_db(kind, args)) for kind in kinds]
    print(
        f"{'db':<9} {'invitation s (med/max)':>23} {'render s':>9} {'PDF':>14} {'edit RT ms p50/p95/max':>24}"
    )
    for r in results:
        print(
            f"{r['db']:<9} {r['invitation_s_median']:>11} / {r['invitation_s_max']:<9} "
            f"{r['render_only_s_median']:>9} {r['pdf_bytes'] // 1024:>6} KiB {r['pdf_pages']:>2} p "
            f"{r['roundtrip_ms_p50']:>8} / {r['roundtrip_ms_p95']} / {r['roundtrip_ms_max']}"
        )
    for r in results:
        path = write_json(f"backoffice-{r['db']}", {"machine": machine_info(), "result": r})
        print(f"wrote {path.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
