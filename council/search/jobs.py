"""Job functions of council.search (registered with council.core.jobs.job).

* ``search.reindex`` ({}): rebuild the whole index, committing and reporting progress after every batch.
* ``search.index`` ({"kind": "paper"|"agenda_item"|"file", "ids": [..]}): (re)index some records.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from council.core.jobs import Job, JobContext, enqueue, job
from council.search.indexer import index, reindex_all


@job("search.reindex")
async def reindex(ctx: JobContext) -> None:
    async with ctx.sessionmaker() as session:

        async def progress(done: int, total: int) -> None:
            # Commit per batch: short transactions (SQLite has one writer; the progress update is another).
            await session.commit()
            await ctx.progress(done / total if total else 1.0, f"{done}/{total}")

        n = await reindex_all(session, progress=progress)
        await session.commit()
        await ctx.progress(1.0, f"{n} indexed")


@job("search.index")
async def index_records(ctx: JobContext) -> None:
    kind = str(ctx.payload.get("kind", ""))
    ids = [int(i) for i in ctx.payload.get("ids", [])]
    async with ctx.sessionmaker() as session:
        await index(session, kind, ids)
        await session.commit()


def enqueue_index(session: AsyncSession, kind: str, ids: list[int]) -> Job:
    """Queue (re)indexing of some records in the caller's transaction.

    Commit, then call ``app.state.jobs.wake()``."""
    payload: dict[str, Any] = {"kind": kind, "ids": [int(i) for i in ids]}
    return enqueue(session, "search.index", payload)


def enqueue_reindex(session: AsyncSession) -> Job:
    return enqueue(session, "search.reindex", {})
