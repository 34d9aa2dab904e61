"""Sending a meeting's invitation by e-mail: one job per invitation, a send log per recipient.

:func:`create_dispatch` runs in the clerk's transaction (``invitation.send_invitation``): it fixes the
mail text and the recipients — current members of the meeting's organizations and, for a public
meeting, the confirmed subscribers of those organizations (``council.backoffice.subscriptions``),
each address once — as one :class:`InvitationDispatch` with one :class:`InvitationDelivery` per
recipient, and queues the job ``backoffice.invitation_mail`` (``council.backoffice.jobs``). Nothing is
mailed before the invitation is committed, and a rolled-back invitation mails nobody.

:func:`run_dispatch` (the job) sends in batches over one SMTP connection. Each batch is marked
``sending`` and committed *before* the SMTP conversation, and marked ``sent``/``failed`` after it, so
a retry — the next round here, the job runner resuming the job after a crash, or the clerk's "send
the failed ones again" — only ever takes ``pending`` and ``failed`` rows: nobody is mailed twice. A row
left ``sending`` by a process that died is marked ``uncertain`` (it may have gone out) and shown to the
clerk instead of being sent again. Failed rows are retried after :data:`RETRY_DELAYS_S` (backoff),
bounded in rounds and time: a server that cannot be reached ends the round after one connect attempt
(the rest of the round waits for the next one), so a dead server costs one connect timeout per round.
Between rounds no worker waits: the job is queued again with ``run_after`` (``RetryLater``).
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.header import Header
from email.message import Message
from email.mime.text import MIMEText
from email.utils import format_datetime, make_msgid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from council.backoffice import subscriptions
from council.backoffice.models import ChangeLog, InvitationDelivery, InvitationDispatch
from council.core.settings import Settings
from council.core.types import utcnow

log = logging.getLogger(__name__)

MAIL_JOB = "backoffice.invitation_mail"
#: Waits before the 2nd, 3rd, 4th round for recipients whose mail failed (seconds).
RETRY_DELAYS_S: tuple[float, ...] = (2.0, 10.0, 30.0)
#: Recipients marked ``sending`` and committed together (at most this many become ``uncertain``
#: if the process dies in the middle of a batch).
BATCH = 25
#: Recipients per invitation (members + subscribers): a bound, far above any council's need.
MAX_RECIPIENTS = 25_000
SMTP_TIMEOUT_S = 10.0
#: Changes listed in an updated invitation's mail.
MAX_CHANGES_LISTED = 30

#: States of a dispatch in which it can be sent again (the failed recipients).
RETRYABLE = ("partial", "failed")

CHANGE_TEXT = {
    "item_added": "Neuer Tagesordnungspunkt",
    "urgent_item_added": "Dringlichkeitspunkt aufgenommen",
    "item_changed": "Tagesordnungspunkt geändert",
    "item_moved": "Tagesordnungspunkt verschoben",
    "items_reordered": "Tagesordnung neu geordnet",
    "item_removed": "Tagesordnungspunkt abgesetzt",
    "paper_linked": "Vorlage hinzugefügt",
    "paper_unlinked": "Vorlage entfernt",
    "rescheduled": "Termin geändert",
    "updated": "Angaben zur Sitzung geändert",
    "cancelled": "Sitzung abgesagt",
    "reinstated": "Absage aufgehoben",
}


@dataclass(frozen=True)
class Recipient:
    email: str
    kind: str  # member | subscriber
    name: str | None = None
    subscription_id: int | None = None


def _name_of(diff: dict[str, Any]) -> str:
    value = diff.get("name")
    if isinstance(value, list) and value:
        value = value[-1]
    return str(value)[:200] if isinstance(value, str) and value else ""


async def public_changes_since(session: AsyncSession, meeting_id: int, since: datetime | None) -> list[str]:
    """The agenda's public change log since the last invitation, as lines for the mail (non-public
    items are left out: the mail also goes to residents)."""
    if since is None:
        return []
    rows = (
        await session.execute(
            select(ChangeLog)
            .where(ChangeLog.meeting_id == meeting_id, ChangeLog.visible.is_(True), ChangeLog.at > since)
            .order_by(ChangeLog.id)
            .limit(MAX_CHANGES_LISTED + 1)
        )
    ).scalars()
    lines: list[str] = []
    for entry in rows:
        diff = entry.diff or {}
        if diff.get("_public") is False or entry.action not in CHANGE_TEXT:
            continue
        name = _name_of(diff)
        lines.append(f"– {CHANGE_TEXT[entry.action]}{': ' + name if name else ''}")
    return lines[:MAX_CHANGES_LISTED]


def mail_text(
    settings: Settings,
    *,
    meeting_name: str,
    when: str,
    where: str,
    meeting_url: str,
    pdf_url: str,
    update: bool,
    changes: Sequence[str] = (),
) -> tuple[str, str]:
    """Subject and body (without greeting and unsubscribe line) of the invitation mail."""
    if update:
        subject = f"{settings.municipality_name}: Aktualisierte Einladung – {meeting_name}, {when}"
        intro = (
            f"die Einladung zur Sitzung „{meeting_name}“ wurde aktualisiert. Diese Einladung ersetzt die\n"
            "bisherige.\n"
        )
    else:
        subject = f"{settings.municipality_name}: Einladung – {meeting_name}, {when}"
        intro = f"hiermit wird zur Sitzung „{meeting_name}“ eingeladen.\n"
    body = f"{intro}\nZeit: {when}\nOrt: {where}\n"
    if changes:
        body += "\nÄnderungen seit der letzten Einladung:\n" + "\n".join(changes) + "\n"
    body += f"\nTagesordnung und Vorlagen:\n{meeting_url}\nEinladung (PDF):\n{pdf_url}\n"
    return subject[:500], body


async def create_dispatch(
    session: AsyncSession,
    *,
    meeting_id: int,
    file_id: int,
    update: bool,
    subject: str,
    body: str,
    members: Sequence[tuple[str, str]],
    organization_ids: Sequence[int],
    include_subscribers: bool,
    actor_id: int | None,
) -> InvitationDispatch:
    """The dispatch, its recipients and its job, in the caller's transaction."""
    from council.backoffice.jobs import enqueue_invitation_mail

    recipients: list[Recipient] = []
    seen: set[str] = set()
    for name, address in members:
        key = address.strip().lower()
        if key and key not in seen:
            seen.add(key)
            recipients.append(Recipient(address.strip(), "member", name[:300]))
    if include_subscribers:
        for sub in await subscriptions.confirmed_subscribers(session, list(organization_ids)):
            if sub.email not in seen:
                seen.add(sub.email)
                recipients.append(Recipient(sub.email, "subscriber", None, sub.id))
    dispatch = InvitationDispatch(
        meeting_id=meeting_id,
        file_id=file_id,
        is_update=update,
        subject=subject,
        body=body,
        state="queued",
        actor_id=actor_id,
        created=utcnow(),
    )
    session.add(dispatch)
    await session.flush()
    session.add_all(
        InvitationDelivery(
            dispatch_id=dispatch.id,
            email=r.email[:320],
            name=r.name,
            kind=r.kind,
            subscription_id=r.subscription_id,
            state="pending",
            attempts=0,
        )
        for r in recipients[:MAX_RECIPIENTS]
    )
    job = enqueue_invitation_mail(session, dispatch.id)
    await session.flush()
    dispatch.job_id = job.id
    return dispatch


def personal_body(settings: Settings, delivery: InvitationDelivery, body: str) -> str:
    greeting = f"Guten Tag {delivery.name},\n\n" if delivery.name else "Guten Tag,\n\n"
    text = greeting + body
    if delivery.kind == "subscriber" and delivery.subscription_id is not None:
        text += (
            "\nSie erhalten diese E-Mail, weil Sie die Einladungen dieses Gremiums abonniert haben.\n"
            f"Abbestellen (ein Klick, ohne Anmeldung):\n"
            f"{subscriptions.unsubscribe_url(settings, delivery.subscription_id)}\n"
        )
    return text


def build_message(settings: Settings, dispatch: InvitationDispatch, delivery: InvitationDelivery) -> Message:
    """One recipient's mail. Built with the compat32 classes (``MIMEText`` and ``Header``): the modern
    ``EmailMessage`` parses every header it is given and cost ~3.5 ms per mail here, most of the job's time.
    """
    msg = MIMEText(personal_body(settings, delivery, dispatch.body), "plain", "utf-8")
    msg["From"] = settings.smtp_from
    msg["To"] = delivery.email
    msg["Subject"] = Header(dispatch.subject, "utf-8")  # type: ignore[assignment]  # documented use
    msg["Date"] = format_datetime(utcnow())
    domain = settings.smtp_from.rsplit("@", 1)[-1] or "localhost"
    msg["Message-ID"] = make_msgid(f"einladung-{dispatch.id}", domain=domain)
    msg["Auto-Submitted"] = "auto-generated"
    if delivery.kind == "subscriber" and delivery.subscription_id is not None:
        # RFC 2369 / RFC 8058: mail clients offer their own one-click "unsubscribe" button.
        msg["List-Unsubscribe"] = f"<{subscriptions.unsubscribe_url(settings, delivery.subscription_id)}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return msg


@dataclass
class Outcome:
    ok: bool
    error: str | None = None
    #: The server could not be reached: nothing was tried for this message.
    unreachable: bool = False


def send_batch(settings: Settings, messages: Sequence[Message]) -> list[Outcome]:
    """Send over one SMTP connection; one outcome each. After an error the connection is opened again
    for the next message; when it cannot be opened, the rest of the batch is not tried (``unreachable``),
    so a server that is down costs one connect timeout per batch, not one per recipient."""
    out: list[Outcome] = []
    smtp: smtplib.SMTP | None = None
    try:
        for i, msg in enumerate(messages):
            if smtp is None:
                try:
                    smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_S)
                except (smtplib.SMTPException, OSError) as exc:
                    error = f"Mailserver nicht erreichbar: {type(exc).__name__}: {exc}"[:500]
                    out.extend(Outcome(False, error, unreachable=True) for _ in messages[i:])
                    break
            try:
                refused = smtp.send_message(msg)
                out.append(Outcome(not refused, str(refused)[:500] if refused else None))
            except smtplib.SMTPRecipientsRefused as exc:
                out.append(Outcome(False, f"abgelehnt: {exc.recipients}"[:500]))
            except (smtplib.SMTPException, OSError, ValueError) as exc:  # ValueError: an address beyond ASCII
                out.append(Outcome(False, f"{type(exc).__name__}: {exc}"[:500]))
                try:
                    smtp.close()
                finally:
                    smtp = None
    finally:
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()
    return out


@dataclass
class DispatchResult:
    sent: int = 0
    failed: int = 0
    uncertain: int = 0
    skipped: int = 0
    #: Seconds until the next round, when one is due (the job is queued again with ``round_no + 1``).
    retry_in: float | None = None
    state: str = "done"
    errors: list[str] = field(default_factory=list)


async def counts(session: AsyncSession, dispatch_id: int) -> dict[str, int]:
    rows = await session.execute(
        select(InvitationDelivery.state, func.count(InvitationDelivery.id))
        .where(InvitationDelivery.dispatch_id == dispatch_id)
        .group_by(InvitationDelivery.state)
    )
    return {str(state): int(n) for state, n in rows.all()}


Sender = Callable[[Settings, Sequence[Message]], list[Outcome]]


async def run_dispatch(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    dispatch_id: int,
    *,
    sender: Sender = send_batch,
    round_no: int = 0,
    progress: Callable[[float, str], Awaitable[None]] | None = None,
) -> DispatchResult:
    """One round: send the dispatch's pending (and earlier failed) mails; see the module docstring.

    When some failed and round ``round_no`` was not the last, the result says ``retry_in`` (seconds)
    and leaves them for the next round; after the last round they stay ``failed`` for the clerk.
    """
    result = DispatchResult()
    async with sessionmaker() as s:
        dispatch = await s.get(InvitationDispatch, dispatch_id)
        if dispatch is None:
            result.state = "missing"
            return result
        # A previous run died between "sending" and its outcome: it may have been delivered.
        await s.execute(
            update(InvitationDelivery)
            .where(InvitationDelivery.dispatch_id == dispatch_id, InvitationDelivery.state == "sending")
            .values(state="uncertain", last_error="Versand unterbrochen: Zustellung ungewiss")
        )
        if not settings.smtp_host:
            await s.execute(
                update(InvitationDelivery)
                .where(
                    InvitationDelivery.dispatch_id == dispatch_id,
                    InvitationDelivery.state.in_(("pending", "failed")),
                )
                .values(state="skipped", last_error="Kein Mailserver eingerichtet (RATHAUS_SMTP_HOST)")
            )
            dispatch.state = "skipped"
            dispatch.finished = utcnow()
            await s.commit()
            result.state = "skipped"
            result.skipped = (await counts(s, dispatch_id)).get("skipped", 0)
            return result
        dispatch.state = "sending"
        await s.commit()

    async with sessionmaker() as s:
        due_ids = list(
            (
                await s.execute(
                    select(InvitationDelivery.id)
                    .where(
                        InvitationDelivery.dispatch_id == dispatch_id,
                        InvitationDelivery.state.in_(("pending", "failed")),
                    )
                    .order_by(InvitationDelivery.id)
                    .limit(MAX_RECIPIENTS)
                )
            ).scalars()
        )
    if due_ids:
        for start in range(0, len(due_ids), BATCH):
            unreachable = await _send_ids(
                sessionmaker, settings, dispatch_id, due_ids[start : start + BATCH], sender, result
            )
            if progress is not None:
                async with sessionmaker() as s:
                    c = await counts(s, dispatch_id)
                total = sum(c.values()) or 1
                await progress(
                    c.get("sent", 0) / total,
                    f"{c.get('sent', 0)} von {total} versandt, {c.get('failed', 0)} fehlgeschlagen",
                )
            if unreachable:  # the rest of this round waits for the next one (after the backoff)
                break
        if round_no < len(RETRY_DELAYS_S):
            async with sessionmaker() as s:
                left = await counts(s, dispatch_id)
            if left.get("pending", 0) or left.get("failed", 0):
                # Another round after the backoff: the job is queued again (no worker waits).
                result.state = "retrying"
                result.retry_in = RETRY_DELAYS_S[round_no]
                result.sent = left.get("sent", 0)
                result.failed = left.get("failed", 0) + left.get("pending", 0)
                return result

    async with sessionmaker() as s:
        # Not tried because the server was unreachable in every round: failed, for the clerk's retry.
        await s.execute(
            update(InvitationDelivery)
            .where(InvitationDelivery.dispatch_id == dispatch_id, InvitationDelivery.state == "pending")
            .values(state="failed", last_error="Nicht versucht: Mailserver nicht erreichbar")
        )
        c = await counts(s, dispatch_id)
        dispatch = await s.get(InvitationDispatch, dispatch_id)
        assert dispatch is not None
        result.sent = c.get("sent", 0)
        result.failed = c.get("failed", 0)
        result.uncertain = c.get("uncertain", 0)
        result.state = "done" if result.failed == 0 and result.uncertain == 0 else "partial"
        dispatch.state = result.state
        dispatch.finished = utcnow()
        await s.commit()
    return result


async def _send_ids(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    dispatch_id: int,
    ids: list[int],
    sender: Sender,
    result: DispatchResult,
) -> bool:
    """Send one batch; True when the server could not be reached (the round should stop)."""
    async with sessionmaker() as s:
        dispatch = await s.get(InvitationDispatch, dispatch_id)
        assert dispatch is not None
        rows = list(
            (
                await s.execute(
                    select(InvitationDelivery)
                    .where(
                        InvitationDelivery.id.in_(ids),
                        InvitationDelivery.state.in_(("pending", "failed")),
                    )
                    .order_by(InvitationDelivery.id)
                )
            ).scalars()
        )
        if not rows:
            return False
        messages = [build_message(settings, dispatch, row) for row in rows]
        for row, msg in zip(rows, messages, strict=True):
            row.state = "sending"
            row.attempts += 1
            row.message_id = str(msg["Message-ID"])[:200]
        await s.commit()  # the send log says "sending" before any byte goes to the server
        outcomes = await asyncio.to_thread(sender, settings, messages)
        now = utcnow()
        for row, outcome in zip(rows, outcomes, strict=False):
            if outcome.ok:
                row.state, row.sent_at, row.last_error = "sent", now, None
            else:
                row.state, row.last_error = "failed", (outcome.error or "")[:500]
                result.errors.append(outcome.error or "")
        await s.commit()
        return bool(outcomes) and outcomes[-1].unreachable


async def retry_failed(session: AsyncSession, dispatch_id: int, meeting_id: int) -> InvitationDispatch:
    """The clerk's "send the failed ones again": a new job for the same dispatch (failed rows only)."""
    from council.backoffice.jobs import enqueue_invitation_mail
    from council.backoffice.meetings import BackofficeError

    dispatch = await session.get(InvitationDispatch, dispatch_id)
    if dispatch is None or dispatch.meeting_id != meeting_id:
        raise BackofficeError("dispatch_unknown")
    if dispatch.state not in RETRYABLE or not (await counts(session, dispatch_id)).get("failed"):
        raise BackofficeError("dispatch_not_retryable")
    dispatch.state = "queued"
    job = enqueue_invitation_mail(session, dispatch.id)
    await session.flush()
    dispatch.job_id = job.id
    return dispatch


@dataclass
class DispatchView:
    dispatch: InvitationDispatch
    counts: dict[str, int]
    deliveries: list[InvitationDelivery]
    job_state: str | None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def retryable(self) -> bool:
        return self.dispatch.state in RETRYABLE and bool(self.counts.get("failed"))


async def dispatches_for(session: AsyncSession, meeting_id: int, *, limit: int = 10) -> list[DispatchView]:
    """The meeting's invitation mailings, newest first, with per-recipient status (for the clerk)."""
    from council.core.jobs import Job

    rows = list(
        (
            await session.execute(
                select(InvitationDispatch)
                .where(InvitationDispatch.meeting_id == meeting_id)
                .order_by(InvitationDispatch.id.desc())
                .limit(limit)
            )
        ).scalars()
    )
    out: list[DispatchView] = []
    for d in rows:
        deliveries = list(
            (
                await session.execute(
                    select(InvitationDelivery)
                    .where(InvitationDelivery.dispatch_id == d.id)
                    .order_by(InvitationDelivery.kind, InvitationDelivery.id)
                    .limit(2000)
                )
            ).scalars()
        )
        job_state = (await session.scalar(select(Job.state).where(Job.id == d.job_id))) if d.job_id else None
        out.append(DispatchView(d, await counts(session, d.id), deliveries, job_state))
    return out
