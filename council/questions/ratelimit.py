"""Rate limits that hold across worker processes: Redis when the app runs several processes on a
Redis bus (``settings.channels_backend == "redis"``), else a counter in this process.

Fixed windows: a key's counter lives ``window_s`` seconds. Keys are hashed with the secret before
they are used, so IP addresses appear nowhere — not in the database, not as Redis keys — and the
counters expire on their own.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Protocol

from council.core.settings import Settings


class Limiter(Protocol):
    async def hit(self, scope: str, key: str, limit: int, window_s: int) -> bool:
        """Count one hit; False when ``key`` already had ``limit`` hits in the current window."""
        ...

    async def close(self) -> None: ...


def _digest(secret: str, scope: str, key: str) -> str:
    return hmac.new(secret.encode(), f"{scope}\x00{key}".encode(), hashlib.sha256).hexdigest()[:32]


class MemoryLimiter:
    """One process: a dict of (window, count), swept when it grows."""

    def __init__(
        self, secret: str, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self.secret = secret
        self.clock = clock
        self.max_keys = max_keys
        self._counts: dict[str, tuple[int, int]] = {}

    async def hit(self, scope: str, key: str, limit: int, window_s: int) -> bool:
        window = int(self.clock() // max(1, window_s))
        k = _digest(self.secret, scope, key)
        w, n = self._counts.get(k, (window, 0))
        if w != window:
            n = 0
        if n >= limit:
            return False
        if len(self._counts) >= self.max_keys:
            self._counts = {kk: v for kk, v in self._counts.items() if v[0] == window}
        self._counts[k] = (window, n + 1)
        return True

    async def close(self) -> None:
        self._counts.clear()


class RedisLimiter:
    """Shared by every process that uses the same Redis: INCR + EXPIRE in one transaction."""

    def __init__(self, secret: str, url: str, prefix: str = "rathaus:ql") -> None:
        from redis.asyncio import Redis

        self.secret = secret
        self.prefix = prefix
        self.redis = Redis.from_url(url)

    async def hit(self, scope: str, key: str, limit: int, window_s: int) -> bool:
        window = int(time.time() // max(1, window_s))
        rkey = f"{self.prefix}:{_digest(self.secret, scope, key)}:{window}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(rkey)
            pipe.expire(rkey, window_s + 5)
            count, _ = await pipe.execute()
        return int(count) <= limit

    async def close(self) -> None:
        await self.redis.aclose()


def make_limiter(settings: Settings) -> Limiter:
    if settings.channels_backend == "redis":
        return RedisLimiter(settings.secret_key, settings.redis_url)
    return MemoryLimiter(settings.secret_key)
