"""The post-correction towards a meeting's vocabulary and the prompt-echo filter (pure text, no model)."""

from __future__ import annotations

import pytest

from transcripts.correct import Corrector, echo_runs
from transcripts.engine import Segment, Word
from transcripts.final import strip_echo
from transcripts.vocabulary import STANDING_TERMS, Vocabulary, estimate_tokens, hotwords

VOCAB = [
    *STANDING_TERMS,
    "Breitbandnetz",
    "Uckerath",
    "Stoßdorf",
    "Frankfurter",
    "Straße",
    "Gewerbegebiet",
    "Radweg",
]


@pytest.fixture(scope="module")
def corrector() -> Corrector:
    return Corrector(VOCAB)


@pytest.mark.parametrize(
    ("heard", "expected"),
    [
        ("Wir kommen zum Tag in Ordnungspunkt eins.", "Wir kommen zum Tagesordnungspunkt eins."),
        (
            "Es gab zwei gegen Stimmen und drei Enthaltungen.",
            "Es gab zwei Gegenstimmen und drei Enthaltungen.",
        ),
        ("die Gewerbe Gebiete", "die Gewerbegebiete"),
        ("Der Beschlussvorschlach lautet", "Der Beschlussvorschlag lautet"),
        ("in Uckerat", "in Uckerath"),
        ("Ausbau des Breitbandnätzes", "Ausbau des Breitbandnetzes"),  # near miss keeps its ending
    ],
)
def test_corrects_towards_the_vocabulary(corrector: Corrector, heard: str, expected: str) -> None:
    text, changes = corrector.correct(heard)
    assert text == expected
    assert changes and all(heard[c.start : c.start + len(c.original)] == c.original for c in changes)


@pytest.mark.parametrize(
    "heard",
    [
        "Der Ausbau des Breitbandnetzes kostet Geld.",  # inflected form is right as it is
        "Die Radwege und Gewerbegebiete an der Frankfurter Straße",  # plural, parts of a name
        "Ich halte den Antrag für richtig, weil die Bürger warten.",  # unrelated words
        "Wir stimmen dagegen. Stimmen die",  # never joined across punctuation
        "Es gab zwei gegen Stimmen und",  # joins end where the compound ends
        "Rathaus Marktplatz Bahnhof",  # short/unrelated words are never bent towards the vocabulary
    ],
)
def test_leaves_right_and_unrelated_words(corrector: Corrector, heard: str) -> None:
    text, changes = corrector.correct(heard)
    if "gegen Stimmen und" in heard:
        assert text == "Es gab zwei Gegenstimmen und" and [c.original for c in changes] == ["gegen Stimmen"]
    else:
        assert (text, changes) == (heard, [])


def test_empty_vocabulary_changes_nothing() -> None:
    assert Corrector([]).correct("Tag in Ordnungspunkt") == ("Tag in Ordnungspunkt", [])


def test_hotwords_are_capped_at_whole_terms() -> None:
    vocab = Vocabulary()
    vocab.add("Ausbau des Breitbandnetzes in Uckerath", "Ausbau des Breitbandnetzes", None, "")
    vocab.add(*STANDING_TERMS)
    assert vocab.terms[:3] == ["Ausbau", "Breitbandnetzes", "Uckerath"]  # no duplicates, no stop words
    full = hotwords(vocab.terms, max_tokens=10_000)
    short = hotwords(vocab.terms, max_tokens=20)
    assert estimate_tokens(short) <= 20 < estimate_tokens(full)
    assert full.startswith(short.split()[0]) and set(short.split()) <= set(full.split())


def test_prompt_echo_is_removed_but_speech_kept() -> None:
    prompt = " ".join(STANDING_TERMS)
    assert echo_runs("wurde angenommen Antrag einstimmig Anfrage mehrheitlich".split(), prompt) == [(2, 6)]
    assert echo_runs("mit zwei Gegenstimmen und drei Enthaltungen".split(), prompt) == []
    words = tuple(
        Word(float(i), i + 0.5, f" {w}", 0.9)
        for i, w in enumerate(["angenommen.", "einstimmig", "Anfrage", "mehrheitlich"])
    )
    seg = Segment(0.0, 4.0, "angenommen. einstimmig Anfrage mehrheitlich", words)
    kept = strip_echo(seg, prompt)
    assert kept is not None and kept.text == "angenommen." and kept.end == 0.5
    only_echo = Segment(1.0, 4.0, "einstimmig Anfrage mehrheitlich", words[1:])
    assert strip_echo(only_echo, prompt) is None


def test_decoder_loops_cut_to_their_first_copy() -> None:
    from transcripts.engine import Segment, Word
    from transcripts.final import collapse_loops

    phrase = "Wir kommen zum Tagesordnungspunkt eins".split()
    said = ["Ich", "eröffne", "die", "Sitzung.", *phrase * 4, "Der", "Ausschuss", "empfiehlt."]
    words = tuple(Word(i * 0.5, i * 0.5 + 0.4, f" {w}", 0.9) for i, w in enumerate(said))
    seg = Segment(0.0, 20.0, " ".join(said), words)
    cut = collapse_loops(seg)
    assert (
        cut.text == "Ich eröffne die Sitzung. Wir kommen zum Tagesordnungspunkt eins Der Ausschuss empfiehlt."
    )
    assert [w.word.strip() for w in cut.words] == cut.text.split() and cut.end == words[-1].end
    # no words: the text alone; twice in a row is speech ("ja, ja"), not a loop
    assert collapse_loops(Segment(0, 5, "ja ja nein nein nein")).text == "ja ja nein nein nein"
    assert collapse_loops(Segment(0, 5, "eins zwei eins zwei eins zwei drei")).text == "eins zwei drei"
    untouched = Segment(0, 5, "Die Kosten betragen rund zwei Millionen Euro.")
    assert collapse_loops(untouched) is untouched
