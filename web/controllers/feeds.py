"""Feeds: meetings as iCalendar (all, per organisation, one meeting) and new papers as RSS 2.0 / Atom.

Feeds are read by calendar apps and feed readers, mostly without a login, and are filtered like every
page. XML is built with ``xml.etree`` (escaping is its job, not ours); dates are RFC 822 (RSS) and
RFC 3339 (Atom).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, time, timedelta
from email.utils import format_datetime as rfc822
from typing import Any
from urllib.parse import urlsplit

from litestar import Request, get
from litestar.exceptions import NotFoundException
from litestar.response import Response
from sqlalchemy.ext.asyncio import AsyncSession

from council.backoffice.meetings import ical_sequences
from council.core.types import utcnow
from council.records import queries
from council.records.access import Viewer
from council.records.ical import build_calendar
from council.records.models import Paper
from web import i18n

#: Litestar adds "; charset=utf-8" to text/* types itself.
ICS_MEDIA_TYPE = "text/calendar"
RSS_MEDIA_TYPE = "application/rss+xml; charset=utf-8"
ATOM_MEDIA_TYPE = "application/atom+xml; charset=utf-8"
#: How far back the calendar feeds reach.
FEED_PAST_DAYS = 180
FEED_PAPERS = 50
MAX_ID = 2**31 - 1
ATOM_NS = "http://www.w3.org/2005/Atom"


def _base_url(request: Request[Any, Any, Any]) -> str:
    return str(request.app.state.settings.base_url).rstrip("/")


def _ics_response(body: bytes, filename: str) -> Response[bytes]:
    return Response(
        content=body,
        media_type=ICS_MEDIA_TYPE,
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            "Cache-Control": "public, max-age=300",
        },
    )


async def meeting_ics(
    request: Request[Any, Any, Any], meeting_id: int, db_session: AsyncSession, viewer: Viewer
) -> Response[bytes]:
    """``/sitzungen/{id}.ics`` (routed by ``pages.meeting_page``, which owns that path segment)."""
    meeting = await queries.get_meeting(db_session, viewer, meeting_id)
    if meeting is None or meeting.start is None:
        raise NotFoundException()
    agenda = await queries.public_agenda_titles(db_session, [meeting.id])
    sequences = await ical_sequences(db_session, [meeting.id])
    cal = build_calendar([meeting], _base_url(request), name=meeting.name, agenda=agenda, sequences=sequences)
    return _ics_response(cal.to_ical(), f"sitzung-{meeting.id}.ics")


@get("/feeds/sitzungen.ics", name="feed_meetings_ics", cache=False, opt={"page_cache": True})
async def meetings_ics(
    request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer
) -> Response[bytes]:
    since = utcnow() - timedelta(days=FEED_PAST_DAYS)
    meetings = await queries.feed_meetings(db_session, viewer, since=since)
    agenda = await queries.public_agenda_titles(db_session, [m.id for m in meetings])
    title = i18n.gettext("Sitzungen")
    name = f"{title} – {request.app.state.settings.municipality_name}"
    sequences = await ical_sequences(db_session, [m.id for m in meetings])
    cal = build_calendar(meetings, _base_url(request), name=name, agenda=agenda, sequences=sequences)
    return _ics_response(cal.to_ical(), "sitzungen.ics")


@get("/feeds/gremien/{key:str}", name="feed_organization_ics", cache=False, opt={"page_cache": True})
async def organization_ics(
    request: Request[Any, Any, Any], key: str, db_session: AsyncSession, viewer: Viewer
) -> Response[bytes]:
    raw = key[: -len(".ics")] if key.endswith(".ics") else ""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 10 or not (1 <= int(raw) <= MAX_ID):
        raise NotFoundException()
    org = await queries.get_organization(db_session, int(raw))
    if org is None:
        raise NotFoundException()
    since = utcnow() - timedelta(days=FEED_PAST_DAYS)
    meetings = await queries.feed_meetings(db_session, viewer, since=since, organization_id=org.id)
    agenda = await queries.public_agenda_titles(db_session, [m.id for m in meetings])
    sequences = await ical_sequences(db_session, [m.id for m in meetings])
    cal = build_calendar(meetings, _base_url(request), name=org.name, agenda=agenda, sequences=sequences)
    return _ics_response(cal.to_ical(), f"gremium-{org.id}.ics")


# --- papers: RSS and Atom -----------------------------------------------------------------------


def _paper_title(paper: Paper) -> str:
    return _text(f"{paper.reference}: {paper.name}" if paper.reference else paper.name)


def _paper_published(paper: Paper) -> datetime:
    """A paper's date is a calendar day; publish it at local midnight. Without one: when it was created."""
    if paper.date is not None:
        return datetime.combine(paper.date, time.min, tzinfo=i18n.TZ)
    return paper.created.astimezone(UTC)


def _paper_summary(paper: Paper) -> str:
    parts = [p for p in (paper.paper_type, i18n.format_date(paper.date) if paper.date else None) if p]
    originators = [o.name for o in paper.originator_organizations] + [
        p.name for p in paper.originator_persons
    ]
    if originators:
        parts.append(i18n.gettext("Urheber") + ": " + ", ".join(originators))
    return _text(" · ".join(parts))


#: Characters XML 1.0 does not allow (C0 controls but tab/newline/return, lone surrogates, U+FFFE/F).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: str | None) -> str:
    """Record text as XML character data: leave out what XML cannot carry (escaping is ElementTree's)."""
    return _NOT_XML.sub("", value or "")


def _xml(root: ET.Element) -> bytes:
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _feed_title(request: Request[Any, Any, Any]) -> str:
    title = i18n.gettext("Neue Vorlagen")
    return f"{title} – {request.app.state.settings.municipality_name}"


@get("/feeds/vorlagen.rss", name="feed_papers_rss", cache=False, opt={"page_cache": True})
async def papers_rss(
    request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer
) -> Response[bytes]:
    base = _base_url(request)
    papers = await queries.newest_papers(db_session, viewer, limit=FEED_PAPERS)
    rss = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(rss, "channel")
    ET.SubElement(channel, "title").text = _feed_title(request)
    ET.SubElement(channel, "link").text = f"{base}/vorlagen"
    ET.SubElement(channel, "description").text = i18n.gettext(
        "Die neuesten Vorlagen im Ratsinformationssystem."
    )
    ET.SubElement(channel, "language").text = i18n.current_locale.get()
    # Atom's self link, declared on <rss> by hand: ElementTree's namespace registry is process-global.
    rss.set("xmlns:atom", ATOM_NS)
    ET.SubElement(
        channel,
        "atom:link",
        {"href": f"{base}/feeds/vorlagen.rss", "rel": "self", "type": "application/rss+xml"},
    )
    newest = max((p.modified for p in papers), default=utcnow())
    ET.SubElement(channel, "lastBuildDate").text = rfc822(newest.astimezone(UTC))
    for paper in papers:
        item = ET.SubElement(channel, "item")
        url = f"{base}/vorlagen/{paper.id}"
        ET.SubElement(item, "title").text = _paper_title(paper)
        ET.SubElement(item, "link").text = url
        ET.SubElement(item, "guid", {"isPermaLink": "true"}).text = url
        ET.SubElement(item, "pubDate").text = rfc822(_paper_published(paper))
        if paper.paper_type:
            ET.SubElement(item, "category").text = _text(paper.paper_type)
        ET.SubElement(item, "description").text = _paper_summary(paper)
    return Response(
        content=_xml(rss), media_type=RSS_MEDIA_TYPE, headers={"Cache-Control": "public, max-age=300"}
    )


@get("/feeds/vorlagen.atom", name="feed_papers_atom", cache=False, opt={"page_cache": True})
async def papers_atom(
    request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer
) -> Response[bytes]:
    base = _base_url(request)
    host = urlsplit(base).hostname or "localhost"
    papers = await queries.newest_papers(db_session, viewer, limit=FEED_PAPERS)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, tag, attrs)
        if text is not None:
            el.text = text
        return el

    # Plain names with xmlns on the root: ElementTree's default_namespace option rejects
    # unqualified attributes (href, rel), and its namespace registry is process-global.
    feed = ET.Element("feed", {"xmlns": ATOM_NS, "xml:lang": i18n.current_locale.get()})
    sub(feed, "title", _feed_title(request))
    sub(feed, "id", f"{base}/feeds/vorlagen.atom")
    sub(feed, "link", href=f"{base}/feeds/vorlagen.atom", rel="self", type="application/atom+xml")
    sub(feed, "link", href=f"{base}/vorlagen", rel="alternate", type="text/html")
    newest = max((p.modified for p in papers), default=utcnow())
    sub(feed, "updated", newest.astimezone(UTC).isoformat(timespec="seconds"))
    author = sub(feed, "author")
    sub(author, "name", str(request.app.state.settings.municipality_name))
    for paper in papers:
        url = f"{base}/vorlagen/{paper.id}"
        entry = sub(feed, "entry")
        sub(entry, "title", _paper_title(paper))
        sub(entry, "id", f"tag:{host},2024:paper-{paper.id}")
        sub(entry, "link", href=url, rel="alternate", type="text/html")
        sub(entry, "published", _paper_published(paper).isoformat(timespec="seconds"))
        sub(entry, "updated", paper.modified.astimezone(UTC).isoformat(timespec="seconds"))
        if paper.paper_type:
            sub(entry, "category", term=_text(paper.paper_type))
        sub(entry, "summary", _paper_summary(paper))
    return Response(
        content=_xml(feed),
        media_type=ATOM_MEDIA_TYPE,
        headers={"Cache-Control": "public, max-age=300"},
    )


routes: list[Any] = [meetings_ics, organization_ics, papers_rss, papers_atom]
