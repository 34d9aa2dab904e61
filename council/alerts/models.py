"""Saved searches and the matches already reported for each.

Only hashes of the secret tokens are stored (feed token, opt-in token); the unsubscribe link is an
HMAC of the search's id with the site secret, so it needs no storage and still cannot be guessed.
Deleting a saved search deletes its remembered hits (``ondelete=CASCADE`` and ORM cascade).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from council.core.base import Base
from council.core.types import UTCDateTime, utcnow


class SavedSearch(Base):
    __tablename__ = "saved_search"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The owner; None for a resident's public saved search (then ``email`` is required).
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    #: The search as typed (site search syntax), cleaned and at most ``service.MAX_QUERY`` characters.
    query: Mapped[str] = mapped_column(String(200))
    #: Kinds to search (empty: all kinds, transcript segments included once registered).
    kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Where the daily digest goes; mails are sent only once ``email_confirmed`` is set.
    email: Mapped[str | None] = mapped_column(String(320))
    email_confirmed: Mapped[datetime | None] = mapped_column(UTCDateTime)
    optin_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    #: sha256 of the private feed token (accounts only).
    feed_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_digest: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SavedSearchHit(Base):
    """A match reported (or baselined at creation) for a saved search: never reported twice."""

    __tablename__ = "saved_search_hit"
    __table_args__ = (UniqueConstraint("saved_search_id", "kind", "ref_id", name="uq_saved_search_hit"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    saved_search_id: Mapped[int] = mapped_column(
        ForeignKey("saved_search.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    ref_id: Mapped[int] = mapped_column(Integer)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
