"""German stemming and query parsing for search (no database)."""

from __future__ import annotations

import random

import pytest

from council.search.query import mark, snippet
from council.search.stem import (
    MAX_QUERY_TERMS,
    clean_text,
    parse_query,
    stem,
    stemmed_text,
    terms,
)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Radwege", "Radweg"),
        ("Radwegs", "Radweg"),
        ("Bebauungspläne", "Bebauungsplan"),
        ("Bebauungsplanes", "Bebauungsplan"),
        ("Schulen", "Schule"),
        ("Straße", "Strasse"),
        ("Häuser", "Haus"),
        ("RATHÄUSER", "Rathaus"),
    ],
)
def test_inflected_forms_share_a_stem(a, b):
    assert stem(a) and stem(a) == stem(b)


def test_terms_lowercase_drop_stop_words_keep_numbers():
    assert terms("Die Sanierung der Schulen 2026 und Nr. 12") == ["sanier", "schul", "2026", "nr", "12"]
    assert terms("") == [] and terms(None) == []
    # NFKC: fullwidth letters and ligatures are ordinary words
    assert terms("Ｒａｄｗｅｇ") == terms("Radweg")
    assert terms("ﬁnanzen") == terms("Finanzen")


def test_stemmed_text_is_space_separated_letters_and_digits():
    out = stemmed_text("Radweg-Sanierung (V/2026/0001): 5.000 € für Straßen_bau!")
    assert all(t.isalnum() for t in out.split())
    assert "radweg" in out.split() and "2026" in out.split()


def test_clean_text_removes_what_databases_reject():
    dirty = "a\x00b\ud800c\u202ed\x02e\x1ff\tg\nh"
    cleaned = clean_text(dirty)
    assert "\x00" not in cleaned and "\ud800" not in cleaned and "\u202e" not in cleaned
    assert "\x02" not in cleaned and "\x1f" not in cleaned
    cleaned.encode("utf-8")
    assert "\t" in cleaned and "\n" in cleaned


def test_parse_words_phrases_or_and_exclusion():
    p = parse_query('Radwege "Sanierung des Radwegs" Schule or Kita -Landstraße')
    assert p.fts5() == '(("radweg") AND ("sanier radweg") AND ("schul" OR "kita")) NOT ("landstrass")'
    ws = p.websearch()
    assert ws == '"Radwege" "Sanierung des Radwegs" "Schule" or "Kita" -"Landstraße"'
    assert p.stems == {"radweg", "sanier", "schul", "kita"}


@pytest.mark.parametrize(
    "q",
    [
        "",
        "   ",
        "die der das und",
        "-Radweg",
        "or OR or",
        '"',
        '""',
        "***",
        "()",
        "\x00",
        "\ud800",
        "\u202e",
        "😀",
    ],
)
def test_queries_without_anything_to_find_are_empty(q):
    p = parse_query(q)
    assert p.is_empty and p.fts5() == "" and p.websearch() == ""


HOSTILE = [
    'Radweg"',
    '"Radweg',
    'Rad"weg',
    "Radweg AND Schule",
    "Radweg OR",
    "NOT Radweg",
    "Radweg NOT Schule",
    "NEAR(Radweg Schule, 3)",
    "Radweg*",
    "*Radweg",
    "^Radweg",
    "title:Radweg",
    "body : Radweg",
    "+Radweg -",
    "(Radweg",
    "Radweg)",
    "{title body}: x",
    "a<->b",
    "x & y | !z",
    "'; DROP TABLE paper; --",
    "1' OR '1'='1",
    "<script>alert(1)</script>",
    "Rad\x00weg",
    "Rad\ud800weg",
    "\u202eRadweg",
    "Radweg 😀 🏫",
    "x" * 10_000,
    "Radweg " * 2_000,
    "\\",
    "%_",
    "Straße\u0301",
]


@pytest.mark.parametrize("q", HOSTILE)
def test_hostile_queries_become_safe_expressions(q):
    p = parse_query(q)
    fts = p.fts5()
    # Only quoted runs of letters/digits, parentheses and the operators we put there.
    stripped = fts
    for op in (" AND ", " OR ", " NOT ", "(", ")"):
        stripped = stripped.replace(op, " ")
    for token in stripped.split():
        assert token.startswith('"') or token.endswith('"') or token.isalnum(), (q, fts)
    inner = [t.strip('"') for t in stripped.split()]
    assert all(t.isalnum() for t in inner if t), (q, fts)
    ws = p.websearch()
    ws.encode("utf-8")
    assert "\x00" not in ws
    assert sum(len(ph.words) for c in p.clauses for ph in c.alternatives) <= MAX_QUERY_TERMS


def test_random_garbage_never_raises():
    rng = random.Random(7)
    alphabet = "abcäöüß XYZ0123\"-*()^:+&|!<>'\\\x00\ud800\u202e😀 or AND NOT NEAR"
    for _ in range(300):
        q = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        p = parse_query(q)
        p.fts5()
        p.websearch().encode("utf-8")


def test_snippet_marks_inflected_matches_and_cuts_a_window():
    body = ("Einleitung. " * 40) + "Die Radwege in der Innenstadt werden saniert. " + ("Schluss. " * 40)
    stems = parse_query("Radweg").stems
    s = snippet(body, stems)
    assert "\x02Radwege\x03" in s
    assert len(s) < 300
    assert s.startswith("…") and s.endswith("…")


def test_snippet_prefers_a_window_with_all_terms():
    body = "Radweg hier. " + ("Füllwort " * 60) + "Der Radweg an der Schule wird gebaut. " + ("Ende " * 60)
    s = snippet(body, parse_query("Radweg Schule").stems)
    assert "\x02Schule\x03" in s and "\x02Radweg\x03" in s


def test_snippet_without_match_is_the_beginning_and_clean():
    s = snippet("Kurzer\x02 Text\x00 ohne\ud800 Treffer", {"radweg"})
    assert s == "Kurzer Text ohne Treffer"
    assert snippet(None, {"x"}) == "" and snippet("", set()) == ""


def test_short_text_is_shown_whole():
    s = snippet("Der Ausschuss empfiehlt dem Rat die Sanierung des Radwegs.", {"radweg"})
    assert s == "Der Ausschuss empfiehlt dem Rat die Sanierung des \x02Radwegs\x03."
    body = "Anfang " * 100 + "am Ende steht der Radweg."
    s = snippet(body, {"radweg"})
    assert s.startswith("…") and s.endswith("\x02Radweg\x03.") and len(s) > 200


def test_mark_title():
    assert mark("Sanierung des Radwegs", {"radweg"}) == "Sanierung des \x02Radwegs\x03"
