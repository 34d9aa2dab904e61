"""Errors the web layer maps to HTTP answers: ``StreamBusy`` → 409, ``StreamNotFound`` → 404,
``BadSource`` → 400. Each carries a message fit to show (German UI text is chosen by web)."""

from __future__ import annotations


class StreamError(Exception):
    """Base class for streaming errors."""


class StreamBusy(StreamError):
    """The meeting already has a live stream (a second publisher, a second start)."""


class StreamNotFound(StreamError):
    """No (live) stream for that meeting."""


class BadSource(StreamError):
    """The source cannot be used (bad file, bad key, missing codec, port out of range)."""
