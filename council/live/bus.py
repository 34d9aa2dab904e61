"""The event bus: channel names and the publish call. The transport is Litestar's channels plugin
(memory backend for one process; Redis or PostgreSQL when several serve), wired in ``web.app``.
Producers here only need something with ``publish(data, channels)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from council.live.models import TimelineEvent


class Publisher(Protocol):
    def publish(self, data: Any, channels: str | Iterable[str]) -> None: ...


def meeting_channel(meeting_id: int) -> str:
    return f"meeting.{meeting_id}"


#: Every meeting event is also published here (home page "live now", streaming, transcripts).
ALL_MEETINGS_CHANNEL = "meetings"
CHANNELS = [ALL_MEETINGS_CHANNEL]


async def record_event(
    session: AsyncSession, publisher: Publisher | None, event: TimelineEvent
) -> TimelineEvent:
    """Append an event to the timeline, commit it, then publish it (acknowledged = durable)."""
    session.add(event)
    await session.commit()
    if publisher is not None:
        message = event.as_message()
        publisher.publish(message, [meeting_channel(event.meeting_id), ALL_MEETINGS_CHANNEL])
    return event
