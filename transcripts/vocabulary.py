"""A meeting's vocabulary, from its records, for biasing Whisper (``hotwords``) and the post-correction.

Why: the base model's German errors cluster on exactly the words residents search for — place names,
motion titles, councillors' names, "Tagesordnungspunkt". Rathaus knows them before the meeting starts.

Measured (ARCHITECTURE.md, issue #10): ``hotwords`` from agenda titles and place names cut clean WER
38 → 32; combined with ``initial_prompt`` the model skipped whole passages, so this module only ever
builds ``hotwords`` and nothing here sets ``initial_prompt``.

Whisper's prompt holds at most ``max_length // 2 - 1`` = 223 tokens of hotwords (faster-whisper cuts the
rest silently, from the end); :func:`hotwords` caps the string at :data:`MAX_HOTWORD_TOKENS` counted with
the model's own tokenizer (or a conservative estimate if the tokenizer file is not at hand), most
important terms first so what is cut is the least useful. Each agenda item gets its own string (its
title, papers and speakers first, :class:`MeetingVocabulary`); the final passes pick it by the timeline.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from council.live.models import TimelineEvent
from council.records.models import (
    AgendaItem,
    Consultation,
    Location,
    Meeting,
    Membership,
    Organization,
    Paper,
    Person,
    meeting_organization,
)
from transcripts.align import load_timeline
from transcripts.correct import Corrector

#: Whisper's hotword room is 223 tokens, but every decoder step pays for the prompt's length (beam search
#: reorders the whole self-attention cache each step): on the 12-min bench set (clean), the final pass's
#: beam search took 27 s with a 105-token prompt and 35 s with 192 tokens, at WER 22.4 against 24.4
#: (after correction; 65 tokens: 27 s, WER 24.4). Hence ~100 tokens, the item's own words first.
MAX_HOTWORD_TOKENS = 100

#: Words a council meeting always uses and the base model often gets wrong (split compounds mostly).
STANDING_TERMS: tuple[str, ...] = (
    # ordered so that no three neighbours are a phrase someone would say (see final.strip_echo)
    "Tagesordnungspunkt",
    "Gegenstimmen",
    "Beschlussvorschlag",
    "Enthaltungen",
    "Niederschrift",
    "Tagesordnung",
    "Einwohnerfragestunde",
    "Beschlussvorlage",
    "Ratsmitglieder",
    "Befangenheit",
    "Sitzungsvorlage",
    "Bürgermeisterin",
    "Haushaltssatzung",
    "Enthaltung",
    "Flächennutzungsplan",
    "Bürgermeister",
    "Verwaltungsvorlage",
    "Ratsmitglied",
    "Bebauungsplan",
    "Beschluss",
    "Ausschuss",
    "Fraktion",
    "Antrag",
    "einstimmig",
    "Anfrage",
    "mehrheitlich",
)

#: Short function words and generic words that carry no bias worth the prompt room.
_STOP = frozenset(
    """der die das den dem des ein eine einer eines einem einen und oder für fur von vom zum zur zu im in
    am an auf aus bei mit nach über uber unter vor hinter sowie als auch nicht ist sind wird werden wurde
    hier dort dass daß es sie er wir ihr ihre ihren sein seine seiner beim bis durch gegen ohne um wegen
    neu neue neuen neues nr top""".split()
)
_WORD = re.compile(r"[^\W\d_][\w\-]*", re.UNICODE)
_REFERENCE = re.compile(r"\b[\w/\-.]*\d[\w/\-.]*\b")


@dataclass
class Vocabulary:
    """Terms in priority order (agenda first, standing council terms last), without duplicates."""

    terms: list[str] = field(default_factory=list)

    def add(self, *values: str | None) -> None:
        seen = {t.casefold() for t in self.terms}
        for value in values:
            for term in _terms_of(value):
                if term.casefold() not in seen:
                    seen.add(term.casefold())
                    self.terms.append(term)

    def words(self) -> list[str]:
        """Single words for the post-correction (names split into their parts)."""
        out: list[str] = []
        seen: set[str] = set()
        for term in self.terms:
            for w in _WORD.findall(term):
                if len(w) >= 4 and w.casefold() not in _STOP and w.casefold() not in seen:
                    seen.add(w.casefold())
                    out.append(w)
        return out


def _terms_of(value: str | None) -> list[str]:
    """The content words of a title (capitalised nouns and long words), or a name as a whole."""
    if not value:
        return []
    value = " ".join(value.split())
    words = [w for w in _WORD.findall(value) if w.casefold() not in _STOP and len(w) >= 3]
    return [w for w in words if w[0].isupper() or len(w) >= 8]


def _name_terms(value: str | None) -> list[str]:
    """A person's or organisation's name: kept whole (hotwords carry the pairing), no stop-filtering."""
    return [" ".join(value.split())] if value and value.strip() else []


@dataclass
class MeetingVocabulary:
    """A meeting's terms, kept by agenda item so that each item's audio is biased towards its own words.

    Why per item: Whisper's prompt is short (see :data:`MAX_HOTWORD_TOKENS`) and every decoder step pays
    for its length, while a town council's agenda runs to 20-40 items; the words of the item under
    discussion are the ones most likely said.
    """

    #: Per public agenda item: its title's terms, its papers' titles' terms, who spoke during it.
    items: dict[int, Vocabulary] = field(default_factory=dict)
    #: Papers consulted in the meeting but not on a (public) item.
    papers: Vocabulary = field(default_factory=Vocabulary)
    #: People present, organisations and factions, the location, standing terms, paper references.
    general: Vocabulary = field(default_factory=Vocabulary)
    _titles: dict[int, list[str]] = field(default_factory=dict)

    def add_item(self, item_id: int, title: str | None) -> Vocabulary:
        """An agenda item's vocabulary, started with its title's terms (papers and speakers follow)."""
        v = self.items[item_id] = Vocabulary()
        v.add(title)
        self._titles[item_id] = list(v.terms)
        return v

    def terms(self) -> list[str]:
        """The whole meeting's terms in priority order: all item titles, all paper titles, the rest."""
        titles = [t for terms in self._titles.values() for t in terms]
        rest = [t for v in self.items.values() for t in v.terms]
        return _unique(titles, rest, self.papers.terms, self.general.terms)

    def item_terms(self, item_id: int) -> list[str]:
        """One item's terms first, then names (people, organisations, places), the standing council terms
        (said in every item), the other items' titles, the rest (what is left after the cap is cut)."""
        own = self.items.get(item_id)
        others = [t for i, v in self.items.items() if i != item_id for t in self._titles.get(i, v.terms)]
        standing = {t.casefold() for t in STANDING_TERMS}
        names = [t for t in self.general.terms if t.casefold() not in standing]
        return _unique(own.terms if own else [], names, STANDING_TERMS, others, self.papers.terms)

    def hotwords(self, count: TokenCounter | None = None) -> tuple[str, dict[int, str]]:
        """The meeting's hotwords string, and each item's own where the meeting's lost some of the
        item's terms to the cap (see :func:`meeting_bias`; else none: one prompt for all)."""
        count = count or estimate_tokens
        whole = kept_terms(self.terms(), count=count)
        kept = {t.casefold() for t in whole}
        if all(t.casefold() in kept for v in self.items.values() for t in v.terms):
            return " ".join(whole), {}
        return " ".join(whole), {i: hotwords(self.item_terms(i), count=count) for i in self.items}

    def words(self) -> list[str]:
        """Single words for the post-correction (all of the meeting's terms)."""
        whole = Vocabulary()
        whole.terms = self.terms()
        return whole.words()


def _unique(*lists: Iterable[str]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for terms in lists:
        for t in terms:
            if t.casefold() not in seen:
                seen.add(t.casefold())
                out.append(t)
    return out


async def meeting_vocabulary(session: AsyncSession, meeting_id: int) -> MeetingVocabulary:
    """The vocabulary of one meeting from its records.

    Only public items and papers: a decoder that reads its prompt back must never put a non-public
    title into a public transcript. Per item: its title, its papers' titles, the names of who had the
    floor during it (timeline). General: names of people present (attendance and speaker events; if
    none yet, members of the meeting's organisations), organisation and faction names, the meeting's
    location, standing terms, then paper references.
    """
    vocab = MeetingVocabulary()
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None:
        vocab.general.add(*STANDING_TERMS)
        return vocab
    items = (
        (
            await session.execute(
                select(AgendaItem)
                .where(
                    AgendaItem.meeting_id == meeting_id,
                    AgendaItem.deleted.is_(False),
                    AgendaItem.public.is_(True),
                )
                .order_by(AgendaItem.order, AgendaItem.id)
            )
        )
        .scalars()
        .all()
    )
    for item in items:
        vocab.add_item(item.id, item.name)
    papers = (
        await session.execute(
            select(Paper.name, Paper.reference, Consultation.agenda_item_id)
            .join(Consultation, Consultation.paper_id == Paper.id)
            .where(
                or_(
                    Consultation.meeting_id == meeting_id,
                    Consultation.agenda_item_id.in_([i.id for i in items] or [-1]),
                ),
                Paper.deleted.is_(False),
                Paper.public.is_(True),
            )
        )
    ).all()
    for name, _ref, item_id in papers:
        (vocab.items[item_id] if item_id in vocab.items else vocab.papers).add(name)

    timeline = await load_timeline(session, meeting_id)
    present_ids = set(
        (
            await session.execute(
                select(TimelineEvent.person_id).where(
                    TimelineEvent.meeting_id == meeting_id, TimelineEvent.person_id.is_not(None)
                )
            )
        )
        .scalars()
        .all()
    )
    org_ids = set(
        (
            await session.execute(
                select(meeting_organization.c.organization_id).where(
                    meeting_organization.c.meeting_id == meeting_id
                )
            )
        )
        .scalars()
        .all()
    )
    memberships = (
        (
            await session.execute(
                select(Membership).where(
                    Membership.organization_id.in_(org_ids or {-1})
                    | Membership.person_id.in_(present_ids or {-1}),
                    Membership.deleted.is_(False),
                )
            )
        )
        .scalars()
        .all()
    )
    person_ids = present_ids or {m.person_id for m in memberships if m.organization_id in org_ids}
    faction_ids = {m.on_behalf_of_id for m in memberships if m.on_behalf_of_id is not None}
    persons = (
        (
            await session.execute(
                select(Person)
                .where(Person.id.in_(person_ids or {-1}), Person.deleted.is_(False))
                .order_by(Person.id)
            )
        )
        .scalars()
        .all()
    )
    names = {p.id: _name_terms(p.family_name or p.name) for p in persons}
    for p in persons:
        vocab.general.terms.extend(t for t in names[p.id] if t not in vocab.general.terms)
    for item_id, speakers in timeline.speakers_by_item().items():
        if item_id in vocab.items:
            v = vocab.items[item_id]
            v.terms.extend(t for pid in speakers for t in names.get(pid, []) if t not in v.terms)
    orgs = (
        (
            await session.execute(
                select(Organization).where(
                    Organization.id.in_(org_ids | faction_ids or {-1}), Organization.deleted.is_(False)
                )
            )
        )
        .scalars()
        .all()
    )
    for o in orgs:
        for t in _name_terms(o.short_name) + _name_terms(o.name):
            if t not in vocab.general.terms:
                vocab.general.terms.append(t)
    if meeting.location_id is not None:
        loc = await session.get(Location, meeting.location_id)
        if loc is not None:
            vocab.general.add(loc.street_address, loc.locality, loc.sub_locality, loc.room)
    # references last: digits rarely help the decoder ("2026/0815")
    refs = [ref for _n, ref, _i in papers if ref and _REFERENCE.search(ref)]
    vocab.general.add(*STANDING_TERMS)
    vocab.general.terms.extend(r for r in refs if r not in vocab.general.terms)
    return vocab


TokenCounter = Callable[[str], int]


def estimate_tokens(text: str) -> int:
    """A conservative token count for German (measured: ~3.2 characters per Whisper token on titles)."""
    return -(-len(text) // 3) + 1


@cache
def model_token_counter(model_dir: str) -> TokenCounter:
    """Counts with the model's own ``tokenizer.json`` (as faster-whisper encodes ``" " + hotwords``)."""
    path = Path(model_dir) / "tokenizer.json"
    if not path.is_file():
        return estimate_tokens
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    return lambda text: len(tok.encode(" " + text.strip(), add_special_tokens=False).ids)


def hotwords(
    terms: Iterable[str], *, max_tokens: int = MAX_HOTWORD_TOKENS, count: TokenCounter = estimate_tokens
) -> str:
    """The terms as one ``hotwords`` string, cut at whole terms to at most ``max_tokens`` tokens."""
    return " ".join(kept_terms(terms, max_tokens=max_tokens, count=count))


def kept_terms(
    terms: Iterable[str], *, max_tokens: int = MAX_HOTWORD_TOKENS, count: TokenCounter = estimate_tokens
) -> list[str]:
    """The terms that fit into ``max_tokens`` tokens, in order (what :func:`hotwords` joins)."""
    out: list[str] = []
    for term in terms:
        term = " ".join(term.split())
        if not term:
            continue
        if count(" ".join([*out, term])) > max_tokens:
            continue  # a shorter later term may still fit
        out.append(term)
    return out


@dataclass(frozen=True)
class MeetingBias:
    """What the final passes bias the decoder with: the whole meeting's ``hotwords``, each public agenda
    item's own (its words first; only for an agenda too long for one string), and the post-corrector
    (all of the meeting's words)."""

    hotwords: str
    by_item: dict[int, str]
    corrector: Corrector

    def for_item(self, item_id: int | None) -> str:
        """The hotwords for audio of this agenda item (the meeting's where the item has none)."""
        return self.by_item.get(item_id, self.hotwords) if item_id is not None else self.hotwords


async def meeting_bias(
    session: AsyncSession, meeting_id: int, *, model_dir: str | None = None
) -> MeetingBias:
    """The meeting's ``hotwords`` strings (token-capped) and its post-corrector, from the records.

    Items get hotwords of their own only where the meeting's string lost some of an item's terms to the
    cap (a long agenda): with one prompt for the whole meeting, the windows of consecutive items can
    share a batch row, and on the 12-min bench set (6 items, all of them in the meeting's string) per-item
    prompts read worse (WER 23.6 against 20.2 after correction) and ran slower (33.7 s against 31.9 s).
    """
    vocab = await meeting_vocabulary(session, meeting_id)
    count = model_token_counter(model_dir) if model_dir else estimate_tokens
    whole, by_item = vocab.hotwords(count)
    return MeetingBias(hotwords=whole, by_item=by_item, corrector=Corrector(vocab.words()))
