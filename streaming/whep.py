"""WHEP: low-latency WebRTC viewing for a small audience, by packet fan-out.

Every viewer gets the **same already-encoded packets** (H.264 video, Opus audio): aiortc's sender
only packetises a track that yields ``av.Packet`` objects instead of frames, so a viewer costs about
as much as copying bytes into RTP (ARCHITECTURE.md measured ~0.7 % of a core per viewer this way vs
23-41 % per 720p viewer when aiortc re-encodes). Where the packets come from:

- a WHIP stream: the ingest encodes once (``streaming.whip.MediaEncoder``) for the packager and
  publishes the same H.264 packets, plus an Opus encode of the audio, into the stream's ``PacketHub``;
- any other source (test pattern, RTMP, SRT, file): ``HlsTailSource`` follows the packager's live
  playlist, demuxes each new segment (H.264 copied, AAC decoded and encoded to Opus once) and paces the
  packets out in real time. Latency is then about one segment more than WHIP's.

Consent: while the public output is slated (``slate_active()``), the hub swaps every video packet for
a pre-encoded black keyframe and every audio packet for Opus silence, keeping the timestamps, so a
WHEP viewer never sees or hears a non-consenting speaker either. After the slate it waits for the
source's next keyframe (and asks for one).

``WhepViewers`` holds the viewers' peer connections with a cap (``settings.whep_viewer_cap``);
beyond it the endpoint answers 503 and the player falls back to HLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

import av
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from streaming.webrtc import close_quietly, new_peer_connection, unusable_offer

log = logging.getLogger(__name__)

VIDEO_TIME_BASE = Fraction(1, 90_000)
AUDIO_RATE = 48_000
AUDIO_TIME_BASE = Fraction(1, AUDIO_RATE)
#: Opus frames of 20 ms.
OPUS_FRAME_SAMPLES = 960
#: Packets a viewer may lag behind before its queue is dropped (it then waits for a keyframe).
VIEWER_QUEUE = 240


class ViewerCapReached(Exception):
    """All WHEP places of this stream are taken (→ 503, use HLS)."""


class NoLiveSource(Exception):
    """The meeting has no live stream to relay (→ 404)."""


# --- pre-encoded slate ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlatePackets:
    """Black H.264 IDR frames (alternating idr_pic_id, so consecutive ones are valid) and an Opus
    packet of silence; swapped in for the real packets while the output is slated."""

    video: tuple[bytes, ...]
    audio: bytes


@lru_cache(maxsize=1)
def slate_packets() -> SlatePackets:
    """Encode the slate once per process (a few ms)."""
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height = 320, 240
    codec.pix_fmt = "yuv420p"
    codec.time_base = Fraction(1, 30)
    codec.options = {"preset": "ultrafast", "tune": "zerolatency", "profile": "baseline", "g": "1"}
    black = av.VideoFrame(320, 240, "yuv420p")
    for plane, value in zip(black.planes, (16, 128, 128), strict=True):
        plane.update(bytes([value]) * plane.buffer_size)
    video: list[bytes] = []
    for i in range(4):
        black.pts = i
        video.extend(bytes(p) for p in codec.encode(black))
    video.extend(bytes(p) for p in codec.encode(None))

    opus = av.CodecContext.create("libopus", "w")
    opus.sample_rate = AUDIO_RATE
    opus.layout = "stereo"
    opus.format = "s16"
    opus.time_base = AUDIO_TIME_BASE
    silence: list[bytes] = []
    for i in range(6):
        frame = av.AudioFrame(format="s16", layout="stereo", samples=OPUS_FRAME_SAMPLES)
        frame.planes[0].update(bytes(frame.planes[0].buffer_size))
        frame.sample_rate = AUDIO_RATE
        frame.pts = i * OPUS_FRAME_SAMPLES
        silence.extend(bytes(p) for p in opus.encode(frame))
    # Keep an even number of IDRs so that looping keeps idr_pic_id alternating.
    video = video[: len(video) // 2 * 2] or video
    return SlatePackets(video=tuple(video), audio=silence[-1])


def _offer_kinds(sdp: str) -> list[str]:
    """The media kinds of the offer's audio/video sections, in order."""
    kinds = []
    for line in sdp.splitlines():
        if line.startswith("m=audio "):
            kinds.append("audio")
        elif line.startswith("m=video "):
            kinds.append("video")
    return kinds


def _packet(data: bytes, pts: int, time_base: Fraction) -> av.Packet:
    packet = av.Packet(data)
    packet.pts = pts
    packet.dts = pts
    packet.time_base = time_base
    return packet


# --- the hub ----------------------------------------------------------------------------------------


class HubTrack(MediaStreamTrack):
    """One viewer's track: yields the hub's packets (not frames), so aiortc only packetises them."""

    def __init__(self, hub: PacketHub, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._hub = hub
        self.queue: asyncio.Queue[tuple[av.Packet, bool] | None] = asyncio.Queue(VIEWER_QUEUE)
        #: A new (or lagging) video viewer starts at a keyframe.
        self.need_keyframe = kind == "video"
        self.sent = 0

    def offer(self, packet: av.Packet, keyframe: bool) -> None:
        try:
            self.queue.put_nowait((packet, keyframe))
        except asyncio.QueueFull:
            # Too slow a viewer: drop what it has queued and restart it at the next keyframe.
            while not self.queue.empty():
                self.queue.get_nowait()
            if self.kind == "video":
                self.need_keyframe = True
                self._hub.request_keyframe()

    async def recv(self) -> av.Packet:  # type: ignore[override]  # aiortc accepts packets too
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            item = await self.queue.get()
            if item is None:
                self.stop()
                raise MediaStreamError
            packet, keyframe = item
            if self.need_keyframe:
                if not keyframe:
                    continue
                self.need_keyframe = False
            self.sent += 1
            return packet

    def finish(self) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)

    def stop(self) -> None:
        super().stop()
        self._hub.unsubscribe(self)


class PacketHub:
    """Fans a stream's encoded packets out to its WHEP viewers (event-loop side only)."""

    def __init__(
        self,
        slate_active: Callable[[], bool] = lambda: False,
        keyframe_request: Callable[[], None] | None = None,
    ) -> None:
        self.slate_active = slate_active
        self.keyframe_request = keyframe_request
        self.tracks: set[HubTrack] = set()
        self.closed = False
        self._slate_index = 0
        self._after_slate = False
        self.published = {"video": 0, "audio": 0}

    def subscribe(self, kind: str) -> HubTrack:
        track = HubTrack(self, kind)
        self.tracks.add(track)
        if kind == "video":
            self.request_keyframe()
        return track

    def unsubscribe(self, track: HubTrack) -> None:
        self.tracks.discard(track)

    def request_keyframe(self) -> None:
        if self.keyframe_request is not None:
            self.keyframe_request()

    def publish(self, kind: str, packet: av.Packet, keyframe: bool) -> None:
        """Hand one encoded packet (``pts`` and ``time_base`` set) to every viewer of that kind."""
        if self.closed:
            return
        self.published[kind] += 1
        pts = packet.pts or 0
        if self._slated():
            slate = slate_packets()
            if kind == "audio":
                packet = _packet(slate.audio, pts, packet.time_base or AUDIO_TIME_BASE)
            else:
                data = slate.video[self._slate_index % len(slate.video)]
                self._slate_index += 1
                packet = _packet(data, pts, packet.time_base or VIDEO_TIME_BASE)
                keyframe = True
                self._after_slate = True
        elif kind == "video" and self._after_slate:
            if not keyframe:
                self.request_keyframe()
                return
            self._after_slate = False
        for track in list(self.tracks):
            if track.kind == kind:
                track.offer(packet, keyframe)

    def _slated(self) -> bool:
        try:
            return bool(self.slate_active())
        except Exception:
            log.exception("slate_active failed; slating the WHEP output")
            return True

    def close(self) -> None:
        self.closed = True
        for track in list(self.tracks):
            track.finish()


# --- a source for streams that are not WHIP ---------------------------------------------------------


class HlsTailSource:
    """Follows a live HLS playlist and publishes its segments' packets into a hub in real time.

    Video is copied (the packager's H.264); audio is AAC in HLS, so it is decoded and encoded to Opus
    once here. Starts at the newest segment; stops when the playlist gets ``#EXT-X-ENDLIST`` or on
    ``stop()``.
    """

    def __init__(self, playlist: Path, hub: PacketHub, poll_seconds: float = 0.2) -> None:
        self.playlist = playlist
        self.hub = hub
        self.poll_seconds = poll_seconds
        self._task: asyncio.Task[None] | None = None
        self._seen: set[str] = set()
        self._clock: tuple[float, float] | None = None  # (monotonic at media 0, media seconds 0)
        self._opus: Any = None
        self._resampler: Any = None
        self._audio_pts = 0
        self._offset = {"video": 0.0, "audio": 0.0}
        self._last = {"video": -1.0, "audio": -1.0}

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"whep-hls-tail {self.playlist}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    def _segments(self) -> tuple[list[str], bool]:
        try:
            text = self.playlist.read_text("utf-8")
        except OSError:
            return [], False
        names = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
        return names, "#EXT-X-ENDLIST" in text

    async def _run(self) -> None:
        first = True
        while not self.hub.closed:
            names, ended = await asyncio.to_thread(self._segments)
            fresh = [n for n in names if n not in self._seen]
            if first and fresh:
                # Join live: start at the newest finished segment, not the window's oldest.
                self._seen.update(fresh[:-1])
                fresh = fresh[-1:]
                first = False
            for name in fresh:
                self._seen.add(name)
                await self._play(self.playlist.parent / name)
            if ended and not fresh:
                self.hub.close()
                return
            if not fresh:
                await asyncio.sleep(self.poll_seconds)

    def _demux(self, path: Path) -> list[tuple[str, av.Packet, bool, float]]:
        """(kind, packet, keyframe, media seconds) for the segment, audio already Opus."""
        out: list[tuple[str, av.Packet, bool, float]] = []
        try:
            container = av.open(str(path))
        except (OSError, av.FFmpegError):
            return out
        with container:
            video = next(iter(container.streams.video), None)
            audio = next(iter(container.streams.audio), None)
            streams = [s for s in (video, audio) if s is not None]
            for packet in container.demux(streams):
                if packet.pts is None or packet.size == 0:
                    continue
                seconds = float(packet.pts * packet.time_base)
                if packet.stream is video:
                    copy = _packet(bytes(packet), round(seconds * 90_000), VIDEO_TIME_BASE)
                    out.append(("video", copy, bool(packet.is_keyframe), seconds))
                else:
                    for frame in packet.decode():
                        if not isinstance(frame, av.AudioFrame):
                            continue
                        for opus in self._to_opus(frame):
                            out.append(("audio", opus, True, seconds))
        return out

    def _to_opus(self, frame: av.AudioFrame) -> list[av.Packet]:
        if self._opus is None:
            self._opus = av.CodecContext.create("libopus", "w")
            self._opus.sample_rate = AUDIO_RATE
            self._opus.layout = "stereo"
            self._opus.format = "s16"
            self._opus.time_base = AUDIO_TIME_BASE
            self._resampler = av.AudioResampler(
                format="s16", layout="stereo", rate=AUDIO_RATE, frame_size=OPUS_FRAME_SAMPLES
            )
        packets = []
        frame.pts = None
        for chunk in self._resampler.resample(frame):
            chunk.pts = self._audio_pts
            chunk.time_base = AUDIO_TIME_BASE
            self._audio_pts += chunk.samples
            for p in self._opus.encode(chunk):
                packets.append(_packet(bytes(p), int(p.pts or 0), AUDIO_TIME_BASE))
        return packets

    async def _play(self, path: Path) -> None:
        items = await asyncio.to_thread(self._demux, path)
        items.sort(key=lambda item: item[3])
        loop = asyncio.get_running_loop()
        for kind, packet, keyframe, seconds in items:
            if self.hub.closed:
                return
            if self._clock is None or seconds < self._clock[1] - 1 or seconds > self._clock[1] + 600:
                # First packet, or a discontinuity (packager restart): re-anchor the clock.
                self._clock = (loop.time() - 0.05, seconds)
            due = self._clock[0] + (seconds - self._clock[1])
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(min(delay, 5.0))
            self.hub.publish(kind, packet, keyframe)


# --- the viewers ------------------------------------------------------------------------------------


@dataclass
class WhepViewer:
    id: str
    meeting_id: int
    pc: RTCPeerConnection
    tracks: list[HubTrack] = field(default_factory=list)
    created: float = field(default_factory=time.monotonic)


class WhepViewers:
    """The WHEP viewers of all streams in this process, with a per-stream cap."""

    def __init__(self, cap: int, loopback: bool = False) -> None:
        self.cap = cap
        self.loopback = loopback
        self.viewers: dict[str, WhepViewer] = {}

    def count(self, meeting_id: int) -> int:
        return sum(1 for v in self.viewers.values() if v.meeting_id == meeting_id)

    def get(self, meeting_id: int, viewer_id: str) -> WhepViewer | None:
        viewer = self.viewers.get(viewer_id)
        return viewer if viewer is not None and viewer.meeting_id == meeting_id else None

    async def add(self, meeting_id: int, hub: PacketHub, offer: RTCSessionDescription) -> tuple[str, str]:
        """Answer a viewer's offer; returns ``(viewer_id, answer_sdp)``. Raises ``ViewerCapReached``."""
        if self.count(meeting_id) >= self.cap:
            raise ViewerCapReached
        pc = new_peer_connection(self.loopback)
        viewer = WhepViewer(id=secrets.token_urlsafe(16), meeting_id=meeting_id, pc=pc)
        self.viewers[viewer.id] = viewer  # counted from now on (no race past the cap)
        try:
            # Transceivers with the codec choice made before the offer is applied: aiortc negotiates
            # codecs in setRemoteDescription, and only H.264 / Opus match the packets we have.
            for kind in _offer_kinds(offer.sdp):
                track = hub.subscribe(kind)
                viewer.tracks.append(track)
                transceiver = pc.addTransceiver(track, direction="sendonly")
                caps = RTCRtpSender.getCapabilities(kind)
                wanted = "video/H264" if kind == "video" else "audio/opus"
                prefs = [c for c in caps.codecs if c.mimeType == wanted]
                if kind == "video":
                    prefs = [c for c in prefs if c.parameters.get("packetization-mode") == "1"] or prefs
                transceiver.setCodecPreferences(prefs)
            await pc.setRemoteDescription(offer)
            if not viewer.tracks:
                raise ValueError("no media sections")
            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)
        except BaseException as exc:
            await self.remove(viewer.id)
            if isinstance(exc, Exception) and not isinstance(exc, ValueError):
                raise unusable_offer(exc) from exc
            raise

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self.remove(viewer.id)

        return viewer.id, pc.localDescription.sdp

    async def remove(self, viewer_id: str) -> bool:
        viewer = self.viewers.pop(viewer_id, None)
        if viewer is None:
            return False
        for track in viewer.tracks:
            track.stop()
        await close_quietly(viewer.pc)
        return True

    async def remove_meeting(self, meeting_id: int) -> None:
        for viewer_id in [v.id for v in self.viewers.values() if v.meeting_id == meeting_id]:
            await self.remove(viewer_id)

    async def close(self) -> None:
        for viewer_id in list(self.viewers):
            await self.remove(viewer_id)
