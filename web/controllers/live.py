"""Server-sent events for the live meeting: the public page subscribes here.

The first event is the current state (derived from the timeline); then every timeline event of the
meeting as it is published on the bus; a comment every 15 s keeps proxies from closing the stream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from typing import Any

from litestar import get
from litestar.channels import ChannelsPlugin
from litestar.exceptions import NotFoundException
from litestar.response import ServerSentEvent, ServerSentEventMessage
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council.live.bus import meeting_channel
from council.live.state import live_state
from council.records.access import Viewer, meeting_visible
from council.records.models import Meeting

KEEPALIVE_SECONDS = 15.0


@get("/sitzungen/{meeting_id:int}/live", name="meeting_live", cache=False)
async def meeting_live(
    meeting_id: int, db_session: AsyncSession, viewer: Viewer, channels: ChannelsPlugin
) -> ServerSentEvent:
    found = (
        await db_session.execute(select(Meeting.id).where(Meeting.id == meeting_id, meeting_visible(viewer)))
    ).scalar_one_or_none()
    if found is None:
        raise NotFoundException()
    state = (await live_state(db_session, meeting_id)).as_dict()
    await db_session.close()

    async def stream() -> AsyncGenerator[ServerSentEventMessage, None]:
        yield ServerSentEventMessage(event="state", data=json.dumps(state), retry=3000)
        async with channels.start_subscription([meeting_channel(meeting_id)]) as subscriber:
            events = subscriber.iter_events()
            while True:
                try:
                    raw: Any = await asyncio.wait_for(events.__anext__(), timeout=KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ServerSentEventMessage(comment="keepalive")
                    continue
                except StopAsyncIteration:
                    return
                data = raw.decode() if isinstance(raw, bytes) else str(raw)
                try:
                    event_id = str(json.loads(data).get("id", ""))
                except (ValueError, AttributeError):
                    event_id = None
                yield ServerSentEventMessage(event="timeline", data=data, id=event_id or None)

    return ServerSentEvent(stream())


routes: list[Any] = [meeting_live]
