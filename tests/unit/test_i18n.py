"""The English catalog is complete: every German msgid found in the code and templates has a
non-fuzzy English translation with the same placeholders, and pages render in English on request.

Extraction here mirrors ``.ci/i18n`` (same mapping file, keywords and folders). When this fails
because of new UI text, run ``./.ci/i18n`` and translate the new entries in
web/locale/en/LC_MESSAGES/messages.po.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
MAPPING = ROOT / "web" / "babel.cfg"
EN_PO = ROOT / "web" / "locale" / "en" / "LC_MESSAGES" / "messages.po"
SOURCE_DIRS = ("council", "web", "streaming", "transcripts", "votes")
KEYWORDS = (
    "_", "gettext", "ngettext:1,2", "pgettext:1c,2",
    "i18n.gettext", "i18n.ngettext:1,2", "i18n.pgettext:1c,2",
)  # fmt: skip

# %(name)s / %s / %d ... (printf style, used by gettext and Jinja's newstyle gettext) and {name} (str.format).
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[sdifrxXeEgGc%]|\{[^{}]*\}")


class Message:
    def __init__(self, ids: tuple[str, ...], context: str | None, where: str) -> None:
        self.ids, self.context, self.where = ids, context, where

    @property
    def key(self) -> tuple[str, str | None]:
        return self.ids[0], self.context


def _extract() -> dict[tuple[str, str | None], Message]:
    with MAPPING.open() as fh:
        method_map, options_map = parse_mapping_cfg(fh, str(MAPPING))
    keywords = {**DEFAULT_KEYWORDS, **parse_keywords(list(KEYWORDS))}
    found: dict[tuple[str, str | None], Message] = {}
    for folder in SOURCE_DIRS:
        path = ROOT / folder
        if not path.is_dir():
            continue
        for filename, lineno, message, _comments, context in extract_from_dir(
            str(path), method_map, options_map, keywords=keywords
        ):
            ids = tuple(message) if isinstance(message, (list, tuple)) else (message,)
            if not ids[0]:
                continue
            msg = Message(ids, context, f"{folder}/{filename}:{lineno}")
            found.setdefault(msg.key, msg)
    return found


@pytest.fixture(scope="module")
def extracted() -> dict[tuple[str, str | None], Message]:
    messages = _extract()
    assert len(messages) > 100, "extraction found suspiciously few messages: check web/babel.cfg"
    return messages


@pytest.fixture(scope="module")
def catalog():
    with EN_PO.open("rb") as fh:
        return read_po(fh, locale="en")


def _strings(entry) -> tuple[str, ...]:
    return tuple(entry.string) if isinstance(entry.string, (list, tuple)) else (entry.string,)


def test_every_msgid_has_an_english_translation(extracted, catalog):
    problems = []
    for msg in sorted(extracted.values(), key=lambda m: m.where):
        entry = catalog.get(msg.ids[0], context=msg.context)
        if entry is None:
            problems.append(f"{msg.where}: missing         {msg.ids[0]!r}")
        elif entry.fuzzy:
            problems.append(f"{msg.where}: fuzzy           {msg.ids[0]!r}")
        elif not all(s.strip() for s in _strings(entry)):
            problems.append(f"{msg.where}: not translated  {msg.ids[0]!r}")
        elif len(msg.ids) > 1 and not isinstance(entry.id, (list, tuple)):
            problems.append(f"{msg.where}: plural missing  {msg.ids[0]!r}")
    assert not problems, (
        f"{len(problems)} UI message(s) lack an English translation; run ./.ci/i18n and translate them "
        f"in {EN_PO.relative_to(ROOT)}:\n" + "\n".join(problems)
    )


def test_placeholders_match(catalog):
    problems = []
    for entry in catalog:
        if not entry.id:
            continue
        ids = tuple(entry.id) if isinstance(entry.id, (list, tuple)) else (entry.id,)
        for i, text in enumerate(_strings(entry)):
            if not text:
                continue
            source = ids[min(i, len(ids) - 1)]
            want, got = Counter(PLACEHOLDER.findall(source)), Counter(PLACEHOLDER.findall(text))
            # A plural form may drop the count ("one result" style) but never invent or rename a placeholder.
            ok = got == want or (len(ids) > 1 and not (got - want))
            if not ok:
                problems.append(f"{source!r} -> {text!r}: {sorted(want)} vs {sorted(got)}")
    assert not problems, "placeholders differ between msgid and msgstr:\n" + "\n".join(problems)


LITERAL_CALL = re.compile(r"""\b(?:_|gettext|ngettext|pgettext)\(\s*(["'])((?:\\.|(?!\1).)+)\1""")


def test_python_gettext_calls_are_extractable(extracted):
    """A gettext call pybabel cannot see (inside an f-string, through an unknown alias) would stay German.

    Every string literal passed straight to gettext/_/ngettext/pgettext in Python must reach the catalog.
    """
    known_flat = {s for m in extracted.values() for s in m.ids}
    known_flat |= {m.context for m in extracted.values() if m.context}
    problems = []
    for folder in SOURCE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")) if (ROOT / folder).is_dir() else ():
            text = path.read_text(encoding="utf-8")
            for m in LITERAL_CALL.finditer(text):
                literal = m.group(2)
                # Implicitly concatenated literals are extracted as one msgid: a prefix is enough.
                if literal in known_flat or any(s.startswith(literal) for s in known_flat):
                    continue
                line = text.count("\n", 0, m.start()) + 1
                problems.append(f"{path.relative_to(ROOT)}:{line}: {literal!r}")
    assert not problems, "gettext calls that extraction does not pick up:\n" + "\n".join(problems)


async def test_pages_render_in_english(client):
    r = await client.get("/kalender?lang=en")
    assert r.status_code == 200
    assert 'lang="en"' in r.text
    assert "Calendar" in r.text and "Previous month" in r.text
    assert "Vorheriger Monat" not in r.text

    r = await client.get("/gibt-es-nicht?lang=en")
    assert r.status_code == 404
    assert 'lang="en"' in r.text and "Page not found" in r.text
    assert "Seite nicht gefunden" not in r.text


async def test_german_stays_the_default(client):
    r = await client.get("/kalender")
    assert r.status_code == 200
    assert 'lang="de"' in r.text and "Vorheriger Monat" in r.text
    r = await client.get("/gibt-es-nicht")
    assert r.status_code == 404 and "Seite nicht gefunden" in r.text
