"""The ffmpeg binary, the packager command (built with ffmpeg-python) and probing (PyAV; the bundled
ffmpeg has no ffprobe).

Two code paths, chosen per source and visible in the command:

- **remux**: the source's video is H.264 (RTMP/SRT from OBS or a camera, WHIP via the pipe, an H.264
  file) → ``-c:v copy``; segments are cut at the source's keyframes.
- **transcode**: anything else (the lavfi test pattern, a VP8/AV1 file) → ``libx264 -preset veryfast
  -tune zerolatency`` with GOP = segment length (``-g``/``-keyint_min`` = seconds × fps,
  ``-sc_threshold 0``, ``-force_key_frames expr:gte(t,n_forced*SEG)``), encoded once, here.

Audio goes to AAC (copied when it already is AAC). A second output of the same process writes the
audio as 16 kHz mono s16le to stdout — the audio tap for live captions.
"""

from __future__ import annotations

import functools
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ffmpeg as ffmpeg_python

from council.core.settings import Settings
from council.live.media import SAMPLE_RATE

if TYPE_CHECKING:
    from streaming.sources import Source

#: Global options put right after the binary (ffmpeg-python appends global_args at the end, where
#: ffmpeg ignores them with a warning).
GLOBAL_ARGS = ["-hide_banner", "-nostats", "-loglevel", "warning"]


def ffmpeg_binary(settings: Settings) -> str:
    """The configured ffmpeg, else the one imageio-ffmpeg ships (so ``pip install`` is enough)."""
    if settings.ffmpeg_binary:
        return settings.ffmpeg_binary
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


@functools.lru_cache(maxsize=8)
def has_drawtext(binary: str) -> bool:
    """Whether the binary can burn in text (drawtext filter and a font found by fontconfig)."""
    try:
        res = subprocess.run(  # noqa: S603 (our own binary, fixed arguments)
            [
                binary,
                *GLOBAL_ARGS,
                "-f",
                "lavfi",
                "-i",
                "color=c=black:s=64x32:d=0.1",
                "-vf",
                "drawtext=text='0':fontsize=10",
                "-f",
                "null",
                "-",
            ],
            capture_output=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return res.returncode == 0


@dataclass(frozen=True)
class PackagerPlan:
    """The command of one packager run and what it does (kept for tests, logs and the bench)."""

    cmd: list[str]
    video_copy: bool
    audio_copy: bool
    audio_tap: bool
    uses_stdin: bool


def packager_command(
    binary: str,
    source: Source,
    playlist: Path,
    segment_pattern: Path,
    segment_seconds: float,
    *,
    audio_tap: bool = True,
) -> PackagerPlan:
    """The ffmpeg command for one part: source → raw HLS part (+ the audio tap on stdout)."""
    video, audio = source.streams()
    video_copy = source.video_codec == "h264" and not source.needs_filter
    audio_copy = source.audio_codec == "aac"
    seg = float(segment_seconds)
    opts: dict[str, Any] = {
        "f": "hls",
        "hls_time": f"{seg:g}",
        "hls_list_size": 0,
        "hls_flags": "program_date_time+independent_segments+temp_file",
        "hls_segment_type": "mpegts",
        "hls_segment_filename": str(segment_pattern),
        "start_number": 0,
    }
    if video_copy:
        opts["c:v"] = "copy"
    else:
        fps = source.fps or 25
        gop = max(1, round(seg * fps))
        opts.update(
            {
                "c:v": "libx264",
                "preset": "veryfast",
                "tune": "zerolatency",
                "pix_fmt": "yuv420p",
                "g": gop,
                "keyint_min": gop,
                "sc_threshold": 0,
                "force_key_frames": f"expr:gte(t,n_forced*{seg:g})",
            }
        )
    streams = [video]
    if audio is not None:
        streams.append(audio)
        if audio_copy:
            opts["c:a"] = "copy"
        else:
            opts.update({"c:a": "aac", "b:a": "128k", "ar": 48000, "ac": 2})
    outputs = [ffmpeg_python.output(*streams, str(playlist), **opts)]
    tap = audio_tap and audio is not None
    if tap:
        outputs.append(
            ffmpeg_python.output(audio, "pipe:1", f="s16le", acodec="pcm_s16le", ac=1, ar=SAMPLE_RATE)
        )
    node = ffmpeg_python.merge_outputs(*outputs) if len(outputs) > 1 else outputs[0]
    cmd = list(node.compile(cmd=binary))
    cmd[1:1] = [*GLOBAL_ARGS, "-nostdin"] if not source.uses_stdin else list(GLOBAL_ARGS)
    return PackagerPlan(
        cmd=cmd,
        video_copy=video_copy,
        audio_copy=audio_copy and audio is not None,
        audio_tap=tap,
        uses_stdin=source.uses_stdin,
    )


@dataclass(frozen=True)
class MediaInfo:
    video_codec: str | None
    width: int | None
    height: int | None
    fps: float | None
    audio_codec: str | None
    sample_rate: int | None
    channels: int | None
    #: First timestamp (seconds) and duration (seconds) of the container, when known.
    start_time: float | None
    duration: float | None


def probe(target: str | Path, timeout: float = 5.0) -> MediaInfo:
    """Codecs, size, rate and timing of a file or URL (PyAV). Raises ``ValueError`` when unreadable."""
    import av

    try:
        with av.open(str(target), timeout=timeout) as c:
            v = c.streams.video[0] if c.streams.video else None
            a = c.streams.audio[0] if c.streams.audio else None
            fps = None
            if v is not None and v.average_rate:
                fps = float(v.average_rate)
            elif v is not None and v.guessed_rate:
                fps = float(v.guessed_rate)
            start = c.start_time / 1_000_000 if c.start_time is not None else None
            dur = c.duration / 1_000_000 if c.duration is not None else None
            return MediaInfo(
                video_codec=v.codec_context.name if v is not None else None,
                width=v.codec_context.width if v is not None else None,
                height=v.codec_context.height if v is not None else None,
                fps=fps,
                audio_codec=a.codec_context.name if a is not None else None,
                sample_rate=a.codec_context.sample_rate if a is not None else None,
                channels=a.codec_context.channels if a is not None else None,
                start_time=start,
                duration=dur,
            )
    except (av.error.FFmpegError, OSError, IndexError) as exc:
        raise ValueError(f"cannot read media {target}: {exc}") from exc


def round_fps(fps: float | None) -> float:
    if not fps or math.isnan(fps) or fps <= 0:
        return 25.0
    return round(fps, 3)
