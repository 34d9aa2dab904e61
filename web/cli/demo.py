"""`rathaus demo …` commands."""

from __future__ import annotations
