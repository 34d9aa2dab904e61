"""Streaming in the web app, through real HTTP: media files (types, cache headers, access, traversal,
Range), the console's stream panel (a real ffmpeg test pattern), the video page, deep links and the
archive (/mediathek).

Real parts: ffmpeg from imageio-ffmpeg (through the StreamManager), the app with its middleware, the
database of the run (SQLite or PostgreSQL).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from council.accounts import passwords, service
from council.accounts.sessions import SESSION_COOKIE, create_session
from council.live.models import EventKind, TimelineEvent
from streaming.models import Recording
from tests.factories import Town, make_town

HLS = "application/vnd.apple.mpegurl"
#: Rendered here: media/video.html, media/_player.html, media/_meeting_video.html, media/mediathek.html,
#: media/stream_panel.html (full page and htmx block).


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    monkeypatch.setattr(passwords, "_hasher", PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024),)))
    passwords._dummy_hash.cache_clear()
    yield
    monkeypatch.undo()
    passwords._dummy_hash.cache_clear()


class World:
    def __init__(self, town: Town, tokens: dict[str, str], media_dir: Path) -> None:
        self.town = town
        self.tokens = tokens
        self.media_dir = media_dir
        assert town.council_meeting is not None and town.secret_meeting is not None
        self.public_id = town.council_meeting.id
        self.secret_id = town.secret_meeting.id


@pytest.fixture
async def world(session: Any, settings: Any) -> World:
    town = await make_town(session)
    tokens = {}
    for username, roles in [("clerk1", ("clerk",)), ("citizen", ())]:
        account = await service.create_account(session, username, "correct horse battery", roles)
        await session.flush()
        tokens[username] = await create_session(session, account.id)
    await session.commit()
    return World(town, tokens, settings.media_dir)


def as_user(client: Any, token: str | None) -> None:
    client.cookies.delete(SESSION_COOKIE)
    if token:
        client.cookies.set(SESSION_COOKIE, token, domain="127.0.0.1")


async def csrf(client: Any, path: str) -> str:
    r = await client.get(path)
    assert r.status_code == 200, r.text[:500]
    m = re.search(r'name="_csrf_token" value="([^"]+)"', r.text)
    assert m, "no CSRF field on " + path
    return m.group(1)


def fake_media(media_dir: Path, meeting_id: int, *, ended: bool = True, mp4: bytes | None = None) -> Path:
    """A meeting directory as the packager leaves it (contents need not be real video for HTTP)."""
    root = media_dir / str(meeting_id)
    (root / "public").mkdir(parents=True, exist_ok=True)
    (root / "raw").mkdir(parents=True, exist_ok=True)
    (root / "public" / "master.m3u8").write_text(
        '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000,CODECS="avc1.64001e,mp4a.40.2"\nindex.m3u8\n'
    )
    index = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\ns-000000.ts\n"
    (root / "public" / "index.m3u8").write_text(index + ("#EXT-X-ENDLIST\n" if ended else ""))
    (root / "public" / "s-000000.ts").write_bytes(b"\x47" + bytes(187) * 1)
    (root / "public" / "captions.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nGuten Abend.\n")
    (root / "raw" / "part-0001.m3u8").write_text(index)
    (root / "segments.jsonl").write_text("{}\n")
    if mp4 is not None:
        (root / "recording.mp4").write_bytes(mp4)
    return root


# --- files ---------------------------------------------------------------------------------------------


async def test_public_files_types_and_cache_headers(client: Any, world: World) -> None:
    fake_media(world.media_dir, world.public_id, ended=False, mp4=bytes(range(256)) * 40)
    base = f"/medien/{world.public_id}"

    r = await client.get(f"{base}/public/index.m3u8")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(HLS)
    assert "max-age=1" in r.headers["cache-control"] and "immutable" not in r.headers["cache-control"]
    assert "content-encoding" not in r.headers  # media is never gzipped
    etag = r.headers["etag"]
    again = await client.get(f"{base}/public/index.m3u8", headers={"If-None-Match": etag})
    assert again.status_code == 304

    r = await client.get(f"{base}/public/s-000000.ts", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "video/mp2t"
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "content-encoding" not in r.headers
    assert r.content[:1] == b"\x47"

    r = await client.get(f"{base}/public/captions.vtt")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/vtt")

    r = await client.get(f"{base}/recording.mp4")
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    assert r.headers["accept-ranges"] == "bytes"
    assert len(r.content) == 10240


async def test_ended_playlist_may_be_cached_longer(client: Any, world: World) -> None:
    fake_media(world.media_dir, world.public_id, ended=True)
    r = await client.get(f"/medien/{world.public_id}/public/index.m3u8")
    assert r.status_code == 200
    assert "max-age=60" in r.headers["cache-control"]


async def test_mp4_range_and_download(client: Any, world: World) -> None:
    body = bytes(range(256)) * 40
    fake_media(world.media_dir, world.public_id, mp4=body)
    url = f"/medien/{world.public_id}/recording.mp4"
    r = await client.get(url, headers={"Range": "bytes=100-199"})
    assert r.status_code == 206
    assert r.headers["content-range"] == f"bytes 100-199/{len(body)}"
    assert r.content == body[100:200]
    r = await client.get(url, headers={"Range": "bytes=-10"})
    assert r.status_code == 206 and r.content == body[-10:]
    r = await client.get(url, headers={"Range": f"bytes={len(body)}-"})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{len(body)}"
    r = await client.get(url + "?download=1")
    assert r.status_code == 200
    assert r.headers["content-disposition"].startswith("attachment")


async def test_non_public_meeting_and_raw_are_hidden(client: Any, world: World) -> None:
    fake_media(world.media_dir, world.secret_id)
    fake_media(world.media_dir, world.public_id)
    as_user(client, None)
    for path in (
        f"/medien/{world.secret_id}/public/index.m3u8",
        f"/medien/{world.secret_id}/public/s-000000.ts",
        f"/medien/{world.public_id}/raw/part-0001.m3u8",
        f"/medien/{world.public_id}/segments.jsonl",
    ):
        r = await client.get(path)
        assert r.status_code == 404, path
    # a signed-in resident who is no member: still nothing
    as_user(client, world.tokens["citizen"])
    assert (await client.get(f"/medien/{world.secret_id}/public/index.m3u8")).status_code == 404
    assert (await client.get(f"/medien/{world.public_id}/raw/part-0001.m3u8")).status_code == 404
    # staff may see both; non-public material is never publicly cacheable
    as_user(client, world.tokens["clerk1"])
    r = await client.get(f"/medien/{world.secret_id}/public/s-000000.ts")
    assert r.status_code == 200
    assert r.headers["cache-control"].startswith("private")
    r = await client.get(f"/medien/{world.public_id}/raw/part-0001.m3u8")
    assert r.status_code == 200 and r.headers["cache-control"].startswith("private")


@pytest.mark.parametrize(
    "path",
    [
        "public/../raw/part-0001.m3u8",
        "public/%2e%2e/raw/part-0001.m3u8",
        "public/..%2fraw%2fpart-0001.m3u8",
        "public/..%5craw%5cpart-0001.m3u8",
        "public/.hidden.ts",
        "public//s-000000.ts/..",
        "%2fetc%2fpasswd",
        "public/s-000000.ts%00.m3u8",
        "public/../../1/public/index.m3u8",
    ],
)
async def test_traversal_is_impossible(client: Any, world: World, path: str) -> None:
    fake_media(world.media_dir, world.public_id)
    r = await client.get(f"/medien/{world.public_id}/{path}")
    assert r.status_code in (400, 404), (path, r.status_code)


async def test_symlink_out_of_the_meeting_directory_is_not_served(
    client: Any, world: World, tmp_path: Path
) -> None:
    root = fake_media(world.media_dir, world.public_id)
    secret = tmp_path / "secret.ts"
    secret.write_bytes(b"secret")
    (root / "public" / "s-000001.ts").symlink_to(secret)
    r = await client.get(f"/medien/{world.public_id}/public/s-000001.ts")
    assert r.status_code == 404


async def test_unknown_meeting_and_missing_files(client: Any, world: World) -> None:
    assert (await client.get("/medien/999999/public/index.m3u8")).status_code == 404
    assert (await client.get(f"/medien/{world.public_id}/public/index.m3u8")).status_code == 404
    assert (await client.get("/medien/0/public/index.m3u8")).status_code == 404


# --- nginx in front (docs/nginx/rathaus.conf) ---------------------------------------------------------

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


def nginx_config(tmp: Path, listen: int, upstream: int, media_dir: Path) -> Path:
    """The documented server block, pointed at this test's app and media directory, in a minimal
    main configuration that runs unprivileged in ``tmp``."""
    server = (REPO / "docs" / "nginx" / "rathaus.conf").read_text()
    replacements = {
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{upstream};",
        "listen 80;": f"listen 127.0.0.1:{listen};",
        "alias /srv/rathaus/var/media/;": f"alias {media_dir.resolve()}/;",
        "alias /srv/rathaus/web/static/;": f"alias {REPO / 'web' / 'static'}/;",
    }
    for old, new in replacements.items():
        assert old in server, f"docs/nginx/rathaus.conf no longer contains {old!r}"
        server = server.replace(old, new)
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / name).mkdir(parents=True, exist_ok=True)
    # As root, nginx's workers would drop to "nobody", who cannot read pytest's private tmp dirs.
    user = "user root;" if os.geteuid() == 0 else ""
    main = f"""
{user}
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{server}
}}
"""
    path = tmp / "nginx.conf"
    path.write_text(main)
    return path


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx)")
async def test_nginx_in_front(app: Any, world: World, tmp_path: Path) -> None:
    import httpx

    from tests.integration.test_live import serve

    body = bytes(range(256)) * 64
    fake_media(world.media_dir, world.public_id, ended=False, mp4=body)
    fake_media(world.media_dir, world.secret_id)
    async with serve(app) as base:
        upstream = int(base.rsplit(":", 1)[1])
        listen = _free_port()
        conf = nginx_config(tmp_path / "nginx", listen, upstream, world.media_dir)
        check = subprocess.run(  # noqa: ASYNC221 (nginx -t: a quick syntax check)
            [NGINX, "-t", "-c", str(conf)], capture_output=True, text=True, timeout=30
        )
        assert check.returncode == 0, check.stderr
        proc = subprocess.Popen(  # noqa: ASYNC220 (started once, stopped in finally)
            [NGINX, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        try:
            front = f"http://127.0.0.1:{listen}"
            async with httpx.AsyncClient(base_url=front, timeout=10) as http:
                for _ in range(100):  # nginx starts in well under a second; bounded wait
                    try:
                        await http.get("/healthz")
                        break
                    except httpx.TransportError:
                        await asyncio.sleep(0.05)
                mid = world.public_id
                r = await http.get(f"/medien/{mid}/public/index.m3u8")
                assert r.status_code == 200, r.text[:300]
                assert r.headers["content-type"].startswith(HLS)
                assert "max-age=1" in r.headers["cache-control"]
                assert "x-accel-redirect" not in r.headers
                assert r.text.startswith("#EXTM3U")

                r = await http.get(f"/medien/{mid}/public/s-000000.ts")
                assert r.status_code == 200
                assert r.headers["content-type"] == "video/mp2t"
                assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
                assert r.content[:1] == b"\x47"

                r = await http.get(f"/medien/{mid}/recording.mp4", headers={"Range": "bytes=10-19"})
                assert r.status_code == 206 and r.content == body[10:20]

                # the app still decides: non-public meeting, raw/, the internal location itself
                assert (await http.get(f"/medien/{world.secret_id}/public/index.m3u8")).status_code == 404
                assert (await http.get(f"/medien/{mid}/raw/part-0001.m3u8")).status_code == 404
                assert (await http.get(f"/_medien_intern/{mid}/public/index.m3u8")).status_code == 404
                # pages pass through
                assert (await http.get(f"/sitzungen/{mid}")).status_code == 200
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


# --- the whole way: console → test pattern → HLS → stop → archive ------------------------------------


async def _wait_for(predicate: Any, seconds: float, step: float = 0.25) -> Any:
    """Poll an async predicate until it returns something truthy (bounded in time)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        value = await predicate()
        if value:
            return value
        if loop.time() > deadline:
            return value
        await asyncio.sleep(step)


async def test_console_test_pattern_to_archive(client: Any, world: World, db: Any) -> None:
    mid = world.public_id
    item_id = world.town.council_item.id  # type: ignore[union-attr]
    as_user(client, world.tokens["clerk1"])
    token = await csrf(client, f"/verwaltung/sitzungen/{mid}/stream")
    hx = {"HX-Request": "true", "x-csrftoken": token}

    # without the token: refused, nothing starts
    r = await client.post(f"/verwaltung/sitzungen/{mid}/stream/testbild", headers={"HX-Request": "true"})
    assert r.status_code == 403
    assert not client.app.state.streams.live(mid)

    r = await client.post(f"/verwaltung/sitzungen/{mid}/stream/testbild", headers=hx)
    assert r.status_code == 200, r.text[:500]
    assert 'id="stream-panel"' in r.text and "badge-live" in r.text
    # a second start is a clear 409 with the message in the panel
    r = await client.post(f"/verwaltung/sitzungen/{mid}/stream/testbild", headers=hx)
    assert r.status_code == 409 and "bereits eine Übertragung" in r.text
    # the key is shown once, with the publishing addresses; never cached
    r = await client.post(f"/verwaltung/sitzungen/{mid}/stream/schluessel", headers=hx)
    assert r.status_code == 200 and "data-stream-key" in r.text
    assert r.headers["cache-control"] == "no-store"
    assert f"/whip/{mid}" in r.text
    again = await client.get(f"/verwaltung/sitzungen/{mid}/stream", headers={"HX-Request": "true"})
    assert "data-stream-key" not in again.text

    # anonymous residents get the live playlist and segments
    as_user(client, None)

    async def playlist() -> str | None:
        r = await client.get(f"/medien/{mid}/public/index.m3u8")
        if r.status_code != 200 or r.text.count("#EXTINF") < 2:
            return None
        return r.text

    text = await _wait_for(playlist, seconds=45)
    assert text, "no live playlist with two segments within 45 s"
    r = await client.get(f"/medien/{mid}/public/index.m3u8")
    assert r.headers["content-type"].startswith(HLS)
    assert "max-age=1" in r.headers["cache-control"]
    assert "#EXT-X-PROGRAM-DATE-TIME" in text and "#EXT-X-ENDLIST" not in text
    first = next(line for line in text.splitlines() if line.endswith(".ts"))
    seg = await client.get(f"/medien/{mid}/public/{first}")
    assert seg.status_code == 200 and seg.headers["content-type"] == "video/mp2t"
    assert seg.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert seg.content[:1] == b"\x47" and len(seg.content) > 1000
    master = await client.get(f"/medien/{mid}/public/master.m3u8")
    assert master.status_code == 200 and master.headers["content-type"].startswith(HLS)

    # the meeting page and the video page show the live player
    page = await client.get(f"/sitzungen/{mid}/video")
    assert page.status_code == 200
    assert "data-player" in page.text and 'data-live="true"' in page.text
    assert (await client.get(f"/sitzungen/{mid}")).text.count("data-player ") >= 1

    # an agenda item becomes a chapter (timeline events written directly, as the console would)
    async with db.sessionmaker() as s:
        rec = (await s.execute(select(Recording).where(Recording.meeting_id == mid))).scalar_one()
        assert rec.started_at is not None
        s.add(
            TimelineEvent(
                meeting_id=mid,
                kind=EventKind.AGENDA_ITEM_STARTED.value,
                agenda_item_id=item_id,
                at=rec.started_at + timedelta(seconds=1),
            )
        )
        s.add(
            TimelineEvent(
                meeting_id=mid,
                kind=EventKind.AGENDA_ITEM_ENDED.value,
                agenda_item_id=item_id,
                at=rec.started_at + timedelta(seconds=2),
            )
        )
        await s.commit()

    as_user(client, world.tokens["clerk1"])
    r = await client.post(f"/verwaltung/sitzungen/{mid}/stream/stoppen", headers=hx)
    assert r.status_code == 200, r.text[:500]
    r = await client.post(f"/verwaltung/sitzungen/{mid}/stream/stoppen", headers=hx)
    assert r.status_code == 404 and "keine Übertragung" in r.text

    async def ready() -> bool:
        async with db.sessionmaker() as s:
            state = (
                await s.execute(select(Recording.state).where(Recording.meeting_id == mid))
            ).scalar_one_or_none()
        return state == "ready"

    assert await _wait_for(ready, seconds=60), "the recording was not finalised within 60 s"

    as_user(client, None)
    vod = await client.get(f"/medien/{mid}/public/index.m3u8")
    assert "#EXT-X-ENDLIST" in vod.text and "max-age=60" in vod.headers["cache-control"]
    listing = await client.get("/mediathek")
    assert listing.status_code == 200 and f'href="/sitzungen/{mid}/video"' in listing.text
    page = await client.get(f"/sitzungen/{mid}/video")
    assert page.status_code == 200
    assert re.search(rf'href="/sitzungen/{mid}/video\?t=\d+" data-seek="\d+"', page.text), "no chapter link"
    assert f"/medien/{mid}/recording.mp4?download=1" in page.text
    assert f"/sitzungen/{mid}/wortprotokoll" in page.text

    mp4 = await client.get(f"/medien/{mid}/recording.mp4", headers={"Range": "bytes=0-11"})
    assert mp4.status_code == 206 and mp4.content[4:8] == b"ftyp"
    # deep links: a second, and an agenda item (seeks to its chapter start)
    r = await client.get(f"/sitzungen/{mid}/video?t=3")
    assert r.status_code == 200 and 'data-start="3"' in r.text and "recording.mp4#t=3" in r.text
    r = await client.get(f"/sitzungen/{mid}/video?top={item_id}")
    assert r.status_code == 200 and re.search(r'data-start="[01]"', r.text)


async def test_video_page_bad_input_and_access(client: Any, world: World) -> None:
    mid = world.public_id
    assert (await client.get(f"/sitzungen/{mid}/video?t=abc")).status_code == 400
    assert (await client.get(f"/sitzungen/{mid}/video?t=999999999")).status_code == 400
    assert (await client.get(f"/sitzungen/{mid}/video?top=x")).status_code == 400
    assert (await client.get(f"/sitzungen/{mid}/video?top=123456")).status_code == 404
    r = await client.get(f"/sitzungen/{mid}/video?t=1m30s")
    assert r.status_code == 200 and 'data-start="90"' not in r.text  # no media yet: no player
    assert "kein Video" in r.text
    assert (await client.get(f"/sitzungen/{world.secret_id}/video")).status_code == 404
    assert (await client.get("/mediathek?seite=0")).status_code == 400


async def test_stream_panel_guarded(client: Any, world: World) -> None:
    mid = world.public_id
    as_user(client, None)
    r = await client.get(f"/verwaltung/sitzungen/{mid}/stream", follow_redirects=False)
    assert r.status_code == 303
    as_user(client, world.tokens["citizen"])
    assert (await client.get(f"/verwaltung/sitzungen/{mid}/stream")).status_code == 403
    as_user(client, world.tokens["clerk1"])
    assert (await client.get(f"/verwaltung/sitzungen/{mid}/stream")).status_code == 200
    token = await csrf(client, f"/verwaltung/sitzungen/{mid}/stream")
    r = await client.post(f"/verwaltung/sitzungen/{mid}/stream/unsinn", headers={"x-csrftoken": token})
    assert r.status_code == 404
    r = await client.post("/verwaltung/sitzungen/999999/stream/testbild", headers={"x-csrftoken": token})
    assert r.status_code == 404
    # the console page carries the panel loader (and a plain link without JS)
    page = await client.get(f"/verwaltung/sitzungen/{mid}/konsole")
    assert f'hx-get="/verwaltung/sitzungen/{mid}/stream"' in page.text


# --- the demo stream ---------------------------------------------------------------------------------


async def test_demo_stream_starts_for_the_demo_meeting(settings: Any, world: World, db: Any) -> None:
    from litestar.testing import AsyncTestClient

    from web.app import create_app
    from web.media_wiring import demo_meeting_id

    async with db.sessionmaker() as s:
        # an open meeting wins; else today's (Europe/Berlin); else the next public one
        start = world.town.council_meeting.start  # type: ignore[union-attr]
        assert await demo_meeting_id(s, now=start) == world.public_id
        mid = await demo_meeting_id(s)
    assert mid is not None
    demo = settings.model_copy(update={"demo_stream": True})
    # the app runs in the test client's own loop: look through HTTP; shutdown stops the stream
    async with AsyncTestClient(app=create_app(demo), base_url="http://127.0.0.1:8000") as c:
        assert c.app.state.streams.live(mid), "the demo's test pattern is not live"
        page = await c.get(f"/sitzungen/{mid}/video")
        assert page.status_code == 200 and 'data-live="true"' in page.text


async def test_non_public_recording_is_hidden_from_the_public(
    client: Any, world: World, session: Any
) -> None:
    """A non-public meeting's recording: not in /mediathek, its video page and files 404 for anonymous
    visitors and residents; staff see all of it. Anonymous first, then staff, then anonymous again, so
    that neither the page cache nor the media access cache carries one viewer's answer to another."""
    for mid in (world.public_id, world.secret_id):
        fake_media(world.media_dir, mid, mp4=bytes(range(256)) * 4)
        session.add(
            Recording(meeting_id=mid, state="ready", duration_s=1.0, mp4_path=f"{mid}/recording.mp4", parts=1)
        )
    await session.commit()
    secret, public = world.secret_id, world.public_id
    files = (
        f"/medien/{secret}/recording.mp4",
        f"/medien/{secret}/public/master.m3u8",
        f"/medien/{secret}/public/index.m3u8",
        f"/medien/{secret}/public/s-000000.ts",
        f"/medien/{secret}/public/captions.vtt",
    )

    async def hidden(token: str | None) -> None:
        as_user(client, token)
        listing = await client.get("/mediathek")
        assert listing.status_code == 200
        assert f'href="/sitzungen/{public}/video"' in listing.text  # the public one is listed
        assert f"/sitzungen/{secret}/" not in listing.text
        assert (await client.get(f"/sitzungen/{secret}/video")).status_code == 404
        assert (await client.get(f"/sitzungen/{secret}/video?t=1")).status_code == 404
        assert (await client.get(f"/sitzungen/{secret}")).status_code == 404
        for path in files:
            r = await client.get(path)
            assert r.status_code == 404, (token, path, r.status_code)
            assert b"\x47" not in r.content[:1] and b"WEBVTT" not in r.content
        # the public recording next to it plays for everyone
        assert (await client.get(f"/medien/{public}/recording.mp4")).status_code == 200

    await hidden(None)
    await hidden(world.tokens["citizen"])

    as_user(client, world.tokens["clerk1"])
    listing = await client.get("/mediathek")
    assert listing.status_code == 200 and f'href="/sitzungen/{secret}/video"' in listing.text
    page = await client.get(f"/sitzungen/{secret}/video")
    assert page.status_code == 200
    assert f"/medien/{secret}/recording.mp4" in page.text
    for path in files:
        r = await client.get(path)
        assert r.status_code == 200, path
        assert r.headers["cache-control"].startswith("private"), path

    await hidden(None)
