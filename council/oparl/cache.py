"""Per-process caches of the OParl API: serialised objects, and the counts of the lists.

* ``Fragments``: an object's JSON, encoded once (``msgspec.Raw``: the page encoder copies the bytes as
  they are). The key is everything the serialiser reads: the object's kind, id and ``modified`` (bumped
  by every ORM flush that changes the record, ``council.core.base``), whether internal objects are
  embedded, and the same for every record it embeds or links to (their ids and ``modified``, and the
  link lists computed for the page, which are already filtered to what an anonymous visitor may see).
  Visibility itself is decided before the cache is asked: a record that is deleted or no longer public
  is not on the page, and a link to it is not in the key's link lists, so a stale copy can never be
  served for it. A change that skips the ORM (a hand-written ``UPDATE`` without ``modified``) would be
  missed: the records are only changed through the ORM (``git grep "update(Paper"`` and friends).
  Bounded by the bytes held (least recently used go first).
* ``Counts``: ``totalElements`` and the list-wide ``Last-Modified`` of a list and its filters, the part
  of a first page that costs most (a count over every row: 25 ms for the consultations of 10 years).
  Valid while the latest ``modified`` of every table the count reads is unchanged (one indexed
  ``max(modified)`` per table, in one statement), and never longer than ``COUNT_TTL_S`` (a safety net for
  transactions that commit out of ``modified`` order; no OParl record is ever deleted from its table).

One instance of each per app (``web.controllers.oparl`` keeps them on ``app.state``): two databases in
one process (tests) never share entries.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import msgspec

#: Bytes of serialised JSON each process keeps (the 10-year demo's whole API is ~150 MB of JSON; ~100
#: list pages are ~10 MB). The keys and Python objects add ~75 % on top (measured: 10 MB traced for
#: 5.8 MB of JSON, docs/oparl.md), so a process holds ~55 MB at most.
FRAGMENT_BYTES = 32 * 2**20
#: Count entries kept, and how long one is trusted at most.
COUNT_ENTRIES = 512
COUNT_TTL_S = 60.0

_encoder = msgspec.json.Encoder()


class Fragments:
    """Serialised objects by key, least recently used evicted beyond ``max_bytes``."""

    def __init__(self, max_bytes: int = FRAGMENT_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Hashable, msgspec.Raw] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, build: Callable[[], Any]) -> msgspec.Raw:
        """The fragment for ``key``; ``build()`` (the object as a dict) is encoded on a miss."""
        entries = self._entries
        raw = entries.get(key)
        if raw is not None:
            entries.move_to_end(key)
            self.hits += 1
            return raw
        self.misses += 1
        raw = msgspec.Raw(_encoder.encode(build()))
        size = len(raw)
        if size > self.max_bytes // 8:  # a huge object (a file with a long text) is not kept
            return raw
        entries[key] = raw
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, old = entries.popitem(last=False)
            self.bytes -= len(old)
        return raw

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0


class Counts:
    """``(total, last_modified)`` of a list by (list, filters), tagged with the tables' versions."""

    def __init__(self, max_entries: int = COUNT_ENTRIES, ttl_s: float = COUNT_TTL_S) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._entries: OrderedDict[Hashable, tuple[Any, float, Any]] = OrderedDict()

    def get(self, key: Hashable, version: Any) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        stored_version, at, value = entry
        if stored_version != version or time.monotonic() - at > self.ttl_s:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: Hashable, version: Any, value: Any) -> None:
        self._entries[key] = (version, time.monotonic(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


__all__ = ["COUNT_TTL_S", "FRAGMENT_BYTES", "Counts", "Fragments"]
