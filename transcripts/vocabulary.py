"""A meeting's vocabulary, from its records, for biasing Whisper (``hotwords``) and the post-correction.

Why: the base model's German errors cluster on exactly the words residents search for — place names,
motion titles, councillors' names, "Tagesordnungspunkt". Rathaus knows them before the meeting starts.

Measured (ARCHITECTURE.md, issue #10): ``hotwords`` from agenda titles and place names cut clean WER
38 → 32; combined with ``initial_prompt`` the model skipped whole passages, so this module only ever
builds ``hotwords`` and nothing here sets ``initial_prompt``.

Whisper's prompt holds at most ``max_length // 2 - 1`` = 223 tokens of hotwords (faster-whisper cuts the
rest silently, from the end); :func:`hotwords` caps the string at :data:`MAX_HOTWORD_TOKENS` counted with
the model's own tokenizer (or a conservative estimate if the tokenizer file is not at hand), most
important terms first so what is cut is the least useful.
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
from transcripts.correct import Corrector

#: Whisper's hotword room is 223 tokens; keep a margin for the prompt's special tokens.
MAX_HOTWORD_TOKENS = 200

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


async def meeting_vocabulary(session: AsyncSession, meeting_id: int) -> Vocabulary:
    """The vocabulary of one meeting from its records.

    Only public items and papers: a decoder that reads its prompt back must never put a non-public
    title into a public transcript. Order (what survives the token cap): agenda item titles, their
    papers' titles, names of people present (attendance and speaker events; if none yet, members of
    the meeting's organisations), organisation and faction names, the meeting's location, standing
    terms, then paper references.
    """
    vocab = Vocabulary()
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None:
        vocab.add(*STANDING_TERMS)
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
        vocab.add(item.name)
    papers = (
        await session.execute(
            select(Paper.name, Paper.reference)
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
    for name, _ref in papers:
        vocab.add(name)

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
    for p in persons:
        vocab.terms.extend(t for t in _name_terms(p.family_name or p.name) if t not in vocab.terms)
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
            if t not in vocab.terms:
                vocab.terms.append(t)
    if meeting.location_id is not None:
        loc = await session.get(Location, meeting.location_id)
        if loc is not None:
            vocab.add(loc.street_address, loc.locality, loc.sub_locality, loc.room)
    # references last among the records: digits rarely help the decoder ("2026/0815")
    refs = [ref for _n, ref in papers if ref and _REFERENCE.search(ref)]
    vocab.add(*STANDING_TERMS)
    vocab.terms.extend(r for r in refs if r not in vocab.terms)
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
    out: list[str] = []
    for term in terms:
        term = " ".join(term.split())
        if not term:
            continue
        if count(" ".join([*out, term])) > max_tokens:
            continue  # a shorter later term may still fit
        out.append(term)
    return " ".join(out)


async def meeting_bias(
    session: AsyncSession, meeting_id: int, *, model_dir: str | None = None
) -> tuple[str, Corrector]:
    """The meeting's ``hotwords`` string (token-capped) and its post-corrector, from the records."""
    vocab = await meeting_vocabulary(session, meeting_id)
    count = model_token_counter(model_dir) if model_dir else estimate_tokens
    return hotwords(vocab.terms, count=count), Corrector(vocab.words())
