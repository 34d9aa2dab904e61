"""Tolerant reading of what real OParl endpoints send (ALLRIS, SessionNet, Sternberg, …).

Every function here turns a vendor fault into a clean value and, where the caller passes a
``warn`` callback, says what it repaired. Nothing here raises on bad data.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")

Warn = Callable[[str, str], None]  # (code, message)

#: Placeholder strings some systems send instead of leaving a field out.
_PLACEHOLDERS = {"n/a", "n.a.", "n. a.", "k.a.", "k. a.", "null", "none", "undefined"}
#: C0 controls (but tab and newline), DEL, lone surrogates, noncharacters.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_ONE_LINE = re.compile(r"\s+")

MIME_TYPES = {
    "pdf": "application/pdf",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt": "application/vnd.ms-powerpoint",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "rtf": "application/rtf",
    "txt": "text/plain",
    "html": "text/html",
    "htm": "text/html",
    "xml": "application/xml",
    "zip": "application/zip",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "tif": "image/tiff",
    "tiff": "image/tiff",
}
_MIME_RE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


def loads_lenient(raw: bytes, warn: Warn | None = None) -> Any:
    """Parse JSON; tolerate a BOM, invalid UTF-8 and unescaped control characters inside strings.

    Raises ``ValueError`` only when the text is not JSON at all.
    """
    text = raw.decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        return json.loads(text)
    except json.JSONDecodeError as first:
        try:
            value = json.loads(text, strict=False)
        except json.JSONDecodeError:
            raise ValueError(f"not JSON: {first}") from None
        if warn:
            warn("json_control_characters", "unescaped control characters in JSON strings")
        return value


def clean_str(value: Any, *, multiline: bool = False) -> str | None:
    """A string without control characters, trimmed; ``None`` for empty, whitespace-only and "N/A"."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = _CONTROL.sub("", value)
    value = value.replace("\r\n", "\n").replace("\r", "\n") if multiline else _ONE_LINE.sub(" ", value)
    value = unicodedata.normalize("NFC", value).strip()
    if not value or value.lower() in _PLACEHOLDERS:
        return None
    return value


def clean_url(value: Any) -> str | None:
    """A URL-ish reference (an object id); ``None`` for anything that is not an http(s) URL or an id."""
    text = clean_str(value)
    if text is None:
        return None
    return text


def str_list(value: Any) -> list[str]:
    """A list of clean strings from a list, a single string, or nothing."""
    if value is None:
        return []
    if not isinstance(value, list):
        value = [value]
    out: list[str] = []
    for item in value:
        text = clean_str(item)
        if text is not None and text not in out:
            out.append(text)
    return out


def as_list(value: Any, field: str, warn: Warn | None = None) -> list[Any]:
    """An array field; a single object (``auxiliaryFile: {...}``) becomes a one-element list."""
    if value is None:
        return []
    if isinstance(value, list):
        return [v for v in value if v is not None]
    if warn:
        warn("not_an_array", f"{field} is a single {type(value).__name__}, not an array")
    return [value]


def as_bool(value: Any, default: bool | None = None) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "1", "ja", "yes", "wahr"):
            return True
        if low in ("false", "0", "nein", "no", "falsch"):
            return False
    return default


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = clean_str(value)
    if text is not None:
        try:
            return int(text)
        except ValueError:
            return None
    return None


def _from_epoch(number: float) -> datetime | None:
    if number > 1e11:  # milliseconds
        number /= 1000.0
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def parse_datetime(value: Any) -> datetime | None:
    """An aware UTC datetime from ISO 8601 (with or without offset; naive means Berlin), a date, or epoch."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _from_epoch(float(value))
    text = clean_str(value)
    if text is None:
        return None
    if re.fullmatch(r"\d{9,13}(\.\d+)?", text):
        return _from_epoch(float(text))
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    text = text.replace(" ", "T", 1) if re.match(r"\d{4}-\d\d-\d\d \d", text) else text
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            day = date.fromisoformat(text[:10])
        except ValueError:
            return None
        parsed = datetime.combine(day, time(0, 0))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=BERLIN)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def parse_date(value: Any, warn: Warn | None = None, field: str = "date") -> date | None:
    """A date from ``YYYY-MM-DD``; a timestamp (ISO or epoch) gives its date in Europe/Berlin."""
    if value is None or isinstance(value, bool):
        return None
    text = clean_str(value) if not isinstance(value, int | float) else None
    if text is not None and re.fullmatch(r"\d{4}-\d\d-\d\d", text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            return None
    if text is not None and re.fullmatch(r"\d{4}-\d\d-\d\d[T ].*", text):
        if warn:
            warn("date_as_timestamp", f"{field} is a timestamp ({text[:40]}), not a date")
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00")).date()
        except ValueError:
            try:
                return date.fromisoformat(text[:10])
            except ValueError:
                return None
    moment = parse_datetime(value)
    if moment is None:
        return None
    if warn:
        warn("date_as_timestamp", f"{field} is a timestamp ({str(value)[:40]}), not a date")
    return moment.astimezone(BERLIN).date()


def normalise_mime(value: Any, file_name: str | None = None, warn: Warn | None = None) -> str:
    """A proper media type from ``application/pdf``, ``pdf``, ``.docx``, or the file name's extension."""
    text = (clean_str(value) or "").lower().split(";", 1)[0].strip()
    if text and _MIME_RE.match(text):
        return text
    ext = text.lstrip(".")
    if ext in MIME_TYPES:
        if warn:
            warn("mime_type_short", f"mimeType {text!r} is not a media type")
        return MIME_TYPES[ext]
    if file_name and "." in file_name:
        guessed = MIME_TYPES.get(file_name.rsplit(".", 1)[-1].lower())
        if guessed:
            if text and warn:
                warn("mime_type_unknown", f"mimeType {text!r} unknown; taken from the file name")
            return guessed
    if text and warn:
        warn("mime_type_unknown", f"mimeType {text!r} unknown")
    return "application/octet-stream"


def short_type(value: Any) -> str | None:
    """``https://schema.oparl.org/1.1/Meeting`` → ``Meeting``."""
    text = clean_str(value)
    if not text:
        return None
    name = text.rstrip("/").rsplit("/", 1)[-1]
    return name or None
