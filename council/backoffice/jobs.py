"""Job functions of council.backoffice (registered with council.core.jobs.job).

* ``backoffice.invitation_mail`` ({"dispatch_id": n}): mail one invitation to its recipients
  (``council.backoffice.mailing.run_dispatch``: batches over one SMTP connection, retries with
  backoff, a send log per recipient so that no retry mails anyone twice). Queued by
  ``council.backoffice.invitation.send_invitation`` in the clerk's transaction, and by the clerk's
  "send the failed ones again".
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from council.backoffice import mailing
from council.core.jobs import Job, JobContext, enqueue, job


@job(mailing.MAIL_JOB)
async def invitation_mail(ctx: JobContext) -> None:
    dispatch_id = int(ctx.payload.get("dispatch_id") or 0)
    result = await mailing.run_dispatch(ctx.sessionmaker, ctx.settings, dispatch_id, progress=ctx.progress)
    await ctx.progress(
        1.0,
        f"{result.sent} versandt, {result.failed} fehlgeschlagen, {result.uncertain} ungewiss, "
        f"{result.skipped} nicht versandt ({result.state})",
    )


def enqueue_invitation_mail(session: AsyncSession, dispatch_id: int) -> Job:
    # Retries of single recipients happen inside the job (with backoff); the job itself is resumed
    # by the runner after a crash.
    return enqueue(session, mailing.MAIL_JOB, {"dispatch_id": dispatch_id}, max_attempts=3)
