"""Notes: who sees which, creating and changing them, re-anchoring, Markdown export.

Rules: a private note is its author's alone; a faction note is for current members of its faction
(an organization classified "Fraktion"). Nobody else — staff included — reads notes: they are the
councillor's own work, not records. Only the author edits or deletes. Every note also needs its
document to be visible to the reader (``file_visible``), checked by the caller who loads the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from council.documents.extract import split_pages
from council.records.access import Viewer
from council.records.models import File, Organization
from council.workspace.models import BODY_MAX, CONTEXT_MAX, QUOTE_MAX, VISIBILITIES, Note

FACTION_MARKERS = ("fraktion",)


class NoteRejected(Exception):
    """Bad input for a note: answered with ``status_code`` and a German message."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def note_visible(viewer: Viewer) -> ColumnElement[bool]:
    if viewer.account_id is None:
        return false()
    mine = Note.account_id == viewer.account_id
    if viewer.organization_ids:
        shared = and_(Note.visibility == "faction", Note.faction_id.in_(viewer.organization_ids))
        return and_(Note.deleted == false(), or_(mine, shared))
    return and_(Note.deleted == false(), mine)


async def viewer_factions(session: AsyncSession, viewer: Viewer) -> list[Organization]:
    """The factions the viewer currently belongs to (by classification or OParl organizationType)."""
    if not viewer.organization_ids:
        return []
    orgs = (
        (
            await session.execute(
                select(Organization)
                .where(Organization.id.in_(viewer.organization_ids), Organization.deleted == false())
                .order_by(Organization.name)
            )
        )
        .scalars()
        .all()
    )
    return [
        o
        for o in orgs
        if any(
            m in (o.classification or "").lower() or m in (o.organization_type or "").lower()
            for m in FACTION_MARKERS
        )
    ]


_WS = re.compile(r"\s+")
#: Control characters (NUL breaks PostgreSQL), lone surrogates, and bidi embeddings, overrides, isolates and
#: marks (they make a shared note display as something else than it says).
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def clean(value: str | None, limit: int, *, keep_newlines: bool = False) -> str:
    """Strip control and bidi characters (:data:`_CONTROL`), collapse whitespace (except in note bodies)."""
    value = _CONTROL.sub("", (value or "").replace("\r\n", "\n"))
    if not keep_newlines:
        value = _WS.sub(" ", value)
    return value.strip()[:limit]


# --- anchoring --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Anchor:
    page: int
    start: int


def _flat(text: str) -> tuple[str, list[int]]:
    """Whitespace-collapsed text and, per character, the page (1-based) it came from."""
    chars: list[str] = []
    pages: list[int] = []
    for number, page in enumerate(split_pages(text), start=1):
        for ch in _WS.sub(" ", page) + " ":
            if ch == " " and chars and chars[-1] == " ":
                continue
            chars.append(ch)
            pages.append(number)
    return "".join(chars), pages


def find_anchor(
    text: str | None, quote: str, prefix: str = "", suffix: str = "", page_hint: int | None = None
) -> Anchor | None:
    """Where ``quote`` is in ``text``: among several matches, the one whose context fits best
    (then the one nearest ``page_hint``). Whitespace differences are ignored. None if not found."""
    quote = _WS.sub(" ", quote).strip()
    if not text or not quote:
        return None
    flat, pages = _flat(text)
    prefix = _WS.sub(" ", prefix).strip()
    suffix = _WS.sub(" ", suffix).strip()
    best: tuple[int, int, int] | None = None  # (score, -distance, position)
    start = flat.find(quote)
    tries = 0
    while start != -1 and tries < 10_000:
        tries += 1
        score = 0
        if prefix and flat[max(0, start - len(prefix) - 1) : start].strip().endswith(prefix):
            score += 2
        after = flat[start + len(quote) : start + len(quote) + len(suffix) + 1].strip()
        if suffix and after.startswith(suffix):
            score += 2
        distance = abs(pages[start] - page_hint) if page_hint else 0
        key = (score, -distance, -start)
        if best is None or key > best:
            best = key
        start = flat.find(quote, start + 1)
    if best is None:
        return None
    position = -best[2]
    return Anchor(page=pages[position], start=position)


def reanchor(record: File, notes: Iterable[Note]) -> list[Note]:
    """Bring notes made on an older version of ``record`` (its text must be loaded) up to date.

    A note whose quote is still there moves to its new page; one whose quote is gone is marked
    ``detached`` (kept, shown apart). Returns the notes that changed (the caller commits).
    """
    changed: list[Note] = []
    if record.sha512 is None or record.text_state != "done":
        return changed  # the new version's text is not extracted yet: decide later
    for note in notes:
        if note.file_sha512 == record.sha512:
            continue
        if note.quote:
            anchor = find_anchor(record.text, note.quote, note.prefix, note.suffix, note.page)
            note.detached = anchor is None
            if anchor is not None:
                note.page = anchor.page
        note.file_sha512 = record.sha512
        changed.append(note)
    return changed


async def refresh_anchors(session: AsyncSession, notes: Sequence[Note]) -> bool:
    """Re-anchor notes whose document has a new version since (loads only those documents' text).

    For lists and exports, where the documents were loaded without their (deferred) text. Returns
    whether anything changed; the caller commits.
    """
    by_file: dict[int, list[Note]] = {}
    for note in notes:
        by_file.setdefault(note.file_id, []).append(note)
    if not by_file:
        return False
    rows = (await session.execute(select(File.id, File.sha512).where(File.id.in_(by_file)))).all()
    stale = [fid for fid, sha in rows if sha and any(n.file_sha512 != sha for n in by_file[fid])]
    if not stale:
        return False
    files = (
        (
            await session.execute(
                select(File)
                .where(File.id.in_(stale))
                .options(undefer(File.text))
                .execution_options(populate_existing=True)
            )
        )
        .scalars()
        .all()
    )
    changed = False
    for record in files:
        changed = bool(reanchor(record, by_file[record.id])) or changed
    return changed


# --- CRUD ---------------------------------------------------------------------------------------------


async def notes_for_files(session: AsyncSession, viewer: Viewer, file_ids: Sequence[int]) -> list[Note]:
    if not file_ids or viewer.account_id is None:
        return []
    return list(
        (
            await session.execute(
                select(Note)
                .where(Note.file_id.in_(file_ids), note_visible(viewer))
                .order_by(Note.file_id, Note.page.is_(None), Note.page, Note.created, Note.id)
            )
        )
        .scalars()
        .all()
    )


async def create_note(
    session: AsyncSession,
    viewer: Viewer,
    record: File,
    *,
    body: str,
    visibility: str = "private",
    faction_id: int | None = None,
    page: int | None = None,
    quote: str = "",
    prefix: str = "",
    suffix: str = "",
) -> Note:
    """A new note on a document the caller has checked the viewer may see (validated; not committed)."""
    if viewer.account_id is None:
        raise NoteRejected(403, "Bitte melden Sie sich an.")
    body = clean(body, BODY_MAX + 1, keep_newlines=True)
    if not body:
        raise NoteRejected(400, "Bitte einen Text für die Notiz eingeben.")
    if len(body) > BODY_MAX:
        raise NoteRejected(400, f"Die Notiz ist zu lang (höchstens {BODY_MAX} Zeichen).")
    if visibility not in VISIBILITIES:
        raise NoteRejected(400, "Unbekannte Sichtbarkeit.")
    if visibility == "faction":
        factions = {o.id for o in await viewer_factions(session, viewer)}
        if faction_id is None and len(factions) == 1:
            faction_id = next(iter(factions))
        if faction_id not in factions:
            raise NoteRejected(400, "Sie können nur mit Ihrer eigenen Fraktion teilen.")
    else:
        faction_id = None
    pages = record.page_count or len(split_pages(record.text)) or None
    if page is not None and (page < 1 or (pages is not None and page > pages)):
        raise NoteRejected(400, "Diese Seite gibt es im Dokument nicht.")
    quote = clean(quote, QUOTE_MAX)
    note = Note(
        account_id=viewer.account_id,
        author_name=viewer.name or "",
        file_id=record.id,
        visibility=visibility,
        faction_id=faction_id,
        body=body,
        page=page,
        quote=quote,
        prefix=clean(prefix, CONTEXT_MAX) if quote else "",
        suffix=clean(suffix, CONTEXT_MAX) if quote else "",
        file_sha512=record.sha512,
        detached=False,
    )
    if quote and record.text is not None:
        anchor = find_anchor(record.text, quote, note.prefix, note.suffix, page)
        if anchor is not None:
            note.page = anchor.page
    session.add(note)
    await session.flush()
    return note


async def own_note(session: AsyncSession, viewer: Viewer, note_id: int) -> Note | None:
    """The viewer's own (undeleted) note, else None (others' notes are answered as not found)."""
    if viewer.account_id is None or not 0 < note_id <= 2**31 - 1:
        return None
    return (
        await session.execute(
            select(Note).where(
                Note.id == note_id, Note.account_id == viewer.account_id, Note.deleted == false()
            )
        )
    ).scalar_one_or_none()


# --- export ---------------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|])")


def md_escape(value: str) -> str:
    """Inert Markdown: no links, images, HTML or headings sneak in from a note or a quote."""
    return _MD_SPECIAL.sub(r"\\\1", value)


def notes_markdown(
    title: str,
    sections: Sequence[tuple[str, Sequence[tuple[File, Sequence[Note]]]]],
    viewer: Viewer,
    faction_names: dict[int, str],
) -> str:
    lines = [f"# Notizen: {md_escape(title)}", ""]
    any_note = False
    for label, files in sections:
        if not any(notes for _, notes in files):
            continue
        lines += [f"## {md_escape(label)}", ""]
        for record, notes in files:
            if not notes:
                continue
            lines += [f"### {md_escape(record.name)}", ""]
            for note in notes:
                any_note = True
                where = (
                    "losgelöst (Text nicht mehr gefunden)"
                    if note.detached
                    else (f"Seite {note.page}" if note.page else "Dokument")
                )
                who = (
                    "privat"
                    if note.visibility == "private"
                    else f"Fraktion {faction_names.get(note.faction_id or 0, '')}".strip()
                )
                if note.account_id != viewer.account_id:
                    who += f", von {note.author_name}"
                lines.append(f"- **{md_escape(where)}** ({md_escape(who)})")
                if note.quote:
                    lines.append(f"  > {md_escape(note.quote)}")
                for body_line in note.body.splitlines() or [""]:
                    lines.append(f"  {md_escape(body_line)}")
                lines.append("")
    if not any_note:
        lines += ["Keine Notizen.", ""]
    return "\n".join(lines)


__all__ = [
    "NoteRejected",
    "clean",
    "create_note",
    "find_anchor",
    "note_visible",
    "notes_for_files",
    "notes_markdown",
    "own_note",
    "reanchor",
    "refresh_anchors",
    "viewer_factions",
]
