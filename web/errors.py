"""Exceptions map to responses in one place. HTML pages get a rendered error page; ``/oparl`` and
JSON clients get JSON. Nothing user-caused ever becomes a 5xx.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.response import Template
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_404_NOT_FOUND, HTTP_500_INTERNAL_SERVER_ERROR

from web import i18n

log = logging.getLogger(__name__)


class BadInput(HTTPException):
    """A user-caused error with a message fit to show (400)."""

    status_code = HTTP_400_BAD_REQUEST


def _wants_json(request: Request[Any, Any, Any]) -> bool:
    path = request.url.path
    if path.startswith("/oparl") or path.startswith("/api"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _use_request_locale(request: Request[Any, Any, Any]) -> None:
    """Errors raised before routing (an unknown path) never pass the locale middleware, which Litestar
    runs only around matched handlers: negotiate the language here too, the same way."""
    with contextlib.suppress(Exception):  # a malformed cookie or query string keeps the current locale
        i18n.current_locale.set(i18n.negotiate(request.cookies.get("lang"), request.query_params.get("lang")))


def _titles() -> dict[int, str]:
    _ = i18n.gettext
    return {
        400: _("Ungültige Anfrage"),
        401: _("Anmeldung erforderlich"),
        403: _("Kein Zugriff"),
        404: _("Seite nicht gefunden"),
        405: _("Methode nicht erlaubt"),
        409: _("Konflikt"),
        410: _("Nicht mehr vorhanden"),
        413: _("Datei zu groß"),
        415: _("Dateityp nicht unterstützt"),
        429: _("Zu viele Anfragen"),
        500: _("Interner Fehler"),
    }


def _render(request: Request[Any, Any, Any], status: int, detail: str, extra: Any = None) -> Response[Any]:
    # Unmatched routes never pass the route middleware that sets the locale: settle it here too.
    i18n.current_locale.set(i18n.negotiate(request.cookies.get("lang"), request.query_params.get("lang")))
    if request.url.path.startswith("/oparl"):
        return _oparl_error(status, detail, extra)
    if _wants_json(request):
        body: dict[str, Any] = {"status_code": status, "detail": detail}
        if extra:
            body["extra"] = extra
        return Response(content=body, status_code=status, media_type=MediaType.JSON)
    title = _titles().get(status, str(status))
    return Template(  # type: ignore[return-value]
        template_name="error.html",
        context={"status": status, "title": title, "detail": detail, "request": request},
        status_code=status,
        media_type=MediaType.HTML,
    )


def _oparl_error(status: int, detail: str, extra: Any = None) -> Response[Any]:
    """OParl 1.1 Error object; readable from any origin like the rest of the API."""
    body: dict[str, Any] = {"type": "https://schema.oparl.org/1.1/Error", "message": detail or str(status)}
    debug = {"status": status, **({"extra": extra} if extra else {})}
    body["debug"] = debug
    return Response(
        content=body,
        status_code=status,
        media_type="application/json; charset=utf-8",
        headers={"Access-Control-Allow-Origin": "*"},
    )


def http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    _use_request_locale(request)
    status = exc.status_code
    detail = exc.detail or ""
    extra: Any = None
    if isinstance(exc, ValidationException):
        status = HTTP_400_BAD_REQUEST
        extra = exc.extra
        detail = i18n.gettext("Die Anfrage enthält ungültige Werte.")
        if isinstance(exc.extra, list) and exc.extra:
            parts = []
            for e in exc.extra:
                if isinstance(e, dict):
                    key = e.get("key") or ""
                    msg = e.get("message") or ""
                    parts.append(f"{key}: {msg}".strip(": "))
            if parts:
                detail = detail + " " + "; ".join(parts)
    elif isinstance(exc, NotFoundException):
        status = HTTP_404_NOT_FOUND
        if not detail or detail == "Not Found":
            detail = i18n.gettext("Die angeforderte Seite oder Datei gibt es nicht.")
    response = _render(request, status, detail, extra)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    _use_request_locale(request)
    detail = i18n.gettext("Ein unerwarteter Fehler ist aufgetreten.")
    return _render(request, HTTP_500_INTERNAL_SERVER_ERROR, detail)


def undecodable_input_handler(request: Request[Any, Any, Any], exc: UnicodeDecodeError) -> Response[Any]:
    """Form fields that are not valid UTF-8 (Litestar decodes multipart fields strictly, even inside the
    CSRF middleware): the client's fault, a 400 — not a 500."""
    _use_request_locale(request)
    detail = i18n.gettext("Die Anfrage enthält ungültig kodierte Zeichen.")
    return _render(request, HTTP_400_BAD_REQUEST, detail)


exception_handlers: dict[Any, Any] = {
    HTTPException: http_exception_handler,
    UnicodeDecodeError: undecodable_input_handler,
    HTTP_500_INTERNAL_SERVER_ERROR: internal_error_handler,
}
