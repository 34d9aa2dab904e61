"""Saved searches with alerts on the web (``council.alerts``).

Signed in:  GET /benachrichtigungen (own saved searches, the form), POST /benachrichtigungen (save; the
    private feed URL is shown once), POST /benachrichtigungen/{id}/loeschen, POST …/{id}/feed (new feed
    token: the old URL stops working).
Residents (no account):  the same GET shows the public form; POST saves a public search and mails a
    confirmation link (double opt-in). Rate limited per IP and per address (``council.questions.ratelimit``).
Links:  GET/POST /benachrichtigungen/bestaetigen/{token} (confirm; POST, so that mail scanners opening
    links confirm nothing), GET/POST /benachrichtigungen/abbestellen/{id}/{key} (delete the search),
    GET /benachrichtigungen/feed/{token} (RSS 2.0: the owner's current matches, with the owner's access).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC
from email.utils import format_datetime as rfc822
from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from council.alerts import service
from council.alerts.models import SavedSearch
from council.core.settings import Settings
from council.questions import mail
from council.questions.service import QuestionError
from council.records.access import Viewer
from web import i18n
from web.controllers.feeds import RSS_MEDIA_TYPE, _text, _xml
from web.controllers.questions import _form
from web.guards import require_login
from web.limits import client_address, form_limiter

_ = i18n.gettext
MAX_ID = 2**31 - 1
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")
_KEY = re.compile(r"[0-9a-f]{40}")
PRIVATE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Robots-Tag": "noindex"}


def error_messages() -> dict[str, str]:
    return {
        "required": _("Bitte füllen Sie alle Pflichtfelder aus."),
        "too_short": _("Bitte geben Sie einen Suchbegriff ein."),
        "empty_query": _("Bitte geben Sie einen Suchbegriff ein."),
        "too_long": _("Der Suchbegriff ist zu lang (höchstens 200 Zeichen)."),
        "bad_chars": _("Die Eingabe enthält Zeichen, die nicht erlaubt sind."),
        "bad_email": _("Bitte geben Sie eine gültige E-Mail-Adresse an."),
        "bad_kind": _("Unbekannte Art von Treffern."),
        "too_many": _("Sie haben schon die höchste Zahl gespeicherter Suchen."),
        "rate": _("Zu viele Anfragen. Bitte versuchen Sie es später noch einmal."),
        "unknown": _("Dieser Link ist nicht (mehr) gültig."),
    }


def _msg(code: str) -> str:
    return error_messages().get(code, _("Das ist gerade nicht möglich."))


def _settings(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _base(request: Request[Any, Any, Any]) -> str:
    return _settings(request).base_url.rstrip("/")


def _token(value: str) -> str:
    if not _TOKEN.fullmatch(value):
        raise NotFoundException(detail=_msg("unknown"))
    return value


def kind_labels() -> dict[str, str]:
    return {
        "paper": _("Vorlagen"),
        "agenda_item": _("Tagesordnungspunkte"),
        "file": _("Dokumente"),
        "transcript": _("Wortprotokolle"),
    }


async def _own(db_session: AsyncSession, viewer: Viewer, saved_id: int) -> SavedSearch:
    saved = await db_session.get(SavedSearch, saved_id) if 0 < saved_id <= MAX_ID else None
    if saved is None or saved.account_id is None or saved.account_id != viewer.account_id:
        raise NotFoundException()
    return saved


async def _page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    viewer: Viewer,
    *,
    status: int = 200,
    **ctx: Any,
) -> Template:
    searches = await service.for_account(db_session, viewer.account_id) if viewer.account_id else []
    context = {
        "viewer": viewer,
        "searches": searches,
        "kinds": kind_labels(),
        "values": {},
        "error": None,
        "error_field": None,
        "feed_url": None,
        "created": None,
        "sent": False,
        "base_url": _base(request),
        **ctx,
    }
    return Template("alerts/manage.html", context=context, status_code=status, headers=PRIVATE_HEADERS)


@get("/benachrichtigungen", name="alerts", cache=False)
async def alerts_page(
    request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer, q: str | None = None
) -> Template:
    """The form (prefilled from ``?q=``, e.g. a link "save this search" from the search page)."""
    return await _page(request, db_session, viewer, values={"query": (q or "")[:200]})


@post("/benachrichtigungen", name="alerts_create", status_code=200, cache=False)
async def alerts_create(
    request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer
) -> Template:
    form = await _form(request)
    values = {k: form.get(k, "") for k in ("query", "email")}
    settings = _settings(request)

    async def again(code: str, status: int, field: str | None = None) -> Template:
        await db_session.rollback()
        return await _page(
            request, db_session, viewer, status=status, values=values, error=_msg(code), error_field=field
        )

    if form.get("website"):  # honeypot
        return await again("bad_chars", 400, "website")
    limiter = form_limiter(request)
    window = settings.questions_limit_window_s
    if not viewer.is_authenticated and not await limiter.hit(
        "alert-ip", client_address(request), settings.questions_ip_limit, window
    ):
        return await again("rate", 429)
    email = (form.get("email") or "").strip()
    if email and not await limiter.hit(
        "alert-mail", email.casefold()[:320], settings.questions_email_limit, window
    ):
        return await again("rate", 429, "email")
    form_data = await request.form()
    try:
        kinds = [k for k in form_data.getall("kinds") if isinstance(k, str)]
    except KeyError:
        kinds = []
    try:
        if viewer.is_authenticated:
            done = await service.create_for_account(
                db_session, viewer, form.get("query"), kinds=kinds, email=email
            )
        else:
            done = await service.create_public(db_session, form.get("query"), email)
        await db_session.commit()
    except QuestionError as exc:
        return await again(exc.code, exc.status, exc.field)
    if done.optin_token and done.saved.email:
        subject, body = confirm_mail(
            settings, done.saved, f"{_base(request)}/benachrichtigungen/bestaetigen/{done.optin_token}"
        )
        await mail.send(settings, done.saved.email, subject, body)
    feed_url = f"{_base(request)}/benachrichtigungen/feed/{done.feed_token}" if done.feed_token else None
    return await _page(
        request, db_session, viewer, created=done.saved, feed_url=feed_url, sent=bool(done.optin_token)
    )


def confirm_mail(settings: Settings, saved: SavedSearch, confirm_url: str) -> tuple[str, str]:
    subject = f"{settings.municipality_name}: Bitte bestätigen Sie Ihre gespeicherte Suche"
    body = (
        "Guten Tag,\n\n"
        f"Sie möchten einmal täglich per E-Mail erfahren, wenn im Ratsinformationssystem neue Treffer für\n"
        f"»{saved.query}« erscheinen. Bitte bestätigen Sie Ihre Adresse:\n\n"
        f"{confirm_url}\n\n"
        "Wenn Sie das nicht waren, ignorieren Sie diese E-Mail; Sie erhalten dann keine weiteren.\n"
    )
    return subject, body


@post(
    "/benachrichtigungen/{saved_id:int}/loeschen",
    name="alerts_delete",
    guards=[require_login],
    status_code=200,
    cache=False,
)
async def alerts_delete(
    request: Request[Any, Any, Any], saved_id: int, db_session: AsyncSession, viewer: Viewer
) -> Template:
    saved = await _own(db_session, viewer, saved_id)
    await service.delete_saved(db_session, saved)
    await db_session.commit()
    return await _page(request, db_session, viewer, deleted=True)


@post(
    "/benachrichtigungen/{saved_id:int}/feed",
    name="alerts_feed_token",
    guards=[require_login],
    status_code=200,
    cache=False,
)
async def alerts_feed_token(
    request: Request[Any, Any, Any], saved_id: int, db_session: AsyncSession, viewer: Viewer
) -> Template:
    saved = await _own(db_session, viewer, saved_id)
    token = await service.new_feed_token(saved)
    await db_session.commit()
    return await _page(
        request,
        db_session,
        viewer,
        created=saved,
        feed_url=f"{_base(request)}/benachrichtigungen/feed/{token}",
    )


@get("/benachrichtigungen/bestaetigen/{token:str}", name="alerts_confirm_page", cache=False)
async def confirm_page(token: str) -> Template:
    return Template(
        "alerts/confirm.html", context={"token": _token(token), "done": False}, headers=PRIVATE_HEADERS
    )


@post("/benachrichtigungen/bestaetigen/{token:str}", name="alerts_confirm", status_code=200, cache=False)
async def confirm(request: Request[Any, Any, Any], token: str, db_session: AsyncSession) -> Template:
    """Confirms the address; a resident's search also gets its private feed here (shown once: only
    the token's hash is kept, so a second confirmation shows none)."""
    try:
        saved = await service.confirm_email(db_session, _token(token))
    except QuestionError:
        raise NotFoundException(detail=_msg("unknown")) from None
    feed_url = None
    if saved.feed_token_hash is None:
        feed_url = f"{_base(request)}/benachrichtigungen/feed/{await service.new_feed_token(saved)}"
    await db_session.commit()
    return Template(
        "alerts/confirm.html",
        context={"token": token, "done": True, "saved": saved, "feed_url": feed_url},
        headers=PRIVATE_HEADERS,
    )


def _key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise NotFoundException(detail=_msg("unknown"))
    return key


@get("/benachrichtigungen/abbestellen/{saved_id:int}/{key:str}", name="alerts_unsubscribe_page", cache=False)
async def unsubscribe_page(request: Request[Any, Any, Any], saved_id: int, key: str) -> Template:
    if not service.check_unsubscribe_key(_settings(request).secret_key, saved_id, _key(key)):
        raise NotFoundException(detail=_msg("unknown"))
    return Template(
        "alerts/unsubscribe.html",
        context={"saved_id": saved_id, "key": key, "done": False},
        headers=PRIVATE_HEADERS,
    )


@post(
    "/benachrichtigungen/abbestellen/{saved_id:int}/{key:str}",
    name="alerts_unsubscribe",
    status_code=200,
    cache=False,
)
async def unsubscribe(
    request: Request[Any, Any, Any], saved_id: int, key: str, db_session: AsyncSession
) -> Template:
    if not await service.unsubscribe(db_session, _settings(request).secret_key, saved_id, _key(key)):
        raise NotFoundException(detail=_msg("unknown"))
    await db_session.commit()
    return Template(
        "alerts/unsubscribe.html",
        context={"saved_id": saved_id, "key": key, "done": True},
        headers=PRIVATE_HEADERS,
    )


@get("/benachrichtigungen/feed/{token:str}", name="alerts_feed", cache=False)
async def alerts_feed(
    request: Request[Any, Any, Any], token: str, db_session: AsyncSession
) -> Response[bytes]:
    """The private feed: whoever has the URL reads what its owner may read *now* (an account that was
    disabled or lost its memberships stops seeing non-public matches here too)."""
    saved = await service.by_feed_token(db_session, _token(token))
    if saved is None:
        raise NotFoundException(detail=_msg("unknown"))
    owner = await service.owner_viewer(db_session, saved)
    if owner is None:
        raise NotFoundException(detail=_msg("unknown"))
    base = _base(request)
    pairs = await service.recent_hits(db_session, saved, owner)
    rss = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(rss, "channel")
    ET.SubElement(channel, "title").text = _text(
        f"{_('Gespeicherte Suche')} »{saved.query}« – {_settings(request).municipality_name}"
    )
    ET.SubElement(channel, "link").text = f"{base}/benachrichtigungen"
    ET.SubElement(channel, "description").text = _("Neue Treffer für Ihre gespeicherte Suche.")
    ET.SubElement(channel, "language").text = i18n.current_locale.get()
    for hit, first in pairs:
        item = ET.SubElement(channel, "item")
        url = base + hit.url
        ET.SubElement(item, "title").text = _text(hit.title)
        ET.SubElement(item, "link").text = url
        ET.SubElement(item, "guid", {"isPermaLink": "false"}).text = f"{base}#{hit.kind}-{hit.ref_id}"
        ET.SubElement(item, "pubDate").text = rfc822(first.astimezone(UTC))
        ET.SubElement(item, "category").text = kind_labels().get(hit.kind, hit.kind)
        ET.SubElement(item, "description").text = _text(hit.snippet.replace("\x02", "").replace("\x03", ""))
    return Response(
        content=_xml(rss),
        media_type=RSS_MEDIA_TYPE,
        headers={
            "Cache-Control": "private, no-store",
            "Referrer-Policy": "no-referrer",
            "X-Robots-Tag": "noindex",
        },
    )


routes: list[Any] = [
    alerts_page,
    alerts_create,
    alerts_delete,
    alerts_feed_token,
    confirm_page,
    confirm,
    unsubscribe_page,
    unsubscribe,
    alerts_feed,
]
