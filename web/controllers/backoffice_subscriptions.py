"""Invitations by e-mail for anyone (``council.backoffice.subscriptions``): subscribe, confirm, unsubscribe.

GET/POST /gremien/{id}/einladungen   the form (linked from the organization page, which is page-cached
    for anonymous visitors and so cannot carry a per-visitor CSRF token itself) → a confirmation link
    is mailed (double opt-in). Honeypot field and rate limits per client address and per e-mail
    address, shared with question time and saved searches (``council.questions.ratelimit``). The answer
    is the same whether the address was subscribed already or not.
GET/POST /einladungen/bestaetigen/{token}   confirm (POST, so that mail scanners opening the link confirm
    nothing).
GET/POST /einladungen/abbestellen/{id}/{key}   unsubscribe, no login; the key is an HMAC of the id. The
    POST is the RFC 8058 one-click target of the mails' ``List-Unsubscribe-Post`` header, so this path
    is exempt from the CSRF cookie check (web/app.py): the unguessable key in the URL is the token.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from council.backoffice import subscriptions as svc
from council.core.settings import Settings
from council.questions import mail
from council.questions.service import QuestionError
from council.records.models import Organization
from web import i18n
from web.controllers.questions import _form
from web.limits import client_address, form_limiter

_ = i18n.gettext
MAX_ID = 2**31 - 1
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")
_KEY = re.compile(r"[0-9a-f]{40}")
PRIVATE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Robots-Tag": "noindex"}


def error_messages() -> dict[str, str]:
    return {
        "required": _("Bitte geben Sie Ihre E-Mail-Adresse an."),
        "bad_email": _("Bitte geben Sie eine gültige E-Mail-Adresse an."),
        "bad_chars": _("Die Eingabe enthält Zeichen, die nicht erlaubt sind."),
        "rate": _("Zu viele Anfragen. Bitte versuchen Sie es später noch einmal."),
        "unknown": _("Dieser Link ist nicht (mehr) gültig."),
    }


def _msg(code: str) -> str:
    return error_messages().get(code, _("Das ist gerade nicht möglich."))


def _settings(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _organization(db_session: AsyncSession, organization_id: int) -> Organization:
    try:
        return await svc.public_organization(db_session, organization_id)
    except QuestionError:
        raise NotFoundException() from None


def _page(org: Organization, *, status: int = 200, **ctx: Any) -> Template:
    context = {"organization": org, "values": {}, "error": None, "error_field": None, "sent": False, **ctx}
    return Template(
        "invitations/subscribe.html", context=context, status_code=status, headers=PRIVATE_HEADERS
    )


@get("/gremien/{organization_id:int}/einladungen", name="invitation_subscribe_page", cache=False)
async def subscribe_page(organization_id: int, db_session: AsyncSession) -> Template:
    return _page(await _organization(db_session, organization_id))


@post("/gremien/{organization_id:int}/einladungen", name="invitation_subscribe", status_code=200, cache=False)
async def subscribe(
    request: Request[Any, Any, Any], organization_id: int, db_session: AsyncSession
) -> Template:
    org = await _organization(db_session, organization_id)
    org_name = org.name
    form = await _form(request)
    values = {"email": (form.get("email") or "")[:320]}
    settings = _settings(request)

    async def again(code: str, status: int, field: str | None = None) -> Template:
        await db_session.rollback()
        fresh = await _organization(db_session, organization_id)
        return _page(fresh, status=status, values=values, error=_msg(code), error_field=field)

    if form.get("website"):  # honeypot: people do not see the field, form-filling bots do
        return await again("bad_chars", 400, "website")
    limiter = form_limiter(request)
    window = settings.questions_limit_window_s
    if not await limiter.hit("invitation-ip", client_address(request), settings.questions_ip_limit, window):
        return await again("rate", 429)
    email = (form.get("email") or "").strip()
    if email and not await limiter.hit(
        "invitation-mail", email.casefold()[:320], settings.questions_email_limit, window
    ):
        return await again("rate", 429, "email")
    try:
        done = await svc.request(db_session, org.id, email)
        address = done.subscription.email
        await db_session.commit()
    except QuestionError as exc:
        return await again(exc.code, exc.status, exc.field)
    if done.optin_token:
        base = settings.base_url.rstrip("/")
        subject, body = svc.confirm_mail(
            settings, org_name, f"{base}/einladungen/bestaetigen/{done.optin_token}"
        )
        await mail.send(settings, address, subject, body)
    return _page(await _organization(db_session, organization_id), sent=True)


def _token(value: str) -> str:
    if not _TOKEN.fullmatch(value):
        raise NotFoundException(detail=_msg("unknown"))
    return value


@get("/einladungen/bestaetigen/{token:str}", name="invitation_confirm_page", cache=False)
async def confirm_page(token: str) -> Template:
    return Template(
        "invitations/confirm.html", context={"token": _token(token), "done": False}, headers=PRIVATE_HEADERS
    )


@post("/einladungen/bestaetigen/{token:str}", name="invitation_confirm", status_code=200, cache=False)
async def confirm(token: str, db_session: AsyncSession) -> Template:
    try:
        sub = await svc.confirm(db_session, _token(token))
    except QuestionError:
        raise NotFoundException(detail=_msg("unknown")) from None
    org = await db_session.get(Organization, sub.organization_id)
    await db_session.commit()
    return Template(
        "invitations/confirm.html",
        context={"token": token, "done": True, "organization": org},
        headers=PRIVATE_HEADERS,
    )


def _key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise NotFoundException(detail=_msg("unknown"))
    return key


def _check(request: Request[Any, Any, Any], subscription_id: int, key: str) -> None:
    if not (0 < subscription_id <= MAX_ID) or not svc.check_unsubscribe_key(
        _settings(request).secret_key, subscription_id, _key(key)
    ):
        raise NotFoundException(detail=_msg("unknown"))


@get(
    "/einladungen/abbestellen/{subscription_id:int}/{key:str}",
    name="invitation_unsubscribe_page",
    cache=False,
)
async def unsubscribe_page(request: Request[Any, Any, Any], subscription_id: int, key: str) -> Template:
    _check(request, subscription_id, key)
    return Template(
        "invitations/unsubscribe.html",
        context={"subscription_id": subscription_id, "key": key, "done": False},
        headers=PRIVATE_HEADERS,
    )


@post(
    "/einladungen/abbestellen/{subscription_id:int}/{key:str}",
    name="invitation_unsubscribe",
    status_code=200,
    cache=False,
)
async def unsubscribe(
    request: Request[Any, Any, Any], subscription_id: int, key: str, db_session: AsyncSession
) -> Template:
    """One click, no login: the browser's button and RFC 8058 one-click POSTs from mail providers."""
    _check(request, subscription_id, key)
    await svc.unsubscribe(db_session, _settings(request).secret_key, subscription_id, key)
    await db_session.commit()
    return Template(
        "invitations/unsubscribe.html",
        context={"subscription_id": subscription_id, "key": key, "done": True},
        headers=PRIVATE_HEADERS,
    )


routes: list[Any] = [subscribe_page, subscribe, confirm_page, confirm, unsubscribe_page, unsubscribe]
