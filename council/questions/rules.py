"""The Geschäftsordnung's rules on question time, configurable per installation (settings
``questions_per_person``, ``questions_follow_ups``), plus the form's length limits."""

from __future__ import annotations

from dataclasses import dataclass

from council.core.settings import Settings


@dataclass(frozen=True)
class QuestionRules:
    #: Questions one person (same e-mail, or same name when no e-mail is given) may ask per meeting.
    per_person: int = 2
    #: Follow-up questions allowed to one question (0: none).
    follow_ups: int = 1
    #: Length limits in characters (after normalisation).
    text_min: int = 10
    text_max: int = 2000
    name_max: int = 120
    email_max: int = 254
    note_max: int = 2000

    @classmethod
    def from_settings(cls, settings: Settings) -> QuestionRules:
        return cls(per_person=settings.questions_per_person, follow_ups=settings.questions_follow_ups)


#: Rejection reasons the clerk picks from (codes; the web layer has the German text).
REJECT_REASONS = ("not_competent", "not_public", "duplicate", "insulting", "too_late", "too_many", "other")
