"""Meetings as iCalendar (RFC 5545): one event per meeting, times in Europe/Berlin with a VTIMEZONE.

UIDs are stable (``meeting-{id}@{host}``) so calendar clients update an event rather than duplicating
it; DTSTAMP is the meeting's ``modified`` so the same data gives the same bytes (golden-file test).
Agenda titles in the description are public items only: a calendar file travels.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import icalendar

from council.records.models import AgendaItem, Meeting

TZ = ZoneInfo("Europe/Berlin")
PRODID = "-//Rathaus//Ratsinformationssystem//DE"


#: Control characters RFC 5545 TEXT may not carry (tab and newline are fine), and lone surrogates.
_NOT_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


def _text(value: str) -> str:
    return _NOT_TEXT.sub("", value)


def _host(base_url: str) -> str:
    return urlsplit(base_url).hostname or "localhost"


def meeting_uid(meeting: Meeting, base_url: str) -> str:
    return f"meeting-{meeting.id}@{_host(base_url)}"


def meeting_url(meeting: Meeting, base_url: str) -> str:
    return f"{base_url.rstrip('/')}/sitzungen/{meeting.id}"


def _local(value: datetime) -> datetime:
    return value.astimezone(TZ)


def _public_items(meeting: Meeting, agenda_items: Iterable[AgendaItem] | None) -> list[AgendaItem]:
    if agenda_items is None:
        # Only when the caller loaded them: touching an unloaded relationship would lazy-load.
        loaded = meeting.__dict__.get("agenda_items") or []
        agenda_items = loaded
    return sorted(
        (i for i in agenda_items if i.public and not i.deleted),
        key=lambda i: (i.order, i.id),
    )


def meeting_as_ical_event(
    meeting: Meeting, base_url: str, *, agenda_items: Iterable[AgendaItem] | None = None, sequence: int = 0
) -> icalendar.Event:
    """The meeting as a VEVENT. ``meeting.start`` must be set; organizations and location loaded.

    ``sequence`` (RFC 5545 SEQUENCE) is bumped by the back office when a sent invitation's time or
    place changes, so calendar clients take the update; 0 is left out (the default).
    """
    if meeting.start is None:
        raise ValueError("a meeting without a start time has no calendar event")
    event = icalendar.Event()
    event.add("uid", meeting_uid(meeting, base_url))
    if sequence > 0:
        event.add("sequence", sequence)
    event.add("dtstamp", meeting.modified or meeting.created)
    if meeting.modified is not None:
        event.add("last-modified", meeting.modified)
    summary = meeting.name
    if meeting.cancelled:
        summary = f"Abgesagt: {summary}"
    event.add("summary", _text(summary))
    event.add("dtstart", _local(meeting.start))
    if meeting.end is not None and meeting.end > meeting.start:
        event.add("dtend", _local(meeting.end))
    event.add("status", "CANCELLED" if meeting.cancelled else "CONFIRMED")
    location = meeting.__dict__.get("location")
    if location is not None and location.label:
        event.add("location", _text(location.label))
    url = meeting_url(meeting, base_url)
    event.add("url", url)
    organizations = [o.name for o in (meeting.__dict__.get("organizations") or []) if not o.deleted]
    lines: list[str] = []
    if organizations:
        lines.append(", ".join(organizations))
    items = _public_items(meeting, agenda_items)
    if items:
        if lines:
            lines.append("")
        lines.append("Tagesordnung (öffentlicher Teil):")
        for item in items:
            lines.append(f"{item.number} {item.name}".strip() if item.number else item.name)
    if lines:
        lines.append("")
    lines.append(url)
    event.add("description", _text("\n".join(lines)))
    return event


def build_calendar(
    meetings: Sequence[Meeting],
    base_url: str,
    *,
    name: str,
    agenda: Mapping[int, Iterable[AgendaItem]] | None = None,
    sequences: Mapping[int, int] | None = None,
) -> icalendar.Calendar:
    """A calendar of meetings (those without a start time are left out)."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", _text(name))
    cal.add("x-wr-timezone", "Europe/Berlin")
    starts: list[datetime] = []
    for meeting in meetings:
        if meeting.start is None:
            continue
        items = agenda.get(meeting.id) if agenda is not None else None
        sequence = sequences.get(meeting.id, 0) if sequences is not None else 0
        cal.add_component(meeting_as_ical_event(meeting, base_url, agenda_items=items, sequence=sequence))
        starts.append(_local(meeting.start))
        if meeting.end is not None:
            starts.append(_local(meeting.end))
    if starts:
        # Transitions only for the years the events span: the default (1970-2038) bloats every feed.
        first = date(min(starts).year, 1, 1)
        last = date(max(starts).year + 1, 1, 1)
        cal.add_missing_timezones(first_date=first, last_date=last)
    return cal
