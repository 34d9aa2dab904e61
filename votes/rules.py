"""Majority rules (GO NRW), evaluated on a tally and explained in German.

- ``simple``: more yes than no votes among the votes cast; abstentions (and invalid votes) count for the
  quorum but not for the majority; a tie rejects (§ 50 Abs. 1 GO NRW).
- ``absolute``: more than half of the statutory members vote yes.
- ``two_thirds_cast``: at least two thirds of the votes cast (yes + no) are yes.
- ``two_thirds_statutory``: at least two thirds of the statutory members vote yes.

Quorum (§ 49 GO NRW): more than half of the statutory members present — checked when a poll opens and
again when it closes (``council.live.attendance.quorum`` counts who is present).

The texts are German on purpose: they go into the minutes (``AgendaItem.result``) as they are.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Tally:
    yes: int = 0
    no: int = 0
    abstain: int = 0

    @property
    def cast(self) -> int:
        """Votes that count for the majority (abstentions do not)."""
        return self.yes + self.no

    @property
    def total(self) -> int:
        return self.yes + self.no + self.abstain

    def as_dict(self) -> dict[str, int]:
        return {"yes": self.yes, "no": self.no, "abstain": self.abstain}


@dataclass(frozen=True)
class Rule:
    name: str
    label: str


RULES: dict[str, Rule] = {
    "simple": Rule("simple", "Einfache Mehrheit der abgegebenen Stimmen"),
    "absolute": Rule("absolute", "Mehrheit der gesetzlichen Mitglieder"),
    "two_thirds_cast": Rule("two_thirds_cast", "Zwei-Drittel-Mehrheit der abgegebenen Stimmen"),
    "two_thirds_statutory": Rule("two_thirds_statutory", "Zwei-Drittel-Mehrheit der gesetzlichen Mitglieder"),
}


@dataclass(frozen=True)
class Decision:
    rule: str
    adopted: bool
    tally: Tally
    statutory: int
    #: The yes votes the motion needed (the tie rule aside for ``simple``).
    required_yes: int
    explanation: str

    @property
    def outcome(self) -> str:
        return "angenommen" if self.adopted else "abgelehnt"

    def summary(self) -> str:
        t = self.tally
        return f"{self.outcome} ({t.yes} Ja, {t.no} Nein, {t.abstain} Enthaltungen)"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tally"] = self.tally.as_dict()
        d["outcome"] = self.outcome
        d["summary"] = self.summary()
        return d


def _stimmen(n: int) -> str:
    return "1 Stimme" if n == 1 else f"{n} Stimmen"


def _abstentions_note(t: Tally) -> str:
    if not t.abstain:
        return ""
    word = "Enthaltung zählt" if t.abstain == 1 else "Enthaltungen zählen"
    return f" {t.abstain} {word} bei der Mehrheit nicht mit."


def decide(rule: str, tally: Tally, *, statutory: int) -> Decision:
    """Evaluate ``rule`` on ``tally``. ``statutory``: the statutory number of members."""
    if rule not in RULES:
        raise ValueError(f"unknown majority rule {rule!r}")
    t = tally
    if rule == "simple":
        required = t.no + 1
        adopted = t.yes > t.no
        if adopted:
            why = f"Angenommen mit einfacher Mehrheit der abgegebenen Stimmen: {t.yes} Ja gegen {t.no} Nein."
        elif t.yes == t.no:
            why = (
                f"Abgelehnt: Stimmengleichheit ({t.yes} Ja, {t.no} Nein) gilt als Ablehnung "
                "(§ 50 Abs. 1 GO NRW)."
            )
        else:
            why = f"Abgelehnt: {t.yes} Ja gegen {t.no} Nein – keine Mehrheit der abgegebenen Stimmen."
        why += _abstentions_note(t)
    elif rule == "absolute":
        required = statutory // 2 + 1
        adopted = t.yes >= required
        verdict = "Angenommen" if adopted else "Abgelehnt"
        why = (
            f"{verdict}: {_stimmen(t.yes)} Ja; erforderlich ist die Mehrheit der {statutory} gesetzlichen "
            f"Mitglieder, also mindestens {required} Ja-Stimmen."
        )
    elif rule == "two_thirds_cast":
        # yes ≥ ⌈2/3 · cast⌉, and a motion with no votes cast at all is not adopted.
        required = max(1, -(-2 * t.cast // 3))
        adopted = t.cast > 0 and t.yes >= required
        verdict = "Angenommen" if adopted else "Abgelehnt"
        why = (
            f"{verdict}: {_stimmen(t.yes)} Ja von {t.cast} abgegebenen Stimmen (Ja und Nein); erforderlich "
            f"sind zwei Drittel, also mindestens {required} Ja-Stimmen."
        ) + _abstentions_note(t)
    else:  # two_thirds_statutory
        required = max(1, -(-2 * statutory // 3))
        adopted = t.yes >= required
        verdict = "Angenommen" if adopted else "Abgelehnt"
        why = (
            f"{verdict}: {_stimmen(t.yes)} Ja; erforderlich sind zwei Drittel der {statutory} gesetzlichen "
            f"Mitglieder, also mindestens {required} Ja-Stimmen."
        )
    return Decision(
        rule=rule, adopted=adopted, tally=t, statutory=statutory, required_yes=required, explanation=why
    )


def quorum_text(statutory: int, present: int, required: int) -> str:
    """German sentence on the quorum (§ 49 GO NRW)."""
    if present >= required:
        return (
            f"Beschlussfähig: {present} von {statutory} gesetzlichen Mitgliedern anwesend "
            f"(erforderlich: mehr als die Hälfte, also {required})."
        )
    return (
        f"Nicht beschlussfähig: nur {present} von {statutory} gesetzlichen Mitgliedern anwesend "
        f"(erforderlich: mehr als die Hälfte, also {required}; § 49 GO NRW)."
    )
