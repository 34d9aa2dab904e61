"""The councillor's workspace: merged PDF and ZIP of a meeting with 40 documents, and the reader page.

    .venv/bin/python -m bench.workspace [--docs 40] [--pages 2-12] [--repeat 5] [--requests 200]

Builds a SQLite town (``tests.factories.make_town``) with one upcoming meeting of 10 agenda items and
``--docs`` real PDFs (fpdf2, 2-12 text pages each, every fourth one non-public), extracts their text
with the real job, signs in a councillor of the committee, then measures, in this process:

* **merged PDF**: ``council.workspace.documents.build_merged_pdf`` (cover + table of contents,
  outline per agenda item and document) against the baseline *pypdf direct* — ``PdfWriter.append``
  of the same PDFs and ``write``, nothing else; with and without the watermark on non-public pages;
* **ZIP**: ``build_zip`` against the baseline *zipfile direct* (the same blobs, stored);
* the same two over HTTP (``/arbeitsbereich/sitzungen/{id}/dokumente.pdf|zip``: access checks,
  queries, response) through Litestar's in-process test client;
* **reader page**: p50/p95/p99 of ``GET /arbeitsbereich/dokumente/{id}`` (the 40 documents in turn,
  sequentially), with ``/healthz`` as the in-run baseline of the same client and app.

Figures go to ``bench/results/workspace-<time>.json``. Timings are medians of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import shutil
import statistics
import time
import zipfile
from collections.abc import Callable, Sequence
from typing import Any

from bench._load import REPO_ROOT, machine_info, percentile, write_json

SECRET = "bench-secret-key-not-for-production"
WORDS = (
    "Der Ausschuss empfiehlt dem Rat die Sanierung des Radwegs an der Landstraße zwischen Uckerath und "
    "Söven. Die Kosten betragen 120.000 Euro und sind im Haushalt 2027 veranschlagt. "
)


def make_pdf(pages: int, seed: int) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for page in range(pages):
        pdf.add_page()
        pdf.multi_cell(0, 6, f"Dokument {seed}, Seite {page + 1}. " + WORDS * 12)
    return bytes(pdf.output())


async def prepare(n_docs: int, min_pages: int, max_pages: int) -> dict[str, Any]:
    from council.accounts.service import create_account
    from council.accounts.sessions import create_session
    from council.core.db import Database
    from council.core.jobs import JobRunner
    from council.core.settings import Settings
    from council.documents.service import add_document
    from council.documents.store import FileStore
    from council.records.models import AgendaItem
    from tests.factories import make_town
    from web.models import metadata

    var_dir = REPO_ROOT / "var" / "bench" / "workspace"
    if var_dir.exists():
        shutil.rmtree(var_dir)
    var_dir.mkdir(parents=True)
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{var_dir / 'rathaus.db'}",
        var_dir=var_dir,
        secret_key=SECRET,
        jobs_in_process=False,
    )
    db = Database(settings)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        async with db.sessionmaker() as s:
            town = await make_town(s)
            assert town.next_meeting is not None and town.member is not None
            meeting_id = town.next_meeting.id
            items = [
                AgendaItem(
                    meeting_id=meeting_id,
                    number=str(10 + i),
                    order=10 + i,
                    name=f"Punkt {i + 1}",
                    public=i % 4 != 3,
                )
                for i in range(10)
            ]
            s.add_all(items)
            await s.commit()
            item_ids = [i.id for i in items]
            account = await create_account(
                s, "bench-councillor", "bench password 1234567", ("councillor",), person_id=town.member.id
            )
            account.display_name = town.member.name
            token = await create_session(s, account.id)
            await s.commit()
        span = max_pages - min_pages + 1
        file_ids = []
        total_pages = 0
        store = FileStore(settings.files_dir)
        for n in range(n_docs):
            pages = min_pages + (n * 7) % span
            total_pages += pages
            async with db.sessionmaker() as s:
                record = await add_document(
                    s,
                    store,
                    make_pdf(pages, n),
                    name=f"Anlage {n + 1}",
                    file_name=f"anlage-{n + 1}.pdf",
                    agenda_item_id=item_ids[n % len(item_ids)],
                    public=n % 4 != 1,
                    max_bytes=50_000_000,
                )
                await s.commit()
                file_ids.append(record.id)
        await JobRunner(db.sessionmaker, settings=settings).run_until_empty()
    finally:
        await db.dispose()
    return {
        "settings": settings,
        "meeting_id": meeting_id,
        "token": token,
        "file_ids": file_ids,
        "pages": total_pages,
    }


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times = []
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    from litestar.testing import AsyncTestClient
    from pypdf import PdfReader, PdfWriter

    from council.accounts.sessions import SESSION_COOKIE
    from council.core.db import Database
    from council.documents.store import FileStore
    from council.records.access import Viewer
    from council.workspace.documents import build_merged_pdf, build_zip, meeting_documents
    from web.app import create_app

    lo, hi = (int(x) for x in args.pages.split("-"))
    t0 = time.perf_counter()
    prep = await prepare(args.docs, lo, hi)
    settings = prep["settings"]
    prepare_s = time.perf_counter() - t0
    store = FileStore(settings.files_dir)
    db = Database(settings)
    try:
        async with db.sessionmaker() as s:
            from council.accounts.service import viewer_for_account
            from council.accounts.sessions import load_session

            loaded = await load_session(s, prep["token"])
            assert loaded is not None
            viewer: Viewer = await viewer_for_account(s, loaded.account)
            docs = await meeting_documents(s, viewer, prep["meeting_id"])
            assert docs is not None and len(docs.files) == args.docs, len(docs.files) if docs else None
    finally:
        await db.dispose()
    blobs = [store.read(f.storage_key) for f in docs.files if f.storage_key]
    size_in = sum(len(b) for b in blobs)

    def baseline_pdf() -> bytes:
        writer = PdfWriter()
        for blob in blobs:
            writer.append(PdfReader(io.BytesIO(blob)))
        out = io.BytesIO()
        writer.write(out)
        return out.getvalue()

    def baseline_zip() -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as z:
            for i, blob in enumerate(blobs):
                z.writestr(f"{i:02d}.pdf", blob)
        return out.getvalue()

    r = args.repeat
    res: dict[str, Any] = {
        "docs": args.docs,
        "pages": prep["pages"],
        "input_bytes": size_in,
        "prepare_s": prepare_s,
    }
    res["pdf_baseline_s"], base = timed(baseline_pdf, r)
    res["pdf_workspace_s"], merged = timed(lambda: build_merged_pdf(store, docs, title="Bench"), r)
    res["pdf_workspace_watermark_s"], _ = timed(
        lambda: build_merged_pdf(store, docs, title="Bench", watermark_for="Anna Becker"), r
    )
    res["pdf_pages"] = len(PdfReader(io.BytesIO(merged)).pages)
    res["pdf_baseline_pages"] = len(PdfReader(io.BytesIO(base)).pages)
    res["zip_baseline_s"], _ = timed(baseline_zip, r)
    res["zip_workspace_s"], _ = timed(lambda: build_zip(store, docs), r)
    res["zip_workspace_watermark_s"], _ = timed(
        lambda: build_zip(store, docs, watermark_for="Anna Becker"), r
    )

    app = create_app(settings)
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:8000") as client:
        client.cookies.set(SESSION_COOKIE, prep["token"])
        mid = prep["meeting_id"]

        async def http_time(path: str) -> float:
            times = []
            for _ in range(r):
                t = time.perf_counter()
                resp = await client.get(path)
                assert resp.status_code == 200, (path, resp.status_code)
                times.append(time.perf_counter() - t)
            return statistics.median(times)

        res["http_pdf_s"] = await http_time(f"/arbeitsbereich/sitzungen/{mid}/dokumente.pdf")
        res["http_zip_s"] = await http_time(f"/arbeitsbereich/sitzungen/{mid}/dokumente.zip")

        async def latencies(paths: Sequence[str]) -> dict[str, float]:
            for p in paths[:10]:  # warm up
                await client.get(p)
            values = []
            for p in paths:
                t = time.perf_counter()
                resp = await client.get(p)
                assert resp.status_code == 200, (p, resp.status_code)
                values.append((time.perf_counter() - t) * 1000)
            values.sort()
            return {
                "n": len(values),
                "p50_ms": percentile(values, 50),
                "p95_ms": percentile(values, 95),
                "p99_ms": percentile(values, 99),
                "max_ms": values[-1],
            }

        ids = prep["file_ids"]
        reader_paths = [f"/arbeitsbereich/dokumente/{ids[i % len(ids)]}" for i in range(args.requests)]
        res["healthz"] = await latencies(["/healthz"] * args.requests)
        res["reader"] = await latencies(reader_paths)
        res["reader_search"] = await latencies([p + "?q=Radweg" for p in reader_paths])
    return res


def report(res: dict[str, Any]) -> str:
    lines = [
        f"workspace benchmark: {res['docs']} documents, {res['pages']} pages, "
        f"{res['input_bytes'] / 1e6:.1f} MB in",
        f"merged PDF  baseline pypdf direct    {res['pdf_baseline_s'] * 1000:8.0f} ms  "
        f"({res['pdf_baseline_pages']} pages)",
        f"            workspace (TOC+outline)  {res['pdf_workspace_s'] * 1000:8.0f} ms  "
        f"({res['pdf_pages']} pages, {res['pdf_workspace_s'] / res['pdf_baseline_s']:.2f}x baseline)",
        f"            + watermark non-public   {res['pdf_workspace_watermark_s'] * 1000:8.0f} ms  "
        f"({res['pdf_workspace_watermark_s'] / res['pdf_baseline_s']:.2f}x baseline)",
        f"            over HTTP                {res['http_pdf_s'] * 1000:8.0f} ms",
        f"ZIP         baseline zipfile direct  {res['zip_baseline_s'] * 1000:8.1f} ms",
        f"            workspace                {res['zip_workspace_s'] * 1000:8.1f} ms  "
        f"({res['zip_workspace_s'] / res['zip_baseline_s']:.2f}x baseline)",
        f"            + watermark non-public   {res['zip_workspace_watermark_s'] * 1000:8.1f} ms",
        f"            over HTTP                {res['http_zip_s'] * 1000:8.1f} ms",
    ]
    for key, label in (
        ("healthz", "/healthz (baseline)"),
        ("reader", "reader page"),
        ("reader_search", "reader + search"),
    ):
        v = res[key]
        lines.append(
            f"{label:22s} n={v['n']}  p50 {v['p50_ms']:.1f} ms  p95 {v['p95_ms']:.1f} ms  "
            f"p99 {v['p99_ms']:.1f} ms  max {v['max_ms']:.1f} ms"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.workspace", description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=40)
    parser.add_argument("--pages", default="2-12", help="pages per document, min-max")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    res = asyncio.run(bench(args))
    print(report(res))
    path = write_json("workspace", {"machine": machine_info(), "args": vars(args), **res})
    print(f"written to {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
