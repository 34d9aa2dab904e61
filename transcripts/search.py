"""Transcript segments in the site search (kind ``"transcript"`` of ``council.search``).

``council`` cannot import ``transcripts``, so this module registers the kind with
``council.search.query.register_kind`` (who may see a row, and what a hit shows) and writes the rows
through ``council.search.indexer.replace_documents`` — same table, same German stemming (FTS5 on
pre-stemmed text, PostgreSQL ``german`` tsvector) as papers and files.

What is indexed: the *final* transcript (live captions are greedy and get replaced), one row per
segment, body = the (corrected) text, title empty (a hit's title is its meeting, set by ``decorate``).
When: after a final run completes (``index_meeting``, via the ``transcripts.index`` job) and on every
correction (``index_segments``, inline in the correcting transaction).

Visibility is decided at query time against the segment itself, never copied: the meeting must be
visible to the viewer, the agenda item (if any) too, and the segment must be public unless the viewer is
staff (non-consenting speakers' segments are private).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from council.core.jobs import Job, JobContext, enqueue, job
from council.records.access import Viewer, agenda_item_visible, meeting_visible
from council.records.models import AgendaItem, Meeting, Person
from council.search.indexer import (
    IndexDocument,
    local_date,
    meeting_organizations,
    remove,
    remove_meeting_documents,
    replace_documents,
)
from council.search.models import SearchDocument
from council.search.query import SearchHit, register_kind
from transcripts.models import RunState, SegmentSource, TranscriptRun, TranscriptSegment

KIND = "transcript"
#: Segments per round trip when indexing a whole meeting.
_BATCH = 2000


def video_url(meeting_id: int, start_s: float) -> str:
    """The second of the archive video where a segment starts (the player page is streaming's)."""
    return f"/sitzungen/{meeting_id}/video?t={max(0, int(start_s))}"


def format_time(seconds: float) -> str:
    """mm:ss below an hour, h:mm:ss above (a segment's position in the recording)."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


# --- what a viewer may find -----------------------------------------------------------------------------


def visible(viewer: Viewer) -> ColumnElement[bool]:
    """``search_document`` rows of kind transcript whose segment the viewer may read."""
    seg = TranscriptSegment
    conditions: list[Any] = [
        seg.id == SearchDocument.ref_id,
        seg.deleted == false(),
        exists(select(Meeting.id).where(Meeting.id == seg.meeting_id, meeting_visible(viewer))),
        or_(
            seg.agenda_item_id.is_(None),
            exists(
                select(AgendaItem.id).where(AgendaItem.id == seg.agenda_item_id, agenda_item_visible(viewer))
            ),
        ),
    ]
    if not viewer.is_staff:
        conditions.append(seg.public == true())
    return exists(select(seg.id).where(and_(*conditions)))


async def decorate(session: AsyncSession, viewer: Viewer, hits: list[SearchHit]) -> None:
    """Meeting, agenda item, speaker, time and the video link for one page of hits (one query)."""
    ids = [h.ref_id for h in hits]
    rows = (
        await session.execute(
            select(
                TranscriptSegment.id,
                TranscriptSegment.meeting_id,
                TranscriptSegment.start_s,
                TranscriptSegment.speaker_role,
                TranscriptSegment.corrected,
                Meeting.name.label("meeting_name"),
                Meeting.start.label("meeting_start"),
                AgendaItem.id.label("item_id"),
                AgendaItem.number.label("item_number"),
                AgendaItem.name.label("item_name"),
                Person.name.label("person_name"),
            )
            .join(Meeting, Meeting.id == TranscriptSegment.meeting_id)
            .outerjoin(AgendaItem, AgendaItem.id == TranscriptSegment.agenda_item_id)
            .outerjoin(Person, Person.id == TranscriptSegment.person_id)
            .where(TranscriptSegment.id.in_(ids))
        )
    ).all()
    by_id = {r.id: r for r in rows}
    for hit in hits:
        r = by_id.get(hit.ref_id)
        if r is None:
            continue
        hit.url = video_url(r.meeting_id, r.start_s)
        hit.title = r.meeting_name or ""
        hit.title_marked = hit.title
        hit.details = {
            "meeting_id": r.meeting_id,
            "meeting_name": r.meeting_name,
            "meeting_start": r.meeting_start,
            "agenda_item_id": r.item_id,
            "agenda_item": " ".join(x for x in (r.item_number, r.item_name) if x) or None,
            "speaker": r.person_name,
            "speaker_role": r.speaker_role,
            "start_s": r.start_s,
            "time": format_time(r.start_s),
            "corrected": bool(r.corrected),
            "transcript_url": f"/sitzungen/{r.meeting_id}/wortprotokoll#s-{r.id}",
        }


register_kind(KIND, visible=visible, decorate=decorate)


# --- writing the index ------------------------------------------------------------------------------------


def _docs(rows: Sequence[Any], orgs: dict[int, set[int]]) -> list[IndexDocument]:
    return [
        IndexDocument(
            kind=KIND,
            ref_id=r.id,
            title="",
            body=r.text or "",
            date=local_date(r.meeting_start),
            organization_ids=set(orgs.get(r.meeting_id, set())),
            meeting_id=r.meeting_id,
        )
        for r in rows
    ]


def _segment_rows() -> Any:
    return select(
        TranscriptSegment.id,
        TranscriptSegment.meeting_id,
        TranscriptSegment.text,
        Meeting.start.label("meeting_start"),
    ).join(Meeting, Meeting.id == TranscriptSegment.meeting_id)


async def index_segments(session: AsyncSession, segment_ids: Iterable[int]) -> int:
    """(Re)index some segments (after a correction). Live, deleted or missing ones leave the index.
    Nothing is committed."""
    ids = sorted({int(i) for i in segment_ids})
    if not ids:
        return 0
    await session.flush()
    rows = (
        await session.execute(
            _segment_rows().where(
                TranscriptSegment.id.in_(ids),
                TranscriptSegment.deleted == false(),
                TranscriptSegment.source == SegmentSource.FINAL,
            )
        )
    ).all()
    orgs = await meeting_organizations(session, {r.meeting_id for r in rows})
    return await replace_documents(session, KIND, ids, _docs(rows, orgs))


async def index_meeting(session: AsyncSession, meeting_id: int) -> int:
    """Replace a meeting's transcript rows by its current final segments (after a final run).
    Nothing is committed."""
    await session.flush()
    await remove_meeting_documents(session, KIND, meeting_id)
    orgs = await meeting_organizations(session, [meeting_id])
    last = 0
    n = 0
    while True:
        rows = (
            await session.execute(
                _segment_rows()
                .where(
                    TranscriptSegment.meeting_id == meeting_id,
                    TranscriptSegment.deleted == false(),
                    TranscriptSegment.source == SegmentSource.FINAL,
                    TranscriptSegment.id > last,
                )
                .order_by(TranscriptSegment.id)
                .limit(_BATCH)
            )
        ).all()
        if not rows:
            return n
        last = rows[-1].id
        n += await replace_documents(session, KIND, [], _docs(rows, orgs))


async def unindex_segments(session: AsyncSession, segment_ids: Iterable[int]) -> None:
    await remove(session, KIND, segment_ids)


@job("transcripts.index")
async def index_job(ctx: JobContext) -> None:
    """Payload ``{"meeting_id": n}`` (a whole meeting) or ``{"segment_ids": [..]}``."""
    async with ctx.sessionmaker() as session:
        if ctx.payload.get("meeting_id") is not None:
            await index_meeting(session, int(ctx.payload["meeting_id"]))
        else:
            await index_segments(session, [int(i) for i in ctx.payload.get("segment_ids", [])])
        await session.commit()


def enqueue_index_meeting(session: AsyncSession, meeting_id: int) -> Job:
    """Queue indexing a meeting's final transcript in the caller's transaction (commit, then wake)."""
    return enqueue(session, "transcripts.index", {"meeting_id": int(meeting_id)})


def _index_after_final() -> None:
    """Chain indexing onto the final transcript job: when a run finishes (done or empty), the meeting's
    transcript rows in the search index are replaced in the same job, so search follows the run."""
    from transcripts import jobs as final_jobs

    inner = final_jobs.final_transcript
    if getattr(inner, "_indexes_search", False):
        return

    async def final_then_index(ctx: JobContext) -> None:
        await inner(ctx)
        meeting_id = int(ctx.payload["meeting_id"])
        async with ctx.sessionmaker() as session:
            state = (
                await session.execute(
                    select(TranscriptRun.state).where(TranscriptRun.meeting_id == meeting_id)
                )
            ).scalar_one_or_none()
            if state in (RunState.DONE, RunState.EMPTY):
                await index_meeting(session, meeting_id)
                await session.commit()

    final_then_index._indexes_search = True  # type: ignore[attr-defined]
    final_jobs.final_transcript = final_then_index  # type: ignore[assignment]
    job(final_jobs.FINAL_KIND)(final_then_index)


_index_after_final()
