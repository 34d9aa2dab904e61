"""A minutes draft (Niederschrift-Entwurf) from the transcript and the timeline.

Per agenda item, in agenda order: who spoke, in order, with what they said (consecutive segments of
one speaker joined), then the votes and their results. Votes come from the timeline's ``vote.closed``
events (their payload is what ``votes`` published; an annulled poll is left out) — ``transcripts`` does
not import ``votes``. The draft is the clerk's starting point, not a publication: the HTML template and
the Markdown export both come from the same data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council.live.models import EventKind, TimelineEvent
from council.records.models import AgendaItem, Meeting
from transcripts.models import SpeakerRole
from transcripts.service import segments as load_segments

BERLIN = ZoneInfo("Europe/Berlin")
ROLE_LABELS = {
    SpeakerRole.CHAIR: "Vorsitz",
    SpeakerRole.UNKNOWN: "Unbekannt",
    SpeakerRole.SPEAKER: "Redner/in",
}


@dataclass
class MinutesEntry:
    speaker: str
    person_id: int | None
    role: str
    text: str
    start_s: float
    corrected: bool = False


@dataclass
class MinutesVote:
    question: str | None
    summary: str | None
    adopted: bool | None
    tally: dict[str, Any] | None
    kind: str | None
    at: datetime | None
    votes: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class MinutesItem:
    agenda_item_id: int | None
    number: str | None
    name: str
    public: bool
    entries: list[MinutesEntry] = field(default_factory=list)
    votes: list[MinutesVote] = field(default_factory=list)


@dataclass
class MinutesDraft:
    meeting_id: int
    meeting_name: str
    start: datetime | None
    items: list[MinutesItem]

    def to_markdown(self) -> str:
        out = [f"# Niederschrift (Entwurf): {_md(self.meeting_name)}", ""]
        if self.start is not None:
            local = self.start.astimezone(BERLIN)
            out += [f"Sitzung vom {local:%d.%m.%Y}, Beginn {local:%H:%M} Uhr", ""]
        for item in self.items:
            title = f"{item.number} {item.name}" if item.number else item.name
            out += [f"## {_md(title)}" + ("" if item.public else " (nicht öffentlich)"), ""]
            if not item.entries and not item.votes:
                out += ["_Kein Wortprotokoll._", ""]
            for e in item.entries:
                mark = " _(korrigiert)_" if e.corrected else ""
                out += [f"**{_md(e.speaker)}** ({_clock(e.start_s)}): {_md(e.text)}{mark}", ""]
            for v in item.votes:
                head = "Abstimmung" + (f": {_md(v.question)}" if v.question else "")
                out.append(f"### {head}")
                out.append("")
                if v.summary:
                    out.append(f"Ergebnis: {_md(v.summary)}")
                if v.tally:
                    parts = [f"{k}: {val}" for k, val in v.tally.items() if isinstance(val, int | float)]
                    if parts:
                        out.append("Stimmen: " + ", ".join(parts))
                if v.adopted is not None:
                    out.append("Beschluss: " + ("angenommen" if v.adopted else "abgelehnt"))
                for named in v.votes:
                    out.append(f"- {_md(str(named.get('name', '')))}: {_md(str(named.get('choice', '')))}")
                out.append("")
        return "\n".join(out).rstrip() + "\n"


def _md(text: str) -> str:
    """Markdown-escape text that comes from people (no links, headings or HTML sneak in)."""
    out = []
    for ch in text.replace("\n", " "):
        out.append("\\" + ch if ch in "\\`*_{}[]()#+-.!<>|" else ch)
    return "".join(out)


def _clock(seconds: float) -> str:
    s = int(max(0, seconds))
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


async def minutes_draft(
    session: AsyncSession, meeting_id: int, *, include_private: bool = False
) -> MinutesDraft:
    """The draft for a meeting (ValueError if there is no such meeting)."""
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None:
        raise ValueError("Unbekannte Sitzung.")
    items = (
        (
            await session.execute(
                select(AgendaItem)
                .where(AgendaItem.meeting_id == meeting_id, AgendaItem.deleted.is_(False))
                .order_by(AgendaItem.order, AgendaItem.id)
            )
        )
        .scalars()
        .all()
    )
    by_id: dict[int | None, MinutesItem] = {
        it.id: MinutesItem(it.id, it.number, it.name, it.public) for it in items
    }
    loose = MinutesItem(None, None, "Außerhalb der Tagesordnung", True)
    for seg in await load_segments(session, meeting_id, include_private=include_private):
        target = by_id.get(seg.agenda_item_id, loose)
        speaker = seg.speaker_name or ROLE_LABELS.get(SpeakerRole(seg.speaker_role), seg.speaker_role)
        last = target.entries[-1] if target.entries else None
        if last is not None and (last.person_id, last.role) == (seg.person_id, seg.speaker_role):
            last.text = f"{last.text} {seg.text}"
            last.corrected = last.corrected or seg.corrected
        else:
            target.entries.append(
                MinutesEntry(speaker, seg.person_id, seg.speaker_role, seg.text, seg.start_s, seg.corrected)
            )
    events = (
        (
            await session.execute(
                select(TimelineEvent)
                .where(
                    TimelineEvent.meeting_id == meeting_id,
                    TimelineEvent.kind.in_([EventKind.VOTE_CLOSED, EventKind.VOTE_ANNULLED]),
                )
                .order_by(TimelineEvent.at, TimelineEvent.id)
            )
        )
        .scalars()
        .all()
    )
    annulled = {(ev.payload or {}).get("poll_id") for ev in events if ev.kind == EventKind.VOTE_ANNULLED}
    for ev in events:
        p = ev.payload or {}
        if ev.kind != EventKind.VOTE_CLOSED or p.get("poll_id") in annulled:
            continue
        by_id.get(ev.agenda_item_id, loose).votes.append(
            MinutesVote(
                question=p.get("question"),
                summary=p.get("summary"),
                adopted=p.get("adopted"),
                tally=p.get("tally") if isinstance(p.get("tally"), dict) else None,
                kind=p.get("kind"),
                at=ev.at,
                votes=list(p.get("votes") or []),
            )
        )
    ordered = [by_id[it.id] for it in items]
    if loose.entries or loose.votes:
        ordered.insert(0, loose)
    return MinutesDraft(meeting_id, meeting.name, meeting.start, ordered)
