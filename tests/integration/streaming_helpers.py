"""Shared helpers for the streaming core tests (real ffmpeg, real database)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np

from council.core.settings import Settings


def stream_settings(settings: Settings) -> Settings:
    """Short segments and a short live window for the tests."""
    settings.hls_segment_seconds = 1.0
    settings.hls_list_size = 6
    settings.live_captions = True
    settings.disk_alarm_free_bytes = 0
    return settings


async def wait_until(cond: Callable[[], Any], timeout: float = 25.0, step: float = 0.1) -> Any:  # noqa: ASYNC109
    """Poll ``cond`` until it is truthy (bounded); returns its value or fails with a message."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout} s")
        await asyncio.sleep(step)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


def mean_luma(path: Path) -> float:
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            return float(frame.to_ndarray(format="gray").mean())
    raise AssertionError(f"no video frame in {path}")


def peak_audio(path: Path) -> float:
    peak = 0.0
    with av.open(str(path)) as c:
        for frame in c.decode(audio=0):
            arr = frame.to_ndarray()
            if arr.size:
                peak = max(peak, float(np.abs(arr).max()))
    return peak


def codecs(path: Path) -> tuple[str, str]:
    with av.open(str(path)) as c:
        return c.streams.video[0].codec_context.name, c.streams.audio[0].codec_context.name


def decoded_duration(path: Path) -> float:
    """Seconds of video actually decodable (last frame time − first + one frame)."""
    times = []
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        for frame in c.decode(video=0):
            if frame.time is not None:
                times.append(frame.time)
        rate = float(stream.average_rate or 10)
    assert times, f"no decodable video in {path}"
    return max(times) - min(times) + 1 / rate
