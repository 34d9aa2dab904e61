"""Declarative base: every record has ``id``, ``created``, ``modified`` and a soft-delete flag.

``modified`` is bumped on every flush that changes a record, and on the parent records that embed it
(OParl embeds AgendaItems in Meetings, Consultations and Files in Papers, …): a model lists those
parents in ``embedded_in()``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, MetaData, event, false
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from council.core.types import UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Record(Base):
    """An OParl-shaped record (or one of Rathaus' own that behaves the same)."""

    __abstract__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    modified: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), nullable=False)

    def embedded_in(self) -> Iterable[Record]:
        """Records whose serialisation embeds this one; their ``modified`` follows ours."""
        return ()


@event.listens_for(Session, "before_flush")
def _bump_modified(session: Session, flush_context: Any, instances: Any) -> None:
    now = utcnow()
    touched: list[Record] = []
    for obj in list(session.dirty):
        if isinstance(obj, Record) and session.is_modified(obj, include_collections=True):
            obj.modified = now
            touched.append(obj)
    for obj in list(session.new):
        if isinstance(obj, Record):
            if obj.created is None:
                obj.created = now
            if obj.modified is None:
                obj.modified = now
            touched.append(obj)
    for obj in list(session.deleted):
        if isinstance(obj, Record):
            touched.append(obj)
    seen: set[int] = set()
    stack = touched
    while stack:
        child = stack.pop()
        for parent in child.embedded_in():
            if parent is None or id(parent) in seen:
                continue
            seen.add(id(parent))
            parent.modified = now
            stack.append(parent)
