"""Transcript search at archive scale: p50/p95 of typical queries over N hours of transcript segments.

    .venv/bin/python -m bench.transcript_search --db sqlite|postgres|both --hours 6000 [--fresh] [--rounds 5]

Builds (once; cached) a database with the schema and ``--hours`` hours of generated German council
speech: 3-hour meetings with 12 agenda items and 40 speakers, one segment per 5 seconds (6,000 hours ≈
4.3 M segments), text drawn from a council vocabulary with a Zipf distribution (so some words match
millions of segments, others a handful). The segments go in with a fast bulk insert straight into
``transcript_segment`` and the search tables (SQLite: ``search_document`` + the FTS5 table with
pre-stemmed text; PostgreSQL: COPY into ``search_document``, the GIN index built afterwards). 5% of
meetings and 2% of segments are non-public, as the visibility checks must see some.

SQLite databases are cached under ``var/bench/``; PostgreSQL databases are named
``rathaus_bench_tsearch_<hours>h``; ``--fresh`` rebuilds. Then it runs ``council.search.query.search``
in-process (anonymous and staff viewers; no HTTP) for a fixed list of typical queries, ``--rounds``
times each after one warm-up round, and prints p50/p95/max per query class and overall. Target: p95 <
100 ms on both backends. Figures go to ``bench/results/transcript-search-<db>-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = REPO_ROOT / "var" / "bench"
RESULTS_DIR = REPO_ROOT / "bench" / "results"
PG_ADMIN_URL = os.environ.get("RATHAUS_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

MEETING_HOURS = 3
SEGMENT_SECONDS = 5
ITEMS_PER_MEETING = 12
PERSONS = 40
BATCH = 20_000

# A council's vocabulary: frequent function-ish content words first (Zipf rank), then topics, places.
_BASE = """
Antrag Verwaltung Stadt Rat Ausschuss Beschluss Vorschlag Frage Bürger Jahr Euro Kosten Haushalt Sitzung
Fraktion Vorlage Punkt Meinung Entwicklung Bereich Maßnahme Zeit Gemeinde Bürgermeister Tagesordnung
Schule Straße Verkehr Radweg Kita Feuerwehr Bebauungsplan Grundstück Sanierung Förderung Investition Planung
Kindergarten Spielplatz Friedhof Sportplatz Schwimmbad Bibliothek Rathaus Brücke Kanal Abwasser Wasser
Energie Klimaschutz Photovoltaik Windkraft Wärmeplanung Breitband Glasfaser Digitalisierung Personal
Stelle Gebühr Steuer Grundsteuer Gewerbesteuer Kredit Zinsen Rücklage Defizit Überschuss Prüfung Bericht
Gutachten Gutachter Verkehrsgutachten Lärmschutz Parkplatz Parkhaus Bushaltestelle Bahnhof Fahrradstraße
Gehweg Beleuchtung Ampel Kreisverkehr Landstraße Bundesstraße Ortsdurchfahrt Umgehungsstraße Baugebiet
Wohnungsbau Flüchtlingsunterkunft Integration Senioren Jugend Jugendzentrum Ehrenamt Vereine Sport Kultur
Stadtfest Weihnachtsmarkt Tourismus Wirtschaft Einzelhandel Innenstadt Marktplatz Leerstand Gewerbegebiet
Naturschutz Bäume Grünfläche Hochwasser Starkregen Regenrückhaltebecken Deich Sieg Uckerath Söven Geistingen
Allner Bödingen Lanzenbach Happerschoß Stoßdorf Warth Dambroich Blankenberg Wellesberg Weingartsgasse
Zustimmung Ablehnung Enthaltung Mehrheit einstimmig Änderungsantrag Prüfauftrag Anfrage Mitteilung
Niederschrift Protokoll Einwohnerfragestunde Ortsvorsteher Kreisel Schulweg Schulentwicklungsplan Mensa
Ganztag Offene Ganztagsschule Grundschule Gesamtschule Gymnasium Turnhalle Sanierungsstau Brandschutz
Feuerwehrhaus Löschzug Rettungswache Notarzt Krankenhaus Pflege Hausarzt Apotheke Bürgerbus Taxi
Schülerbeförderung Nahverkehrsplan Takt Linienbus Haltestelle Barrierefreiheit Inklusion Aufzug Rampe
""".split()
_VERBS = """
sagen möchten beantragen zustimmen ablehnen prüfen bitten fragen danken berichten beschließen empfehlen
sanieren bauen planen fördern finanzieren kosten verschieben erweitern erneuern anpassen vorschlagen
""".split()
_FILL = """
dass wir die der das und aber auch noch sehr hier heute dann schon nicht mehr weil wenn damit dafür
dazu deshalb trotzdem natürlich eigentlich wirklich genau bitte vielleicht insgesamt ungefähr
""".split()
_PREFIX = (
    "Stadt Kreis Orts Schul Verkehrs Haushalts Bau Wohn Grün Klima Feuerwehr Sport Kultur Jugend".split()
)
_SUFFIX = "konzept plan entwicklung ausschuss mittel haus gebiet förderung satzung bericht projekt".split()

#: Query classes: what people type, from very common to rare, with the shapes the parser supports.
QUERIES: dict[str, list[str]] = {
    "common word": ["Antrag", "Verwaltung", "Haushalt", "Kosten", "Stadt"],
    "topic word": ["Radweg", "Feuerwehr", "Kita", "Bebauungsplan", "Schwimmbad", "Glasfaser"],
    "two words": ["Radweg Sanierung", "Feuerwehr Kosten", "Schule Brandschutz", "Haushalt Defizit"],
    "place": ["Uckerath", "Söven Kreisverkehr", "Geistingen Parkplatz"],
    "phrase": ['"Offene Ganztagsschule"', '"Bebauungsplan Uckerath"'],
    "rare": ["Weingartsgasse Ampel", "Regenrückhaltebecken Dambroich", "Apotheke Lanzenbach Bürgerbus"],
    "with or / not": ["Kita or Kindergarten", "Radweg -Landstraße"],
    "no match": ["Quantencomputer", "Zeppelinlandeplatz"],
}


def vocabulary() -> list[str]:
    words = list(_BASE)
    words += [p + s for p in _PREFIX for s in _SUFFIX]
    words += [f"{w}s" for w in _BASE[:80]]  # inflected forms: the stemmer must join them
    return words


class TextMaker:
    """Sentences of 8-22 words: Zipf-distributed content words, verbs and filler."""

    def __init__(self, seed: int = 7) -> None:
        import numpy as np

        self.np = np
        self.rng = np.random.default_rng(seed)
        self.words = np.array(vocabulary() + _VERBS + _FILL, dtype=object)
        n_content = len(vocabulary())
        ranks = np.arange(1, len(self.words) + 1, dtype=float)
        weights = 1.0 / ranks**1.05
        weights[n_content:] *= 3.0  # verbs and filler are frequent
        self.p = weights / weights.sum()

    def batch(self, n: int) -> list[str]:
        lengths = self.rng.integers(8, 23, size=n)
        idx = self.rng.choice(len(self.words), size=int(lengths.sum()), p=self.p)
        words = self.words[idx]
        out: list[str] = []
        pos = 0
        for length in lengths:
            out.append(" ".join(words[pos : pos + length]) + ".")
            pos += length
        return out


def _stem_cache() -> dict[str, str]:
    from council.search.stem import stemmed_text

    return {w: stemmed_text(w) for w in vocabulary() + _VERBS + _FILL}


def _stemmed(text: str, cache: dict[str, str]) -> str:
    return " ".join(s for s in (cache.get(w.rstrip(".")) for w in text.split()) if s)


# --- the shape of the archive --------------------------------------------------------------------------


def plan(hours: int) -> tuple[int, int]:
    meetings = max(1, hours // MEETING_HOURS)
    per_meeting = MEETING_HOURS * 3600 // SEGMENT_SECONDS
    return meetings, per_meeting


def meeting_start(i: int) -> datetime:
    return datetime(2010, 1, 4, 16, tzinfo=UTC) + timedelta(days=2 * i)


# --- SQLite ---------------------------------------------------------------------------------------------


def sqlite_path(hours: int) -> Path:
    return CACHE_DIR / f"transcript-search-{hours}h.sqlite"


def _create_schema_sync(url: str) -> None:
    from sqlalchemy import create_engine

    from web.models import metadata

    engine = create_engine(url)
    with engine.begin() as conn:
        metadata.create_all(conn)
    engine.dispose()


def build_sqlite(hours: int, fresh: bool) -> Path:
    path = sqlite_path(hours)
    done = path.with_suffix(".done")
    if path.exists() and done.exists() and not fresh:
        print(f"sqlite: reusing {path}")
        return path
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    for p in (path, done, Path(str(path) + "-wal"), Path(str(path) + "-shm")):
        p.unlink(missing_ok=True)
    _create_schema_sync(f"sqlite:///{path}")
    t0 = time.perf_counter()
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-400000")
    _fill(hours, lambda sql, rows: con.executemany(sql, rows), sqlite=True)
    con.commit()
    con.execute("INSERT INTO search_fts(search_fts) VALUES ('optimize')")
    con.commit()
    con.execute("ANALYZE")
    con.execute("PRAGMA journal_mode=WAL")
    con.close()
    done.write_text("ok")
    print(f"sqlite: built {path} in {time.perf_counter() - t0:.0f} s ({path.stat().st_size / 1e9:.1f} GB)")
    return path


def _fill(hours: int, executemany: Any, *, sqlite: bool) -> None:
    """Records and segments through ``executemany(sql, rows)`` (sqlite3 style placeholders)."""
    now = datetime(2026, 1, 1, tzinfo=UTC).isoformat(sep=" ")
    meetings, per_meeting = plan(hours)
    rng = random.Random(11)
    executemany(
        "INSERT INTO body (id, name, equivalent, keyword, created, modified, deleted) "
        "VALUES (?, ?, '[]', '[]', ?, ?, 0)",
        [(1, "Stadt Hennef (Sieg)", now, now)],
    )
    executemany(
        "INSERT INTO organization (id, body_id, name, post, keyword, created, modified, deleted) "
        "VALUES (?, 1, ?, '[]', '[]', ?, ?, 0)",
        [(i, f"Ausschuss {i}", now, now) for i in range(1, 11)],
    )
    executemany(
        "INSERT INTO person (id, body_id, name, title, phone, email, status, keyword, created, modified, "
        "deleted) VALUES (?, 1, ?, '[]', '[]', '[]', '[]', '[]', ?, ?, 0)",
        [(i, f"Ratsmitglied {i}", now, now) for i in range(1, PERSONS + 1)],
    )
    meeting_rows, org_rows, item_rows = [], [], []
    public_meeting = {}
    for m in range(1, meetings + 1):
        start = meeting_start(m)
        public_meeting[m] = rng.random() >= 0.05
        meeting_rows.append(
            (m, f"{m}. Sitzung", start.isoformat(sep=" "), 1 if public_meeting[m] else 0, now, now)
        )
        org_rows.append((m, 1 + m % 10))
        for k in range(ITEMS_PER_MEETING):
            item_rows.append((m * 100 + k, m, str(k + 1), k, f"Tagesordnungspunkt {k + 1}", 1, now, now))
    executemany(
        "INSERT INTO meeting (id, body_id, name, start, public, cancelled, keyword, created, modified, "
        "deleted) VALUES (?, 1, ?, ?, ?, 0, '[]', ?, ?, 0)",
        meeting_rows,
    )
    executemany(
        "INSERT INTO meeting_organization (meeting_id, organization_id, position) VALUES (?, ?, 0)", org_rows
    )
    executemany(
        'INSERT INTO agenda_item (id, meeting_id, number, "order", name, public, keyword, created, modified, '
        "deleted) VALUES (?, ?, ?, ?, ?, ?, '[]', ?, ?, 0)",
        item_rows,
    )
    maker = TextMaker()
    stems = _stem_cache()
    total = meetings * per_meeting
    seg_id = 0
    t0 = time.perf_counter()
    pending_seg: list[tuple[Any, ...]] = []
    pending_doc: list[tuple[Any, ...]] = []
    pending_fts: list[tuple[Any, ...]] = []

    def flush() -> None:
        executemany(
            "INSERT INTO transcript_segment (id, meeting_id, agenda_item_id, person_id, speaker_role, "
            "start_s, end_s, at, text, machine_text, corrected, public, source, version, created, modified, "
            "deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, 'final', 1, ?, ?, 0)",
            pending_seg,
        )
        executemany(
            "INSERT INTO search_document (id, kind, ref_id, title, body, date, organization_ids, meeting_id) "
            "VALUES (?, 'transcript', ?, '', ?, ?, ?, ?)",
            pending_doc,
        )
        if sqlite:
            executemany("INSERT INTO search_fts (rowid, title, body) VALUES (?, '', ?)", pending_fts)
        pending_seg.clear()
        pending_doc.clear()
        pending_fts.clear()

    for m in range(1, meetings + 1):
        start = meeting_start(m)
        day = start.date().isoformat()
        orgs = json.dumps([1 + m % 10])
        texts = maker.batch(per_meeting)
        for s, text in enumerate(texts):
            seg_id += 1
            offset = s * SEGMENT_SECONDS
            item = m * 100 + min(ITEMS_PER_MEETING - 1, s * ITEMS_PER_MEETING // per_meeting)
            person = 1 + (s // 12) % PERSONS
            public = 0 if rng.random() < 0.02 else 1
            at = (start + timedelta(seconds=offset)).isoformat(sep=" ")
            pending_seg.append(
                (seg_id, m, item, person, "speaker", float(offset), float(offset + SEGMENT_SECONDS), at,
                 text, text, public, now, now)
            )  # fmt: skip
            pending_doc.append((seg_id, seg_id, text, day, orgs, m))
            if sqlite:
                pending_fts.append((seg_id, _stemmed(text, stems)))
        if len(pending_seg) >= BATCH:
            flush()
        if m % 100 == 0:
            rate = seg_id / (time.perf_counter() - t0)
            print(f"  {seg_id:,}/{total:,} segments ({rate:,.0f}/s)", file=sys.stderr)
    flush()


# --- PostgreSQL -----------------------------------------------------------------------------------------


def pg_name(hours: int) -> str:
    return f"rathaus_bench_tsearch_{hours}h"


def pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + "/" + name


async def build_postgres(hours: int, fresh: bool) -> str:
    import asyncpg
    from sqlalchemy.ext.asyncio import create_async_engine

    from web.models import metadata

    name = pg_name(hours)
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists and not fresh:
            conn = await asyncpg.connect(PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
            try:
                ready = await conn.fetchval("SELECT to_regclass('bench_done') IS NOT NULL")
            finally:
                await conn.close()
            if ready:
                print(f"postgres: reusing {name}")
                return pg_url(name)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    engine = create_async_engine(pg_url(name))
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await engine.dispose()
    t0 = time.perf_counter()
    conn = await asyncpg.connect(PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
    try:
        await conn.execute("DROP INDEX IF EXISTS ix_search_document_tsv")
        await conn.execute("SET synchronous_commit = off")
        # _fill is synchronous (it generates text): run it in a thread, COPY its batches as they come.
        queue: asyncio.Queue[tuple[str, list[tuple[Any, ...]]] | None] = asyncio.Queue(maxsize=4)
        loop = asyncio.get_running_loop()

        def producer() -> None:
            def put(sql: str, rows: list[tuple[Any, ...]]) -> None:
                asyncio.run_coroutine_threadsafe(queue.put((sql, list(rows))), loop).result()

            try:
                _fill(hours, put, sqlite=False)
            finally:
                asyncio.run_coroutine_threadsafe(queue.put(None), loop).result()

        task = loop.run_in_executor(None, producer)
        while (item := await queue.get()) is not None:
            await _pg_insert(conn, *item)
        await task
        print(f"postgres: rows in {time.perf_counter() - t0:.0f} s; building the GIN index", file=sys.stderr)
        await conn.execute("SET maintenance_work_mem = '1GB'")
        await conn.execute("CREATE INDEX ix_search_document_tsv ON search_document USING gin (tsv)")
        await conn.execute(
            "SELECT setval(pg_get_serial_sequence('search_document', 'id'), max(id)) FROM search_document"
        )
        await conn.execute(
            "SELECT setval(pg_get_serial_sequence('transcript_segment', 'id'), max(id)) "
            "FROM transcript_segment"
        )
        await conn.execute("ANALYZE")
        await conn.execute("CREATE TABLE bench_done (at timestamptz DEFAULT now())")
    finally:
        await conn.close()
    print(f"postgres: built {name} in {time.perf_counter() - t0:.0f} s")
    return pg_url(name)


_COPY_TABLES = {"transcript_segment", "search_document"}


async def _pg_insert(conn: Any, sql: str, rows: list[tuple[Any, ...]]) -> None:
    """``INSERT INTO t (cols) VALUES (?, …)`` rows → COPY for the big tables, executemany otherwise."""
    head = sql.split("VALUES")[0]
    table = head.split()[2]
    cols = [c.strip().strip('"') for c in head[head.index("(") + 1 : head.rindex(")")].split(",")]
    values = sql.split("VALUES")[1].strip()[1:-1].split(",")
    # Constants in the VALUES list (0, 'final', …) become columns of every row.
    consts: dict[int, Any] = {}
    for i, raw in enumerate(part.strip() for part in values):
        if raw != "?":
            consts[i] = int(raw) if raw.isdigit() else raw.strip("'")
    full: list[tuple[Any, ...]] = []
    bool_cols = {"public", "cancelled", "deleted", "corrected"}
    ts_cols = {"created", "modified", "start", "at"}
    for row in rows:
        it = iter(row)
        out = []
        for i, col in enumerate(cols):
            v: Any = consts[i] if i in consts else next(it)
            if col in bool_cols:
                v = bool(v)
            elif col in ts_cols and isinstance(v, str):
                v = datetime.fromisoformat(v)
            elif col == "date" and isinstance(v, str):
                v = datetime.fromisoformat(v).date()
            out.append(v)
        full.append(tuple(out))
    if table in _COPY_TABLES:
        await conn.copy_records_to_table(table, records=full, columns=cols)
    else:
        marks = ", ".join(f"${i + 1}" for i in range(len(cols)))
        quoted = ", ".join(f'"{c}"' for c in cols)
        await conn.executemany(f"INSERT INTO {table} ({quoted}) VALUES ({marks})", full)


# --- measuring ------------------------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


async def measure(url: str, rounds: int) -> dict[str, Any]:
    from council.core.db import Database
    from council.core.settings import Settings
    from council.records.access import ANONYMOUS, Viewer
    from council.search.query import search
    from transcripts import search as _ts  # noqa: F401  (registers the transcript kind)

    staff = Viewer(account_id=1, roles=frozenset({"clerk"}))
    db = Database(Settings(database_url=url, var_dir=CACHE_DIR, secret_key="bench"))
    out: dict[str, Any] = {"classes": {}, "queries": {}}
    every: list[float] = []
    try:
        async with db.sessionmaker() as session:
            for rnd in range(rounds + 1):
                for cls, qs in QUERIES.items():
                    for q in qs:
                        for who, viewer in (("anonymous", ANONYMOUS), ("staff", staff)):
                            t0 = time.perf_counter()
                            r = await search(session, viewer, q, per_page=20)
                            ms = (time.perf_counter() - t0) * 1000
                            if rnd == 0:
                                out["queries"].setdefault(
                                    f"{q} [{who}]", {"total": r.total, "capped": r.capped}
                                )
                                continue  # warm-up
                            out["classes"].setdefault(cls, []).append(ms)
                            out["queries"][f"{q} [{who}]"].setdefault("ms", []).append(ms)
                            every.append(ms)
    finally:
        await db.dispose()
    summary = {
        cls: {"p50": statistics.median(v), "p95": pct(v, 95), "max": max(v), "n": len(v)}
        for cls, v in out["classes"].items()
    }
    summary["all"] = {
        "p50": statistics.median(every),
        "p95": pct(every, 95),
        "max": max(every),
        "n": len(every),
    }
    out["summary"] = summary
    return out


def report(db: str, hours: int, result: dict[str, Any]) -> None:
    print(f"\n{db}: {hours:,} hours of transcripts ({plan(hours)[0] * plan(hours)[1]:,} segments)")
    print(f"{'class':<16}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}{'n':>6}")
    for cls, s in result["summary"].items():
        print(f"{cls:<16}{s['p50']:>10.1f}{s['p95']:>10.1f}{s['max']:>10.1f}{s['n']:>6}")
    for q, info in result["queries"].items():
        ms = info.get("ms", [0.0])
        more = "+" if info["capped"] else " "
        print(f"  {q:<48} total={info['total']:>5}{more} p50={statistics.median(ms):6.1f} ms")
    p95 = result["summary"]["all"]["p95"]
    print(f"{db}: p95 {p95:.1f} ms — {'PASS' if p95 < 100 else 'FAIL'} (target < 100 ms)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--hours", type=int, default=6000, help="hours of transcripts (6000 ≈ 4.3 M segments)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--fresh", action="store_true", help="rebuild the cached database")
    args = ap.parse_args()
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    for db in dbs:
        if db == "sqlite":
            url = f"sqlite+aiosqlite:///{build_sqlite(args.hours, args.fresh)}"
        else:
            url = asyncio.run(build_postgres(args.hours, args.fresh))
        result = asyncio.run(measure(url, args.rounds))
        report(db, args.hours, result)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        data = {
            "db": db,
            "hours": args.hours,
            "segments": plan(args.hours)[0] * plan(args.hours)[1],
            **result,
        }
        del data["classes"]
        path = RESULTS_DIR / f"transcript-search-{db}-{stamp}.json"
        path.write_text(json.dumps(data, indent=2, default=str))
        print(f"figures: {path.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
