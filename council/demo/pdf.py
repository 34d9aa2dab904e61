"""Small, fast PDFs for the demo with fpdf2's core fonts (latin-1).

A document is a list of pages; a page is a list of ``(style, text)`` lines where style is ``"h"``
(letterhead), ``"t"`` (title), ``"b"`` (bold heading) or ``""`` (body). Lines are wrapped here and
drawn one ``text()`` call each (much faster than ``multi_cell``), so the text a PDF reader extracts is
the text we keep in ``File.text``: the wrapped lines joined by newlines, pages separated by ``\\f``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from fpdf import FPDF

_REPLACE = str.maketrans(
    {
        "„": '"',
        "“": '"',
        "”": '"',
        "‚": "'",
        "‘": "'",
        "’": "'",
        "–": "-",
        "—": "-",
        "…": "...",
        "€": "EUR",
        "\u00a0": " ",
        "\u202f": " ",
    }
)

_STYLE = {"h": ("B", 13, 7.0), "t": ("B", 12, 6.0), "b": ("B", 10, 5.5), "": ("", 10, 5.0), "s": ("", 8, 4.0)}
#: Characters per line for each style (A4, 20 mm margins; Helvetica is narrower than this on average).
_WIDTH = {"h": 66, "t": 72, "b": 86, "": 92, "s": 115}
_TOP = 22.0
_BOTTOM = 280.0


@lru_cache(maxsize=4096)
def wrap(text: str, width: int) -> tuple[str, ...]:
    """Greedy word wrap (much faster than ``textwrap``; words longer than a line are cut)."""
    out: list[str] = []
    line = ""
    for word in text.split():
        while len(word) > width:
            if line:
                out.append(line)
                line = ""
            out.append(word[:width])
            word = word[width:]
        if not line:
            line = word
        elif len(line) + 1 + len(word) <= width:
            line = f"{line} {word}"
        else:
            out.append(line)
            line = word
    if line:
        out.append(line)
    return tuple(out)


def latin1(text: str) -> str:
    """Text as the core fonts can show it (typographic quotes and dashes made plain)."""
    return text.translate(_REPLACE).encode("latin-1", "replace").decode("latin-1")


@dataclass(frozen=True)
class RenderedPdf:
    data: bytes
    text: str
    page_count: int


Line = tuple[str, str]


def paginate(lines: list[Line], max_pages: int | None = None) -> list[list[tuple[str, str]]]:
    """Wrap lines and split them into pages; an empty line is a gap. ``("\\f", "")`` forces a page break."""
    pages: list[list[tuple[str, str]]] = [[]]
    y = _TOP
    for style, text in lines:
        if style == "\f":
            if pages[-1]:
                pages.append([])
                y = _TOP
            continue
        if not text:
            pages[-1].append(("gap", ""))
            y += 3.0
            continue
        clean = latin1(text)
        for piece in wrap(clean, _WIDTH[style]) or (clean,):
            step = _STYLE[style][2]
            if y + step > _BOTTOM:
                if max_pages is not None and len(pages) >= max_pages:
                    return pages
                pages.append([])
                y = _TOP
            pages[-1].append((style, piece))
            y += step
    return [p for p in pages if p] or [[]]


def render(
    lines: list[Line], *, created: datetime, title: str = "", footer: str = "", max_pages: int | None = None
) -> RenderedPdf:
    pages = paginate(lines, max_pages)
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_auto_page_break(False)
    pdf.set_creator("Rathaus demo")
    pdf.set_producer("fpdf2")
    if title:
        pdf.set_title(latin1(title))
    pdf.set_creation_date(created)  # a fixed date: the same input gives the same bytes
    texts: list[str] = []
    current = None
    for number, page in enumerate(pages, start=1):
        pdf.add_page()
        y = _TOP
        page_text: list[str] = []
        for style, text in page:
            if style == "gap":
                y += 3.0
                continue
            font = _STYLE[style]
            if current != font[:2]:
                pdf.set_font("Helvetica", font[0], font[1])
                current = font[:2]
            pdf.text(20, y, text)
            page_text.append(text)
            y += font[2]
        if footer or len(pages) > 1:
            foot = latin1(
                f"{footer} - Seite {number} von {len(pages)}"
                if footer
                else f"Seite {number} von {len(pages)}"
            )
            pdf.set_font("Helvetica", "", 8)
            current = ("", 8)
            pdf.text(20, 290, foot)
            page_text.append(foot)
        texts.append("\n".join(page_text))
    return RenderedPdf(bytes(pdf.output()), "\f".join(texts), len(pages))
