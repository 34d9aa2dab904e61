"""RTMP and SRT listeners with real ffmpeg publishers: the right key streams (copy path), a wrong key
and garbage bytes are refused and the listener is re-armed; nothing crashes."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from typing import Any

import pytest

from streaming.ffmpeg import ffmpeg_binary
from streaming.manager import StreamManager
from streaming.paths import meeting_paths
from streaming.playlist import load_journal
from streaming.sources import RtmpListen, SrtListen
from tests.factories import make_town
from tests.integration.streaming_helpers import codecs, free_port, stream_settings, wait_until


def _publisher_cmd(binary: str, url: str, fmt: str, seconds: float = 4.0) -> list[str]:
    return [
        binary, "-hide_banner", "-loglevel", "error", "-re",
        "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=10:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=sample_rate=48000:duration={seconds}",
        "-c:v", "libx264", "-preset", "veryfast", "-g", "10", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-f", fmt, url,
    ]  # fmt: skip


async def _run(cmd: list[str], timeout: float = 30) -> int:  # noqa: ASYNC109
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        return await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return -9


async def _garbage(port: int, udp: bool = False) -> None:
    """Random bytes at the listener (bounded: one connection, 64 KiB)."""

    def send() -> None:
        if udp:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for _ in range(64):
                s.sendto(os.urandom(1024), ("127.0.0.1", port))
            s.close()
            return
        deadline = time.monotonic() + 10
        while True:
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.1)
        try:
            s.sendall(os.urandom(65536))
        except OSError:
            pass
        s.close()

    await asyncio.to_thread(send)


async def _listener_test(settings: Any, db: Any, kind: str) -> None:
    stream_settings(settings)
    async with db.sessionmaker() as s:
        town = await make_town(s)
        meeting_id = town.council_meeting.id
    manager = StreamManager(settings, db.sessionmaker)
    await manager.start()
    binary = ffmpeg_binary(settings)
    key = "Kf3-9xQ_abcdefgh12"
    if kind == "rtmp":
        port = free_port()
        source: Any = RtmpListen(port=port, key=key)
        good = f"rtmp://127.0.0.1:{port}/live/{key}"
        bad = f"rtmp://127.0.0.1:{port}/live/wrong-key-123"
        fmt = "flv"
    else:
        port = free_port(socket.SOCK_DGRAM)
        source = SrtListen(port=port, key=key)
        good = f"srt://127.0.0.1:{port}?passphrase={key}&pbkeylen=16"
        bad = f"srt://127.0.0.1:{port}?passphrase=wrongpassphrase9&pbkeylen=16&connect_timeout=3000"
        fmt = "mpegts"
    live = await manager.start_stream(meeting_id, source)
    try:
        await wait_until(lambda: live.pid is not None)
        # Garbage first, then a wrong key: refused, the listener comes back, the manager lives on.
        await _garbage(port, udp=kind == "srt")
        rc_bad = 0
        for _ in range(5):  # until the re-armed listener answers (it refuses: the key is wrong)
            await wait_until(lambda: live.pid is not None)
            await asyncio.sleep(0.5)
            rc_bad = await _run(_publisher_cmd(binary, bad, fmt, seconds=2), timeout=20)
            if kind == "srt" or live.rearms >= 2:
                break
        assert kind == "srt" or live.rearms >= 2, "the wrong key must have reached the listener"
        assert live.segments == 0
        assert manager.live(meeting_id) is live
        # The right key: the listener is re-armed and takes it; H.264 is copied, not transcoded.
        rc_good = -1
        for _ in range(5):  # the listener may be re-arming at the moment we connect
            await wait_until(lambda: live.pid is not None)
            await asyncio.sleep(0.5)
            rc_good = await _run(_publisher_cmd(binary, good, fmt, seconds=4), timeout=30)
            if live.segments >= 2:
                break
        if live.segments < 2:
            raise AssertionError(
                f"no segments: rc_bad={rc_bad} rc_good={rc_good} rearms={live.rearms} "
                f"pid={live.pid} tail={list(live.stderr_tail)}"
            )
        assert live.plan is not None and live.plan.video_copy
        if kind == "rtmp":
            # ffmpeg's RTMP listener ends its run on garbage / a refused name: it was re-armed.
            assert live.rearms >= 1
        # (libsrt rejects a wrong passphrase in the handshake and keeps listening: no re-arm needed.)
        paths = meeting_paths(settings.media_dir, meeting_id)
        entries = load_journal(paths.journal)
        assert codecs(paths.public / f"s-{entries[0].seq:06d}.ts") == ("h264", "aac")
        assert rc_good in (0, -9) or live.segments >= 2
    finally:
        await manager.stop_stream(meeting_id)
        await manager.stop()


async def test_rtmp_listener(settings: Any, db: Any) -> None:
    await _listener_test(settings, db, "rtmp")


async def test_srt_listener(settings: Any, db: Any) -> None:
    import subprocess

    out = subprocess.run(  # noqa: ASYNC221
        [ffmpeg_binary(settings), "-hide_banner", "-protocols"], capture_output=True, text=True, check=False
    ).stdout
    if " srt" not in out and "\nsrt" not in out.replace("  ", " "):
        pytest.skip("this ffmpeg has no srt")
    await _listener_test(settings, db, "srt")
