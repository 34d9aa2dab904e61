"""Server-sent events for the live meeting: the public page subscribes here.

The first event is the current state (derived from the timeline); then every timeline event of the
meeting as it is published on the bus; a comment every 15 s keeps proxies from closing the stream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request, get
from litestar.channels import ChannelsPlugin
from litestar.exceptions import NotFoundException
from litestar.response import ServerSentEvent, ServerSentEventMessage
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council.live.bus import meeting_channel
from council.live.state import live_state
from council.records.access import Viewer, meeting_visible
from council.records.models import Meeting
from web.controllers.pages import check_id

KEEPALIVE_SECONDS = 15.0


@get("/sitzungen/{meeting_id:int}/live", name="meeting_live", cache=False)
async def meeting_live(
    request: Request[Any, Any, Any],
    meeting_id: int,
    db_session: AsyncSession,
    viewer: Viewer,
    channels: ChannelsPlugin,
) -> ServerSentEvent:
    found = (
        await db_session.execute(
            select(Meeting.id).where(Meeting.id == check_id(meeting_id), meeting_visible(viewer))
        )
    ).scalar_one_or_none()
    if found is None:
        raise NotFoundException()
    await db_session.close()
    db = request.app.state.db

    async def stream() -> AsyncGenerator[ServerSentEventMessage, None]:
        # Subscribe first, then read the state: an event recorded in between is either part of the
        # state (and skipped below) or arrives from the subscription — none is lost.
        async with channels.start_subscription([meeting_channel(meeting_id)]) as subscriber:
            async with db.sessionmaker() as s:
                state = (await live_state(s, meeting_id)).as_dict()
            seen = state.get("last_event_id") or 0
            yield ServerSentEventMessage(event="state", data=json.dumps(state), retry=3000)
            events = subscriber.iter_events()
            # One pending read at a time, kept across keep-alives: wait_for() would cancel the
            # subscription's generator on timeout and end the stream of every quiet viewer.
            pending: asyncio.Task[Any] | None = None
            try:
                while True:
                    if pending is None:
                        pending = asyncio.ensure_future(events.__anext__())
                    done, _ = await asyncio.wait({pending}, timeout=KEEPALIVE_SECONDS)
                    if not done:
                        yield ServerSentEventMessage(comment="keepalive")
                        continue
                    task, pending = pending, None
                    try:
                        raw: Any = task.result()
                    except StopAsyncIteration:
                        return
                    data = raw.decode() if isinstance(raw, bytes) else str(raw)
                    try:
                        number = json.loads(data).get("id")
                    except (ValueError, AttributeError):
                        number = None
                    if isinstance(number, int) and number <= seen:
                        continue  # already part of the state sent first
                    event_id = str(number) if number is not None else None
                    yield ServerSentEventMessage(event="timeline", data=data, id=event_id or None)
            finally:
                if pending is not None:
                    pending.cancel()

    return ServerSentEvent(stream())


routes: list[Any] = [meeting_live]
