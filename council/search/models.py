"""Search index tables and their dialect-specific DDL.

``search_document`` is one ordinary table on both backends: one row per indexed paper, agenda item or
file, with the original text (for snippets) and what the filters need. Visibility is *not* copied here:
queries join back to the source record and apply ``council.records.access`` every time.

The full-text part differs per dialect and is created by DDL events after the table (so that
``metadata.create_all`` gives a working index) or by ``install_ddl(connection)`` from a migration:

* SQLite: an FTS5 table ``search_fts(title, body)`` whose rowid is ``search_document.id``, holding the
  *pre-stemmed* text (``council.search.stem``), since FTS5 has no German stemmer. It keeps its own copy
  of that stemmed text, so a row is removed by rowid alone (no need to recompute the old tokens).
* PostgreSQL: a generated ``tsv tsvector`` column on ``search_document`` (title weight A, body weight B,
  ``german`` configuration) with a GIN index. The ORM does not map it; queries name it explicitly.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import JSON, Date, Integer, String, Text, UniqueConstraint, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column

from council.core.base import Base

#: Kinds indexed by ``council.search.indexer``; other packages add theirs (``query.register_kind``:
#: "transcript", indexed by ``transcripts.search``).
KINDS = ("paper", "agenda_item", "file")

#: PostgreSQL indexes this many characters of a body (a tsvector holds at most 1 MB of lexemes).
PG_BODY_CHARS = 300_000

FTS_TABLE = "search_fts"
TSV_COLUMN = "tsv"


class SearchDocument(Base):
    __tablename__ = "search_document"
    __table_args__ = (
        UniqueConstraint("kind", "ref_id", name="uq_search_document_kind_ref_id"),
        # Ids are never reused (reindexing relies on new rows getting higher ids than old ones).
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: "paper" | "agenda_item" | "file"
    kind: Mapped[str] = mapped_column(String(20))
    ref_id: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    date: Mapped[date | None] = mapped_column(Date, index=True)
    #: Organizations the record belongs to (meeting organizations, consulting committees).
    organization_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    paper_type: Mapped[str | None] = mapped_column(String(100), index=True)
    #: For links: the meeting of an agenda item, the paper or meeting a file belongs to.
    #: Indexed: a meeting's transcript rows are replaced together.
    meeting_id: Mapped[int | None] = mapped_column(Integer, index=True)
    paper_id: Mapped[int | None] = mapped_column(Integer)


_SQLITE_DDL = [
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
    "title, body, tokenize = 'unicode61 remove_diacritics 2')",
]

_PG_DDL = [
    f"ALTER TABLE search_document ADD COLUMN IF NOT EXISTS {TSV_COLUMN} tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('german'::regconfig, coalesce(title, '')), 'A') || "
    f"setweight(to_tsvector('german'::regconfig, left(coalesce(body, ''), {PG_BODY_CHARS})), 'B')"
    ") STORED",
    f"CREATE INDEX IF NOT EXISTS ix_search_document_{TSV_COLUMN} ON search_document USING gin ({TSV_COLUMN})",
]


def install_ddl(connection: Connection) -> None:
    """Create the dialect-specific full-text parts (idempotent). Call after ``search_document`` exists,
    e.g. from the Alembic migration: ``install_ddl(op.get_bind())``."""
    name = connection.dialect.name
    statements = _SQLITE_DDL if name == "sqlite" else _PG_DDL if name == "postgresql" else []
    for stmt in statements:
        connection.execute(text(stmt))


def drop_ddl(connection: Connection) -> None:
    """Drop what ``install_ddl`` created (migration downgrade; the tsv column goes with its table)."""
    if connection.dialect.name == "sqlite":
        connection.execute(text(f"DROP TABLE IF EXISTS {FTS_TABLE}"))


@event.listens_for(SearchDocument.__table__, "after_create")
def _after_create(target: Any, connection: Connection, **kw: Any) -> None:
    install_ddl(connection)


@event.listens_for(SearchDocument.__table__, "before_drop")
def _before_drop(target: Any, connection: Connection, **kw: Any) -> None:
    drop_ddl(connection)
