"""The OParl 1.1 API under ``/oparl/v1`` (see docs/oparl.md).

Public-only: every query runs for the anonymous viewer whatever cookie comes along, so a councillor's
browser session never widens what the API shows. Every JSON answer carries
``Access-Control-Allow-Origin: *``, a weak ETag over the body and (where known) ``Last-Modified``, and
answers ``If-None-Match`` / ``If-Modified-Since`` with 304. Errors are OParl Error objects
(``web.errors``). The serialisers and queries live in ``council.oparl``.
"""

from __future__ import annotations

import hashlib
import zlib
from datetime import datetime
from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.exceptions import HTTPException, NotFoundException
from litestar.response.base import ASGIResponse
from litestar.response.file import ASGIFileResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council.core.settings import Settings
from council.documents.store import FileStore
from council.live.models import TimelineEvent
from council.oparl import serialize as ser
from council.oparl.cache import Counts, Fragments
from council.oparl.lists import (
    MAX_ID,
    BadListParameter,
    Found,
    Page,
    body_list_start,
    body_scope,
    consultation_refs,
    file_refs,
    first_consultations,
    is_visible,
    list_page,
    load_object,
    location_refs,
    organization_scope,
    paper_refs,
    parse_list_params,
    system_dates,
)
from council.records.access import ANONYMOUS, agenda_item_visible
from council.records.models import AgendaItem
from web.controllers.documents import content_disposition
from web.errors import BadInput
from web.http import http_date, not_modified

PREFIX = "/oparl/v1"
CORS = {"Access-Control-Allow-Origin": "*"}
JSON_TYPE = "application/json; charset=utf-8"
#: Media types served as they are; anything else as an opaque download.
INLINE_TYPES = {"application/pdf", "image/png", "image/jpeg", "text/plain"}
_NO_COMPRESSION = {"skip_compression": True}
#: JSON answers are gzipped here, at level 1 (the app's compression middleware uses 6 for HTML): a
#: 390 kB page takes 1.5 ms instead of 3.9 ms of CPU and is a third larger (docs/oparl.md, Performance).
_JSON = {"skip_compression": True}
GZIP_LEVEL = 1
GZIP_MIN_BYTES = 1024
_encoder = msgspec.json.Encoder()


def _urls(request: Request[Any, Any, Any]) -> ser.Urls:
    """The app's ``Urls``, with its cache of serialised objects (``council.oparl.cache``)."""
    state = request.app.state
    urls: ser.Urls | None = state.get("oparl_urls")
    if urls is None:
        settings: Settings = state.settings
        urls = state.oparl_urls = ser.Urls(settings.base_url, Fragments())
    return urls


def _counts(request: Request[Any, Any, Any]) -> Counts:
    state = request.app.state
    counts: Counts | None = state.get("oparl_counts")
    if counts is None:
        counts = state.oparl_counts = Counts()
    return counts


# --- conditional JSON responses ------------------------------------------------------------------------


def accepts_gzip(request: Request[Any, Any, Any]) -> bool:
    """Whether ``Accept-Encoding`` names gzip (without ``q=0``)."""
    header = request.headers.get("accept-encoding")
    if not header:
        return False
    for part in header.lower().split(","):
        name, _, params = part.partition(";")
        if name.strip() not in ("gzip", "x-gzip"):
            continue
        q = params.strip()
        if q.startswith("q="):
            try:
                return float(q[2:]) > 0
            except ValueError:
                return False
        return True
    return False


def json_response(
    request: Request[Any, Any, Any], payload: Any, modified: datetime | None = None
) -> Response[Any]:
    body = _encoder.encode(payload)
    etag = 'W/"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
    headers = {**CORS, "ETag": etag, "Cache-Control": "public, no-cache", "Vary": "Accept-Encoding"}
    if modified is not None:
        headers["Last-Modified"] = http_date(modified)
    if not_modified(request, etag, modified):
        return Response(content=b"", status_code=304, headers=headers)
    if len(body) >= GZIP_MIN_BYTES and accepts_gzip(request):
        compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: the gzip container
        body = compressor.compress(body) + compressor.flush()
        headers["Content-Encoding"] = "gzip"
    return Response(content=body, status_code=200, media_type=JSON_TYPE, headers=headers)


def _bad(exc: BadListParameter) -> BadInput:
    return BadInput(detail=exc.message, extra={"parameter": exc.parameter})


# --- entry points --------------------------------------------------------------------------------------


async def _system(request: Request[Any, Any, Any], db_session: AsyncSession) -> Response[Any]:
    settings: Settings = request.app.state.settings
    created, modified = await system_dates(db_session)
    payload = ser.system(
        _urls(request),
        name=f"Rathaus {settings.municipality_name}",
        created=created,
        modified=modified,
    )
    return json_response(request, payload, modified)


@get(f"{PREFIX}/system", name="oparl_system", cache=False, opt=_JSON)
async def oparl_system(request: Request[Any, Any, Any], db_session: AsyncSession) -> Response[Any]:
    return await _system(request, db_session)


@get(PREFIX, name="oparl_root", cache=False, opt=_JSON)
async def oparl_root(request: Request[Any, Any, Any], db_session: AsyncSession) -> Response[Any]:
    """``/oparl/v1`` answers like the System object (some clients start from the bare prefix)."""
    return await _system(request, db_session)


async def _list_response(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    kind: str,
    scope: Any,
    url: str,
    count_key: Any = None,
) -> Response[Any]:
    try:
        params = parse_list_params(request.query_params)
    except BadListParameter as exc:
        raise _bad(exc) from None
    page = await list_page(db_session, kind, scope, params, counts=_counts(request), count_key=count_key)
    u = _urls(request)
    payload = await _render_page(db_session, kind, page, u, internal=not params.omit_internal)
    # Links: ``next``/``prev`` are keyset links (``after``/``before`` an id: no OFFSET, no count), also
    # from numbered pages; ``last`` (numbered) only where the count is known (first and numbered pages).
    links: dict[str, str] = {"first": params.link(url)}
    if page.has_prev:
        if page.first_id is not None:
            links["prev"] = params.link(url, before=page.first_id)
        elif page.page is not None:  # a numbered page past the end
            links["prev"] = params.link(url, min(page.page - 1, page.total_pages or 1))
    if page.has_next and page.last_id is not None:
        links["next"] = params.link(url, after=page.last_id)
    if page.total_pages is not None:
        links["last"] = params.link(url, page.total_pages)
    links["self"] = params.self_link(url)
    pagination: dict[str, int] = {"elementsPerPage": page.limit}
    if page.total is not None and page.page is not None:
        pagination = {
            "totalElements": page.total,
            "elementsPerPage": page.limit,
            "currentPage": page.page,
            "totalPages": page.total_pages or 1,
        }
    body = {"data": payload, "pagination": pagination, "links": links}
    return json_response(request, body, page.last_modified)


async def _render_page(
    session: AsyncSession, kind: str, page: Page, u: ser.Urls, *, internal: bool
) -> list[dict[str, Any]]:
    return await render_objects(session, kind, page.items, u, internal=internal)


async def render_objects(
    session: AsyncSession, kind: str, found: list[Found], u: ser.Urls, *, internal: bool = True
) -> list[dict[str, Any]]:
    """Serialise loaded records (standalone copies; deleted stubs where ``deleted``)."""
    live_ids = [f.record.id for f in found if not f.deleted]
    frefs = await file_refs(session, live_ids) if kind == "file" else None
    lrefs = await location_refs(session, live_ids) if kind == "location" else None
    consultations = None
    if kind == "meeting" and internal:
        consultations = await first_consultations(session, meeting_ids=live_ids)
    elif kind == "agenda-item":
        consultations = await first_consultations(session, item_ids=live_ids)
    prefs = await paper_refs(session, live_ids) if kind == "paper" else None
    crefs = None
    if kind == "consultation":
        crefs = await consultation_refs(session, live_ids)
    elif kind == "paper" and internal:
        # read with the papers (council.oparl.lists.attach_rows): no query here
        crefs = {c.id: c.refs for f in found if not f.deleted for c in f.record.consultations}
    out = []
    for f in found:
        if f.deleted:
            out.append(ser.deleted_stub(f.record, kind, u))
        else:
            out.append(
                ser.serialize(
                    kind,
                    f.record,
                    u,
                    internal=internal,
                    file_refs=frefs,
                    location_refs=lrefs,
                    first_consultation=consultations if consultations is not None else {},
                    paper_refs=prefs if prefs is not None else {},
                    consultation_refs=crefs if crefs is not None else {},
                )
            )
    return out


@get(f"{PREFIX}/bodies", name="oparl_bodies", cache=False, opt=_JSON)
async def oparl_bodies(request: Request[Any, Any, Any], db_session: AsyncSession) -> Response[Any]:
    from sqlalchemy import true

    return await _list_response(request, db_session, "body", true(), _urls(request).bodies(), ("bodies",))


@get(f"{PREFIX}/body/{{record_id:int}}/{{segment:str}}", name="oparl_body_list", cache=False, opt=_JSON)
async def oparl_body_list(
    request: Request[Any, Any, Any], db_session: AsyncSession, record_id: int, segment: str
) -> Response[Any]:
    if segment not in ser.BODY_LISTS:
        raise NotFoundException()
    visible, first = await body_list_start(db_session, record_id)
    if not visible:
        raise NotFoundException()
    kind = ser.BODY_LISTS[segment][1]

    def scope(correlated: bool) -> Any:
        return body_scope(kind, record_id, first, correlated=correlated)

    # (the first body also lists the files and locations without a body: part of the count's key)
    return await _list_response(
        request,
        db_session,
        kind,
        scope,
        _urls(request).body_list(record_id, segment),
        ("body", record_id, first == record_id),
    )


@get(
    f"{PREFIX}/organization/{{record_id:int}}/{{segment:str}}",
    name="oparl_organization_list",
    cache=False,
    opt=_JSON,
)
async def oparl_organization_list(
    request: Request[Any, Any, Any], db_session: AsyncSession, record_id: int, segment: str
) -> Response[Any]:
    if segment not in ser.ORGANIZATION_LISTS:
        raise NotFoundException()
    if not await is_visible(db_session, "organization", record_id):
        raise NotFoundException()
    kind = ser.ORGANIZATION_LISTS[segment][1]
    url = _urls(request).organization_list(record_id, segment)

    def scope(correlated: bool) -> Any:
        return organization_scope(kind, record_id, correlated=correlated)

    return await _list_response(request, db_session, kind, scope, url, ("organization", record_id))


def _object_handler(kind: str) -> Any:
    """``GET /oparl/v1/{kind}/{id}`` — one handler per kind (a static segment wins over a parameter in
    Litestar's router, so ``/body/{id}/…`` lists and a generic ``/{kind}/{id}`` cannot share a level)."""

    async def handler(
        request: Request[Any, Any, Any], db_session: AsyncSession, record_id: int
    ) -> Response[Any]:
        found = await load_object(db_session, kind, record_id)
        if found is None:
            raise NotFoundException()
        (payload,) = await render_objects(db_session, kind, [found], _urls(request))
        return json_response(request, payload, found.record.modified)

    handler.__name__ = "oparl_" + kind.replace("-", "_")
    handler.__qualname__ = handler.__name__
    return get(f"{PREFIX}/{kind}/{{record_id:int}}", name=handler.__name__, cache=False, opt=_JSON)(handler)


object_handlers = [_object_handler(kind) for kind in ser.KINDS]


# --- files ---------------------------------------------------------------------------------------------


async def _serve_file(
    request: Request[Any, Any, Any], db_session: AsyncSession, record_id: int, attachment: bool
) -> ASGIResponse:
    found = await load_object(db_session, "file", record_id, for_json=False)
    if found is None:
        raise NotFoundException()
    if found.deleted:
        raise HTTPException(status_code=410, detail="This file has been deleted.")
    record = found.record
    settings: Settings = request.app.state.settings
    store = FileStore(settings.files_dir)
    if not record.storage_key or not store.exists(record.storage_key):
        raise NotFoundException(detail="No content is stored for this file.")
    etag = f'"{(record.sha512 or record.storage_key)[:64]}"'
    headers = {
        **CORS,
        "ETag": etag,
        "Last-Modified": http_date(record.modified),
        "Cache-Control": "public, no-cache",
        "X-Content-Type-Options": "nosniff",
    }
    if not_modified(request, etag, record.modified):
        return ASGIResponse(body=b"", status_code=304, headers=headers)
    media_type = record.mime_type if record.mime_type in INLINE_TYPES else "application/octet-stream"
    if attachment or media_type == "application/octet-stream":
        headers["Content-Disposition"] = content_disposition("attachment", record.file_name)
    path = store.path(record.storage_key)
    response = ASGIFileResponse(
        file_path=path, media_type=media_type, headers=headers, filename="", stat_result=path.stat()
    )
    if not attachment and media_type != "application/octet-stream":
        # accessUrl: the content as it is, without Content-Disposition (OParl 1.1, File.accessUrl).
        del response.headers["content-disposition"]
    return response


@get(f"{PREFIX}/file/{{record_id:int}}/access", name="oparl_file_access", opt=_NO_COMPRESSION, cache=False)
async def oparl_file_access(
    request: Request[Any, Any, Any], db_session: AsyncSession, record_id: int
) -> ASGIResponse:
    return await _serve_file(request, db_session, record_id, attachment=False)


@get(
    f"{PREFIX}/file/{{record_id:int}}/download", name="oparl_file_download", opt=_NO_COMPRESSION, cache=False
)
async def oparl_file_download(
    request: Request[Any, Any, Any], db_session: AsyncSession, record_id: int
) -> ASGIResponse:
    return await _serve_file(request, db_session, record_id, attachment=True)


# --- vendor extra: the meeting timeline ----------------------------------------------------------------


@get(
    f"{PREFIX}/meeting/{{record_id:int}}/rathaus-timeline",
    name="oparl_meeting_timeline",
    cache=False,
    opt=_JSON,
)
async def oparl_meeting_timeline(
    request: Request[Any, Any, Any], db_session: AsyncSession, record_id: int
) -> Response[Any]:
    """What happened in a public meeting, in order: agenda items started/ended, speakers, votes.
    Events of non-public agenda items are left out; so is a speaker who did not consent to streaming."""
    found = await load_object(db_session, "meeting", record_id)
    if found is None or found.deleted:
        raise NotFoundException()
    raw_item = request.query_params.get("agenda_item")
    item_id: int | None = None
    if raw_item is not None:
        value = raw_item.strip()
        if not value.isascii() or not value.isdigit() or not 0 < int(value[:12]) <= MAX_ID:
            raise BadInput(detail="agenda_item: expected the id of an agenda item")
        item_id = int(value)
    visible_items = select(AgendaItem.id).where(
        AgendaItem.meeting_id == record_id, agenda_item_visible(ANONYMOUS)
    )
    stmt = select(TimelineEvent).where(TimelineEvent.meeting_id == record_id)
    stmt = stmt.where(
        (TimelineEvent.agenda_item_id.is_(None)) | (TimelineEvent.agenda_item_id.in_(visible_items))
    )
    if item_id is not None:
        stmt = stmt.where(TimelineEvent.agenda_item_id == item_id)
    events = (await db_session.execute(stmt.order_by(TimelineEvent.at, TimelineEvent.id))).scalars().all()
    u = _urls(request)
    data = []
    for event in events:
        entry: dict[str, Any] = {"id": event.id, "kind": event.kind, "at": ser.fmt_datetime(event.at)}
        if event.agenda_item_id is not None:
            entry["agendaItem"] = u.obj("agenda-item", event.agenda_item_id)
        if event.consent is not None:
            entry["consent"] = bool(event.consent)
        if event.person_id is not None and event.consent is not False:
            entry["person"] = u.obj("person", event.person_id)
        data.append(entry)
    url = u.timeline(record_id) + (f"?agenda_item={item_id}" if item_id is not None else "")
    payload = {
        "id": url,
        "type": "rathaus:Timeline",
        "meeting": u.obj("meeting", record_id),
        "data": data,
    }
    return json_response(
        request,
        payload,
        found.record.modified if not events else max(found.record.modified, max(e.at for e in events)),
    )


routes: list[Any] = [
    oparl_root,
    oparl_system,
    oparl_bodies,
    oparl_body_list,
    oparl_organization_list,
    *object_handlers,
    oparl_file_access,
    oparl_file_download,
    oparl_meeting_timeline,
]
