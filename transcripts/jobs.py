"""Job functions of transcripts (registered with ``council.core.jobs.job``; web lists this module).

``transcripts.final`` ({"meeting_id", "media_path", "started_at": ISO UTC of media second 0, "force"?}):
the final transcript of a recording (``transcripts.final.run_final``). It checkpoints per chunk, so the
runner putting a crashed job back in the queue resumes it where it stopped. Progress goes to the job
row (``ctx.progress``); the state and message for people are on the ``TranscriptRun``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from council.core.jobs import JobContext, job
from transcripts.engine import get_transcriber
from transcripts.final import run_final

log = logging.getLogger(__name__)

FINAL_KIND = "transcripts.final"


def parse_started_at(value: str) -> datetime:
    at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


@job(FINAL_KIND)
async def final_transcript(ctx: JobContext) -> None:
    payload = ctx.payload
    result = await run_final(
        ctx.sessionmaker,
        ctx.settings,
        get_transcriber(ctx.settings),
        meeting_id=int(payload["meeting_id"]),
        media_path=str(payload["media_path"]),
        started_at=parse_started_at(str(payload["started_at"])),
        job_id=ctx.job_id,
        force=bool(payload.get("force", False)),
        hotwords=payload.get("hotwords") or None,
        progress=ctx.progress,
    )
    log.info("final transcript of meeting %s: %s (%s)", payload["meeting_id"], result.state, result.message)
