"""PDF text extraction on real PDFs made here with fpdf2 and pypdf: never an exception, pages kept."""

from __future__ import annotations

import io

import pytest

from council.documents.extract import PAGE_BREAK, Extraction, clean_text, extract_pdf_text, split_pages
from council.documents.service import UploadRejected, clean_file_name, clean_name, validate_pdf


def make_pdf(pages: list[str]) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def image_only_pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_fill_color(30, 30, 30)
    pdf.rect(20, 20, 100, 50, style="F")
    return bytes(pdf.output())


def encrypt(data: bytes, password: str = "geheim") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=password, owner_password="owner", algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


GERMAN = [
    "Beschlussvorlage: Sanierung der Grundschule Müllerstraße. Die Größe der Fläche beträgt 1.200 m².",
    "Seite zwei: Überplanmäßige Ausgaben für Straßenbeleuchtung in Höhe von 45.000 Euro.",
]


def test_two_german_pages_keep_page_boundary() -> None:
    result = extract_pdf_text(make_pdf(GERMAN))
    assert isinstance(result, Extraction)
    assert result.state == "done"
    assert result.page_count == 2
    assert result.text is not None
    pages = split_pages(result.text)
    assert len(pages) == 2
    assert result.text.count(PAGE_BREAK) == 1
    assert "Müllerstraße" in pages[0]
    assert "Größe" in pages[0]
    assert "Überplanmäßige" in pages[1]
    assert "Straßenbeleuchtung" in pages[1]
    assert "Überplanmäßige" not in pages[0]


def test_empty_page_in_the_middle_keeps_numbering() -> None:
    result = extract_pdf_text(make_pdf(["Erste Seite", "", "Dritte Seite"]))
    assert result.state == "done"
    assert result.page_count == 3
    pages = split_pages(result.text)
    assert len(pages) == 3
    assert pages[1] == ""
    assert "Dritte" in pages[2]


def test_image_only_pdf_has_no_text_but_pages() -> None:
    result = extract_pdf_text(image_only_pdf())
    assert result.state == "no_text"
    assert result.text is None
    assert result.page_count == 1


def test_encrypted_with_user_password_gives_no_text() -> None:
    result = extract_pdf_text(encrypt(make_pdf(GERMAN)))
    assert result == Extraction(text=None, page_count=None, state="no_text")


def test_encrypted_with_owner_password_only_is_read() -> None:
    result = extract_pdf_text(encrypt(make_pdf(GERMAN), password=""))
    assert result.state == "done"
    assert "Müllerstraße" in (result.text or "")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"%PDF-",
        b"%PDF-1.7\n",
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"trailer\n<< /Root 1 0 R >>\n%%EOF",
        b"Hallo, ich bin kein PDF.",
        b"\x00" * 5000,
        b"%PDF-1.4\n" + b"\xff" * 10_000,
        b"<html><script>alert(1)</script></html>",
    ],
    ids=["empty", "magic-only", "header-only", "no-pages", "text", "nul", "garbage", "html"],
)
def test_malformed_input_never_raises(data: bytes) -> None:
    result = extract_pdf_text(data)
    assert result.state == "no_text"
    assert result.text is None


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.9, 0.99])
def test_truncated_pdf_never_raises(cut: float) -> None:
    data = make_pdf(GERMAN)
    result = extract_pdf_text(data[: int(len(data) * cut)])
    assert result.state in ("done", "no_text")
    if result.state == "no_text":
        assert result.text is None
    else:
        assert result.text


def test_clean_text_strips_nul_surrogates_and_controls() -> None:
    dirty = "A\x00B\ud800C\udfffD\x07E\r\nF\fG\u202eH"
    cleaned = clean_text(dirty)
    assert "\x00" not in cleaned
    assert "\ud800" not in cleaned and "\udfff" not in cleaned
    assert "\x07" not in cleaned
    assert PAGE_BREAK not in cleaned
    assert cleaned.startswith("ABCDE\nF\nG")
    cleaned.encode("utf-8")  # no lone surrogates left


def test_validate_pdf() -> None:
    pdf = make_pdf(["x"])
    validate_pdf(pdf, max_bytes=len(pdf))
    validate_pdf(b"\xef\xbb\xbf  \n" + pdf, max_bytes=len(pdf) + 10)  # BOM and whitespace before the header
    with pytest.raises(UploadRejected) as exc:
        validate_pdf(b"", max_bytes=100)
    assert exc.value.status_code == 400
    with pytest.raises(UploadRejected) as exc:
        validate_pdf(pdf, max_bytes=len(pdf) - 1)
    assert exc.value.status_code == 413
    with pytest.raises(UploadRejected) as exc:
        validate_pdf(b"GIF89a" + b"\x00" * 100, max_bytes=1000)
    assert exc.value.status_code == 415
    with pytest.raises(UploadRejected) as exc:
        validate_pdf(b" " * 1025 + pdf, max_bytes=10_000_000)
    assert exc.value.status_code == 415


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Haushalt 2026.pdf", "Haushalt 2026.pdf"),
        ("Haushalt", "Haushalt.pdf"),
        ("../../etc/passwd", "passwd.pdf"),
        ("C:\\Users\\x\\Bericht.PDF", "Bericht.pdf"),
        ("evil\u202efdp.exe", "evilfdp.exe.pdf"),
        ("a\x00b\ud800c", "abc.pdf"),
        ("", "dokument.pdf"),
        ("...", "dokument.pdf"),
        ('<script>"x"</script>', "script_.pdf"),  # "/" ends a client path: only the last part stays
        ('<b>"Plan"|x?', "_b__Plan__x_.pdf"),
    ],
)
def test_clean_file_name(raw: str, expected: str) -> None:
    assert clean_file_name(raw) == expected


def test_clean_name_bounds_length_and_lines() -> None:
    assert clean_name("Zeile 1\nZeile 2\t\u200b") == "Zeile 1 Zeile 2"
    assert len(clean_name("x" * 10_000)) == 250
    assert len(clean_file_name("y" * 10_000)) <= 120
