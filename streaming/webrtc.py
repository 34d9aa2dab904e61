"""aiortc helpers shared by WHIP ingest and the WHEP relay.

Two things every peer connection here needs:

- **No STUN/TURN servers.** aiortc defaults to a public Google STUN host when the configuration has
  no ICE servers; that host is unreachable in an isolated network and leaks the viewer's address to a
  third party. ``rtc_configuration()`` always passes an explicit empty list.
- **Loopback candidates when asked for.** aioice leaves ``127.0.0.1`` out of the host candidates it
  gathers, so two peers on one machine without another interface cannot connect.
  ``enable_loopback()`` wraps aioice's address lookup to add it (process-wide: aioice reads the module
  function at gather time). It is a test / one-machine-demo setting (``settings.webrtc_loopback``).

``parse_offer()`` rejects bodies that are not an SDP offer with a message the endpoints send back
as a 400, before aiortc sees them (aiortc raises assorted exceptions on garbage).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import aioice.ice
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
#: WHIP/WHEP offers are small (a few KiB); anything much larger is not an offer.
MAX_SDP_BYTES = 64 * 1024

_lock = threading.Lock()
_original_get_host_addresses: Callable[..., list[str]] | None = None


class BadSdp(ValueError):
    """The body is not a usable SDP offer; ``str(exc)`` is a message for the client."""


def rtc_configuration() -> RTCConfiguration:
    """A configuration with no ICE servers at all (never aiortc's public STUN default)."""
    return RTCConfiguration(iceServers=[])


def new_peer_connection(loopback: bool = False) -> RTCPeerConnection:
    """A peer connection with no ICE servers; with ``loopback`` it also gathers 127.0.0.1."""
    if loopback:
        enable_loopback()
    return RTCPeerConnection(configuration=rtc_configuration())


def enable_loopback() -> None:
    """Make aioice offer 127.0.0.1 as a host candidate too (idempotent, process-wide)."""
    global _original_get_host_addresses
    with _lock:
        if _original_get_host_addresses is not None:
            return
        original = aioice.ice.get_host_addresses
        _original_get_host_addresses = original

        def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
            addresses = list(original(use_ipv4=use_ipv4, use_ipv6=use_ipv6))
            if use_ipv4 and LOOPBACK not in addresses:
                # First, so that a single-candidate client (ffmpeg's WHIP muxer takes the first
                # candidate of the answer) picks the address that always works on one machine.
                addresses.insert(0, LOOPBACK)
            return addresses

        aioice.ice.get_host_addresses = get_host_addresses


def disable_loopback() -> None:
    """Undo ``enable_loopback`` (for tests that check the default)."""
    global _original_get_host_addresses
    with _lock:
        if _original_get_host_addresses is None:
            return
        aioice.ice.get_host_addresses = _original_get_host_addresses
        _original_get_host_addresses = None


def loopback_enabled() -> bool:
    return _original_get_host_addresses is not None


def parse_offer(body: bytes) -> RTCSessionDescription:
    """Check that ``body`` looks like an SDP offer with at least one audio or video section.

    aiortc's own parser accepts much and fails later in odd places; this catches the usual garbage
    (empty, binary, not SDP, no media) with a clear message.
    """
    if not body:
        raise BadSdp("Leerer Body: erwartet wird ein SDP-Angebot (application/sdp).")
    if len(body) > MAX_SDP_BYTES:
        raise BadSdp("Das SDP-Angebot ist zu groß.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadSdp("Das SDP-Angebot ist kein UTF-8-Text.") from exc
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    if not lines or not lines[0].startswith("v=0"):
        raise BadSdp("Kein SDP: die erste Zeile muss „v=0“ sein.")
    media = [line for line in lines if line.startswith("m=")]
    if not any(line.startswith(("m=audio ", "m=video ")) for line in media):
        raise BadSdp("Das SDP-Angebot enthält keine Audio- oder Videospur.")
    if not any(line.startswith("a=fingerprint:") for line in lines):
        raise BadSdp("Das SDP-Angebot enthält keinen DTLS-Fingerprint.")
    if not any(line.startswith("a=ice-ufrag:") for line in lines):
        raise BadSdp("Das SDP-Angebot enthält keine ICE-Zugangsdaten.")
    try:
        from aiortc.sdp import SessionDescription

        SessionDescription.parse(text)
    except Exception as exc:  # aiortc's parser raises ValueError, KeyError, IndexError…
        raise BadSdp(f"Das SDP-Angebot ist fehlerhaft: {type(exc).__name__}.") from exc
    return RTCSessionDescription(sdp=text, type="offer")


def unusable_offer(exc: BaseException) -> BadSdp:
    """The error for an offer that parsed but that aiortc trips over while negotiating (an ``a=mid`` the
    BUNDLE group does not name: ``AttributeError``; an ``a=fmtp`` it cannot apply: ``OperationError``):
    the client's fault, so a 4xx with a message, never a 500. Logged with its traceback, in case it is
    ours."""
    log.warning("unusable SDP offer: %s: %s", type(exc).__name__, exc, exc_info=exc)
    return BadSdp("Die Medienbeschreibungen des SDP-Angebots passen nicht zusammen.")


async def close_quietly(pc: Any) -> None:
    """Close a peer connection; closing must never raise into a request or shutdown."""
    try:
        await pc.close()
    except Exception as exc:  # a half-open connection may fail in many ways while closing
        log.debug("closing a peer connection failed: %r", exc)
