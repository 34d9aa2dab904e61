"""The operator's API (``/api/ops/…``): what ``rathaus stream …`` asks the running server to do.

Why over HTTP: a stream's packager (ffmpeg, the WHEP relay, live captions) lives in the serving
process (``app.state.streams``); a CLI process that started its own would be invisible to the site.

Auth: ``Authorization: Bearer <token>`` where the token is an HMAC of ``RATHAUS_SECRET_KEY``
(:func:`ops_token`). Every process of an installation already shares that secret, so a command run
on a server machine with the installation's environment can compute the token — nothing new to hand
out, and whoever holds the secret could forge sessions anyway. Not a browser route, so it is excluded
from CSRF (``web/app.py``); answers are JSON and never cached. Errors are 4xx with a message.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from litestar import Request, get, post
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.response import Response

from council.core.settings import Settings
from council.core.tokens import same_secret
from streaming.errors import BadSource, StreamBusy, StreamError, StreamNotFound
from web.controllers.pages import MAX_ID

#: URL schemes a stream may be pulled from (no ``file:``, ``concat:`` … tricks through ffmpeg).
URL_SCHEMES = frozenset({"http", "https", "rtmp", "rtmps", "rtsp", "srt", "udp"})
_NO_STORE = {"Cache-Control": "no-store"}


def ops_token(settings: Settings) -> str:
    """The bearer token of the operator API, derived from the installation's secret key."""
    return hmac.new(settings.secret_key.encode(), b"rathaus-ops-api-v1", hashlib.sha256).hexdigest()


def require_ops_token(request: Request[Any, Any, Any]) -> None:
    """401 unless the request carries the operator token. Called first in each handler (like WHIP's
    stream key), not as a route guard: the app's guards are about signed-in people and their roles."""
    settings: Settings = request.app.state.settings
    header = request.headers.get("authorization", "")
    scheme, _sep, token = header.partition(" ")
    if scheme.lower() != "bearer" or not same_secret(token.strip(), ops_token(settings)):
        raise NotAuthorizedException(detail="Betriebs-Token fehlt oder ist falsch.")


def _manager(request: Request[Any, Any, Any]) -> Any:
    manager = getattr(request.app.state, "streams", None)
    if manager is None:
        raise HTTPException(status_code=503, detail="Die Übertragung ist auf diesem Server nicht verfügbar.")
    return manager


async def _ensure_meeting(request: Request[Any, Any, Any], meeting_id: int) -> None:
    from council.records.models import Meeting

    if not 0 < meeting_id <= MAX_ID:  # beyond the database's integers: no such meeting
        raise HTTPException(status_code=404, detail=f"Keine Sitzung {meeting_id}.")
    async with request.app.state.db.sessionmaker() as s:
        if await s.get(Meeting, meeting_id) is None:
            raise HTTPException(status_code=404, detail=f"Keine Sitzung {meeting_id}.")


def _status_json(manager: Any, meeting_id: int) -> dict[str, Any]:
    st = manager.status(meeting_id)
    return {
        "meeting_id": meeting_id,
        "state": st.state,
        "source": st.source,
        "started_at": st.started_at.isoformat() if st.started_at else None,
        "segments": st.segments,
        "restarts": st.restarts,
        "slate_active": st.slate_active,
        "last_error": st.last_error,
    }


def _stream_error(exc: StreamError) -> HTTPException:
    if isinstance(exc, StreamBusy):
        return HTTPException(
            status_code=409, detail=f"Für diese Sitzung läuft bereits eine Übertragung ({exc})."
        )
    if isinstance(exc, StreamNotFound):
        return HTTPException(status_code=404, detail=f"Keine solche Übertragung ({exc}).")
    if isinstance(exc, BadSource):
        return HTTPException(status_code=400, detail=f"Diese Quelle kann nicht verwendet werden: {exc}")
    return HTTPException(status_code=400, detail=str(exc) or "Diese Aktion ist gerade nicht möglich.")


def make_source(spec: str) -> Any:
    """``testsrc`` (test pattern; ``testsrc?size=320x240&rate=10``), a URL (``http…``, ``rtmp…``,
    ``srt…``) or a file on the server."""
    from streaming.sources import FileSource, TestPattern, UrlSource

    spec = (spec or "testsrc").strip()
    name, _q, query = spec.partition("?")
    if name in ("testsrc", "testbild", "testpattern"):
        opts = dict(parse_qsl(query))
        size, rate = opts.get("size", "640x360"), opts.get("rate", "25")
        if not re.fullmatch(r"\d{2,4}x\d{2,4}", size) or not re.fullmatch(r"\d{1,2}(\.\d+)?", rate):
            raise HTTPException(status_code=400, detail="Testbild: size=BxH und rate=Bilder/s erwartet.")
        return TestPattern(size=size, rate=float(rate))
    if "://" in spec:
        try:
            scheme = urlsplit(spec).scheme.lower()
        except ValueError as exc:  # e.g. "http://[::1": an unclosed IPv6 address
            raise HTTPException(status_code=400, detail=f"Diese URL ist ungültig: {exc}") from None
        if scheme not in URL_SCHEMES:
            raise HTTPException(status_code=400, detail=f"URL-Schema {scheme!r} ist nicht erlaubt.")
        return UrlSource(url=spec)
    path = Path(spec)
    if not path.is_absolute():
        raise HTTPException(status_code=400, detail="Eine Datei als Quelle braucht einen absoluten Pfad.")
    return FileSource(path=path)


@get("/api/ops/streams/{meeting_id:int}", name="ops_stream_status", cache=False)
async def stream_status(request: Request[Any, Any, Any], meeting_id: int) -> Response[dict[str, Any]]:
    require_ops_token(request)
    manager = _manager(request)
    await _ensure_meeting(request, meeting_id)
    return Response(_status_json(manager, meeting_id), headers=_NO_STORE)


@post(
    "/api/ops/streams/{meeting_id:int}/{action:str}",
    name="ops_stream_action",
    cache=False,
    status_code=200,
)
async def stream_action(
    request: Request[Any, Any, Any], meeting_id: int, action: str
) -> Response[dict[str, Any]]:
    """``start`` (JSON body ``{"source": "testsrc" | FILE | URL}``), ``stop``, ``key`` (a new stream key)."""
    require_ops_token(request)
    manager = _manager(request)
    await _ensure_meeting(request, meeting_id)
    try:
        if action == "start":
            try:
                body = await request.json() if await request.body() else {}
            except Exception as exc:
                raise HTTPException(status_code=400, detail="Der Inhalt ist kein JSON.") from exc
            if not isinstance(body, dict):
                raise HTTPException(status_code=400, detail="Erwartet wird ein JSON-Objekt.")
            await manager.start_stream(meeting_id, make_source(str(body.get("source") or "testsrc")))
        elif action == "stop":
            await manager.stop_stream(meeting_id)
        elif action == "key":
            from web.controllers.stream_panel import publish_urls

            key = await manager.issue_key(meeting_id)
            settings: Settings = request.app.state.settings
            return Response(
                {"meeting_id": meeting_id, "key": key, "urls": publish_urls(settings, meeting_id, key)},
                headers=_NO_STORE,
            )
        else:
            raise HTTPException(status_code=404, detail=f"Unbekannte Aktion {action!r}.")
    except StreamError as exc:
        raise _stream_error(exc) from exc
    return Response(_status_json(manager, meeting_id), headers=_NO_STORE)


routes: list[Any] = [stream_status, stream_action]
