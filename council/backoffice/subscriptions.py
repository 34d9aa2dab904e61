"""Subscribers of an organization's invitations ("Einladungen des Rates per E-Mail").

Anyone may subscribe with an e-mail address on the public organization page; the address receives
invitations only after confirming the link mailed to it (double opt-in). The building blocks are the
ones residents' saved searches use (``council.alerts``): address validation, token and keyed hashes
from ``council.questions.service`` (only the sha256 of the opt-in token is stored), the confirmation
mail through ``council.questions.mail``, and a stateless unsubscribe key (an HMAC of the
subscription's id with the site secret), so the link in every mail needs no login and no storage.

Privacy: subscribing an address that is already subscribed answers exactly like a new one (nobody
learns who subscribed); an unconfirmed address gets a fresh link; never-confirmed subscriptions are
deleted after :data:`UNCONFIRMED_DAYS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from council.backoffice.models import InvitationSubscription
from council.core.settings import Settings
from council.core.tokens import same_secret
from council.core.types import utcnow
from council.questions.rules import QuestionRules
from council.questions.service import QuestionError, clean_email, keyed_hash, new_token, token_hash
from council.records.models import Organization

#: A never-confirmed subscription is deleted after this many days.
UNCONFIRMED_DAYS = 7
#: Confirmed subscribers mailed per organization and invitation (a bound, not a quota anyone reaches).
MAX_SUBSCRIBERS = 20_000

SubscriptionError = QuestionError


@dataclass
class Requested:
    subscription: InvitationSubscription
    #: The plain opt-in token to mail (None: already confirmed, nothing to send).
    optin_token: str | None


def unsubscribe_key(secret: str, subscription_id: int) -> str:
    """The unsubscribe link's secret part: stateless, unguessable, specific to one subscription."""
    return keyed_hash(secret, f"invitation-unsubscribe:{subscription_id}")[:40]


def check_unsubscribe_key(secret: str, subscription_id: int, key: str) -> bool:
    return same_secret(key, unsubscribe_key(secret, subscription_id))


def unsubscribe_url(settings: Settings, subscription_id: int) -> str:
    base = settings.base_url.rstrip("/")
    key = unsubscribe_key(settings.secret_key, subscription_id)
    return f"{base}/einladungen/abbestellen/{subscription_id}/{key}"


async def public_organization(session: AsyncSession, organization_id: int) -> Organization:
    org = await session.get(Organization, organization_id) if 0 < organization_id < 2**31 else None
    if org is None or org.deleted:
        raise SubscriptionError("unknown", 404)
    return org


async def purge_unconfirmed(session: AsyncSession, now: datetime | None = None) -> int:
    cutoff = (now or utcnow()) - timedelta(days=UNCONFIRMED_DAYS)
    result = await session.execute(
        delete(InvitationSubscription).where(
            InvitationSubscription.email_confirmed.is_(None), InvitationSubscription.created < cutoff
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def request(
    session: AsyncSession, organization_id: int, email: str | None, *, now: datetime | None = None
) -> Requested:
    """Subscribe ``email`` to the organization's invitations (pending confirmation). The caller commits
    and mails the confirmation link when ``optin_token`` is set."""
    now = now or utcnow()
    org = await public_organization(session, organization_id)
    address = clean_email(email, QuestionRules())
    if not address:
        raise SubscriptionError("required", 400, "email")
    address = address.lower()
    await purge_unconfirmed(session, now)
    existing = (
        await session.execute(
            select(InvitationSubscription).where(
                InvitationSubscription.organization_id == org.id, InvitationSubscription.email == address
            )
        )
    ).scalar_one_or_none()
    if existing is not None and existing.email_confirmed is not None:
        return Requested(existing, None)
    token = new_token()
    if existing is None:
        existing = InvitationSubscription(
            organization_id=org.id, email=address, optin_token_hash=token_hash(token), created=now
        )
        session.add(existing)
    else:
        existing.optin_token_hash = token_hash(token)
        existing.created = now
    await session.flush()
    return Requested(existing, token)


async def confirm(session: AsyncSession, token: str, now: datetime | None = None) -> InvitationSubscription:
    """Confirm the address behind an opt-in link (idempotent); ``SubscriptionError`` 404 if unknown."""
    if not token or len(token) > 100:
        raise SubscriptionError("unknown", 404)
    sub = (
        await session.execute(
            select(InvitationSubscription).where(InvitationSubscription.optin_token_hash == token_hash(token))
        )
    ).scalar_one_or_none()
    if sub is None:
        raise SubscriptionError("unknown", 404)
    if sub.email_confirmed is None:
        sub.email_confirmed = now or utcnow()
    return sub


async def unsubscribe(session: AsyncSession, secret: str, subscription_id: int, key: str) -> bool:
    """Delete the subscription behind an unsubscribe link. False when the link is not valid; True also
    when it was already gone (a second click is not an error)."""
    if not (0 < subscription_id < 2**31) or not check_unsubscribe_key(secret, subscription_id, key):
        return False
    await session.execute(delete(InvitationSubscription).where(InvitationSubscription.id == subscription_id))
    return True


async def confirmed_subscribers(
    session: AsyncSession, organization_ids: list[int], *, limit: int = MAX_SUBSCRIBERS
) -> list[InvitationSubscription]:
    """Confirmed subscriptions of these organizations, oldest first, each address once."""
    if not organization_ids:
        return []
    rows = (
        await session.execute(
            select(InvitationSubscription)
            .where(
                InvitationSubscription.organization_id.in_(organization_ids),
                InvitationSubscription.email_confirmed.is_not(None),
            )
            .order_by(InvitationSubscription.id)
            .limit(limit)
        )
    ).scalars()
    seen: set[str] = set()
    out: list[InvitationSubscription] = []
    for sub in rows:
        if sub.email not in seen:
            seen.add(sub.email)
            out.append(sub)
    return out


async def count_confirmed(session: AsyncSession, organization_ids: list[int]) -> int:
    if not organization_ids:
        return 0
    return int(
        await session.scalar(
            select(func.count(InvitationSubscription.id)).where(
                InvitationSubscription.organization_id.in_(organization_ids),
                InvitationSubscription.email_confirmed.is_not(None),
            )
        )
        or 0
    )


def confirm_mail(settings: Settings, organization_name: str, confirm_url: str) -> tuple[str, str]:
    subject = f"{settings.municipality_name}: Bitte bestätigen Sie Ihr Abonnement der Einladungen"
    body = (
        "Guten Tag,\n\n"
        f"Sie möchten die Einladungen zu den Sitzungen von „{organization_name}“ per E-Mail erhalten.\n"
        "Bitte bestätigen Sie Ihre Adresse:\n\n"
        f"{confirm_url}\n\n"
        "Wenn Sie das nicht waren, ignorieren Sie diese E-Mail; Sie erhalten dann keine weiteren.\n"
    )
    return subject, body
