"""WHIP ingest (RFC 9725): a publisher's WebRTC tracks → one encode → MPEG-TS for the packager.

aiortc always decodes what it receives, so the pictures arrive as frames. ``MediaEncoder`` encodes
them **once**, in its own thread, with PyAV:

- video: libx264 (``veryfast`` by default, ``tune=zerolatency``, baseline profile so browsers can
  play the same packets over WHEP), a keyframe forced every segment length (GOP = segment length, so
  the packager's ``-c copy`` cuts segments on time); pictures whose size changes mid-stream are scaled
  to the first size (the packager sees one resolution);
- audio: AAC for HLS and Opus for WHEP viewers (both cheap); without an audio track, silence, so that
  the packager and the transcripts tap always see an audio stream;
- the MPEG-TS bytes go to an async sink (``PipeSource``/``LiveStream.write``) in order, from one
  writer task; the H.264 and Opus packets go to the stream's ``PacketHub`` for WHEP viewers.

Timestamps: each track is anchored at the wall-clock arrival of its first frame and then follows
its own RTP clock, so audio and video stay in step without RTCP sender reports.

The choice (encode in-process with PyAV, the packager remuxes) over piping raw frames to ffmpeg: raw
720p30 is ~40 MB/s through a pipe, and the WHEP viewers need encoded packets anyway; this way one
x264 encode serves HLS and WebRTC. bench/webrtc.py measures the CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import queue
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import av
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from streaming.webrtc import close_quietly, new_peer_connection, unusable_offer
from streaming.whep import (
    AUDIO_RATE,
    AUDIO_TIME_BASE,
    OPUS_FRAME_SAMPLES,
    VIDEO_TIME_BASE,
    PacketHub,
    _packet,
)

log = logging.getLogger(__name__)

AAC_FRAME_SAMPLES = 1024
#: Frames waiting for the encoder before video frames are dropped (the encoder is behind).
ENCODER_QUEUE = 90
#: A publisher must have connected this long after the answer, or the session ends.
CONNECT_TIMEOUT = 20.0
#: Bytes of MPEG-TS allowed to wait for the sink before they are dropped (a stuck packager).
SINK_BACKLOG_BYTES = 64 * 1024 * 1024


class Sink(Protocol):
    """Where the MPEG-TS goes: the packager's ``PipeSource`` (``LiveStream``) or a test's buffer."""

    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None: ...


@dataclass
class EncoderStats:
    video_frames: int = 0
    video_dropped: int = 0
    audio_frames: int = 0
    keyframes: int = 0
    ts_bytes: int = 0
    width: int = 0
    height: int = 0
    resized_frames: int = 0


class _Writer(io.RawIOBase):
    """A write-only file for PyAV's muxer that hands each chunk to a callback (no seeking)."""

    def __init__(self, emit: Callable[[bytes], None]) -> None:
        self._emit = emit

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        if chunk:
            self._emit(chunk)
        return len(chunk)


class MediaEncoder:
    """Decoded frames in (from any thread or the loop), MPEG-TS and WebRTC packets out."""

    def __init__(
        self,
        sink: Sink,
        hub: PacketHub | None = None,
        *,
        segment_seconds: float = 1.0,
        preset: str = "veryfast",
        has_audio: bool = True,
        max_bitrate: int = 3_000_000,
    ) -> None:
        self.sink = sink
        self.hub = hub
        self.segment_seconds = max(0.2, segment_seconds)
        self.preset = preset
        self.has_audio = has_audio
        self.max_bitrate = max_bitrate
        self.stats = EncoderStats()
        self.error: BaseException | None = None
        self._frames: queue.Queue[tuple[str, Any, float] | None] = queue.Queue(ENCODER_QUEUE * 4)
        self._video_waiting = 0
        self._keyframe_wanted = threading.Event()
        self._t0 = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._out: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._backlog = 0
        self._thread: threading.Thread | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self.done = asyncio.Event()

    # --- the loop side ---

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._t0 = time.monotonic()
        self._writer_task = asyncio.create_task(self._drain(), name="whip-ts-writer")
        self._thread = threading.Thread(target=self._run, name="whip-encoder", daemon=True)
        self._thread.start()

    def now(self) -> float:
        return time.monotonic() - self._t0

    def put(self, kind: str, frame: Any, arrival: float | None = None) -> None:
        """Queue one decoded frame; video is dropped when the encoder is behind (audio never)."""
        arrival = self.now() if arrival is None else arrival
        if kind == "video" and self._video_waiting >= ENCODER_QUEUE:
            self.stats.video_dropped += 1
            return
        try:
            self._frames.put_nowait((kind, frame, arrival))
        except queue.Full:
            self.stats.video_dropped += kind == "video"
            return
        if kind == "video":
            self._video_waiting += 1

    def request_keyframe(self) -> None:
        self._keyframe_wanted.set()

    async def stop(self) -> None:
        """Flush the encoders, close the MPEG-TS and the sink; waits for all of it."""
        if self._thread is None:
            return
        self._frames.put(None)
        await asyncio.to_thread(self._thread.join, 30)
        await self.done.wait()

    async def _drain(self) -> None:
        try:
            while True:
                chunk = await self._out.get()
                if chunk is None:
                    break
                self._backlog -= len(chunk)
                try:
                    await self.sink.write(chunk)
                except Exception as exc:
                    log.warning("WHIP sink write failed: %s", exc)
                    self.error = exc
                    break
        finally:
            with contextlib.suppress(Exception):
                await self.sink.close()
            self.done.set()

    def _emit_ts(self, chunk: bytes) -> None:
        """From the encoder thread: queue MPEG-TS bytes for the writer task, in order."""
        self.stats.ts_bytes += len(chunk)
        if self._backlog > SINK_BACKLOG_BYTES:
            return
        self._backlog += len(chunk)
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._out.put_nowait, chunk)

    def _emit_packet(self, kind: str, packet: av.Packet, keyframe: bool) -> None:
        if self.hub is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self.hub.publish, kind, packet, keyframe)

    # --- the encoder thread ---

    def _run(self) -> None:
        try:
            self._encode_all()
        except BaseException as exc:
            log.exception("WHIP encoder failed")
            self.error = exc
        finally:
            assert self._loop is not None
            with contextlib.suppress(RuntimeError):  # loop closed at interpreter exit
                self._loop.call_soon_threadsafe(self._out.put_nowait, None)

    def _encode_all(self) -> None:
        container = av.open(_Writer(self._emit_ts), mode="w", format="mpegts")
        video_stream: Any = None
        aac: Any = container.add_stream("aac", rate=AUDIO_RATE)
        aac.codec_context.layout = "stereo"
        aac.codec_context.bit_rate = 128_000
        aac.codec_context.time_base = AUDIO_TIME_BASE
        opus = av.CodecContext.create("libopus", "w")
        opus.sample_rate = AUDIO_RATE
        opus.layout = "stereo"
        opus.format = "s16"
        opus.time_base = AUDIO_TIME_BASE
        to_aac = av.AudioResampler(
            format="fltp", layout="stereo", rate=AUDIO_RATE, frame_size=AAC_FRAME_SAMPLES
        )
        to_opus = av.AudioResampler(
            format="s16", layout="stereo", rate=AUDIO_RATE, frame_size=OPUS_FRAME_SAMPLES
        )
        size: tuple[int, int] | None = None
        video_anchor: tuple[float, float] | None = None  # (media seconds, frame seconds) of frame 1
        audio_anchor: tuple[float, float] | None = None
        aac_samples = 0  # next AAC sample (48 kHz, from media time 0)
        opus_samples = 0
        last_pts = -1
        last_key_pts: int | None = None

        def audio_out(frame: av.AudioFrame, at_samples: int | None) -> None:
            nonlocal aac_samples, opus_samples
            if at_samples is not None and at_samples > aac_samples + AUDIO_RATE // 5:
                # A gap (late start, lost packets): jump ahead rather than drift behind the video.
                aac_samples = opus_samples = at_samples
            frame.pts = None
            for chunk in to_aac.resample(frame):
                chunk.pts = aac_samples
                chunk.time_base = AUDIO_TIME_BASE
                aac_samples += chunk.samples
                container.mux(aac.encode(chunk))
            for chunk in to_opus.resample(frame):
                chunk.pts = opus_samples
                chunk.time_base = AUDIO_TIME_BASE
                opus_samples += chunk.samples
                for p in opus.encode(chunk):
                    self._emit_packet("audio", _packet(bytes(p), int(p.pts or 0), AUDIO_TIME_BASE), True)

        def silence_until(seconds: float) -> None:
            target = int(seconds * AUDIO_RATE)
            while aac_samples + AAC_FRAME_SAMPLES <= target:
                frame = av.AudioFrame(format="s16", layout="stereo", samples=AAC_FRAME_SAMPLES)
                frame.planes[0].update(bytes(frame.planes[0].buffer_size))
                frame.sample_rate = AUDIO_RATE
                audio_out(frame, None)

        while True:
            item = self._frames.get()
            if item is None:
                break
            kind, frame, arrival = item
            if kind == "video":
                self._video_waiting -= 1
                if size is None:
                    size = (frame.width - frame.width % 2, frame.height - frame.height % 2)
                    video_stream = container.add_stream("libx264", rate=30)
                    ctx = video_stream.codec_context
                    ctx.width, ctx.height = size
                    ctx.pix_fmt = "yuv420p"
                    ctx.time_base = VIDEO_TIME_BASE
                    gop = max(1, round(self.segment_seconds * 60))
                    ctx.options = {
                        "preset": self.preset,
                        "tune": "zerolatency",
                        "profile": "baseline",
                        "forced-idr": "1",
                        "g": str(gop),
                        "keyint_min": "1",
                        "sc_threshold": "0",
                        "maxrate": str(self.max_bitrate),
                        "bufsize": str(self.max_bitrate),
                        "crf": "23",
                    }
                    self.stats.width, self.stats.height = size
                frame_seconds = float(frame.pts * frame.time_base) if frame.pts is not None else arrival
                if video_anchor is None:
                    video_anchor = (arrival, frame_seconds)
                seconds = video_anchor[0] + (frame_seconds - video_anchor[1])
                if abs(seconds - arrival) > 2.0:
                    # The publisher's clock jumped (reconnect, wrap): re-anchor.
                    video_anchor = (arrival, frame_seconds)
                    seconds = arrival
                pts = max(round(seconds * 90_000), last_pts + 1)
                last_pts = pts
                if (frame.width, frame.height) != size or frame.format.name != "yuv420p":
                    if (frame.width, frame.height) != size:
                        self.stats.resized_frames += 1
                    frame = frame.reformat(width=size[0], height=size[1], format="yuv420p")
                frame.pts = pts
                frame.time_base = VIDEO_TIME_BASE
                due = last_key_pts is None or pts - last_key_pts >= self.segment_seconds * 90_000 - 1500
                if due or self._keyframe_wanted.is_set():
                    self._keyframe_wanted.clear()
                    frame.pict_type = av.video.frame.PictureType.I
                else:
                    frame.pict_type = av.video.frame.PictureType.NONE
                for packet in video_stream.encode(frame):
                    key = bool(packet.is_keyframe)
                    if key:
                        self.stats.keyframes += 1
                        last_key_pts = packet.pts
                    ts = packet.pts if packet.pts is not None else pts
                    self._emit_packet("video", _packet(bytes(packet), ts, VIDEO_TIME_BASE), key)
                    container.mux(packet)
                self.stats.video_frames += 1
                if not self.has_audio:
                    silence_until(seconds)
            elif kind == "audio":
                if video_stream is None:
                    continue  # the MPEG-TS header needs the video size first; a moment of audio is lost
                frame_seconds = float(frame.pts * frame.time_base) if frame.pts is not None else arrival
                if audio_anchor is None:
                    audio_anchor = (arrival, frame_seconds)
                seconds = audio_anchor[0] + (frame_seconds - audio_anchor[1])
                if abs(seconds - arrival) > 2.0:
                    audio_anchor = (arrival, frame_seconds)
                    seconds = arrival
                audio_out(frame, int(seconds * AUDIO_RATE))
                self.stats.audio_frames += 1
        if video_stream is not None:
            for packet in video_stream.encode(None):
                container.mux(packet)
            for chunk in to_aac.resample(None):
                chunk.pts = aac_samples
                aac_samples += chunk.samples
                container.mux(aac.encode(chunk))
            container.mux(aac.encode(None))
        container.close()


class WhipSession:
    """One publisher: its peer connection, the encoder, and the hub its WHEP viewers read."""

    def __init__(
        self,
        meeting_id: int,
        sink: Sink,
        *,
        hub: PacketHub | None = None,
        segment_seconds: float = 1.0,
        loopback: bool = False,
        preset: str = "veryfast",
        on_end: Callable[[WhipSession], Awaitable[None]] | None = None,
    ) -> None:
        self.id = secrets.token_urlsafe(16)
        self.meeting_id = meeting_id
        self.sink = sink
        self.hub = hub if hub is not None else PacketHub()
        self.segment_seconds = segment_seconds
        self.loopback = loopback
        self.preset = preset
        self.on_end = on_end
        self.pc: RTCPeerConnection | None = None
        self.encoder: MediaEncoder | None = None
        self.tracks: list[MediaStreamTrack] = []
        self.connected = asyncio.Event()
        self.ended = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._background: set[asyncio.Task[None]] = set()
        #: Polled each second after start: False once the stream was stopped by other means.
        self.still_live: Callable[[], bool] | None = None

    async def answer(self, offer: RTCSessionDescription) -> str:
        """Take the publisher's offer, return the answer SDP (ICE gathered: no trickle)."""
        pc = new_peer_connection(self.loopback)
        self.pc = pc

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind in ("audio", "video"):
                self.tracks.append(track)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState == "connected":
                self.connected.set()
            elif pc.connectionState in ("failed", "closed"):
                await self.close()

        try:
            await pc.setRemoteDescription(offer)
            for transceiver in pc.getTransceivers():
                transceiver.direction = "recvonly"
            if not any(t.kind == "video" for t in self.tracks):
                raise ValueError("Das Angebot enthält keine Videospur.")
            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)
        except BaseException as exc:
            await close_quietly(pc)
            if isinstance(exc, Exception) and not isinstance(exc, ValueError):
                raise unusable_offer(exc) from exc
            raise
        return pc.localDescription.sdp

    def start(self) -> None:
        """Start encoding into ``self.sink`` (after ``answer``; the stream has been started)."""
        has_audio = any(t.kind == "audio" for t in self.tracks)
        self.encoder = MediaEncoder(
            self.sink,
            self.hub,
            segment_seconds=self.segment_seconds,
            preset=self.preset,
            has_audio=has_audio,
        )
        self.hub.keyframe_request = self.encoder.request_keyframe
        self.encoder.start()
        for track in self.tracks:
            self._tasks.append(asyncio.create_task(self._pump(track), name=f"whip-{track.kind}"))
        self._tasks.append(asyncio.create_task(self._watch_connect(), name="whip-connect"))

    async def _pump(self, track: MediaStreamTrack) -> None:
        assert self.encoder is not None
        try:
            while True:
                frame = await track.recv()
                self.encoder.put(track.kind, frame)
        except MediaStreamError:
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("WHIP %s track failed", track.kind)
        if track.kind == "video" and not self._closing:
            self._close_later()

    async def _watch_connect(self) -> None:
        try:
            await asyncio.wait_for(self.connected.wait(), CONNECT_TIMEOUT)
        except TimeoutError:
            log.info("WHIP publisher for meeting %s never connected", self.meeting_id)
            self._close_later()
            return
        while not self._closing:
            await asyncio.sleep(1.0)
            if self.still_live is not None and not self.still_live():
                log.info("stream of meeting %s stopped elsewhere: ending its WHIP session", self.meeting_id)
                self._close_later()
                return

    def _close_later(self) -> None:
        """Close from a task of the session itself (close() cancels those tasks, so not inline)."""
        if not self._closing:
            task = asyncio.get_running_loop().create_task(self.close(), name="whip-close")
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        """End the session: stop the peer, flush the encoder, close the sink (→ stream ends)."""
        if self._closing:
            await self.ended.wait()
            return
        self._closing = True
        try:
            current = asyncio.current_task()
            for task in self._tasks:
                if task is not current:
                    task.cancel()
            if self.pc is not None:
                await close_quietly(self.pc)
            if self.encoder is not None:
                await self.encoder.stop()
            else:
                with contextlib.suppress(Exception):
                    await self.sink.close()
            self.hub.close()
        finally:
            self.ended.set()
        if self.on_end is not None:
            try:
                await self.on_end(self)
            except Exception:
                log.exception("WHIP on_end failed")
