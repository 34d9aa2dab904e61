"""Searching: one function for both backends.

``search(session, viewer, q, …)`` parses ``q`` (``council.search.stem.parse_query``: words, "phrases",
``or``, ``-word``; nothing else is syntax), matches it against SQLite FTS5 (stemmed, bm25 with the title
weighted 10:1) or PostgreSQL (``websearch_to_tsquery('german', …)``, ``ts_rank_cd`` with title weight A,
body B), filters, and joins every hit back to its record through ``council.records.access`` so that a
viewer only ever finds what they may see. Snippets are cut from the original text in Python (the same on
both backends) with ``\\x02``/``\\x03`` around matching words; the ``|snippet`` template filter turns
those into ``<mark>``. Any query string returns results or an empty list; it never raises.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    case,
    column,
    exists,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession

from council.records.access import Viewer, agenda_item_visible, file_visible, paper_visible
from council.records.models import AgendaItem, File, Paper
from council.search.models import FTS_TABLE, KINDS, TSV_COLUMN, SearchDocument
from council.search.stem import ParsedQuery, clean_text, iter_word_spans, parse_query

log = logging.getLogger(__name__)

MAX_PER_PAGE = 100
#: Deeper pages are not served (offsets stay cheap; nobody reads page 10,000).
MAX_PAGE = 1000
#: Characters of a body scanned for a snippet.
SNIPPET_SCAN_CHARS = 200_000
SNIPPET_WIDTH = 240
#: SQLite FTS5 bm25 column weights (title, body) and PostgreSQL ts_rank_cd weights {D, C, B, A}.
BM25_WEIGHTS = (10.0, 1.0)
PG_WEIGHTS = "{0.02,0.05,0.1,1.0}"
_INT64 = 2**63 - 1


@dataclass
class SearchHit:
    kind: str
    ref_id: int
    title: str
    #: Text around the matches, matches wrapped in \x02 … \x03 (render with ``|snippet``).
    snippet: str
    #: The title with matches wrapped in \x02 … \x03.
    title_marked: str
    date: date | None
    url: str
    meeting_id: int | None = None
    paper_id: int | None = None
    paper_type: str | None = None
    score: float = 0.0
    #: What a registered kind adds to its hits (transcripts: meeting, agenda item, speaker, second).
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class SearchResults:
    query: str
    hits: list[SearchHit] = field(default_factory=list)
    total: int = 0
    page: int = 1
    per_page: int = 20
    #: Matches per kind (before the kind filter, after all others).
    facets: dict[str, int] = field(default_factory=dict)
    #: The stems looked for (for highlighting elsewhere).
    terms: list[str] = field(default_factory=list)
    #: More matches exist than were ranked (``CANDIDATES``): ``total`` is a lower bound.
    capped: bool = False

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page)) if self.per_page else 1

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < min(self.pages, MAX_PAGE)

    @property
    def first(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.hits else 0

    @property
    def last(self) -> int:
        return (self.page - 1) * self.per_page + len(self.hits)


def hit_url(kind: str, ref_id: int, meeting_id: int | None) -> str:
    if kind == "paper":
        return f"/vorlagen/{ref_id}"
    if kind == "agenda_item":
        return f"/sitzungen/{meeting_id}#top-{ref_id}"
    if kind == "transcript":
        # The registered decorator replaces this with the second in the video.
        return f"/sitzungen/{meeting_id}/wortprotokoll#s-{ref_id}"
    return f"/dokumente/{ref_id}"


# --- snippets -----------------------------------------------------------------------------------------

_SPACE_RE = re.compile(r"\s+")


def mark(text: str | None, stems: Iterable[str]) -> str:
    """``text`` (cleaned) with every word whose stem is in ``stems`` wrapped in \\x02 … \\x03."""
    text = _SPACE_RE.sub(" ", clean_text(text)).strip()
    wanted = set(stems)
    if not text or not wanted:
        return text
    out: list[str] = []
    pos = 0
    for start, end, st in iter_word_spans(text):
        if st in wanted:
            out.append(text[pos:start])
            out.append("\x02" + text[start:end] + "\x03")
            pos = end
    out.append(text[pos:])
    return "".join(out)


def snippet(body: str | None, stems: Iterable[str], width: int = SNIPPET_WIDTH) -> str:
    """A window of about ``width`` characters of ``body`` with the most distinct matching words,
    matches wrapped in \\x02 … \\x03, cut at word boundaries, "…" where text was left out."""
    text = _SPACE_RE.sub(" ", clean_text((body or "")[:SNIPPET_SCAN_CHARS])).strip()
    if not text:
        return ""
    wanted = set(stems)
    matches: list[tuple[int, int, str]] = []
    if wanted:
        for span in iter_word_spans(text):
            if span[2] in wanted:
                matches.append(span)
                if len(matches) >= 300:
                    break
    lead = width // 5
    best_i = 0
    if matches:
        best_n = 0
        for i, (s, _e, _st) in enumerate(matches):
            seen = {st for (s2, e2, st) in matches[i:] if e2 <= s + width - lead}
            if len(seen) > best_n:
                best_i, best_n = i, len(seen)
                if best_n == len(wanted):
                    break
        # Lead in a little before the first match, but use the whole width near the end of the text.
        start = max(0, min(matches[best_i][0] - lead, len(text) - width))
    else:
        start = 0
    if start > 0:
        cut = text.find(" ", start)
        start = cut + 1 if 0 <= cut < matches[best_i][0] else start
    end = min(len(text), start + width)
    if end < len(text):
        cut = text.rfind(" ", start, end)
        if cut > start + width // 2:
            end = cut
    out: list[str] = ["…"] if start > 0 else []
    pos = start
    for s, e, _st in matches:
        if s < start or e > end:
            continue
        out.append(text[pos:s])
        out.append("\x02" + text[s:e] + "\x03")
        pos = e
    out.append(text[pos:end])
    if end < len(text):
        out.append("…")
    return "".join(out).strip()


# --- kinds from other packages -------------------------------------------------------------------------

VisibleClause = Callable[[Viewer], ColumnElement[bool]]
Decorate = Callable[[AsyncSession, Viewer, list["SearchHit"]], Awaitable[None]]


@dataclass(frozen=True)
class ExtraKind:
    """A kind of search document contributed by a package ``council`` cannot import (transcripts).

    ``visible(viewer)`` is a clause on ``search_document`` rows of that kind (correlated, like
    ``paper_visible``): rows of a kind nobody registered are never found. ``decorate`` fills in what a
    hit shows (title, link, details) for the hits of one page, in one round trip."""

    visible: VisibleClause
    decorate: Decorate | None = None


_EXTRA_KINDS: dict[str, ExtraKind] = {}


def register_kind(kind: str, *, visible: VisibleClause, decorate: Decorate | None = None) -> None:
    """Make rows of ``kind`` searchable (idempotent; a later registration replaces an earlier one)."""
    _EXTRA_KINDS[kind] = ExtraKind(visible=visible, decorate=decorate)


def known_kinds() -> tuple[str, ...]:
    return (*KINDS, *(k for k in _EXTRA_KINDS if k not in KINDS))


# --- the query ----------------------------------------------------------------------------------------

#: Matches looked at per query (newest first). Up to this many the results are exact; beyond it the
#: newest ``CANDIDATES`` matches are ranked and the count says "more than" — so a common word over
#: millions of transcript segments costs the same as a rare one.
CANDIDATES = 1000


def _visible(viewer: Viewer) -> ColumnElement[bool]:
    sd = SearchDocument
    clauses: list[ColumnElement[bool]] = [
        and_(
            sd.kind == "paper", exists(select(Paper.id).where(Paper.id == sd.ref_id, paper_visible(viewer)))
        ),
        and_(
            sd.kind == "agenda_item",
            exists(select(AgendaItem.id).where(AgendaItem.id == sd.ref_id, agenda_item_visible(viewer))),
        ),
        and_(sd.kind == "file", exists(select(File.id).where(File.id == sd.ref_id, file_visible(viewer)))),
    ]
    for kind, extra in _EXTRA_KINDS.items():
        clauses.append(and_(sd.kind == kind, extra.visible(viewer)))
    return or_(*clauses)


def _org_filter(dialect: str, organization_id: int) -> ColumnElement[bool]:
    if dialect == "sqlite":
        return text(
            "EXISTS (SELECT 1 FROM json_each(search_document.organization_ids) "
            "WHERE json_each.value = :org_id)"
        ).bindparams(org_id=organization_id)  # type: ignore[return-value]
    return text("CAST(search_document.organization_ids AS jsonb) @> CAST(:org_json AS jsonb)").bindparams(
        org_json=json.dumps([organization_id])
    )  # type: ignore[return-value]


def _normalise_kinds(kinds: Iterable[str] | str | None) -> list[str]:
    if kinds is None:
        return []
    if isinstance(kinds, str):
        kinds = [kinds]
    return [k for k in known_kinds() if k in set(kinds)]


@dataclass(frozen=True)
class _Candidate:
    id: int
    kind: str
    date: date | None
    score: float


async def _candidates(
    session: AsyncSession,
    viewer: Viewer,
    parsed: ParsedQuery,
    filters: list[Any],
    kinds: list[str],
    *,
    window: bool = True,
) -> tuple[list[_Candidate], bool]:
    """The newest ``CANDIDATES`` matches passing the cheap filters, with their score, then those the
    viewer may see. Returns (visible candidates, capped: whether more matches exist)."""
    sd = SearchDocument
    dialect = session.get_bind().dialect.name
    cheap = list(filters)
    if kinds:
        cheap.append(sd.kind.in_(kinds))
    lo = 0
    if dialect == "sqlite":
        fts = table(FTS_TABLE, column("rowid"))
        fts_ref: Any = literal_column(FTS_TABLE)
        # No bm25() here: FTS5 computes its document frequencies by scanning every match of every term
        # (~100 ms for a word in millions of segments). Scores come from ``_sqlite_scores`` instead.
        score: Any = literal_column("0.0")
        inner = (
            select(sd.id.label("id"), score.label("score"))
            .select_from(fts.join(sd.__table__, sd.id == fts.c.rowid))
            .where(fts_ref.op("MATCH")(bindparam("fts_query", parsed.fts5())), *cheap)
            # FTS5 walks its doclists in rowid order: the newest matches come first and it stops early.
            .order_by(fts.c.rowid.desc())
            .limit(CANDIDATES + 1)
        )
    else:
        tsq = func.websearch_to_tsquery(
            literal_column("'german'::regconfig"), bindparam("ts_query", parsed.websearch())
        )
        tsv: Any = literal_column(f"search_document.{TSV_COLUMN}")
        score = func.ts_rank_cd(literal_column(f"'{PG_WEIGHTS}'::float4[]"), tsv, tsq, 1)
        lo = await _pg_window(session, parsed) if window else 0
        inner = (
            select(sd.id.label("id"), score.label("score"))
            .where(tsv.op("@@")(tsq), *cheap, *([sd.id > lo] if lo else []))
            .order_by(sd.id.desc())
            .limit(CANDIDATES + 1)
        )
    c = inner.subquery("c")
    # Visibility is looked at for the bounded candidates only (EXISTS per row is cheap on a thousand);
    # selected as a flag, so that the same round trip tells whether the candidates were capped.
    rows = (
        await session.execute(
            select(c.c.id, c.c.score, sd.kind, sd.date, case((_visible(viewer), 1), else_=0).label("ok"))
            .select_from(c.join(sd.__table__, sd.id == c.c.id))
            .order_by(c.c.id.desc())
        )
    ).all()
    capped = len(rows) > CANDIDATES
    if dialect != "sqlite" and lo and not capped:
        # The newest ids held fewer matches than the estimate promised: look at all of them.
        return await _candidates(session, viewer, parsed, filters, kinds, window=False)
    out = [_Candidate(int(r.id), r.kind, r.date, float(r.score or 0.0)) for r in rows[:CANDIDATES] if r.ok]
    if dialect == "sqlite" and out:
        scores = await _sqlite_scores(session, [c.id for c in out], parsed)
        out = [_Candidate(c.id, c.kind, c.date, scores.get(c.id, 0.0)) for c in out]
    sign = 1.0 if dialect == "sqlite" else -1.0  # bm25: lower is better; ts_rank_cd: higher is better
    out.sort(key=lambda x: (sign * x.score, x.date is None, -(x.date.toordinal() if x.date else 0), x.id))
    return out, capped


async def _pg_window(session: AsyncSession, parsed: ParsedQuery) -> int:
    """A lower bound on ids that should still hold about twice ``CANDIDATES`` matches (0: none).

    PostgreSQL finds "the newest N matches" either by walking the primary key backwards and testing
    every row (fast for common words, slow for words in 1 % of millions of rows) or through the GIN
    index and a sort of every match (fast for rare words, slow for common ones). Bounding the ids by the
    planner's own estimate of the match count keeps either plan to a few thousand rows."""
    top = (await session.execute(select(func.max(SearchDocument.id)))).scalar() or 0
    plan: Any = (
        await session.execute(
            text(
                f"EXPLAIN (FORMAT JSON) SELECT 1 FROM search_document WHERE {TSV_COLUMN} @@ "  # noqa: S608
                "websearch_to_tsquery('german'::regconfig, :q)"
            ),
            {"q": parsed.websearch()},
        )
    ).scalar()
    if isinstance(plan, str):
        plan = json.loads(plan)
    try:
        estimate = float(plan[0]["Plan"]["Plan Rows"])
    except (LookupError, TypeError, ValueError):
        return 0
    if estimate <= 4 * CANDIDATES or top <= 0:
        return 0
    width = int(2 * CANDIDATES * top / estimate)
    return max(0, top - width)


#: Matches probed per term to estimate its document frequency (exact below this).
DF_PROBE = 1000
#: Characters of a (stemmed) body read to score a candidate.
SCORE_CHARS = 20_000
BM25_K1 = 1.2
BM25_B = 0.75


async def _sqlite_scores(session: AsyncSession, ids: list[int], parsed: ParsedQuery) -> dict[int, float]:
    """FTS5's bm25 (title weighted 10:1, lower is better) computed here for the candidates only.

    Term frequencies come from the stemmed text FTS5 stores; a term's document frequency is exact when
    it has at most ``DF_PROBE`` matches, else estimated from how far back (in rowids) its newest
    ``DF_PROBE`` matches reach: a few index seeks instead of a scan of millions of postings.
    """
    stems = sorted(parsed.stems)
    if not stems:
        return {}
    top = (await session.execute(select(func.max(SearchDocument.id)))).scalar() or 1
    idf: dict[str, float] = {}
    for st in stems:
        probe = (
            await session.execute(
                text(
                    f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :q "  # noqa: S608 (constant)
                    "ORDER BY rowid DESC LIMIT :n"
                ),
                {"q": '"' + st.replace('"', '""') + '"', "n": DF_PROBE + 1},
            )
        ).all()
        if len(probe) <= DF_PROBE:
            df = float(len(probe))
        else:
            df = DF_PROBE * top / max(1, top - int(probe[-1][0]) + 1)
        df = min(df, float(top))
        idf[st] = max(1e-6, math.log((top - df + 0.5) / (df + 0.5)))
    docs: dict[int, tuple[list[str], list[str]]] = {}
    for i in range(0, len(ids), 500):
        chunk = ", ".join(str(int(x)) for x in ids[i : i + 500])
        rows = (
            await session.execute(
                text(
                    f"SELECT rowid, title, substr(body, 1, :n) FROM {FTS_TABLE} "  # noqa: S608 (ints only)
                    f"WHERE rowid IN ({chunk})"
                ),
                {"n": SCORE_CHARS},
            )
        ).all()
        for rowid, title, body in rows:
            docs[int(rowid)] = ((title or "").split(), (body or "").split())
    if not docs:
        return {}
    avgdl = sum(len(t) + len(b) for t, b in docs.values()) / len(docs) or 1.0
    w_title, w_body = BM25_WEIGHTS
    out: dict[int, float] = {}
    for doc_id, (title_words, body_words) in docs.items():
        length = len(title_words) + len(body_words)
        norm = BM25_K1 * (1 - BM25_B + BM25_B * length / avgdl)
        total = 0.0
        for st in stems:
            f = w_title * title_words.count(st) + w_body * body_words.count(st)
            if f:
                total += idf[st] * f * (BM25_K1 + 1) / (f + norm)
        out[doc_id] = -total  # FTS5's sign: lower is better
    return out


async def search(
    session: AsyncSession,
    viewer: Viewer,
    q: str | None,
    *,
    kinds: Iterable[str] | str | None = None,
    organization_id: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    paper_type: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> SearchResults:
    """Search papers, agenda items, files (and registered kinds) visible to ``viewer``. Never raises on
    odd input."""
    try:
        page = max(1, min(int(page), MAX_PAGE))
        per_page = max(1, min(int(per_page), MAX_PER_PAGE))
    except (TypeError, ValueError, OverflowError):
        page, per_page = 1, 20
    parsed = parse_query(q)
    results = SearchResults(
        query=clean_text(q or "")[:500], page=page, per_page=per_page, terms=sorted(parsed.stems)
    )
    if parsed.is_empty:
        return results
    if organization_id is not None and not (0 < organization_id <= _INT64):
        return results
    wanted_kinds = _normalise_kinds(kinds)
    if kinds is not None and not wanted_kinds:
        return results
    if date_from and date_to and date_from > date_to:
        return results
    paper_type = clean_text(paper_type)[:100] if paper_type else None

    dialect = session.get_bind().dialect.name
    sd = SearchDocument
    filters: list[Any] = []
    if organization_id is not None:
        filters.append(_org_filter(dialect, organization_id))
    if date_from is not None:
        filters.append(sd.date >= date_from)
    if date_to is not None:
        filters.append(sd.date <= date_to)
    if paper_type:
        filters.append(sd.paper_type == paper_type)

    every, capped = await _candidates(session, viewer, parsed, filters, [])
    facets: dict[str, int] = {}
    for cand in every:
        facets[cand.kind] = facets.get(cand.kind, 0) + 1
    results.facets = facets
    if wanted_kinds and capped:
        # The newest matches of all kinds may crowd out a rarer kind: look again with the kind filter.
        chosen, capped = await _candidates(session, viewer, parsed, filters, wanted_kinds)
    elif wanted_kinds:
        chosen = [cand for cand in every if cand.kind in wanted_kinds]
    else:
        chosen = every
    results.capped = capped
    results.total = len(chosen)
    start = (page - 1) * per_page
    page_ids = [cand.id for cand in chosen[start : start + per_page]]
    if not page_ids:
        return results
    scores = {cand.id: cand.score for cand in chosen}
    rows = (
        await session.execute(
            select(
                sd.id,
                sd.kind,
                sd.ref_id,
                sd.title,
                sd.date,
                sd.meeting_id,
                sd.paper_id,
                sd.paper_type,
                func.substr(sd.body, 1, SNIPPET_SCAN_CHARS).label("body"),
            ).where(sd.id.in_(page_ids))
        )
    ).all()
    by_id = {row.id: row for row in rows}
    results.hits = [_hit(by_id[i], parsed, scores[i]) for i in page_ids if i in by_id]
    for kind, extra in _EXTRA_KINDS.items():
        mine = [h for h in results.hits if h.kind == kind]
        if mine and extra.decorate is not None:
            await extra.decorate(session, viewer, mine)
    return results


def _hit(row: Any, parsed: ParsedQuery, score: float) -> SearchHit:
    stems = parsed.stems
    return SearchHit(
        kind=row.kind,
        ref_id=row.ref_id,
        title=row.title,
        title_marked=mark(row.title, stems),
        snippet=snippet(row.body, stems),
        date=row.date,
        url=hit_url(row.kind, row.ref_id, row.meeting_id),
        meeting_id=row.meeting_id,
        paper_id=row.paper_id,
        paper_type=row.paper_type,
        score=score,
    )
