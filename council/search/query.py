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
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
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


# --- the query ----------------------------------------------------------------------------------------


def _visible(viewer: Viewer) -> ColumnElement[bool]:
    sd = SearchDocument
    return or_(
        and_(
            sd.kind == "paper", exists(select(Paper.id).where(Paper.id == sd.ref_id, paper_visible(viewer)))
        ),
        and_(
            sd.kind == "agenda_item",
            exists(select(AgendaItem.id).where(AgendaItem.id == sd.ref_id, agenda_item_visible(viewer))),
        ),
        and_(sd.kind == "file", exists(select(File.id).where(File.id == sd.ref_id, file_visible(viewer)))),
    )


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
    return [k for k in KINDS if k in set(kinds)]


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
    """Search papers, agenda items and files visible to ``viewer``. Never raises on odd input."""
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
    filters: list[Any] = [_visible(viewer)]
    if organization_id is not None:
        filters.append(_org_filter(dialect, organization_id))
    if date_from is not None:
        filters.append(sd.date >= date_from)
    if date_to is not None:
        filters.append(sd.date <= date_to)
    if paper_type:
        filters.append(sd.paper_type == paper_type)

    if dialect == "sqlite":
        match_expr = parsed.fts5()
        fts = table(FTS_TABLE, column("rowid"))
        fts_ref: Any = literal_column(FTS_TABLE)
        base_from: Any = sd.__table__.join(fts, fts.c.rowid == sd.id)
        match: Any = fts_ref.op("MATCH")(bindparam("fts_query", match_expr))
        score: Any = func.bm25(fts_ref, *BM25_WEIGHTS)
        order = [score.asc()]
    else:
        tsq = func.websearch_to_tsquery(
            literal_column("'german'::regconfig"), bindparam("ts_query", parsed.websearch())
        )
        tsv: Any = literal_column(f"search_document.{TSV_COLUMN}")
        base_from = sd.__table__
        match = tsv.op("@@")(tsq)
        score = func.ts_rank_cd(literal_column(f"'{PG_WEIGHTS}'::float4[]"), tsv, tsq, 1)
        order = [score.desc()]

    facet_rows = await session.execute(
        select(sd.kind, func.count()).select_from(base_from).where(match, *filters).group_by(sd.kind)
    )
    results.facets = {k: int(n) for k, n in facet_rows}
    results.total = sum(n for k, n in results.facets.items() if not wanted_kinds or k in wanted_kinds)
    if results.total == 0 or (page - 1) * per_page >= results.total:
        return results

    page_filters = list(filters)
    if wanted_kinds:
        page_filters.append(sd.kind.in_(wanted_kinds))
    rows = (
        await session.execute(
            select(
                sd.kind,
                sd.ref_id,
                sd.title,
                sd.date,
                sd.meeting_id,
                sd.paper_id,
                sd.paper_type,
                func.substr(sd.body, 1, SNIPPET_SCAN_CHARS).label("body"),
                score.label("score"),
            )
            .select_from(base_from)
            .where(match, *page_filters)
            .order_by(*order, sd.date.desc().nulls_last(), sd.id)
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    ).all()
    results.hits = [_hit(row, parsed) for row in rows]
    return results


def _hit(row: Any, parsed: ParsedQuery) -> SearchHit:
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
        score=float(row.score or 0.0),
    )
