"""Streaming: HLS glass-to-glass latency, CPU per stream (remux vs transcode vs plain ffmpeg) and the
segment requests per second the app serves.

```sh
.venv/bin/python -m bench.streaming [--only latency cpu serve] [--seconds 12] [--duration 10]
```

1. **Latency** (target ≤ 4 s with 1 s segments): the app (uvicorn, in this process) runs a test
   pattern through the real ``StreamManager``; real Chromium opens the video page and plays it with
   hls.js; every 0.5 s we read ``Date.now() - hls.playingDate`` — the wall clock minus the
   program-date-time of the frame on screen (PDT is stamped by the packager from the wall clock when
   the frame was made, so this is glass to glass minus the camera). Also reported: how old the newest
   segment is when it appears in the playlist (packager latency, no player).
2. **CPU per stream** (target remux ≤ 0.05 core): the same 640x360 25 fps H.264 file, played in real
   time, packaged by the manager with ``-c copy`` (remux) and with a forced encode (transcode), and by
   a plain ``ffmpeg -re -i … -c copy -f hls`` command for comparison; CPU of the ffmpeg process from
   /proc over ``--seconds``; the app's own Python work (composer) is reported separately.
3. **Segment requests/s** (target ≥ 700): ``uvicorn web.asgi:app`` as its own process (one worker),
   a public meeting with 1 s segments of realistic size on disk, 16 keep-alive clients fetching the
   newest six segments round-robin (a live audience), plus the playlist and ``/healthz`` as the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench._load import (
    CLK_TCK,
    REPO_ROOT,
    Server,
    Target,
    cancel_on_sigterm,
    drive,
    format_table,
    machine_info,
    make_client,
    process_cpu_seconds,
    warm_up,
    write_json,
)

SECRET = "bench-secret-key-not-for-production"
SERVE_TARGET = Target(min_rps=700)
LATENCY_TARGET_S = 4.0
REMUX_TARGET_CORES = 0.05


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


async def _make_db(var_dir: Path) -> tuple[Any, int]:
    """A fresh SQLite database with the schema and a small town; returns (settings, public meeting id)."""
    from council.core.db import Database
    from council.core.settings import Settings
    from tests.factories import make_town
    from web.models import metadata

    var_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (bench setup, a local tmp dir)
    settings = Settings(
        var_dir=var_dir,
        database_url=f"sqlite+aiosqlite:///{var_dir / 'rathaus.db'}",
        secret_key=SECRET,
        page_cache_seconds=0,
        jobs_in_process=True,
        live_captions=False,
    )
    db = Database(settings)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        async with db.sessionmaker() as session:
            town = await make_town(session)
            assert town.council_meeting is not None
            return settings, town.council_meeting.id
    finally:
        await db.dispose()


def _self_cpu() -> float:
    t = os.times()
    return t.user + t.system


# --- 1. latency --------------------------------------------------------------------------------------


async def bench_latency(seconds: float) -> dict[str, Any]:
    import uvicorn
    from playwright.async_api import async_playwright

    from streaming.sources import TestPattern
    from web.app import create_app

    tmp = Path(tempfile.mkdtemp(prefix="rathaus-bench-latency-"))
    try:
        settings, mid = await _make_db(tmp / "var")
        app = create_app(settings)
        port_sock = __import__("socket").socket()
        port_sock.bind(("127.0.0.1", 0))
        port = port_sock.getsockname()[1]
        port_sock.close()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        task = asyncio.create_task(server.serve())
        for _ in range(300):
            if server.started:
                break
            await asyncio.sleep(0.05)
        packager_ages: list[float] = []
        player: list[float] = []
        try:
            await app.state.streams.start_stream(mid, TestPattern(size="640x360", rate=25))
            index = settings.media_dir / str(mid) / "public" / "index.m3u8"
            seen: set[str] = set()
            # packager latency: how old is the newest segment's end when it appears?
            deadline = time.monotonic() + max(6.0, seconds / 2)
            from datetime import datetime

            while time.monotonic() < deadline:
                if index.exists():
                    text = index.read_text()
                    pdt, dur, name = None, 0.0, None
                    for line in text.splitlines():
                        if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
                            pdt = datetime.fromisoformat(line.split(":", 1)[1].replace("Z", "+00:00"))
                        elif line.startswith("#EXTINF:"):
                            dur = float(line[8:].split(",")[0])
                        elif line and not line.startswith("#"):
                            name = line
                            if pdt is not None:
                                pdt_end = pdt.timestamp() + dur
                                pdt = None
                            else:
                                pdt_end = None
                            if name not in seen:
                                seen.add(name)
                                if pdt_end is not None and len(seen) > 1:
                                    packager_ages.append(time.time() - pdt_end)
                await asyncio.sleep(0.05)

            async with async_playwright() as pw:
                browser = await pw.chromium.launch(
                    executable_path=os.environ.get("RATHAUS_CHROMIUM", "/usr/bin/chromium"),
                    args=["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"],
                )
                try:
                    page = await browser.new_page()
                    await page.goto(f"http://127.0.0.1:{port}/sitzungen/{mid}/video")
                    await page.evaluate(
                        "() => { const v = document.querySelector('video'); v.muted = true; v.play(); }"
                    )
                    end = time.monotonic() + seconds
                    while time.monotonic() < end:
                        value = await page.evaluate(
                            """() => { const r = document.querySelector('[data-player]');
                                const h = r && r.rathausHls; const v = document.querySelector('video');
                                if (!h || !h.playingDate || v.paused || v.readyState < 3) return null;
                                return (Date.now() - h.playingDate.getTime()) / 1000; }"""
                        )
                        if value is not None:
                            player.append(float(value))
                        await asyncio.sleep(0.5)
                finally:
                    await browser.close()
        finally:
            if app.state.streams.live(mid):
                await app.state.streams.stop_stream(mid)
            server.should_exit = True
            await asyncio.wait_for(task, timeout=20)
        steady = player[len(player) // 3 :] or player  # skip the start-up
        return {
            "segment_seconds": settings.hls_segment_seconds,
            "player_samples": len(player),
            "player_latency_s_median": statistics.median(steady) if steady else None,
            "player_latency_s_max": max(steady) if steady else None,
            "packager_segment_age_s_median": statistics.median(packager_ages) if packager_ages else None,
            "target_s": LATENCY_TARGET_S,
            "verdict": ("PASS" if steady and statistics.median(steady) <= LATENCY_TARGET_S else "FAIL"),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- 2. CPU per stream ---------------------------------------------------------------------------------


def make_h264_file(path: Path, seconds: int = 40) -> None:
    """640x360 25 fps H.264 (GOP 25 = 1 s) + AAC: what a camera or OBS sends."""
    cmd = [
        _ffmpeg(), "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=25:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
        "-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-keyint_min", "25", "-sc_threshold", "0",
        "-b:v", "1200k", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", "-shortest", str(path),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, timeout=300)


async def _measure_pid(pid: int, seconds: float) -> float:
    """Cores used by a process over ``seconds`` (from /proc)."""
    c0 = process_cpu_seconds(pid)
    t0 = time.monotonic()
    await asyncio.sleep(seconds)
    c1 = process_cpu_seconds(pid)
    if c0 is None or c1 is None:
        return float("nan")
    return (c1 - c0) / (time.monotonic() - t0)


async def _manager_cpu(settings: Any, mid: int, source: Any, seconds: float) -> dict[str, float]:
    from council.core.db import Database
    from streaming.manager import StreamManager

    db = Database(settings)
    manager = StreamManager(settings, db.sessionmaker)
    await manager.start()
    try:
        live = await manager.start_stream(mid, source)
        for _ in range(100):  # until ffmpeg runs and the first segments are out (bounded)
            if live.pid and live.segments >= 2:
                break
            await asyncio.sleep(0.1)
        pid = live.pid
        if pid is None:
            raise RuntimeError("the packager did not start")
        s0, t0 = _self_cpu(), time.monotonic()
        cores = await _measure_pid(pid, seconds)
        python_cores = (_self_cpu() - s0) / (time.monotonic() - t0)
        return {"ffmpeg_cores": cores, "app_python_cores": python_cores, "segments": float(live.segments)}
    finally:
        if manager.live(mid):
            await manager.stop_stream(mid)
        await manager.stop()
        await db.dispose()


async def _plain_ffmpeg_cpu(src: Path, out: Path, seconds: float, transcode: bool) -> float:
    out.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (bench setup, a local tmp dir)
    codec = (
        ["-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-sc_threshold", "0", "-c:a", "aac"]
        if transcode
        else ["-c", "copy"]
    )
    cmd = [
        _ffmpeg(), "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", str(src),
        *codec, "-f", "hls", "-hls_time", "1", "-hls_list_size", "6",
        "-hls_flags", "program_date_time+independent_segments+temp_file", str(out / "index.m3u8"),
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(*cmd, stdin=asyncio.subprocess.DEVNULL)
    try:
        await asyncio.sleep(2.0)
        return await _measure_pid(proc.pid, seconds)
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), timeout=10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def bench_cpu(seconds: float) -> dict[str, Any]:
    from streaming.sources import FileSource

    tmp = Path(tempfile.mkdtemp(prefix="rathaus-bench-cpu-"))
    try:
        src = tmp / "camera.mp4"
        make_h264_file(src, seconds=int(seconds) + 20)
        settings, mid = await _make_db(tmp / "var")
        remux = await _manager_cpu(settings, mid, FileSource(path=src, loop=True), seconds)
        settings2, mid2 = await _make_db(tmp / "var2")
        # the same file, told it is not H.264: the packager must encode (libx264 veryfast)
        transcode = await _manager_cpu(
            settings2, mid2, FileSource(path=src, loop=True, video_codec="forced-encode"), seconds
        )
        plain_copy = await _plain_ffmpeg_cpu(src, tmp / "plain-copy", seconds, transcode=False)
        plain_x264 = await _plain_ffmpeg_cpu(src, tmp / "plain-x264", seconds, transcode=True)
        return {
            "input": "640x360 25 fps H.264 1.2 Mbit/s + AAC, -re (real time)",
            "seconds": seconds,
            "remux": remux,
            "transcode": transcode,
            "plain_ffmpeg_copy_cores": plain_copy,
            "plain_ffmpeg_x264_cores": plain_x264,
            "target_remux_cores": REMUX_TARGET_CORES,
            "verdict": "PASS" if remux["ffmpeg_cores"] <= REMUX_TARGET_CORES else "FAIL",
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- 3. segment requests/s -----------------------------------------------------------------------------


async def bench_serve(duration: float, concurrency: int, client_kind: str) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="rathaus-bench-serve-"))
    try:
        settings, mid = await _make_db(tmp / "var")
        public = settings.media_dir / str(mid) / "public"
        public.mkdir(parents=True)
        # 1 s segments of a 640x360 stream at ~1.3 Mbit/s ≈ 160 KB each
        size = 160 * 1024
        names = [f"s-{i:06d}.ts" for i in range(30)]
        for name in names:
            (public / name).write_bytes(b"\x47" + os.urandom(size - 1))
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:1", "#EXT-X-MEDIA-SEQUENCE:24"]
        for name in names[-6:]:
            lines += ["#EXTINF:1.000000,", name]
        (public / "index.m3u8").write_text("\n".join(lines) + "\n")
        env = {
            "RATHAUS_DATABASE_URL": settings.resolved_database_url,
            "RATHAUS_VAR_DIR": str(settings.var_dir),
            "RATHAUS_SECRET_KEY": SECRET,
            "RATHAUS_JOBS_IN_PROCESS": "false",
            "RATHAUS_PAGE_CACHE_SECONDS": "0",
            "RATHAUS_LIVE_CAPTIONS": "false",
            "RATHAUS_DEBUG": "false",
        }
        segments = [f"/medien/{mid}/public/{n}" for n in names[-6:]]
        results = []
        log = REPO_ROOT / "bench" / "results" / "server-streaming.log"
        with Server(env, log_path=log) as server:
            async with make_client(server.base_url, concurrency, client_kind) as client:
                plan: list[tuple[str, list[str], Target | None]] = [
                    ("/healthz", ["/healthz"], None),
                    ("/medien/…/s-N.ts (160 KB)", segments, SERVE_TARGET),
                    ("/medien/…/index.m3u8", [f"/medien/{mid}/public/index.m3u8"], None),
                    ("/healthz (end)", ["/healthz"], None),
                ]
                for name, paths, target in plan:
                    await warm_up(client, paths, seconds=2, concurrency=concurrency)
                    res = await drive(
                        client, name, paths, duration=duration, concurrency=concurrency,
                        max_requests=10_000_000, server=server, target=target,
                    )  # fmt: skip
                    results.append(res)
                    print(
                        f"  {name}: {res.rps:.0f} req/s, p95 {res.p95:.1f} ms, {res.errors} errors",
                        flush=True,
                    )
        baseline = results[0]
        print(format_table(results, baseline))
        seg = results[1]
        return {
            "segment_bytes": size,
            "concurrency": concurrency,
            "endpoints": [r.as_json(baseline) for r in results],
            "verdict": seg.verdict,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- main ------------------------------------------------------------------------------------------------


def _fmt(x: Any, nd: int = 3) -> str:
    return "-" if x is None else (f"{x:.{nd}f}" if isinstance(x, float) else str(x))


async def main_async(args: argparse.Namespace) -> int:
    cancel_on_sigterm()
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    only = set(args.only or ["latency", "cpu", "serve"])
    figures: dict[str, Any] = {}
    if "serve" in only:
        print("\n[3] segment requests/s from the app", flush=True)
        figures["serve"] = await bench_serve(args.duration, args.concurrency, args.client)
    if "cpu" in only:
        print("\n[2] CPU per stream", flush=True)
        cpu = await bench_cpu(args.seconds)
        figures["cpu"] = cpu
        print(
            f"  remux (manager, -c copy):     ffmpeg {_fmt(cpu['remux']['ffmpeg_cores'])} cores, "
            f"app python {_fmt(cpu['remux']['app_python_cores'])} cores"
        )
        print(
            f"  transcode (manager, x264):    ffmpeg {_fmt(cpu['transcode']['ffmpeg_cores'])} cores, "
            f"app python {_fmt(cpu['transcode']['app_python_cores'])} cores"
        )
        print(f"  plain ffmpeg -c copy -f hls:  {_fmt(cpu['plain_ffmpeg_copy_cores'])} cores")
        print(f"  plain ffmpeg x264 -f hls:     {_fmt(cpu['plain_ffmpeg_x264_cores'])} cores")
        print(f"  remux target ≤ {REMUX_TARGET_CORES} cores: {cpu['verdict']}")
    if "latency" in only:
        print("\n[1] HLS glass-to-glass latency (hls.js in Chromium, PDT-based)", flush=True)
        lat = await bench_latency(args.seconds)
        figures["latency"] = lat
        print(f"  player: median {_fmt(lat['player_latency_s_median'], 2)} s, max "
              f"{_fmt(lat['player_latency_s_max'], 2)} s over {lat['player_samples']} samples; "
              f"packager (segment age when listed): {_fmt(lat['packager_segment_age_s_median'], 2)} s; "
              f"target ≤ {LATENCY_TARGET_S} s: {lat['verdict']}")  # fmt: skip
    payload = {
        "benchmark": "streaming",
        "started": started,
        "command": " ".join([Path(sys.executable).name, "-m", "bench.streaming", *sys.argv[1:]]),
        "machine": {**machine_info(), "loadavg_at_end": os.getloadavg(), "clk_tck": CLK_TCK},
        **figures,
    }
    path = write_json("streaming", payload)
    print(f"\n  figures: {path.relative_to(REPO_ROOT)}")
    return 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.streaming", description=__doc__.split("\n\n")[0])
    p.add_argument("--only", nargs="*", choices=["latency", "cpu", "serve"], help="run only these parts")
    p.add_argument("--seconds", type=float, default=12.0, help="measuring time for latency and CPU (12)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of load per endpoint (10)")
    p.add_argument("--concurrency", type=int, default=16, help="keep-alive clients (16)")
    p.add_argument("--client", choices=["raw", "httpx"], default="raw")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
