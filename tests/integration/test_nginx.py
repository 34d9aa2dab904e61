"""The documented nginx configuration (docs/nginx/rathaus.conf) in front of the app: pages, static
files, server-sent events (unbuffered: a timeline event arrives while the stream stays open), HLS
playlists and segments, and the operator endpoints refused from outside.

nginx is Debian's (``.ci/test`` installs it); the test runs its own nginx with its own configuration on
a free loopback port (``test_media_web.nginx_config``), never the system one.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from litestar.channels import ChannelsPlugin

from council.live.bus import record_event
from council.live.models import EventKind, TimelineEvent
from tests.integration.test_live import serve
from tests.integration.test_media_web import HLS, NGINX, World, _free_port, fake_media, nginx_config
from tests.integration.test_media_web import cheap_argon2 as cheap_argon2
from tests.integration.test_media_web import world as world

pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx)")


async def _next_event(lines: Any) -> dict[str, Any]:
    current: dict[str, Any] = {}
    async for line in lines:
        if line == "" and "data" in current:
            return current
        if line.startswith("event:"):
            current["event"] = line[6:].strip()
        elif line.startswith("data:"):
            current["data"] = json.loads(line[5:].strip())
    raise AssertionError("the event stream ended")


async def test_pages_sse_and_hls_through_nginx(app: Any, world: World, db: Any, tmp_path: Path) -> None:
    import httpx

    assert NGINX is not None
    mid = world.public_id
    fake_media(world.media_dir, mid, ended=False)
    async with db.sessionmaker() as s:
        item_id = world.town.council_item.id  # type: ignore[union-attr]
        await record_event(s, None, TimelineEvent(meeting_id=mid, kind=EventKind.MEETING_OPENED))

    async with serve(app) as base:
        listen = _free_port()
        conf = nginx_config(tmp_path / "nginx", listen, int(base.rsplit(":", 1)[1]), world.media_dir)
        check = subprocess.run(  # noqa: ASYNC221 (nginx -t: a quick syntax check)
            [NGINX, "-t", "-c", str(conf)], capture_output=True, text=True, timeout=30
        )
        assert check.returncode == 0, check.stderr
        proc = subprocess.Popen(  # noqa: ASYNC220 (started once, stopped in finally)
            [NGINX, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{listen}", timeout=10) as http:
                for _ in range(100):  # nginx starts in well under a second; bounded wait
                    try:
                        await http.get("/healthz")
                        break
                    except httpx.TransportError:
                        await asyncio.sleep(0.05)

                # pages, readiness and static files
                r = await http.get("/")
                assert r.status_code == 200 and "<html" in r.text
                r = await http.get(f"/sitzungen/{mid}")
                assert r.status_code == 200 and "content-security-policy" in r.headers
                assert (await http.get("/readyz")).status_code == 200
                r = await http.get("/static/css/rathaus.css")
                assert r.status_code == 200 and "max-age=3600" in r.headers.get("cache-control", "")

                # HLS: playlist and segment, with the app's cache headers
                r = await http.get(f"/medien/{mid}/public/index.m3u8")
                assert r.status_code == 200 and r.headers["content-type"].startswith(HLS)
                r = await http.get(f"/medien/{mid}/public/s-000000.ts")
                assert r.status_code == 200 and r.headers["cache-control"].startswith("public")

                # the operator endpoints are not reachable through the public server
                assert (await http.get("/metrics")).status_code == 403
                assert (await http.get(f"/api/ops/streams/{mid}")).status_code == 403

                # SSE: the state first, then an event recorded while the stream is open
                async with http.stream("GET", f"/sitzungen/{mid}/live") as response:
                    assert response.status_code == 200
                    assert response.headers["content-type"].startswith("text/event-stream")
                    lines = response.aiter_lines()
                    first = await asyncio.wait_for(_next_event(lines), 10)
                    assert first["event"] == "state"
                    channels = app.plugins.get(ChannelsPlugin)
                    async with db.sessionmaker() as s:
                        await record_event(
                            s,
                            channels,
                            TimelineEvent(
                                meeting_id=mid, kind=EventKind.AGENDA_ITEM_STARTED, agenda_item_id=item_id
                            ),
                        )
                    # buffered by nginx, this small event would sit there until the stream ended
                    nxt = await asyncio.wait_for(_next_event(lines), 10)
                    assert nxt["event"] == "timeline" and nxt["data"]["kind"] == "agenda_item.started"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
