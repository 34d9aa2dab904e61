"""Stream keys: shown once to the clerk, stored only as a SHA-256 hash (like a password for a
machine; the key is long and random, so a fast hash is enough and lets WHIP/RTMP check it cheaply)."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> tuple[str, str]:
    """A fresh stream key and its hash: ``(key, key_hash)``. The key is URL- and SRT-safe (≥ 10 chars)."""
    key = secrets.token_urlsafe(24)
    return key, hash_key(key)


def verify_key(key: str | None, key_hash: str | None) -> bool:
    """Constant-time check of a presented key against the stored hash."""
    if not key or not key_hash:
        return False
    return hmac.compare_digest(hash_key(key), key_hash)
