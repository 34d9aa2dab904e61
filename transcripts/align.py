"""Attach transcript text to the meeting: which agenda item ran and who had the floor at that second.

No speaker recognition is needed: the clerk's console writes ``speaker.started``/``speaker.ended``
events, so the timeline says who spoke when. The timeline is folded (``council.live.state.fold``, the
same fold the live page uses) into a step function of states; a segment takes the state it overlaps
most. Privacy is stricter than attribution: a segment that overlaps *any* moment where a speaker
without consent has the floor is private (``public=False``: shown to staff only). Consent ``None`` (no
choice recorded, e.g. an imported timeline) counts as no consent, as in the console's
``effective_consent``. Non-public meetings and agenda items are *not* folded into ``public``: members may
read those, so the web layer applies ``council.records.access`` to them as to every record; only live
captions (which go to the public HLS output) also stop during them (``captions_allowed``).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council.live.models import TimelineEvent
from council.live.state import LiveState, fold
from council.records.models import AgendaItem, Meeting
from transcripts.models import SpeakerRole


@dataclass(frozen=True)
class Assignment:
    agenda_item_id: int | None
    person_id: int | None
    speaker_role: str
    public: bool


@dataclass(frozen=True)
class _Step:
    at: datetime
    is_open: bool
    agenda_item_id: int | None
    person_id: int | None
    #: A speaker without consent has the floor.
    no_consent: bool
    #: A non-public agenda item runs.
    private_item: bool


class Timeline:
    """A meeting's timeline as a step function of (agenda item, speaker, private)."""

    def __init__(
        self,
        meeting_id: int,
        events: Iterable[TimelineEvent | dict[str, Any]],
        *,
        private_item_ids: Iterable[int] = (),
        meeting_public: bool = True,
    ) -> None:
        self.meeting_id = meeting_id
        self.meeting_public = meeting_public
        private_items = set(private_item_ids)

        def get(ev: TimelineEvent | dict[str, Any], key: str) -> Any:
            return ev.get(key) if isinstance(ev, dict) else getattr(ev, key)

        def when(ev: TimelineEvent | dict[str, Any]) -> datetime:
            at = get(ev, "at")
            return datetime.fromisoformat(at) if isinstance(at, str) else at

        ordered = sorted(events, key=lambda e: (when(e), get(e, "id") or 0))
        state = LiveState(meeting_id=meeting_id)
        self._steps: list[_Step] = []
        for ev in ordered:
            fold(state, ev)
            step = _Step(
                at=when(ev),
                is_open=state.is_open,
                agenda_item_id=state.agenda_item_id,
                person_id=state.speaker_person_id,
                no_consent=state.speaker_person_id is not None and state.speaker_consent is not True,
                private_item=state.agenda_item_id in private_items,
            )
            if self._steps and self._steps[-1].at == step.at:
                self._steps[-1] = step  # several events at one instant: the last state counts
            else:
                self._steps.append(step)
        self._times = [s.at for s in self._steps]

    def _state_at(self, at: datetime) -> _Step | None:
        i = bisect.bisect_right(self._times, at) - 1
        return self._steps[i] if i >= 0 else None

    def _pieces(self, start: datetime, end: datetime) -> list[tuple[float, _Step | None]]:
        """(duration in seconds, state) for each state the interval [start, end] passes through."""
        if end <= start:
            end = start + timedelta(milliseconds=1)
        out: list[tuple[float, _Step | None]] = []
        cursor = start
        i = bisect.bisect_right(self._times, start)
        current = self._state_at(start)
        while cursor < end:
            nxt = self._times[i] if i < len(self._times) and self._times[i] < end else end
            out.append(((nxt - cursor).total_seconds(), current))
            if nxt >= end:
                break
            current = self._steps[i]
            cursor = nxt
            i += 1
        return out

    def private_during(self, start: datetime, end: datetime) -> bool:
        """True if at any moment of [start, end] a speaker without consent has the floor."""
        return any(step is not None and step.no_consent for _, step in self._pieces(start, end))

    def captions_allowed(self, start: datetime, end: datetime) -> bool:
        """May a live caption for [start, end] go to the public stream? Not for a non-public meeting,
        a non-public agenda item or a speaker without consent, at any moment of it."""
        if not self.meeting_public:
            return False
        return not any(
            step is not None and (step.no_consent or step.private_item)
            for _, step in self._pieces(start, end)
        )

    def item_during(self, start: datetime, end: datetime) -> int | None:
        """The agenda item that ran longest in [start, end] (None: none ran, or no timeline)."""
        weight: dict[int | None, float] = {}
        for seconds, step in self._pieces(start, end):
            key = None if step is None else step.agenda_item_id
            weight[key] = weight.get(key, 0.0) + seconds
        return max(weight.items(), key=lambda kv: kv[1])[0] if weight else None

    def speakers_by_item(self) -> dict[int, list[int]]:
        """Who had the floor during each agenda item, in the order they first spoke."""
        out: dict[int, list[int]] = {}
        for step in self._steps:
            if step.agenda_item_id is not None and step.person_id is not None:
                people = out.setdefault(step.agenda_item_id, [])
                if step.person_id not in people:
                    people.append(step.person_id)
        return out

    def assign(self, start: datetime, end: datetime) -> Assignment:
        pieces = self._pieces(start, end)
        weight: dict[tuple[int | None, int | None, bool], float] = {}
        for seconds, step in pieces:
            key = (None, None, False) if step is None else (step.agenda_item_id, step.person_id, step.is_open)
            weight[key] = weight.get(key, 0.0) + seconds
        item_id, person_id, is_open = max(weight.items(), key=lambda kv: kv[1])[0]
        if person_id is not None:
            role = SpeakerRole.SPEAKER
        elif is_open and item_id is not None:
            role = SpeakerRole.CHAIR
        else:
            role = SpeakerRole.UNKNOWN
        return Assignment(
            agenda_item_id=item_id,
            person_id=person_id,
            speaker_role=str(role),
            public=not self.private_during(start, end),
        )


async def load_timeline(session: AsyncSession, meeting_id: int) -> Timeline:
    """The meeting's timeline with the privacy facts alignment needs (private items, meeting)."""
    events: Sequence[TimelineEvent] = (
        (
            await session.execute(
                select(TimelineEvent).where(TimelineEvent.meeting_id == meeting_id).order_by(TimelineEvent.id)
            )
        )
        .scalars()
        .all()
    )
    private_items = (
        (
            await session.execute(
                select(AgendaItem.id).where(AgendaItem.meeting_id == meeting_id, AgendaItem.public.is_(False))
            )
        )
        .scalars()
        .all()
    )
    meeting_public = (
        await session.execute(select(Meeting.public).where(Meeting.id == meeting_id))
    ).scalar_one_or_none()
    return Timeline(
        meeting_id, events, private_item_ids=private_items, meeting_public=meeting_public is not False
    )


#: A piece longer than this is split at the next sentence end, so that transcript lines stay readable.
MAX_PIECE_S = 12.0
_SENTENCE_END = (".", "?", "!")


def split_at_turns(seg: Any, timeline: Timeline, started_at: datetime) -> list[tuple[Any, Assignment]]:
    """Cut a recognised segment where the timeline changes hands (speaker, agenda item, consent) and at
    sentence ends of long pieces, using the word timestamps. Batched decoding returns segments of up
    to 30 s that span several speakers; each piece gets its own assignment, so that a non-consenting
    speaker's words never ride along in a consenting speaker's public line (and the other way round).
    ``seg`` is a ``transcripts.engine.Segment`` (times relative to ``started_at``)."""

    def when(seconds: float) -> datetime:
        return started_at + timedelta(seconds=seconds)

    words = list(getattr(seg, "words", ()) or ())
    if not words:
        return [(seg, timeline.assign(when(seg.start), when(seg.end)))]
    groups: list[tuple[Assignment, list[Any]]] = []
    for w in words:
        a = timeline.assign(when(w.start), when(max(w.end, w.start + 0.01)))
        if groups:
            last_a, last_words = groups[-1]
            long_enough = last_words[-1].end - last_words[0].start >= MAX_PIECE_S
            sentence_end = last_words[-1].word.strip().endswith(_SENTENCE_END)
            if last_a == a and not (long_enough and sentence_end):
                last_words.append(w)
                continue
        groups.append((a, [w]))
    pieces: list[tuple[Any, Assignment]] = []
    for a, ws in groups:
        text = "".join(w.word for w in ws).strip()
        if not text:
            continue
        piece = type(seg)(
            start=ws[0].start,
            end=max(ws[-1].end, ws[0].start),
            text=text,
            words=tuple(ws),
            avg_logprob=seg.avg_logprob,
            no_speech_prob=seg.no_speech_prob,
            compression_ratio=seg.compression_ratio,
        )
        pieces.append((piece, a))
    return pieces
