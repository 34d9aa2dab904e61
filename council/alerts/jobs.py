"""Job functions of council.alerts (registered with council.core.jobs.job).

* ``alerts.digest`` ({} or {"now": ISO timestamp}): mail every confirmed saved search's new matches
  (one mail per address) and purge residents' searches never confirmed. Run once a day: every job
  runner enqueues it from ``RATHAUS_ALERTS_DIGEST_HOUR`` (local time) on when no digest was queued since
  midnight (``council.core.jobs.daily``); ``rathaus alerts digest`` runs it by hand. The job is
  idempotent: matches are remembered only once mailed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from council.alerts import service
from council.core.jobs import Job, JobContext, daily, enqueue, job


@job("alerts.digest")
async def digest(ctx: JobContext) -> None:
    raw = ctx.payload.get("now")
    now = datetime.fromisoformat(str(raw)) if raw else None
    async with ctx.sessionmaker() as session:
        run = await service.run_digest(session, ctx.settings, now)
        purged = await service.purge_unconfirmed(session, now)
        await session.commit()
    await ctx.progress(
        1.0,
        f"{run.searches} Suchen, {run.mails} Mails, {run.matches} Treffer, {run.failed} fehlgeschlagen, "
        f"{purged} unbestätigte gelöscht",
    )


#: The job runners enqueue the digest once a day (council.core.jobs.daily), from the configured hour on.
daily("alerts.digest", lambda settings: settings.alerts_digest_hour)


def enqueue_digest(session: AsyncSession, now: datetime | None = None) -> Job:
    return enqueue(session, "alerts.digest", {"now": now.isoformat()} if now else {}, max_attempts=2)
