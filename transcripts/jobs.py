"""Job functions of transcripts (registered with ``council.core.jobs.job``; web lists this module).

``transcripts.final`` ({"meeting_id", "media_path", "started_at": ISO UTC of media second 0, "force"?,
"hotwords"?, "bias"?}): the final transcript of a recording (``transcripts.final.run_final``). It
checkpoints per chunk, so the runner putting a crashed job back in the queue resumes it where it
stopped. Progress goes to the job row (``ctx.progress``); the state and message for people are on the
``TranscriptRun``.

``transcripts.item`` ({"meeting_id", "agenda_item_id", "started_at", "start_s", "end_s", "files":
[{"path", "media_s", "dur"}], "ended_at"?}): one agenda item's final transcript while the stream runs
(``transcripts.items.run_item``); queued by the composition root from the streaming journal.

Both bias the decoder towards the meeting's vocabulary (agenda, papers, people, places; see
``transcripts.vocabulary``) and post-correct towards it, unless the payload says ``"bias": false``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from council.core.jobs import JobContext, job
from transcripts.engine import get_transcriber
from transcripts.final import run_final
from transcripts.items import ITEM_KIND, SegmentFile, run_item
from transcripts.model_files import ensure_model_dir
from transcripts.vocabulary import MeetingBias, meeting_bias

log = logging.getLogger(__name__)

FINAL_KIND = "transcripts.final"
__all__ = ["FINAL_KIND", "ITEM_KIND", "final_transcript", "item_transcript", "parse_started_at"]


def parse_started_at(value: str) -> datetime:
    at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


async def _bias(ctx: JobContext, payload: dict[str, Any]) -> MeetingBias | None:
    """The meeting's bias from its records (None with ``"bias": false``)."""
    if payload.get("bias") is False:
        return None
    async with ctx.sessionmaker() as session:
        return await meeting_bias(
            session, int(payload["meeting_id"]), model_dir=str(ensure_model_dir(ctx.settings))
        )


def _hotwords(payload: dict[str, Any], bias: MeetingBias | None, item_id: int | None) -> str | None:
    """Explicit ``"hotwords"`` in the payload win; else the item's own (the meeting's for no item)."""
    return payload.get("hotwords") or (bias.for_item(item_id) if bias else None) or None


@job(FINAL_KIND)
async def final_transcript(ctx: JobContext) -> None:
    payload = ctx.payload
    bias = await _bias(ctx, payload)
    result = await run_final(
        ctx.sessionmaker,
        ctx.settings,
        get_transcriber(ctx.settings),
        meeting_id=int(payload["meeting_id"]),
        media_path=str(payload["media_path"]),
        started_at=parse_started_at(str(payload["started_at"])),
        job_id=ctx.job_id,
        force=bool(payload.get("force", False)),
        hotwords=_hotwords(payload, bias, None),
        item_hotwords=bias.by_item if bias and not payload.get("hotwords") else None,
        corrector=bias.corrector if bias else None,
        progress=ctx.progress,
    )
    log.info("final transcript of meeting %s: %s (%s)", payload["meeting_id"], result.state, result.message)


@job(ITEM_KIND)
async def item_transcript(ctx: JobContext) -> None:
    payload = ctx.payload
    bias = await _bias(ctx, payload)
    item_id = payload.get("agenda_item_id")
    ended = payload.get("ended_at")
    result = await run_item(
        ctx.sessionmaker,
        ctx.settings,
        get_transcriber(ctx.settings),
        meeting_id=int(payload["meeting_id"]),
        agenda_item_id=int(item_id) if item_id is not None else None,
        started_at=parse_started_at(str(payload["started_at"])),
        start_s=float(payload["start_s"]),
        end_s=float(payload["end_s"]),
        files=[SegmentFile.from_json(f) for f in payload.get("files") or []],
        item_ended_at=parse_started_at(str(ended)) if ended else None,
        job_id=ctx.job_id,
        hotwords=_hotwords(payload, bias, int(item_id) if item_id is not None else None),
        corrector=bias.corrector if bias else None,
    )
    log.info(
        "agenda item %s of meeting %s: %s (%s)", item_id, payload["meeting_id"], result.state, result.message
    )
