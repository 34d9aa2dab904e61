"""The live meeting over SSE: first the current state, then each timeline event as it is recorded."""

from __future__ import annotations

import asyncio
import json
import socket
from contextlib import asynccontextmanager

import httpx
import uvicorn
from litestar.channels import ChannelsPlugin

from council.live.bus import record_event
from council.live.models import EventKind, TimelineEvent
from tests.factories import make_town


@asynccontextmanager
async def serve(app):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


async def _read_events(lines, n, wait=5.0):
    events = []
    current: dict = {}

    async def reader():
        async for line in lines:
            if line == "":
                if "data" in current:
                    events.append(dict(current))
                current.clear()
                if len(events) >= n:
                    return
            elif line.startswith("event:"):
                current["event"] = line[6:].strip()
            elif line.startswith("data:") and line[5:].strip():
                current["data"] = json.loads(line[5:].strip())

    await asyncio.wait_for(reader(), timeout=wait)
    return events


async def test_sse_sends_state_then_timeline_events(app, db):
    async with db.sessionmaker() as s:
        town = await make_town(s)
        mid, item_id = town.next_meeting.id, town.public_item.id
        await record_event(s, None, TimelineEvent(meeting_id=mid, kind=EventKind.MEETING_OPENED))

    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        async with client.stream("GET", f"/sitzungen/{mid}/live") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.aiter_lines()
            first = await _read_events(lines, 1)
            assert first[0]["event"] == "state"
            assert first[0]["data"]["is_open"] is True and first[0]["data"]["agenda_item_id"] is None

            channels = app.plugins.get(ChannelsPlugin)
            async with db.sessionmaker() as s:
                await record_event(
                    s,
                    channels,
                    TimelineEvent(meeting_id=mid, kind=EventKind.AGENDA_ITEM_STARTED, agenda_item_id=item_id),
                )
            nxt = await _read_events(lines, 1)
            assert nxt[0]["event"] == "timeline"
            assert nxt[0]["data"]["kind"] == "agenda_item.started"
            assert nxt[0]["data"]["agenda_item_id"] == item_id


async def test_sse_for_unknown_or_non_public_meeting_is_404(client, session):
    town = await make_town(session)
    r = await client.get("/sitzungen/999999/live")
    assert r.status_code == 404
    for huge in (2**31, 2**63 - 1, 2**63, 10**25):  # beyond the database's integers: 404, not a 500
        assert (await client.get(f"/sitzungen/{huge}/live")).status_code == 404
    r = await client.get(f"/sitzungen/{town.secret_meeting.id}/live")
    assert r.status_code == 404


async def test_quiet_stream_survives_keepalives(app, db, monkeypatch):
    """A viewer who hears nothing for a while keeps the stream: keep-alives must not end it."""
    from web.controllers import live

    monkeypatch.setattr(live, "KEEPALIVE_SECONDS", 0.2)
    async with db.sessionmaker() as s:
        town = await make_town(s)
        mid, item_id = town.next_meeting.id, town.public_item.id

    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        async with client.stream("GET", f"/sitzungen/{mid}/live") as response:
            lines = response.aiter_lines()
            await _read_events(lines, 1)  # the state
            keepalives = 0

            async def count_keepalives():
                nonlocal keepalives
                async for line in lines:
                    if line.startswith(":"):
                        keepalives += 1
                        if keepalives >= 3:
                            return

            await asyncio.wait_for(count_keepalives(), timeout=5)
            channels = app.plugins.get(ChannelsPlugin)
            async with db.sessionmaker() as s:
                await record_event(
                    s,
                    channels,
                    TimelineEvent(meeting_id=mid, kind=EventKind.AGENDA_ITEM_STARTED, agenda_item_id=item_id),
                )
            nxt = await _read_events(lines, 1)
            assert nxt[0]["data"]["kind"] == "agenda_item.started"
