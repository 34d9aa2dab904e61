"""bench/all.py writes its block into docs/benchmarks.md without touching the hand-written sections."""

from __future__ import annotations

from pathlib import Path

from bench.all import BEGIN, BENCHES, END, clean, section, write_doc


def test_write_doc_keeps_hand_written_text_and_other_sections(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nIntro.\n\n## Pages (hand-written)\n\nanalysis\n")
    pages, votes = BENCHES[0], next(b for b in BENCHES if b.name == "votes")
    write_doc({"pages": section(pages, ("--x",), "p1\n", 0, 1.0, "today")}, "python -m bench", doc)
    write_doc({"votes": section(votes, (), "v1\n", None, 2.0, "today")}, "python -m bench --only votes", doc)
    write_doc(
        {"pages": section(pages, ("--x",), "p2\n", 3, 1.0, "later")}, "python -m bench --only pages", doc
    )
    text = doc.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    assert text.index("Intro.") < text.index(BEGIN) < text.index(END) < text.index("## Pages (hand-written)")
    assert "analysis" in text and "p2" in text and "p1" not in text and "v1" in text
    assert "timed out" in text and "exit 3" in text
    assert text.index("bench.pages") < text.index("bench.votes")  # the canonical order


def test_clean_drops_colour_and_progress_redraws() -> None:
    assert clean("\x1b[1mbold\x1b[0m\n10%\r50%\r100%\n```x") == "bold\n100%\n'''x"
