"""Comparing secrets a client presents (bearer tokens, unsubscribe keys) with the expected ones."""

from __future__ import annotations

import hmac


def same_secret(presented: str | None, expected: str) -> bool:
    """Constant-time comparison that takes any text: ``hmac.compare_digest`` refuses ``str`` with
    non-ASCII characters (a ``TypeError``, so a hostile header would be a 500); as UTF-8 bytes (lone
    surrogates replaced) it compares anything, and a non-ASCII value never equals an ASCII secret."""
    return hmac.compare_digest(
        (presented or "").encode("utf-8", "replace"), expected.encode("utf-8", "replace")
    )
