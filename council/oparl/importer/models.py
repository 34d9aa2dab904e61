"""Per endpoint and body: when the last complete import started (the next ``modified_since``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from council.core.base import Base
from council.core.types import UTCDateTime, utcnow


class OParlImportState(Base):
    __tablename__ = "oparl_import_state"
    __table_args__ = (
        UniqueConstraint("endpoint", "body_origin_id", name="uq_oparl_import_state_endpoint_body"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The URL the import was started with (the System, or a body list / Body URL).
    endpoint: Mapped[str] = mapped_column(String(500), nullable=False)
    #: The source's id (URL) of the body.
    body_origin_id: Mapped[str] = mapped_column(String(500), nullable=False)
    #: Start time of the last import that finished: the next run asks for ``modified_since`` this.
    last_started: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_finished: Mapped[datetime | None] = mapped_column(UTCDateTime)
    objects: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    warnings: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    #: Counts of the last run (per type: created / updated / deleted), for the operator.
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)
