"""Outgoing mail for question time: the double opt-in link and status notices.

Sent with the standard library's ``smtplib`` in a worker thread (no extra dependency); nothing is sent
when ``settings.smtp_host`` is empty. A mail that cannot be delivered is logged, never fatal: the
tracking page is the resident's source of truth.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from email.message import EmailMessage

from council.core.settings import Settings

log = logging.getLogger(__name__)


def _send_sync(settings: Settings, to: str, subject: str, body: str) -> None:
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
        smtp.send_message(msg)


async def send(settings: Settings, to: str, subject: str, body: str) -> bool:
    """Send one plain-text mail; True when the SMTP server accepted it."""
    if not settings.smtp_host or not to:
        return False
    try:
        await asyncio.to_thread(_send_sync, settings, to, subject, body)
        return True
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("question mail not sent: %s", exc)
        return False


def optin_mail(settings: Settings, confirm_url: str, tracking_url: str) -> tuple[str, str]:
    subject = f"{settings.municipality_name}: Bitte bestätigen Sie Ihre E-Mail-Adresse"
    body = (
        "Guten Tag,\n\n"
        "Sie haben eine Frage für die Einwohnerfragestunde eingereicht und möchten per E-Mail über\n"
        "ihren Stand informiert werden. Bitte bestätigen Sie Ihre Adresse:\n\n"
        f"{confirm_url}\n\n"
        f"Den Stand Ihrer Frage sehen Sie jederzeit hier:\n{tracking_url}\n\n"
        "Wenn Sie das nicht waren, ignorieren Sie diese E-Mail; Sie erhalten dann keine weiteren.\n"
    )
    return subject, body


def status_mail(settings: Settings, status_text: str, tracking_url: str) -> tuple[str, str]:
    subject = f"{settings.municipality_name}: Neuer Stand Ihrer Frage – {status_text}"
    body = (
        "Guten Tag,\n\n"
        f"der Stand Ihrer Frage für die Einwohnerfragestunde hat sich geändert: {status_text}.\n\n"
        f"Einzelheiten:\n{tracking_url}\n"
    )
    return subject, body
