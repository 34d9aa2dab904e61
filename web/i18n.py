"""German first, English available: Babel catalogs, the request's locale, and date formatting in
Europe/Berlin. The locale lives in a context variable set per request by ``LocaleMiddleware``.
"""

from __future__ import annotations

import contextvars
from datetime import date, datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date as _format_date
from babel.dates import format_datetime as _format_datetime
from babel.dates import format_time as _format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALES = ("de", "en")
DEFAULT_LOCALE = "de"
LOCALE_DIR = Path(__file__).parent / "locale"
TZ = ZoneInfo("Europe/Berlin")

current_locale: contextvars.ContextVar[str] = contextvars.ContextVar("current_locale", default=DEFAULT_LOCALE)


@cache
def translations(locale: str) -> NullTranslations:
    """Catalogs are kept as .po in the repository and compiled in memory on first use."""
    po = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return NullTranslations()
    import io

    with po.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(fp=buf)


def gettext(message: str) -> str:
    return translations(current_locale.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current_locale.get()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return str(translations(current_locale.get()).pgettext(context, message))


def data_label(value: str | None) -> str:
    """Translate the standing vocabulary that arrives as data (OParl paper types, meeting states,
    consultation roles, organisation kinds). Anything else is shown as it is."""
    if not value:
        return ""
    labels = {
        "Beschlussvorlage": gettext("Beschlussvorlage"),
        "Antrag": gettext("Antrag"),
        "Anfrage": gettext("Anfrage"),
        "Mitteilungsvorlage": gettext("Mitteilungsvorlage"),
        "Mitteilung": gettext("Mitteilung"),
        "Ergänzungsvorlage": gettext("Ergänzungsvorlage"),
        "terminiert": gettext("terminiert"),
        "eingeladen": gettext("eingeladen"),
        "durchgeführt": gettext("durchgeführt"),
        "Vorberatung": gettext("Vorberatung"),
        "Entscheidung": gettext("Entscheidung"),
        "Kenntnisnahme": gettext("Kenntnisnahme"),
        "Rat": gettext("Rat"),
        "Ausschuss": gettext("Ausschuss"),
        "Fraktion": gettext("Fraktion"),
    }
    return labels.get(value, value)


def _babel_locale() -> Locale:
    # English dates in British style (24-hour clock, day before month).
    return Locale.parse("en_GB" if current_locale.get() == "en" else current_locale.get())


def to_local(value: datetime) -> datetime:
    return value.astimezone(TZ)


def format_datetime(value: datetime | None, fmt: str = "medium") -> str:
    if value is None:
        return ""
    return _format_datetime(value, fmt, tzinfo=TZ, locale=_babel_locale())


def format_date(value: date | datetime | None, fmt: str = "medium") -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(TZ).date()
    return _format_date(value, fmt, locale=_babel_locale())


def format_time(value: datetime | None, fmt: str = "short") -> str:
    if value is None:
        return ""
    return _format_time(value, fmt, tzinfo=TZ, locale=_babel_locale())


def negotiate(cookie: str | None, query: str | None) -> str:
    """An explicit choice (``?lang=`` or the ``lang`` cookie) wins; otherwise German."""
    for candidate in (query, cookie):
        if candidate in LOCALES:
            return candidate
    return DEFAULT_LOCALE
