"""`rathaus documents …` commands."""

from __future__ import annotations
