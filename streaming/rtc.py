"""The WebRTC side of the streams in this process: WHIP publishers and WHEP viewers per meeting.

``RtcService`` knows nothing of HTTP or of the stream manager's internals; the web layer hands it
what it needs per call (a coroutine that starts the packager's pipe, the live playlist, whether the
public output is slated), so it can be tested on its own.

Order of a WHIP publish: check the SDP → answer it (cheap, nothing started yet) → start the stream
(``start_sink``; may refuse with ``StreamBusy``) → start the encoder. A refused or failed start
closes the peer connection, so no half-started stream or record is left behind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiortc import RTCSessionDescription

from streaming.errors import StreamBusy, StreamNotFound
from streaming.whep import HlsTailSource, PacketHub, WhepViewers
from streaming.whip import Sink, WhipSession

log = logging.getLogger(__name__)


class RtcService:
    def __init__(
        self,
        *,
        viewer_cap: int = 20,
        loopback: bool = False,
        segment_seconds: float = 1.0,
        preset: str = "veryfast",
    ) -> None:
        self.loopback = loopback
        self.segment_seconds = segment_seconds
        self.preset = preset
        self.publishers: dict[int, WhipSession] = {}
        self.viewers = WhepViewers(viewer_cap, loopback=loopback)
        self._tails: dict[int, tuple[PacketHub, HlsTailSource]] = {}
        self._lock = asyncio.Lock()

    # --- WHIP ---

    async def publish(
        self,
        meeting_id: int,
        offer: RTCSessionDescription,
        start_sink: Callable[[], Awaitable[Sink]],
        slate_active: Callable[[], bool] = lambda: False,
        on_end: Callable[[int], Awaitable[None]] | None = None,
        still_live: Callable[[], bool] | None = None,
    ) -> WhipSession:
        """Answer a publisher's offer and start its stream. Raises ``StreamBusy`` (a publisher is
        live), ``ValueError`` (the offer cannot be used), or whatever ``start_sink`` raises.
        ``still_live()`` is polled each second: once the stream was stopped elsewhere (the clerk's
        console), the session ends too."""
        async with self._lock:
            if meeting_id in self.publishers:
                raise StreamBusy("Für diese Sitzung sendet bereits jemand.")

            async def ended(session: WhipSession) -> None:
                if self.publishers.get(meeting_id) is session:
                    del self.publishers[meeting_id]
                await self.viewers.remove_meeting(meeting_id)
                if on_end is not None:
                    await on_end(meeting_id)

            placeholder = _Pending()
            session = WhipSession(
                meeting_id,
                placeholder,
                hub=PacketHub(slate_active),
                segment_seconds=self.segment_seconds,
                loopback=self.loopback,
                preset=self.preset,
                on_end=ended,
            )
            await session.answer(offer)
            try:
                sink = await start_sink()
            except BaseException:
                session.on_end = None
                await session.close()
                raise
            session.sink = sink
            session.still_live = still_live
            session.start()
            self.publishers[meeting_id] = session
            # Viewers that watched another source of this meeting switch to the WHIP packets.
            await self._stop_tail(meeting_id)
            return session

    def publisher(self, meeting_id: int, session_id: str) -> WhipSession | None:
        session = self.publishers.get(meeting_id)
        return session if session is not None and session.id == session_id else None

    async def unpublish(self, meeting_id: int, session_id: str) -> bool:
        session = self.publisher(meeting_id, session_id)
        if session is None:
            return False
        await session.close()
        return True

    # --- WHEP ---

    def hub_for(self, meeting_id: int, playlist: Path | None, slate_active: Callable[[], bool]) -> PacketHub:
        """The WHIP session's hub, or one fed from the live HLS playlist (started on first use)."""
        session = self.publishers.get(meeting_id)
        if session is not None:
            return session.hub
        tail = self._tails.get(meeting_id)
        if tail is not None and not tail[0].closed:
            return tail[0]
        if playlist is None:
            raise StreamNotFound("Diese Sitzung wird gerade nicht übertragen.")
        hub = PacketHub(slate_active)
        source = HlsTailSource(playlist, hub)
        source.start()
        self._tails[meeting_id] = (hub, source)
        return hub

    async def view(
        self,
        meeting_id: int,
        offer: RTCSessionDescription,
        playlist: Path | None = None,
        slate_active: Callable[[], bool] = lambda: False,
    ) -> tuple[str, str]:
        """Answer a viewer's offer: ``(viewer_id, answer_sdp)``. Raises ``ViewerCapReached``,
        ``StreamNotFound`` or ``ValueError`` (bad offer)."""
        hub = self.hub_for(meeting_id, playlist, slate_active)
        return await self.viewers.add(meeting_id, hub, offer)

    async def end_view(self, meeting_id: int, viewer_id: str) -> bool:
        if self.viewers.get(meeting_id, viewer_id) is None:
            return False
        await self.viewers.remove(viewer_id)
        if not self.viewers.count(meeting_id):
            await self._stop_tail(meeting_id)
        return True

    async def _stop_tail(self, meeting_id: int) -> None:
        tail = self._tails.pop(meeting_id, None)
        if tail is not None:
            tail[0].close()
            await tail[1].stop()

    async def stream_ended(self, meeting_id: int) -> None:
        """The stream stopped by other means (the clerk, the manager): end WHEP and WHIP for it."""
        session = self.publishers.get(meeting_id)
        if session is not None:
            await session.close()
        await self.viewers.remove_meeting(meeting_id)
        await self._stop_tail(meeting_id)

    async def close(self) -> None:
        for session in list(self.publishers.values()):
            await session.close()
        await self.viewers.close()
        for meeting_id in list(self._tails):
            await self._stop_tail(meeting_id)


class _Pending:
    """The sink before the stream has started (nothing is written to it before ``start``)."""

    async def write(self, data: bytes) -> None:
        raise RuntimeError("stream not started")

    async def close(self) -> None:
        return None
