"""WHEP viewing through real HTTP: aiortc viewers on loopback receive frames from a WHIP stream
(packet fan-out of the ingest's one encode) and from a test-pattern stream (packets from the
packager's live HLS); the viewer cap answers 503 (use HLS); access checks; the consent slate.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiortc import RTCSessionDescription

from streaming.paths import meeting_paths
from streaming.rtc import RtcService
from streaming.webrtc import new_peer_connection, parse_offer
from tests.factories import make_town
from tests.integration.test_whip import SDP, mangled_offers, publisher, segments, serve, wait_for


@pytest.fixture
async def whep_app(settings: Any) -> Any:
    from web.app import create_app

    return create_app(settings.model_copy(update={"webrtc_loopback": True, "whep_viewer_cap": 1}))


@pytest.fixture
async def whep_client(whep_app: Any) -> AsyncIterator[Any]:
    async with serve(whep_app) as c:
        yield c


@pytest.fixture
async def meeting(session: Any) -> tuple[int, int]:
    """(public meeting id, non-public meeting id)."""
    town = await make_town(session)
    assert town.council_meeting is not None and town.secret_meeting is not None
    return town.council_meeting.id, town.secret_meeting.id


class Viewer:
    """An aiortc WHEP viewer that counts the decoded video frames and keeps their mean brightness."""

    def __init__(self) -> None:
        self.pc = new_peer_connection(loopback=True)
        self.pc.addTransceiver("video", direction="recvonly")
        self.pc.addTransceiver("audio", direction="recvonly")
        self.frames: list[float] = []
        self.audio = 0
        self.tasks: list[asyncio.Task[None]] = []

        @self.pc.on("track")
        def on_track(track: Any) -> None:
            self.tasks.append(asyncio.ensure_future(self._pump(track)))

    async def _pump(self, track: Any) -> None:
        try:
            for _ in range(100_000):
                frame = await track.recv()
                if track.kind == "video":
                    plane = frame.to_ndarray(format="gray")
                    self.frames.append(float(plane.mean()))
                else:
                    self.audio += 1
        except Exception:  # the track ends when the peer closes
            return

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))

    async def close(self) -> None:
        await self.pc.close()
        for task in self.tasks:
            task.cancel()


async def test_whep_viewer_gets_frames_from_whip_and_cap(
    whep_client: Any, whep_app: Any, meeting: tuple[int, int]
) -> None:
    mid, secret = meeting
    key = await whep_app.state.streams.issue_key(mid)
    pub, players = await publisher()
    viewer, second = Viewer(), Viewer()
    try:
        # Not live yet: nothing to watch. A non-public meeting does not exist for the public.
        r = await whep_client.post(f"/whep/{mid}", content=await viewer.offer(), headers=SDP)
        assert r.status_code == 404
        r = await whep_client.post(f"/whep/{secret}", content=await viewer.offer(), headers=SDP)
        assert r.status_code == 404
        r = await whep_client.post(
            f"/whep/{mid}", content=b"nonsense", headers={"Content-Type": "text/plain"}
        )
        assert r.status_code == 415

        r = await whep_client.post(
            f"/whip/{mid}",
            content=pub.localDescription.sdp,
            headers={**SDP, "Authorization": f"Bearer {key}"},
        )
        assert r.status_code == 201, r.text
        await pub.setRemoteDescription(RTCSessionDescription(r.text, "answer"))

        r = await whep_client.post(f"/whep/{mid}", content=b"v=0\r\nbad", headers=SDP)
        assert r.status_code == 400
        # offers that parse but that aiortc trips over while negotiating: 400, and no place of the cap taken
        hostile = Viewer()
        try:
            for bad in mangled_offers(await hostile.offer(), fmtp=True):
                r = await whep_client.post(f"/whep/{mid}", content=bad, headers=SDP)
                assert r.status_code == 400, (bad[:80], r.status_code, r.text)
                assert r.text.strip()
        finally:
            await hostile.close()
        r = await whep_client.post(f"/whep/{mid}", content=await viewer.offer(), headers=SDP)
        assert r.status_code == 201, r.text
        location = r.headers["location"]
        assert "H264" in r.text and "VP8" not in r.text  # packets are H.264: no re-encode per viewer
        await viewer.answer(r.text)
        assert await wait_for(lambda: len(viewer.frames) >= 15, 20), f"frames: {len(viewer.frames)}"
        assert await wait_for(lambda: viewer.audio >= 10, 10), f"audio frames: {viewer.audio}"

        # The cap (1 here): the next viewer is told to use HLS.
        r = await whep_client.post(f"/whep/{mid}", content=await second.offer(), headers=SDP)
        assert r.status_code == 503
        assert int(r.headers["retry-after"]) > 0
        assert r.json()["fallback"] == "hls"

        r = await whep_client.patch(
            location, content=b"", headers={"Content-Type": "application/trickle-ice-sdpfrag"}
        )
        assert r.status_code == 405
        r = await whep_client.delete(location)
        assert r.status_code == 200
        r = await whep_client.delete(location)
        assert r.status_code == 404
        # The place is free again.
        third = Viewer()
        try:
            r = await whep_client.post(f"/whep/{mid}", content=await third.offer(), headers=SDP)
            assert r.status_code == 201
        finally:
            await third.close()
    finally:
        for conn in (viewer, second):
            await conn.close()
        await pub.close()
        for p in players:
            for t in (p.video, p.audio):
                if t is not None:
                    t.stop()


async def test_whep_viewer_of_a_test_pattern(
    whep_client: Any, whep_app: Any, meeting: tuple[int, int]
) -> None:
    """A stream that is not WHIP: the relay reads the packager's live HLS (no encode at all)."""
    from streaming.sources import TestPattern

    mid, _secret = meeting
    manager = whep_app.state.streams
    await manager.start_stream(mid, TestPattern(width=320, height=240, fps=10))
    index = meeting_paths(whep_app.state.settings.media_dir, mid).index
    viewer = Viewer()
    try:
        assert await wait_for(lambda: len(segments(index)) >= 1, 30), "no HLS from the test pattern"
        r = await whep_client.post(f"/whep/{mid}", content=await viewer.offer(), headers=SDP)
        assert r.status_code == 201, r.text
        await viewer.answer(r.text)
        assert await wait_for(lambda: len(viewer.frames) >= 10, 20), f"frames: {len(viewer.frames)}"
    finally:
        await viewer.close()
        await manager.stop_stream(mid)


class MemorySink:
    def __init__(self) -> None:
        self.data = bytearray()

    async def write(self, data: bytes) -> None:
        self.data += data

    async def close(self) -> None:
        return None


async def test_whep_slate_hides_the_picture() -> None:
    """While the public output is slated (a non-consenting speaker), WHEP viewers get black frames."""
    slated = False
    service = RtcService(loopback=True, viewer_cap=2)
    pub, players = await publisher()
    viewer = Viewer()
    sink = MemorySink()

    async def start_sink() -> MemorySink:
        return sink

    try:
        session = await service.publish(
            1, parse_offer(pub.localDescription.sdp.encode()), start_sink, lambda: slated
        )
        assert session.pc is not None
        await pub.setRemoteDescription(RTCSessionDescription(session.pc.localDescription.sdp, "answer"))
        _vid, answer = await service.view(1, parse_offer((await viewer.offer()).encode()))
        await viewer.answer(answer)
        assert await wait_for(lambda: len(viewer.frames) >= 5, 20)
        assert viewer.frames[-1] > 40  # testsrc2 is colourful
        slated = True
        seen = len(viewer.frames)
        assert await wait_for(lambda: len(viewer.frames) >= seen + 10, 20)
        assert max(viewer.frames[-5:]) < 20, viewer.frames[-5:]  # black
        slated = False
        seen = len(viewer.frames)
        assert await wait_for(lambda: len(viewer.frames) >= seen + 10 and viewer.frames[-1] > 40, 20)
        assert len(sink.data) > 0  # the packager's copy went on throughout
    finally:
        await viewer.close()
        await service.close()
        await pub.close()
        for p in players:
            for t in (p.video, p.audio):
                if t is not None:
                    t.stop()
