"""Job functions of council.documents (registered with council.core.jobs.job).

``documents.extract_text`` ({"file_id": N}): read the blob, extract its text with pypdf (in a thread),
store text / page_count / text_state, and index the file for search. Idempotent: running it again
extracts again and stores the same result.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from council.core.jobs import JobContext, job
from council.documents.extract import Extraction, extract_pdf_text
from council.documents.store import FileStore
from council.records.models import File
from council.search.indexer import index_files

log = logging.getLogger(__name__)


def _read_and_extract(store: FileStore, key: str) -> Extraction | None:
    try:
        data = store.read(key)
    except (OSError, ValueError) as exc:
        log.warning("blob %s not readable: %s", key[:16], exc)
        return None
    return extract_pdf_text(data)


async def extract_file_text(session: AsyncSession, store: FileStore, file_id: int) -> File | None:
    """Extract and store the text of one file and index it; the caller commits."""
    record = await session.get(File, file_id)
    if record is None:
        log.info("file %s is gone; nothing to extract", file_id)
        return None
    if not record.storage_key:
        record.text_state = "failed"
        return record
    result = await asyncio.to_thread(_read_and_extract, store, record.storage_key)
    if result is None:
        record.text_state = "failed"
        return record
    record.text = result.text
    record.page_count = result.page_count
    record.text_state = result.state
    await session.flush()
    await index_files(session, [record.id])
    return record


def files_dir_for(ctx: JobContext) -> Path:
    """The blobs live in the file store of the settings the runner was started with."""
    return Path(ctx.settings.files_dir)


@job("documents.extract_text")
async def extract_text(ctx: JobContext) -> None:
    file_id = int(ctx.payload["file_id"])
    store = FileStore(files_dir_for(ctx))
    async with ctx.sessionmaker() as session:
        await extract_file_text(session, store, file_id)
        await session.commit()
