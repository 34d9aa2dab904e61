"""Keeping ``search_document`` (and SQLite's FTS5 twin) in step with the records.

``index_papers`` / ``index_agenda_items`` / ``index_files`` (re)index the given ids: a record that exists
and is not soft-deleted gets a fresh row, anything else is removed from the index. ``reindex_all``
rebuilds everything in batches while the old rows stay searchable, then drops rows of records that are
gone. Nothing here commits: callers do (the job in ``council.search.jobs`` commits per batch).

What is indexed (title / body):

* paper: name / reference, paper type
* agenda item: name / resolution text
* file: name / extracted text (``File.text``)
"""

from __future__ import annotations

import inspect
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, delete, false, func, insert, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from council.records.models import (
    AgendaItem,
    Consultation,
    File,
    Meeting,
    Paper,
    agenda_item_auxiliary_file,
    consultation_organization,
    meeting_auxiliary_file,
    meeting_organization,
    paper_auxiliary_file,
    paper_under_direction_of,
)
from council.search.models import FTS_TABLE, SearchDocument
from council.search.stem import clean_text, stemmed_text

log = logging.getLogger(__name__)
_TABLE: Table = SearchDocument.__table__  # type: ignore[assignment]

TZ = ZoneInfo("Europe/Berlin")
#: Ids per database round trip (IN lists, bulk inserts).
CHUNK = 500
#: Records per reindex batch (files carry long texts: fewer of them).
BATCH = {"paper": 1000, "agenda_item": 1000, "file": 200}

Progress = Callable[[int, int], Awaitable[None] | None]


@dataclass
class _Doc:
    """One search document. Public as ``IndexDocument`` for kinds indexed elsewhere (transcripts)."""

    kind: str
    ref_id: int
    title: str
    body: str
    date: date | None = None
    organization_ids: set[int] = field(default_factory=set)
    paper_type: str | None = None
    meeting_id: int | None = None
    paper_id: int | None = None

    def row(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "ref_id": self.ref_id,
            "title": clean_text(self.title)[:5000],
            "body": clean_text(self.body),
            "date": self.date,
            "organization_ids": sorted(self.organization_ids),
            "paper_type": self.paper_type,
            "meeting_id": self.meeting_id,
            "paper_id": self.paper_id,
        }


def _chunks(ids: Sequence[int], size: int = CHUNK) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def _unique_ids(ids: Iterable[int]) -> list[int]:
    return sorted({int(i) for i in ids if i is not None})


def _local_date(value: datetime | None) -> date | None:
    return value.astimezone(TZ).date() if value is not None else None


def _is_sqlite(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "sqlite"


# --- organisations ------------------------------------------------------------------------------------


async def _meeting_orgs(session: AsyncSession, meeting_ids: Iterable[int]) -> dict[int, set[int]]:
    out: dict[int, set[int]] = defaultdict(set)
    ids = _unique_ids(meeting_ids)
    for chunk in _chunks(ids):
        rows: Any = await session.execute(
            select(meeting_organization.c.meeting_id, meeting_organization.c.organization_id).where(
                meeting_organization.c.meeting_id.in_(chunk)
            )
        )
        for mid, oid in rows:
            out[mid].add(oid)
    return out


async def _paper_orgs(session: AsyncSession, paper_ids: Iterable[int]) -> dict[int, set[int]]:
    """Committees consulting a paper (and those of the meetings it is on), and who leads it."""
    out: dict[int, set[int]] = defaultdict(set)
    ids = _unique_ids(paper_ids)
    for chunk in _chunks(ids):
        rows: Any = await session.execute(
            select(Consultation.paper_id, consultation_organization.c.organization_id)
            .join(consultation_organization, consultation_organization.c.consultation_id == Consultation.id)
            .where(Consultation.paper_id.in_(chunk), Consultation.deleted == false())
        )
        for pid, oid in rows:
            out[pid].add(oid)
        rows = await session.execute(
            select(Consultation.paper_id, meeting_organization.c.organization_id)
            .join(meeting_organization, meeting_organization.c.meeting_id == Consultation.meeting_id)
            .where(Consultation.paper_id.in_(chunk), Consultation.deleted == false())
        )
        for pid, oid in rows:
            out[pid].add(oid)
        rows = await session.execute(
            select(paper_under_direction_of.c.paper_id, paper_under_direction_of.c.organization_id).where(
                paper_under_direction_of.c.paper_id.in_(chunk)
            )
        )
        for pid, oid in rows:
            out[pid].add(oid)
    return out


# --- documents per kind ---------------------------------------------------------------------------------


async def _paper_docs(session: AsyncSession, ids: Sequence[int]) -> list[_Doc]:
    papers: list[Any] = []
    for chunk in _chunks(ids):
        rows: Any = await session.execute(
            select(Paper.id, Paper.name, Paper.reference, Paper.paper_type, Paper.date).where(
                Paper.id.in_(chunk), Paper.deleted == false()
            )
        )
        papers.extend(rows.all())
    orgs = await _paper_orgs(session, [p.id for p in papers])
    docs = []
    for p in papers:
        body = " · ".join(x for x in (p.reference, p.paper_type) if x)
        docs.append(
            _Doc(
                kind="paper",
                ref_id=p.id,
                title=p.name or "",
                body=body,
                date=p.date,
                organization_ids=orgs.get(p.id, set()),
                paper_type=p.paper_type,
                paper_id=p.id,
            )
        )
    return docs


async def _agenda_item_docs(session: AsyncSession, ids: Sequence[int]) -> list[_Doc]:
    items: list[Any] = []
    for chunk in _chunks(ids):
        rows: Any = await session.execute(
            select(
                AgendaItem.id,
                AgendaItem.name,
                AgendaItem.resolution_text,
                AgendaItem.meeting_id,
                Meeting.start,
            )
            .join(Meeting, Meeting.id == AgendaItem.meeting_id)
            .where(AgendaItem.id.in_(chunk), AgendaItem.deleted == false())
        )
        items.extend(rows.all())
    orgs = await _meeting_orgs(session, [i.meeting_id for i in items])
    papers: dict[int, tuple[int, str | None]] = {}
    for chunk in _chunks([i.id for i in items]):
        rows = await session.execute(
            select(Consultation.agenda_item_id, Paper.id, Paper.paper_type)
            .join(Paper, Paper.id == Consultation.paper_id)
            .where(
                Consultation.agenda_item_id.in_(chunk),
                Consultation.deleted == false(),
                Paper.deleted == false(),
            )
            .order_by(Consultation.id)
        )
        for item_id, paper_id, paper_type in rows:
            papers.setdefault(item_id, (paper_id, paper_type))
    docs = []
    for i in items:
        paper_id, paper_type = papers.get(i.id, (None, None))
        docs.append(
            _Doc(
                kind="agenda_item",
                ref_id=i.id,
                title=i.name or "",
                body=i.resolution_text or "",
                date=_local_date(i.start),
                organization_ids=set(orgs.get(i.meeting_id, set())),
                paper_type=paper_type,
                meeting_id=i.meeting_id,
                paper_id=paper_id,
            )
        )
    return docs


async def _file_links(
    session: AsyncSession, ids: Sequence[int]
) -> tuple[dict[int, tuple[int, str | None, date | None]], dict[int, tuple[int, datetime | None]]]:
    """For each file: the first paper it belongs to, and the first meeting (directly or via an item)."""
    to_paper: dict[int, tuple[int, str | None, date | None]] = {}
    to_meeting: dict[int, tuple[int, datetime | None]] = {}
    for chunk in _chunks(ids):
        rows: Any = await session.execute(
            select(Paper.main_file_id, Paper.id, Paper.paper_type, Paper.date)
            .where(Paper.main_file_id.in_(chunk), Paper.deleted == false())
            .order_by(Paper.id)
        )
        for fid, pid, ptype, pdate in rows:
            to_paper.setdefault(fid, (pid, ptype, pdate))
        rows = await session.execute(
            select(paper_auxiliary_file.c.file_id, Paper.id, Paper.paper_type, Paper.date)
            .join(Paper, Paper.id == paper_auxiliary_file.c.paper_id)
            .where(paper_auxiliary_file.c.file_id.in_(chunk), Paper.deleted == false())
            .order_by(Paper.id)
        )
        for fid, pid, ptype, pdate in rows:
            to_paper.setdefault(fid, (pid, ptype, pdate))
        rows = await session.execute(
            select(
                Meeting.invitation_id,
                Meeting.results_protocol_id,
                Meeting.verbatim_protocol_id,
                Meeting.id,
                Meeting.start,
            )
            .where(
                or_(
                    Meeting.invitation_id.in_(chunk),
                    Meeting.results_protocol_id.in_(chunk),
                    Meeting.verbatim_protocol_id.in_(chunk),
                ),
                Meeting.deleted == false(),
            )
            .order_by(Meeting.id)
        )
        wanted = set(chunk)
        for inv, res, verb, mid, start in rows:
            for fid in (inv, res, verb):
                if fid in wanted:
                    to_meeting.setdefault(fid, (mid, start))
        rows = await session.execute(
            select(meeting_auxiliary_file.c.file_id, Meeting.id, Meeting.start)
            .join(Meeting, Meeting.id == meeting_auxiliary_file.c.meeting_id)
            .where(meeting_auxiliary_file.c.file_id.in_(chunk), Meeting.deleted == false())
            .order_by(Meeting.id)
        )
        for fid, mid, start in rows:
            to_meeting.setdefault(fid, (mid, start))
        rows = await session.execute(
            select(AgendaItem.resolution_file_id, Meeting.id, Meeting.start)
            .join(Meeting, Meeting.id == AgendaItem.meeting_id)
            .where(AgendaItem.resolution_file_id.in_(chunk), AgendaItem.deleted == false())
            .order_by(AgendaItem.id)
        )
        for fid, mid, start in rows:
            to_meeting.setdefault(fid, (mid, start))
        rows = await session.execute(
            select(agenda_item_auxiliary_file.c.file_id, Meeting.id, Meeting.start)
            .join(AgendaItem, AgendaItem.id == agenda_item_auxiliary_file.c.agenda_item_id)
            .join(Meeting, Meeting.id == AgendaItem.meeting_id)
            .where(agenda_item_auxiliary_file.c.file_id.in_(chunk), AgendaItem.deleted == false())
            .order_by(AgendaItem.id)
        )
        for fid, mid, start in rows:
            to_meeting.setdefault(fid, (mid, start))
    return to_paper, to_meeting


async def _file_docs(session: AsyncSession, ids: Sequence[int]) -> list[_Doc]:
    files: list[Any] = []
    for chunk in _chunks(ids, 100):
        rows: Any = await session.execute(
            select(File.id, File.name, File.file_name, File.text, File.date).where(
                File.id.in_(chunk), File.deleted == false()
            )
        )
        files.extend(rows.all())
    to_paper, to_meeting = await _file_links(session, [f.id for f in files])
    paper_orgs = await _paper_orgs(session, [p[0] for p in to_paper.values()])
    meeting_orgs = await _meeting_orgs(session, [m[0] for m in to_meeting.values()])
    docs = []
    for f in files:
        paper = to_paper.get(f.id)
        meeting = to_meeting.get(f.id)
        orgs: set[int] = set()
        if paper:
            orgs |= paper_orgs.get(paper[0], set())
        if meeting:
            orgs |= meeting_orgs.get(meeting[0], set())
        day = f.date or (paper[2] if paper else None) or (_local_date(meeting[1]) if meeting else None)
        docs.append(
            _Doc(
                kind="file",
                ref_id=f.id,
                title=f.name or f.file_name or "",
                body=f.text or "",
                date=day,
                organization_ids=orgs,
                paper_type=paper[1] if paper else None,
                meeting_id=meeting[0] if meeting else None,
                paper_id=paper[0] if paper else None,
            )
        )
    return docs


IndexDocument = _Doc
meeting_organizations = _meeting_orgs
local_date = _local_date

_BUILDERS = {"paper": _paper_docs, "agenda_item": _agenda_item_docs, "file": _file_docs}


# --- writing ---------------------------------------------------------------------------------------------


async def _remove(session: AsyncSession, kind: str, ref_ids: Sequence[int]) -> None:
    sqlite = _is_sqlite(session)
    for chunk in _chunks(ref_ids):
        if sqlite:
            doc_ids = (
                (
                    await session.execute(
                        select(SearchDocument.id).where(
                            SearchDocument.kind == kind, SearchDocument.ref_id.in_(chunk)
                        )
                    )
                )
                .scalars()
                .all()
            )
            if not doc_ids:
                continue
            await session.execute(
                text(f"DELETE FROM {FTS_TABLE} WHERE rowid = :id"),  # noqa: S608 (constant table name)
                [{"id": i} for i in doc_ids],
            )
            await session.execute(delete(SearchDocument).where(SearchDocument.id.in_(doc_ids)))
        else:
            await session.execute(
                delete(SearchDocument).where(SearchDocument.kind == kind, SearchDocument.ref_id.in_(chunk))
            )


async def _insert(session: AsyncSession, docs: Sequence[_Doc]) -> None:
    if not docs:
        return
    sqlite = _is_sqlite(session)
    for i in range(0, len(docs), CHUNK):
        rows = [d.row() for d in docs[i : i + CHUNK]]
        if sqlite:
            result = await session.execute(
                insert(_TABLE).returning(_TABLE.c.id, sort_by_parameter_order=True),
                rows,
            )
            new_ids = result.scalars().all()
            await session.execute(
                text(f"INSERT INTO {FTS_TABLE} (rowid, title, body) VALUES (:id, :title, :body)"),  # noqa: S608
                [
                    {"id": doc_id, "title": stemmed_text(r["title"]), "body": stemmed_text(r["body"])}
                    for doc_id, r in zip(new_ids, rows, strict=True)
                ],
            )
        else:
            # ON CONFLICT: two workers indexing the same record at once must not fail on the unique key.
            stmt = pg_insert(SearchDocument)
            stmt = stmt.on_conflict_do_update(
                index_elements=["kind", "ref_id"],
                set_={c: stmt.excluded[c] for c in rows[0] if c not in ("kind", "ref_id")},
            )
            await session.execute(stmt, rows)


async def _index(session: AsyncSession, kind: str, ids: Iterable[int]) -> int:
    ref_ids = _unique_ids(ids)
    if not ref_ids:
        return 0
    # Pending ORM changes of the caller (autoflush is off) must be visible to the queries below.
    await session.flush()
    docs = await _BUILDERS[kind](session, ref_ids)
    await _remove(session, kind, ref_ids)
    await _insert(session, docs)
    return len(docs)


async def index_papers(session: AsyncSession, ids: Iterable[int]) -> int:
    """(Re)index papers; deleted or missing ones leave the index. Returns the number indexed."""
    return await _index(session, "paper", ids)


async def index_agenda_items(session: AsyncSession, ids: Iterable[int]) -> int:
    """(Re)index agenda items; deleted or missing ones leave the index. Returns the number indexed."""
    return await _index(session, "agenda_item", ids)


async def index_files(session: AsyncSession, ids: Iterable[int]) -> int:
    """(Re)index files (their extracted text); deleted or missing ones leave the index."""
    return await _index(session, "file", ids)


INDEXERS = {"paper": index_papers, "agenda_item": index_agenda_items, "file": index_files}


async def index(session: AsyncSession, kind: str, ids: Iterable[int]) -> int:
    """``index_papers`` / ``index_agenda_items`` / ``index_files`` by kind name."""
    if kind not in INDEXERS:
        raise ValueError(f"unknown search document kind {kind!r}")
    return await INDEXERS[kind](session, ids)


async def remove(session: AsyncSession, kind: str, ids: Iterable[int]) -> None:
    """Drop records from the index (hard deletes; soft-deleted records leave on reindexing anyway)."""
    await _remove(session, kind, _unique_ids(ids))


async def replace_documents(
    session: AsyncSession, kind: str, ref_ids: Iterable[int], docs: Sequence[_Doc]
) -> int:
    """Index documents built elsewhere (a kind ``council`` cannot build itself, e.g. transcript segments):
    rows of ``kind`` for ``ref_ids`` are removed, then ``docs`` inserted. Nothing is committed."""
    if any(d.kind != kind for d in docs):
        raise ValueError("every document must be of the given kind")
    ids = _unique_ids([*ref_ids, *(d.ref_id for d in docs)])
    await _remove(session, kind, ids)
    await _insert(session, docs)
    return len(docs)


async def remove_meeting_documents(session: AsyncSession, kind: str, meeting_id: int) -> None:
    """Drop every row of ``kind`` that belongs to a meeting (before indexing its new transcript)."""
    ids = (
        (
            await session.execute(
                select(SearchDocument.ref_id).where(
                    SearchDocument.kind == kind, SearchDocument.meeting_id == meeting_id
                )
            )
        )
        .scalars()
        .all()
    )
    await _remove(session, kind, list(ids))


async def reindex_all(session: AsyncSession, progress: Progress | None = None) -> int:
    """Rebuild the whole index in batches; returns the number of documents indexed.

    Old rows stay searchable until their record's batch replaces them; rows of records that no longer
    exist (or are soft-deleted) are dropped at the end. ``progress(done, total)`` (sync or async) is called
    after every batch — a caller may commit there to keep transactions short.
    """
    await session.flush()
    watermark = (await session.execute(select(func.max(SearchDocument.id)))).scalar() or 0
    models = {"paper": Paper, "agenda_item": AgendaItem, "file": File}
    total = 0
    for model in models.values():
        total += (await session.execute(select(func.count()).where(model.deleted == false()))).scalar() or 0
    done = 0
    indexed = 0
    for kind, model in models.items():
        last = 0
        while True:
            ids = (
                (
                    await session.execute(
                        select(model.id)
                        .where(model.deleted == false(), model.id > last)
                        .order_by(model.id)
                        .limit(BATCH[kind])
                    )
                )
                .scalars()
                .all()
            )
            if not ids:
                break
            last = ids[-1]
            indexed += await _index(session, kind, ids)
            done += len(ids)
            if progress is not None:
                result = progress(min(done, total), max(total, done))
                if inspect.isawaitable(result):
                    await result
    # Everything of these kinds not replaced above belongs to records that are gone (kinds indexed
    # elsewhere, such as transcript segments, keep their rows).
    own_kinds = SearchDocument.kind.in_(list(models))
    if _is_sqlite(session):
        await session.execute(
            text(
                f"DELETE FROM {FTS_TABLE} WHERE rowid IN (SELECT id FROM search_document WHERE id <= :w "  # noqa: S608
                "AND kind IN ('paper', 'agenda_item', 'file'))"
            ),
            {"w": watermark},
        )
        await session.execute(delete(SearchDocument).where(SearchDocument.id <= watermark, own_kinds))
        await session.execute(text(f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}) VALUES ('optimize')"))  # noqa: S608
    else:
        await session.execute(delete(SearchDocument).where(SearchDocument.id <= watermark, own_kinds))
    log.info("search index rebuilt: %d documents", indexed)
    return indexed


async def count_documents(session: AsyncSession) -> int:
    return (await session.execute(select(func.count(SearchDocument.id)))).scalar() or 0
