"""Paper references (Drucksachennummern), numbered automatically per paper type and year.

The pattern is configurable (``settings.paper_reference_pattern``, default ``{type_short}/{year}/{n:04d}``
→ ``A/2026/0007``). Numbers come from ``reference_counter``: one row per (type, year), bumped with a
single ``UPDATE … SET last = last + 1 RETURNING last`` — the database serialises concurrent bumps, so
two submissions can never draw the same number. The first number of a year inserts the row; a
concurrent insert of the same row fails on the primary key inside a savepoint and the bump is simply
retried. ``paper_reference`` (primary key on the reference) is the last line: a reference that already
exists (e.g. a pattern without ``{n}``) is refused, never assigned twice.
"""

from __future__ import annotations

import string

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from council.backoffice.motion_models import PaperReference, ReferenceCounter

#: The paper types the back office creates, with their short form in references.
PAPER_TYPES: dict[str, str] = {
    "Beschlussvorlage": "BV",
    "Antrag": "A",
    "Anfrage": "AF",
    "Mitteilung": "M",
}
DEFAULT_PATTERN = "{type_short}/{year}/{n:04d}"
_FIELDS = {"type_short", "type", "year", "n"}


class ReferenceError(Exception):
    """The pattern is unusable or the reference already exists."""


def check_pattern(pattern: str) -> None:
    """Refuse patterns with unknown fields or without the running number (they could not be unique)."""
    try:
        names = {f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None}
    except ValueError as exc:
        raise ReferenceError(f"invalid reference pattern: {exc}") from exc
    if not names <= _FIELDS:
        raise ReferenceError(f"unknown fields in reference pattern: {sorted(names - _FIELDS)}")
    if "n" not in names:
        raise ReferenceError("the reference pattern needs the running number {n}")


def format_reference(pattern: str, paper_type: str, year: int, n: int) -> str:
    check_pattern(pattern)
    short = PAPER_TYPES.get(paper_type, paper_type[:3].upper() or "V")
    try:
        return pattern.format(type_short=short, type=paper_type, year=year, n=n)[:100]
    except (ValueError, KeyError, IndexError) as exc:
        raise ReferenceError(f"invalid reference pattern: {exc}") from exc


async def next_number(session: AsyncSession, paper_type: str, year: int) -> int:
    """The next running number for (type, year), drawn atomically in the caller's transaction."""
    for _ in range(5):
        bumped = (
            await session.execute(
                update(ReferenceCounter)
                .where(ReferenceCounter.paper_type == paper_type, ReferenceCounter.year == year)
                .values(last=ReferenceCounter.last + 1)
                .returning(ReferenceCounter.last)
            )
        ).scalar_one_or_none()
        if bumped is not None:
            return int(bumped)
        try:
            async with session.begin_nested():
                session.add(ReferenceCounter(paper_type=paper_type, year=year, last=1))
            return 1
        except IntegrityError:
            continue  # someone else created this year's counter first: bump theirs
    raise ReferenceError("could not draw a reference number")


async def assign_reference(
    session: AsyncSession, paper_id: int, paper_type: str, year: int, pattern: str = DEFAULT_PATTERN
) -> str:
    """Draw the next number, format it, record it as taken (unique); the caller sets Paper.reference."""
    check_pattern(pattern)
    n = await next_number(session, paper_type, year)
    reference = format_reference(pattern, paper_type, year, n)
    taken = (
        await session.execute(select(PaperReference.paper_id).where(PaperReference.reference == reference))
    ).scalar_one_or_none()
    if taken is not None:
        raise ReferenceError(f"reference {reference} is already taken")
    try:
        async with session.begin_nested():
            session.add(PaperReference(reference=reference, paper_id=paper_id))
    except IntegrityError as exc:
        raise ReferenceError(f"reference {reference} is already taken") from exc
    return reference
