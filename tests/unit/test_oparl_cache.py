"""council.oparl.cache: bounded, and a count is only given back for the version it was read at."""

from __future__ import annotations

import msgspec

from council.oparl.cache import Counts, Fragments


def test_fragments_encode_once_and_stay_within_their_bytes() -> None:
    frags = Fragments(max_bytes=1000)
    built: list[int] = []

    def build(i: int) -> dict[str, object]:
        built.append(i)
        return {"id": i, "name": "x" * 80}

    first = frags.get(("paper", 1), lambda: build(1))
    assert isinstance(first, msgspec.Raw)
    assert msgspec.json.decode(first) == {"id": 1, "name": "x" * 80}
    assert frags.get(("paper", 1), lambda: build(1)) is first and built == [1]
    assert (frags.hits, frags.misses) == (1, 1)
    for i in range(2, 40):
        frags.get(("paper", i), lambda i=i: build(i))
        assert frags.bytes <= 1000
    assert len(frags) < 38
    # the least recently used went first; a recent one is still there
    frags.get(("paper", 39), lambda: build(-1))
    assert -1 not in built
    frags.get(("paper", 1), lambda: build(1))
    assert built.count(1) == 2
    # an object bigger than an eighth of the budget is encoded but not kept
    big = frags.get(("file", 1), lambda: {"text": "y" * 500})
    assert len(big) > 500 and frags.bytes <= 1000
    frags.get(("file", 1), lambda: build(-2))
    assert -2 in built
    frags.clear()
    assert len(frags) == 0 and frags.bytes == 0


def test_fragments_embed_as_bytes() -> None:
    frags = Fragments()
    raw = frags.get(("k",), lambda: {"a": [1, 2], "b": "ä"})
    page = msgspec.json.encode({"data": [raw, raw]})
    assert msgspec.json.decode(page) == {"data": [{"a": [1, 2], "b": "ä"}] * 2}


def test_counts_follow_the_version_and_age() -> None:
    counts = Counts(max_entries=2, ttl_s=3600)
    counts.put("papers", ("2026-01-01",), (10, None))
    assert counts.get("papers", ("2026-01-01",)) == (10, None)
    assert counts.get("papers", ("2026-01-02",)) is None  # a newer change: not given back
    assert counts.get("papers", ("2026-01-01",)) is None  # and dropped
    counts.put("a", (1,), (1, None))
    counts.put("b", (1,), (2, None))
    counts.put("c", (1,), (3, None))
    assert counts.get("a", (1,)) is None and counts.get("c", (1,)) == (3, None)  # bounded in entries
    old = Counts(ttl_s=-1.0)
    old.put("x", (1,), (1, None))
    assert old.get("x", (1,)) is None  # too old, whatever its version
