"""Runs a test-pattern stream for the crash-recovery test until it is killed (kill -9).

Usage: python -m tests.integration.stream_child MEETING_ID  (settings from RATHAUS_* variables).
Prints "ready N" once N public segments exist.
"""

from __future__ import annotations

import asyncio
import sys

from council.core.db import Database
from council.core.settings import Settings
from streaming.manager import StreamManager
from streaming.sources import TestPattern


async def main(meeting_id: int) -> None:
    settings = Settings(hls_segment_seconds=1.0)
    db = Database(settings)
    manager = StreamManager(settings, db.sessionmaker)
    await manager.start()
    live = await manager.start_stream(meeting_id, TestPattern(size="320x240", rate=10))
    for _ in range(600):  # bounded: at most a minute
        if live.segments >= 3:
            print(f"ready {live.segments}", flush=True)
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(60)  # killed before this ends


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
