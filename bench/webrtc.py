"""WHEP glass-to-glass latency on loopback, and the CPU of the WHIP ingest and of each WHEP viewer.

    .venv/bin/python -m bench.webrtc [--seconds 8] [--viewers 4] [--size 640x360] [--fps 25]
                                     [--preset veryfast]

An aiortc publisher sends frames with its send time (ms, 32 bits) burned in as a row of black/white
blocks; the WHIP ingest (``streaming.rtc.RtcService``: aiortc decode → one x264 encode → MPEG-TS to a
discarding sink + H.264/Opus packets to the WHEP hub) relays them; aiortc WHEP viewers decode and
read the blocks back. Latency = receive time − burned-in send time (same clock, same process), so it
covers publisher encode, RTP/loopback, ingest decode + encode, fan-out, viewer jitter buffer and
decode: the whole WHIP → WHEP path. Target: **≤ 0.5 s**.

CPU (process time over wall time, this process holds everything):
1. publisher + ingest with no viewer;
2. the same with ``--viewers`` viewers: the increase per viewer. That includes each viewer's own
   decode (aiortc always decodes), so it is an upper bound for the server's per-viewer cost.
3. **baseline in the same run**: a plain ``ffmpeg`` encoding the same size/fps with the same x264
   settings from lavfi to /dev/null (what the ingest's encode alone costs outside Python).

Prints a table and writes ``bench/results/webrtc-*.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiortc import RTCSessionDescription, VideoStreamTrack

from streaming.rtc import RtcService
from streaming.webrtc import new_peer_connection, parse_offer

BITS = 32
TARGET_S = 0.5
RESULTS = Path(__file__).parent / "results"


def _now_ms() -> int:
    return int(time.time() * 1000) & 0xFFFFFFFF


class StampedTrack(VideoStreamTrack):
    """A moving test picture with the send time (ms) in the top rows as 32 blocks."""

    def __init__(self, width: int, height: int, fps: int) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self.block = width // BITS
        self.n = 0
        self.t0 = time.monotonic()

    async def recv(self) -> av.VideoFrame:
        due = self.t0 + self.n / self.fps
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        y = np.full((self.height, self.width), 100, dtype=np.uint8)
        y[self.height // 2 :, (self.n * 4) % self.width :][:, :20] = 200  # some motion
        stamp = _now_ms()
        for i in range(BITS):
            y[: self.height // 6, i * self.block : (i + 1) * self.block] = 235 if (stamp >> i) & 1 else 16
        uv = np.full((self.height // 2, self.width), 128, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(np.vstack([y, uv]), format="yuv420p")
        frame.pts = self.n * (90_000 // self.fps)
        frame.time_base = Fraction(1, 90_000)
        self.n += 1
        return frame


def read_stamp(frame: av.VideoFrame) -> int:
    y = frame.to_ndarray(format="gray")
    h, w = y.shape
    block = w // BITS
    rows = y[h // 24 : h // 8]
    value = 0
    for i in range(BITS):
        if rows[:, i * block + block // 4 : (i + 1) * block - block // 4].mean() > 125:
            value |= 1 << i
    return value


class Viewer:
    def __init__(self) -> None:
        self.pc = new_peer_connection(loopback=True)
        self.pc.addTransceiver("video", direction="recvonly")
        self.latencies: list[float] = []
        self.frames = 0
        self.measure = False
        self.tasks: list[asyncio.Future[None]] = []

        @self.pc.on("track")
        def on_track(track: Any) -> None:
            if track.kind == "video":
                self.tasks.append(asyncio.ensure_future(self._pump(track)))

    async def _pump(self, track: Any) -> None:
        try:
            while True:
                frame = await track.recv()
                self.frames += 1
                if self.measure:
                    got = _now_ms()
                    sent = read_stamp(frame)
                    delta = ((got - sent) & 0xFFFFFFFF) / 1000
                    if delta < 10:
                        self.latencies.append(delta)
        except Exception:
            return


class NullSink:
    async def write(self, data: bytes) -> None:
        return None

    async def close(self) -> None:
        return None


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def _cpu_over(seconds: float) -> float:
    c0, t0 = _cpu(), time.monotonic()
    await asyncio.sleep(seconds)
    return (_cpu() - c0) / (time.monotonic() - t0)


def ffmpeg_baseline(width: int, height: int, fps: int, preset: str, seconds: float) -> float:
    import imageio_ffmpeg

    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-re",
        "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}:duration={seconds}",
        "-c:v", "libx264", "-preset", preset, "-tune", "zerolatency", "-profile:v", "baseline",
        "-f", "null", "-",
    ]  # fmt: skip
    t0 = time.monotonic()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return used / (time.monotonic() - t0)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    width, height = (int(v) for v in args.size.split("x"))
    service = RtcService(loopback=True, viewer_cap=args.viewers + 1, preset=args.preset)
    pub = new_peer_connection(loopback=True)
    pub.addTransceiver(StampedTrack(width, height, args.fps), direction="sendonly")
    await pub.setLocalDescription(await pub.createOffer())

    async def sink() -> NullSink:
        return NullSink()

    session = await service.publish(1, parse_offer(pub.localDescription.sdp.encode()), sink)
    assert session.pc is not None
    await pub.setRemoteDescription(RTCSessionDescription(session.pc.localDescription.sdp, "answer"))
    await asyncio.wait_for(session.connected.wait(), 15)
    await asyncio.sleep(2)  # warm up
    cpu_ingest = await _cpu_over(args.seconds)

    viewers = [Viewer() for _ in range(args.viewers)]
    for v in viewers:
        await v.pc.setLocalDescription(await v.pc.createOffer())
        _vid, answer = await service.view(1, parse_offer(v.pc.localDescription.sdp.encode()))
        await v.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    await asyncio.sleep(3)
    for v in viewers:
        v.measure = True
    cpu_viewers = await _cpu_over(args.seconds)
    latencies = sorted(x for v in viewers for x in v.latencies)
    stats = session.encoder.stats if session.encoder else None
    for v in viewers:
        await v.pc.close()
    await service.close()
    await pub.close()

    baseline = await asyncio.to_thread(ffmpeg_baseline, width, height, args.fps, args.preset, args.seconds)

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else float("nan")

    return {
        "size": args.size,
        "fps": args.fps,
        "preset": args.preset,
        "viewers": args.viewers,
        "frames_measured": len(latencies),
        "latency_p50_s": round(pct(0.5), 3),
        "latency_p95_s": round(pct(0.95), 3),
        "latency_max_s": round(latencies[-1], 3) if latencies else None,
        "latency_mean_s": round(statistics.fmean(latencies), 3) if latencies else None,
        "target_s": TARGET_S,
        "cpu_publisher_plus_ingest_cores": round(cpu_ingest, 3),
        "cpu_per_viewer_cores_upper_bound": round((cpu_viewers - cpu_ingest) / max(1, args.viewers), 3),
        "cpu_ffmpeg_x264_baseline_cores": round(baseline, 3),
        "encoder": stats.__dict__ if stats else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--viewers", type=int, default=4)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--preset", default="veryfast")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    ok = result["latency_p95_s"] <= TARGET_S
    print(
        f"WHIP → WHEP on loopback, {args.size} @ {args.fps} fps, x264 {args.preset}, {args.viewers} viewers"
    )
    print(
        f"  glass-to-glass latency  p50 {result['latency_p50_s']:.3f} s  "
        f"p95 {result['latency_p95_s']:.3f} s  "
        f"max {result['latency_max_s']} s  (target ≤ {TARGET_S} s: {'met' if ok else 'MISSED'}; "
        f"{result['frames_measured']} frames)"
    )
    print(f"  CPU publisher + ingest  {result['cpu_publisher_plus_ingest_cores']:.3f} cores")
    print(
        f"  CPU per WHEP viewer     {result['cpu_per_viewer_cores_upper_bound']:.3f} cores (incl. its decode)"
    )
    print(
        f"  baseline: plain ffmpeg x264 {args.preset} at that size  "
        f"{result['cpu_ffmpeg_x264_baseline_cores']:.3f} cores"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"webrtc-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"  written to {out}")
    sys.stdout.flush()
    os._exit(0)  # aiortc leaves daemon threads (decoders) behind


if __name__ == "__main__":
    main()
