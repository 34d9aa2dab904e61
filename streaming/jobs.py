"""Jobs of the streaming room. ``web.app`` lists this module in ``JOB_MODULES``."""

from __future__ import annotations

from council.core.jobs import JobContext, job
from streaming.archive import finalize


@job("streaming.finalize")
async def finalize_recording(ctx: JobContext) -> None:
    """Close the archive of a meeting's stream: VOD playlist, ``recording.mp4`` (remux), state ready."""
    meeting_id = int(ctx.payload["meeting_id"])
    await ctx.progress(0.1, "remux")
    await finalize(ctx.settings, ctx.sessionmaker, meeting_id)
    await ctx.progress(1.0, "ready")
