"""The Unicode font for every PDF Rathaus generates: DejaVu Sans (regular and bold), bundled.

fpdf2's core fonts (Helvetica …) know Latin-1 only, so "Yılmaz", "Łukasz", "€" or „Zitat“ printed
as "?". The TrueType files ship with the package (``fonts/``, from Debian's ``fonts-dejavu-core``,
licence in ``fonts/LICENSE``), so a PDF looks the same on every host and nothing is looked up or
downloaded at run time. fpdf2 embeds only the glyphs a document uses (subsetting).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

# fontTools logs every subsetting step at INFO (dozens of lines per PDF): keep warnings only.
logging.getLogger("fontTools.subset").setLevel(logging.WARNING)

FONT_DIR = Path(__file__).parent / "fonts"
REGULAR = FONT_DIR / "DejaVuSans.ttf"
BOLD = FONT_DIR / "DejaVuSans-Bold.ttf"
#: The family name to pass to ``FPDF.set_font`` after :func:`use_unicode_font`.
FAMILY = "DejaVuSans"


def use_unicode_font(pdf: Any, *, bold: bool = True) -> str:
    """Register DejaVu Sans (regular, and bold unless ``bold=False``) with an ``fpdf.FPDF``, select
    the regular face and return the family name. Italic is not bundled: callers use regular or bold."""
    if FAMILY.lower() not in pdf.fonts:
        pdf.add_font(FAMILY, "", str(REGULAR))
        if bold:
            pdf.add_font(FAMILY, "B", str(BOLD))
    pdf.set_font(FAMILY)
    return FAMILY


def clean(text: str) -> str:
    """Text as it can go into a PDF: control characters (except newlines and tabs) and lone surrogates
    dropped. Every other character is kept; a glyph DejaVu lacks shows as a box, never as an error."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    return "".join(c for c in text if c in "\n\t" or (c >= " " and c != "\x7f"))
