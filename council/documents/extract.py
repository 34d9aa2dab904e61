"""Text extraction from PDFs with pypdf.

``extract_pdf_text`` never raises: whatever arrives (a valid PDF, a truncated one, an encrypted one,
a scan without a text layer, random bytes), it answers with an :class:`Extraction`. Pages are kept
apart by a form feed (``"\\f"``) so that the document page can show page anchors; the text is
cleaned of NUL bytes, lone surrogates and other control characters that PostgreSQL or the HTML page
would choke on. Work is bounded: at most :data:`MAX_PAGES` pages and :data:`MAX_CHARS` characters.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from dataclasses import dataclass
from typing import Any, Literal

log = logging.getLogger(__name__)

#: Pages read at most (later pages are ignored; page_count still reports the true number).
MAX_PAGES = 2000
#: Characters kept at most (a 2000-page document of dense text is ~6 million).
MAX_CHARS = 10_000_000

PAGE_BREAK = "\f"

ExtractionState = Literal["done", "no_text", "failed"]


@dataclass(frozen=True)
class Extraction:
    text: str | None
    page_count: int | None
    state: ExtractionState


# C0 controls except TAB and LF, DEL, C1 controls; lone surrogates (U+D800–U+DFFF); noncharacters.
_UNWANTED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")


def clean_text(text: str) -> str:
    """Normalise line ends and drop characters that must not reach the database or the page."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace(PAGE_BREAK, "\n")
    text = _UNWANTED.sub("", text)
    text = _TRAILING_SPACE.sub("\n", text)
    text = _MANY_BLANK_LINES.sub("\n\n", text)
    return text.strip()


def split_pages(text: str | None) -> list[str]:
    """The pages of an extracted text (the inverse of joining with ``PAGE_BREAK``)."""
    if not text:
        return []
    return text.split(PAGE_BREAK)


def extract_pdf_text(data: bytes) -> Extraction:
    """Extract the text of a PDF, page by page. Never raises."""
    try:
        return _extract(data)
    except (MemoryError, RecursionError) as exc:  # pathological input: give up, but say so
        log.warning("PDF text extraction gave up: %s", type(exc).__name__)
        return Extraction(text=None, page_count=None, state="failed")
    except Exception as exc:  # malformed beyond what pypdf tolerates
        log.info("PDF could not be read: %s: %s", type(exc).__name__, exc)
        return Extraction(text=None, page_count=None, state="no_text")


def _extract(data: bytes) -> Extraction:
    if not data or b"%PDF-" not in data[: 1024 + 5]:
        return Extraction(text=None, page_count=None, state="no_text")

    from pypdf import PdfReader

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            # Many PDFs are encrypted with an owner password only: the empty user password opens them.
            opened: Any
            try:
                opened = reader.decrypt("")
            except Exception:
                opened = 0
            if not opened:
                return Extraction(text=None, page_count=None, state="no_text")
        page_count = len(reader.pages)
        pages: list[str] = []
        total = 0
        for index in range(min(page_count, MAX_PAGES)):
            try:
                raw = reader.pages[index].extract_text() or ""
            except (MemoryError, RecursionError):
                raise
            except Exception as exc:  # one bad page does not spoil the others
                log.info("page %d not extractable: %s: %s", index + 1, type(exc).__name__, exc)
                raw = ""
            page_text = clean_text(raw)
            if total + len(page_text) > MAX_CHARS:
                page_text = page_text[: max(0, MAX_CHARS - total)]
            total += len(page_text)
            pages.append(page_text)
            if total >= MAX_CHARS:
                break

    if not any(p.strip() for p in pages):
        return Extraction(text=None, page_count=page_count, state="no_text")
    return Extraction(text=PAGE_BREAK.join(pages), page_count=page_count, state="done")
