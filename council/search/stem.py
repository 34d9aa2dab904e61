"""German text → search terms, the same way for indexing and querying (SQLite FTS5 has no German stemmer).

``terms(text)`` normalises (NFKC, lower case), splits into runs of letters and digits, drops the Snowball
German stop words (the list PostgreSQL's ``german`` configuration uses, so both backends agree) and stems
with the Snowball German stemmer (PyStemmer), which also folds ä/ö/ü and ß: *Radwege* → ``radweg``,
*Bebauungspläne* → ``bebauungsplan``, *Schulen* → ``schul``.

``parse_query(q)`` reads what people type into a search box, in the spirit of PostgreSQL's
``websearch_to_tsquery``: words (all must match), ``"phrases"``, ``or`` between alternatives, ``-word`` to
exclude. Everything else (``AND NOT NEAR * ^ : ( ) +`` …) is just text. It never raises.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import Stemmer

#: Snowball German stop words (as shipped with PostgreSQL's ``german.stop``).
STOP_WORDS = frozenset(
    """
    aber alle allem allen aller alles als also am an ander andere anderem anderen anderer anderes
    anderm andern anderr anders auch auf aus bei bin bis bist da damit dann der den des dem die das
    daß derselbe derselben denselben desselben demselben dieselbe dieselben dasselbe dazu dein deine
    deinem deinen deiner deines denn derer dessen dich dir du dies diese diesem diesen dieser dieses
    doch dort durch ein eine einem einen einer eines einig einige einigem einigen einiger einiges
    einmal er ihn ihm es etwas euer eure eurem euren eurer eures für gegen gewesen hab habe haben
    hat hatte hatten hier hin hinter ich mich mir ihr ihre ihrem ihren ihrer ihres euch im in indem
    ins ist jede jedem jeden jeder jedes jene jenem jenen jener jenes jetzt kann kein keine keinem
    keinen keiner keines können könnte machen man manche manchem manchen mancher manches mein meine
    meinem meinen meiner meines mit muss musste nach nicht nichts noch nun nur ob oder ohne sehr
    sein seine seinem seinen seiner seines selbst sich sie ihnen sind so solche solchem solchen
    solcher solches soll sollte sondern sonst über um und uns unse unsem unsen unser unses unter
    viel vom von vor während war waren warst was weg weil weiter welche welchem welchen welcher
    welches wenn werde werden wie wieder will wir wird wirst wo wollen wollte würde würden zu zum
    zur zwar zwischen
    """.split()
)

#: Letters and digits (no underscore): exactly what FTS5's unicode61 tokenizer keeps together.
WORD_RE = re.compile(r"[^\W_]+")
#: Control characters (NUL included) and lone surrogates, which no database driver accepts.
_BAD_CHARS_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
#: Bidi controls (RTL override etc.) and zero-width characters: invisible, never part of a word.
_INVISIBLE_RE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
#: Words longer than this are not words (base64, hashes); PostgreSQL skips them as well.
MAX_WORD_LEN = 100

MAX_QUERY_CHARS = 500
MAX_QUERY_TERMS = 32

_local = threading.local()


def _stemmer() -> Stemmer.Stemmer:
    st = getattr(_local, "stemmer", None)
    if st is None:
        st = Stemmer.Stemmer("german")
        st.maxCacheSize = 50_000
        _local.stemmer = st
    return st


def clean_text(text: str | None) -> str:
    """Text fit for any database: no NUL/control characters, no lone surrogates, no bidi overrides."""
    if not text:
        return ""
    return _INVISIBLE_RE.sub("", _BAD_CHARS_RE.sub(" ", text))


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", clean_text(text)).lower()


def words(text: str | None) -> list[str]:
    """The lower-cased words of ``text`` (stop words included, not stemmed)."""
    if not text:
        return []
    return [w for w in WORD_RE.findall(_normal(text)) if len(w) <= MAX_WORD_LEN]


def stem_words(ws: Iterable[str]) -> list[str]:
    """Stem lower-cased words; stop words are dropped."""
    kept = [w for w in ws if w not in STOP_WORDS]
    return _stemmer().stemWords(kept) if kept else []


def stem(word: str) -> str:
    """The stem of one word ("" for a stop word or a non-word)."""
    ws = words(word)
    out = stem_words(ws[:1])
    return out[0] if out else ""


def terms(text: str | None) -> list[str]:
    """Search terms of ``text`` in order: normalised, stop words dropped, stemmed."""
    return stem_words(words(text))


def stemmed_text(text: str | None) -> str:
    """``terms`` joined by spaces: what goes into the FTS5 table."""
    return " ".join(terms(text))


def iter_word_spans(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, stem) of each word of ``text`` in its original offsets (for snippets)."""
    st = _stemmer()
    for m in WORD_RE.finditer(text):
        w = m.group(0)
        if len(w) > MAX_WORD_LEN:
            continue
        norm = unicodedata.normalize("NFKC", w).lower()
        parts = WORD_RE.findall(norm)
        if len(parts) != 1 or parts[0] in STOP_WORDS:
            continue
        yield m.start(), m.end(), st.stemWord(parts[0])


# --- queries ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phrase:
    """One or more words that must follow each other (a single word is a one-word phrase)."""

    words: tuple[str, ...]  # chunks as typed (stop words kept), for PostgreSQL
    stems: tuple[str, ...]  # stems without stop words, for SQLite FTS5


@dataclass
class Clause:
    """Alternatives joined by ``or``; a negated clause excludes documents."""

    alternatives: list[Phrase] = field(default_factory=list)
    negated: bool = False


@dataclass
class ParsedQuery:
    clauses: list[Clause] = field(default_factory=list)

    @property
    def positive(self) -> list[Clause]:
        return [c for c in self.clauses if not c.negated and c.alternatives]

    @property
    def negative(self) -> list[Clause]:
        return [c for c in self.clauses if c.negated and c.alternatives]

    @property
    def is_empty(self) -> bool:
        """Nothing to look for (only stop words, only exclusions, only punctuation)."""
        return not self.positive

    @property
    def stems(self) -> set[str]:
        """The stems to highlight."""
        return {s for c in self.positive for p in c.alternatives for s in p.stems}

    def fts5(self) -> str:
        """A MATCH expression for FTS5 built only from quoted stems (letters and digits)."""
        if self.is_empty:
            return ""

        def phrase(p: Phrase) -> str:
            return '"' + " ".join(p.stems) + '"'

        def clause(c: Clause) -> str:
            return "(" + " OR ".join(phrase(p) for p in c.alternatives) + ")"

        expr = " AND ".join(clause(c) for c in self.positive)
        for c in self.negative:
            expr = f"({expr}) NOT {clause(c)}"
        return expr

    def websearch(self) -> str:
        """The same query as text for PostgreSQL's ``websearch_to_tsquery`` (only words, quotes, or, -)."""
        if self.is_empty:
            return ""

        def phrase(p: Phrase) -> str:
            # Always quoted: inside quotes websearch_to_tsquery reads no operators (a<->b, x-y, or).
            return '"' + " ".join(p.words) + '"'

        parts: list[str] = []
        for c in self.positive:
            parts.append(" or ".join(phrase(p) for p in c.alternatives))
        for c in self.negative:
            # websearch_to_tsquery negates only the next word or phrase: one per clause.
            parts.extend("-" + phrase(p) for p in c.alternatives)
        return " ".join(parts)


_TOKEN_RE = re.compile(r'(-?)"([^"]*)"?|(\S+)')


def _phrase(chunks: list[str]) -> Phrase | None:
    """A phrase from whitespace-separated chunks as typed (``V/2026/0001`` stays one chunk for PostgreSQL,
    whose parser keeps such tokens whole; FTS5 gets its letter/digit runs)."""
    kept = []
    for chunk in chunks:
        chunk = chunk.replace('"', "").lstrip("-")[:MAX_WORD_LEN]
        # "or" would be read as the operator by websearch_to_tsquery; it is not a German word anyway.
        if chunk and chunk.lower() != "or" and words(chunk):
            kept.append(chunk)
    if not kept:
        return None
    ws = [w for chunk in kept for w in words(chunk)]
    return Phrase(words=tuple(kept), stems=tuple(stem_words(ws)))


def parse_query(q: str | None) -> ParsedQuery:
    """Read a search box query (see the module docstring). Never raises; limits its length."""
    if not q:
        return ParsedQuery()
    text = _normal_query(str(q))
    clauses: list[Clause] = []
    pending_or = False
    n_terms = 0
    for m in _TOKEN_RE.finditer(text):
        if n_terms >= MAX_QUERY_TERMS:
            break
        if m.group(2) is not None:
            negated = bool(m.group(1))
            p = _phrase(m.group(2).split())
        else:
            raw = m.group(3)
            if raw.lower() == "or":
                pending_or = bool(clauses) and not clauses[-1].negated
                continue
            if raw in ("AND", "&&", "+"):  # all words must match anyway
                continue
            negated = raw.startswith("-") and len(raw) > 1
            p = _phrase([raw])
        if p is None:
            continue
        n_terms += len(p.words)
        if not p.stems:
            # Only stop words: PostgreSQL drops them too; nothing to look for.
            pending_or = False
            continue
        if pending_or and not negated and clauses and not clauses[-1].negated:
            clauses[-1].alternatives.append(p)
        else:
            clauses.append(Clause(alternatives=[p], negated=negated))
        pending_or = False
    return ParsedQuery(clauses=clauses)


def _normal_query(q: str) -> str:
    # NFKC turns fullwidth quotes/letters into plain ones; typographic quotes count as quotes.
    text = unicodedata.normalize("NFKC", clean_text(q)[: MAX_QUERY_CHARS * 2])
    return text.translate(_QUOTES)[:MAX_QUERY_CHARS]


_QUOTES = str.maketrans({c: '"' for c in "„“”«»‟″"})
