"""Post-correction of Whisper's words towards the meeting's vocabulary.

Measured (ARCHITECTURE.md): a correction only helps if it

* accepts inflected forms as they are — "Breitbandnetzes" is right, "Breitbandnetz" would be wrong;
  a near miss keeps the ending it was heard with ("Breitbandnätzes" → "Breitbandnetzes");
* joins split compounds — "Tag in Ordnungspunkt" → "Tagesordnungspunkt", "gegen Stimmen" →
  "Gegenstimmen" (the base model splits long German compounds at plausible word boundaries);
* is conservative: short words are never touched (too many real neighbours), fuzzy matches need a high
  similarity that grows as words get shorter, and a heard word that already is a vocabulary word (in
  any accepted form) stays as it is.

Pure text in, text and the list of changes out: :class:`Change` keeps every original, so the segment's
history can show what the machine heard (see ``final.record_corrections``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz

#: Endings a vocabulary word may carry as heard (German declension/plural); kept as they are.
SUFFIXES: tuple[str, ...] = ("", "s", "es", "n", "en", "e", "er", "ern", "ns", "nen")
#: Words shorter than this are never corrected by similarity (too many real German neighbours).
MIN_FUZZY_LEN = 7
#: Join at most this many heard words into one compound.
MAX_JOIN = 3
_TOKEN = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*", re.UNICODE)


def threshold(length: int) -> float:
    """Similarity (0-100, rapidfuzz ratio) a fuzzy match needs; stricter for shorter words."""
    if length >= 14:
        return 86.0
    if length >= 10:
        return 88.0
    return 91.0


@dataclass(frozen=True)
class Change:
    """One correction: the heard words (as in the text) and what replaced them."""

    original: str
    corrected: str
    start: int
    """Character offset of ``original`` in the machine text."""

    def as_json(self) -> dict[str, object]:
        return {"from": self.original, "to": self.corrected, "at": self.start}


class Corrector:
    """Corrects text towards a fixed vocabulary (build once per meeting, apply to every segment)."""

    def __init__(self, words: Iterable[str]) -> None:
        self._words: dict[str, str] = {}
        for w in words:
            w = w.strip()
            if len(w) >= 4 and " " not in w:
                self._words.setdefault(w.casefold(), w)
        self._forms: set[str] = {key + suf for key in self._words for suf in SUFFIXES}
        self._long = [(k, v) for k, v in self._words.items() if len(k) >= MIN_FUZZY_LEN]

    def __bool__(self) -> bool:
        return bool(self._words)

    def is_known(self, word: str) -> bool:
        """Is ``word`` a vocabulary word in one of its accepted forms?"""
        return word.casefold() in self._forms

    def _match(self, heard: str) -> str | None:
        """The vocabulary word (with the heard ending) for a near miss, or None."""
        key = heard.casefold()
        if key in self._forms or len(key) < MIN_FUZZY_LEN:
            return None
        best: tuple[float, str] | None = None
        for suf in SUFFIXES:
            if suf and not key.endswith(suf):
                continue
            stem = key[: len(key) - len(suf)] if suf else key
            if len(stem) < MIN_FUZZY_LEN - 1:
                continue
            need = threshold(len(stem))
            for k, v in self._long:
                if abs(len(k) - len(stem)) > 3 or k[0] != stem[0]:
                    continue  # first letters agree in every miss worth fixing; cheap pre-filter
                score = fuzz.ratio(stem, k)
                if score >= need and (best is None or score > best[0]):
                    best = (score, v + suf)
        if best is None:
            return None
        return _keep_case(heard, best[1])

    def correct(self, text: str) -> tuple[str, list[Change]]:
        """The corrected text and the changes (empty if nothing changed)."""
        if not self._words or not text:
            return text, []
        tokens = list(_TOKEN.finditer(text))
        out: list[str] = []
        changes: list[Change] = []
        pos = 0
        i = 0
        while i < len(tokens):
            done = False
            for n in range(min(MAX_JOIN, len(tokens) - i), 1, -1):
                group = tokens[i : i + n]
                gap = text[group[0].start() : group[-1].end()]
                if not re.fullmatch(r"[^\W\d_]+(?:[\s-]+[^\W\d_]+)*", gap):
                    continue  # never join across punctuation
                words = [t.group() for t in group]
                if all(self.is_known(w) for w in words):
                    continue  # "Frankfurter Straße": each part is right as it is
                joined = "".join(words)
                if len(joined) < 10:
                    continue
                target = self._canonical(joined) if self.is_known(joined) else self._match(joined)
                if target is None or not self._join_aligned(words, target):
                    continue
                out.append(text[pos : group[0].start()])
                out.append(target)
                changes.append(Change(gap, target, group[0].start()))
                pos = group[-1].end()
                i += n
                done = True
                break
            if done:
                continue
            tok = tokens[i]
            fixed = self._match(tok.group())
            if fixed is not None and fixed != tok.group():
                out.append(text[pos : tok.start()])
                out.append(fixed)
                changes.append(Change(tok.group(), fixed, tok.start()))
                pos = tok.end()
            i += 1
        out.append(text[pos:])
        return "".join(out), changes

    def _canonical(self, form: str) -> str:
        """A known form in the vocabulary's spelling, with the ending as heard ("GewerbeGebiete" →
        "Gewerbegebiete")."""
        key = form.casefold()
        for suf in SUFFIXES:
            if key.endswith(suf) and key[: len(key) - len(suf)] in self._words:
                return self._words[key[: len(key) - len(suf)]] + form[len(form) - len(suf) :].lower()
        return form

    @staticmethod
    def _join_aligned(words: list[str], target: str) -> bool:
        """A join must end where the compound ends: the last heard word (less an ending) closes the
        target, so "gegen Stimmen und" never becomes "Gegenstimmen" by similarity."""
        last = words[-1].casefold()
        tail = target.casefold()
        for suf in SUFFIXES:
            stem = last[: len(last) - len(suf)] if suf and last.endswith(suf) else last
            if len(stem) >= 3 and any(tail.endswith(stem + s) for s in SUFFIXES):
                return True
        return False


def _keep_case(heard: str, target: str) -> str:
    """The vocabulary's spelling; all-caps stays all-caps, a lower-case noun gets its capital."""
    if heard.isupper() and len(heard) > 1:
        return target.upper()
    return target


def _norm(word: str) -> str:
    return re.sub(r"[^\w]", "", word.casefold())


def echo_runs(words: list[str], hotwords: str, min_run: int = 3) -> list[tuple[int, int]]:
    """[start, end) index runs of ``words`` that repeat ``min_run`` or more consecutive hotwords in
    the prompt's order.

    Why: a biased decoder sometimes reads its prompt back at the end of a window (measured here:
    sequential beam 5 appended "Anfrage einstimmig mehrheitlich", the last hotwords, to a clip that
    never said them). Speech does not list vocabulary terms in the prompt's order, so such runs go.
    """
    prompt = [_norm(w) for w in hotwords.split() if _norm(w)]
    if not prompt:
        return []
    heard = [_norm(w) for w in words]
    runs: list[tuple[int, int]] = []
    i = 0
    while i < len(heard):
        best = 0
        for j in range(len(prompt)):
            k = 0
            while i + k < len(heard) and j + k < len(prompt) and heard[i + k] == prompt[j + k]:
                k += 1
            best = max(best, k)
        if best >= min_run:
            runs.append((i, i + best))
            i += best
        else:
            i += 1
    return runs
