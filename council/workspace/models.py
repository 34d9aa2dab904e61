"""Notes on documents (table ``workspace_note``).

A note is anchored the way the W3C Web Annotation "TextQuoteSelector" does it: the exact quote plus a
little context before and after, and the page it was found on. The anchor remembers the version of the
document it was made on (``file_sha512``); when the document's content changes, the note is re-anchored
by searching the quote in the new text, or marked ``detached`` (still listed, never lost).

``visibility``: ``private`` (only the author) or ``faction`` (members of ``faction_id``, an
organization the author belonged to when writing).
"""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from council.core.base import Record

VISIBILITIES = ("private", "faction")
#: Longest stored quote and context (characters); longer selections are cut.
QUOTE_MAX = 2000
CONTEXT_MAX = 64
BODY_MAX = 10_000


class Note(Record):
    __tablename__ = "workspace_note"

    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    #: Name shown to faction colleagues (kept as written; accounts may be renamed or removed later).
    author_name: Mapped[str] = mapped_column(String(300), default="")
    file_id: Mapped[int] = mapped_column(ForeignKey("file.id"), index=True)
    visibility: Mapped[str] = mapped_column(String(20), default="private")
    faction_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"), index=True)
    body: Mapped[str] = mapped_column(Text, default="")
    #: 1-based page of the anchor; None for a note on the whole document.
    page: Mapped[int | None] = mapped_column(Integer)
    quote: Mapped[str] = mapped_column(Text, default="")
    prefix: Mapped[str] = mapped_column(String(200), default="")
    suffix: Mapped[str] = mapped_column(String(200), default="")
    #: The document version (SHA-512 of its content) the anchor refers to.
    file_sha512: Mapped[str | None] = mapped_column(String(128))
    detached: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
