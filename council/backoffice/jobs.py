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
from council.core.jobs import Job, JobContext, RetryLater, enqueue, job


@job(mailing.MAIL_JOB)
async def invitation_mail(ctx: JobContext) -> None:
    dispatch_id = int(ctx.payload.get("dispatch_id") or 0)
    round_no = int(ctx.payload.get("round") or 0)
    result = await mailing.run_dispatch(
        ctx.sessionmaker, ctx.settings, dispatch_id, round_no=round_no, progress=ctx.progress
    )
    if result.retry_in is not None:
        raise RetryLater(
            result.retry_in,
            {"dispatch_id": dispatch_id, "round": round_no + 1},
            f"{result.sent} versandt, {result.failed} offen: neuer Versuch in {result.retry_in:g} s",
        )
    await ctx.progress(
        1.0,
        f"{result.sent} versandt, {result.failed} fehlgeschlagen, {result.uncertain} ungewiss, "
        f"{result.skipped} nicht versandt ({result.state})",
    )


def enqueue_invitation_mail(session: AsyncSession, dispatch_id: int) -> Job:
    # Rounds for failed recipients: the job queues itself again after a backoff (RetryLater); the
    # runner resumes it after a crash.
    return enqueue(session, mailing.MAIL_JOB, {"dispatch_id": dispatch_id}, max_attempts=3)
