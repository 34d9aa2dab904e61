"""The clerk's back office: a 40-item invitation, its mail, and an agenda edit's round trip.

    .venv/bin/python -m bench.backoffice [--db sqlite|postgres|both] [--items 40] [--invitations 5]
                                         [--edits 60] [--subscribers 200]

1. **Invitation**: a published meeting with ``--items`` agenda items (each with a paragraph of text,
   every other one with a linked paper, a quarter non-public) gets its invitation ``--invitations``
   times: PDF rendered from the records (DejaVu Sans, embedded as a subset), stored content-addressed,
   recorded as the meeting's invitation File, state and iCal SEQUENCE moved, audit entry, the mail
   job and its recipients queued — committed. Figures: seconds per invitation (median, max), PDF size
   and pages. Baselines in the same run: the PDF rendering alone, and the same rendering with fpdf2's
   Latin-1 core font (Helvetica, the former renderer: what the Unicode font costs).
2. **Invitation mail**: ``--subscribers`` confirmed subscribers (plus the members) get the invitation
   through the mail job (``council.backoffice.mailing.run_dispatch``: send log per recipient, batches
   over one SMTP connection) into a real SMTP sink on loopback (aiosmtpd). Figures: seconds, mails/s.
   Baseline in the same run: the same number of mails through ``council.questions.mail.send`` (one
   connection per mail, no send log).
3. **Agenda edit round trip**: through the real app in-process (Litestar over ASGI, CSRF, session
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
            file, _dispatch = await invitation.send_invitation(s, store, settings, actor, mid, version)
            await s.commit()
            inv_times.append(time.perf_counter() - t0)
            version += 1
        size = len(pdf)
        pages = len(PdfReader(io.BytesIO(pdf)).pages)
        del file

    # baseline: the same invitation with fpdf2's Latin-1 core font (the renderer before DejaVu Sans)
    core_times: list[float] = []
    async with db.sessionmaker() as s:
        meeting, _wf = await meetings.load_meeting(s, mid)
        views = await agenda.items(s, mid)
        for _ in range(args.invitations):
            t0 = time.perf_counter()
            core_font_invitation(meeting, views)
            core_times.append(time.perf_counter() - t0)

    # 2. the invitation mail through the job into an SMTP sink on loopback
    mail_figures = await bench_mail(db, settings, mid, version, args.subscribers)
    version += 1

    # 3. agenda edit round trips through the app
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
        "render_core_font_s_median": round(statistics.median(core_times), 3),
        **mail_figures,
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


def core_font_invitation(meeting: Any, views: Any) -> bytes:
    """The invitation rendered as before the Unicode font: Helvetica, text folded to Latin-1."""
    from council.backoffice import invitation
    from council.demo.pdf import latin1

    def core(pdf: Any) -> str:
        pdf.set_font("Helvetica")
        return "Helvetica"

    saved = invitation.use_unicode_font, invitation.pdf_text
    invitation.use_unicode_font, invitation.pdf_text = core, latin1  # type: ignore[assignment]
    try:
        return invitation.render_invitation_pdf(meeting, views, body_name="Stadt Teststadt")
    finally:
        invitation.use_unicode_font, invitation.pdf_text = saved  # type: ignore[assignment]


async def bench_mail(db: Any, settings: Any, mid: int, version: int, subscribers: int) -> dict[str, Any]:
    from aiosmtpd.controller import Controller

    from council.backoffice import invitation, mailing, meetings
    from council.backoffice.models import InvitationSubscription
    from council.core.types import utcnow
    from council.documents.store import FileStore
    from council.questions import mail
    from tests.integration.vote_server import free_port

    class Sink:
        def __init__(self) -> None:
            self.count = 0

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            self.count += len(envelope.rcpt_tos)
            return "250 OK"

    async with db.sessionmaker() as s:
        meeting, _wf = await meetings.load_meeting(s, mid)
        org_id = meeting.organizations[0].id
        now = utcnow()
        s.add_all(
            InvitationSubscription(
                organization_id=org_id, email=f"abonnent{i}@example.org", email_confirmed=now, created=now
            )
            for i in range(subscribers)
        )
        await s.commit()
    async with db.sessionmaker() as s:
        _file, dispatch = await invitation.send_invitation(
            s, FileStore(settings.files_dir), settings, meetings.Actor(None, "bench"), mid, version
        )
        await s.commit()
        dispatch_id = dispatch.id
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    settings.smtp_host, settings.smtp_port = "127.0.0.1", port
    try:
        t0 = time.perf_counter()
        result = await mailing.run_dispatch(db.sessionmaker, settings, dispatch_id)
        job_s = time.perf_counter() - t0
        sent = sink.count
        assert result.state == "done" and sent == result.sent, (result, sent)
        t0 = time.perf_counter()
        for i in range(sent):
            assert await mail.send(settings, f"baseline{i}@example.org", "Einladung", "Text")
        baseline_s = time.perf_counter() - t0
    finally:
        controller.stop()
        settings.smtp_host = ""
    return {
        "mail_recipients": sent,
        "mail_job_s": round(job_s, 3),
        "mail_job_per_s": round(sent / job_s, 1) if job_s else None,
        "mail_baseline_s": round(baseline_s, 3),
        "mail_baseline_per_s": round(sent / baseline_s, 1) if baseline_s else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--invitations", type=int, default=5)
    parser.add_argument("--edits", type=int, default=60)
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--pg-admin", default=DEFAULT_PG)
    args = parser.parse_args()
    args.items = max(4, min(args.items, 300))
    args.invitations = max(1, min(args.invitations, 50))
    args.edits = max(2, min(args.edits, 1000))
    args.subscribers = max(0, min(args.subscribers, 20_000))
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
    print(
        f"{'db':<9} {'core-font render s':>19} {'mail job: recipients, s, mails/s':>34} "
        f"{'baseline mails/s':>17}"
    )
    for r in results:
        print(
            f"{r['db']:<9} {r['render_core_font_s_median']:>19} "
            f"{r['mail_recipients']:>14}, {r['mail_job_s']}, {r['mail_job_per_s']:<10} "
            f"{r['mail_baseline_per_s']:>12}"
        )
    for r in results:
        path = write_json(f"backoffice-{r['db']}", {"machine": machine_info(), "result": r})
        print(f"wrote {path.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
