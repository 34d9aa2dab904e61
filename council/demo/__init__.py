"""The demo municipality: a deterministic, realistic German town council with generated PDFs.

``load_demo(database, settings, scale=...)`` fills an empty database; ``scale`` is ``small`` (tests),
``standard`` (``rathaus demo``) or ``10y`` (benchmarks).
"""

from __future__ import annotations

from typing import Any


async def load_demo(database: Any, settings: Any, scale: str = "standard", seed: int = 1) -> Any:
    from council.demo.generate import load_demo as _load

    return await _load(database, settings, scale=scale, seed=seed)
