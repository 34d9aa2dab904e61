"""The consent slate: a still picture with silent audio that replaces a public segment while a
speaker who has not consented is talking.

A slate segment is encoded to match the segment it replaces — same size, frame rate, audio rate and
channel layout, same duration and the same start timestamp (``-output_ts_offset``) — so the public
timeline runs on and the archive remux stays continuous; the playlist still brackets slate runs
with ``EXT-X-DISCONTINUITY`` because the encoder parameters differ from the camera's.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from streaming.ffmpeg import GLOBAL_ARGS, MediaInfo, has_drawtext, probe, round_fps

log = logging.getLogger(__name__)

#: Dark blue, far from any test picture in luma (tests check it) and calm to look at.
SLATE_COLOR = "0x1f2a44"
SLATE_TEXT = "Übertragung unterbrochen"


def slate_command(binary: str, info: MediaInfo, duration: float, pts_offset: float, dst: Path) -> list[str]:
    width = info.width or 640
    height = info.height or 360
    fps = round_fps(info.fps)
    rate = info.sample_rate or 48000
    layout = "mono" if (info.channels or 2) == 1 else "stereo"
    vf = "format=yuv420p"
    if has_drawtext(binary):
        size = max(12, height // 14)
        vf = (
            f"drawtext=text='{SLATE_TEXT}':fontcolor=white:fontsize={size}:"
            "x=(w-text_w)/2:y=(h-text_h)/2,format=yuv420p"
        )
    gop = max(1, round(duration * fps))
    cmd = [
        binary, *GLOBAL_ARGS, "-nostdin", "-y",
        "-f", "lavfi", "-i", f"color=c={SLATE_COLOR}:s={width}x{height}:r={fps:g}",
        "-f", "lavfi", "-i", f"anullsrc=r={rate}:cl={layout}",
        "-t", f"{duration:.6f}",
        "-vf", vf,
        "-c:v", "libx264", "-preset", "veryfast", "-tune", "stillimage", "-g", str(gop),
        "-c:a", "aac", "-b:a", "64k",
        "-output_ts_offset", f"{max(0.0, pts_offset):.6f}",
        "-muxdelay", "0", "-muxpreload", "0",
        "-f", "mpegts", str(dst),
    ]  # fmt: skip
    return cmd


async def make_slate_like(binary: str, like: Path, dst: Path, duration: float) -> float:
    """Write a slate segment to ``dst`` (atomically) shaped like ``like``; returns its start pts."""
    info = await asyncio.to_thread(probe, like)
    pts = info.start_time or 0.0
    tmp = dst.with_name(f".{dst.name}.slate.tmp")
    cmd = slate_command(binary, info, duration, pts, tmp)
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"slate encode failed: {err.decode(errors='replace')[-500:]}")
    tmp.replace(dst)
    return pts
