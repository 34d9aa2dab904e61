"""Importing from OParl 1.0/1.1 endpoints (ALLRIS, SessionNet, Sternberg, … and Rathaus itself).

``import_oparl(db, settings, url, ImportOptions(...))`` → :class:`ImportReport` (``service``);
``client`` is the HTTP side (retries, list paging, size-limited downloads), ``faults`` the tolerant
readers for known vendor faults, ``mapping`` the OParl → record field mapping, ``models`` the
``oparl_import_state`` table (last import per endpoint and body, for ``modified_since``).
The command is ``rathaus import-oparl URL`` (``web/cli/oparl.py``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["ImportOptions", "ImportReport", "ImportWarning", "import_oparl"]


def __getattr__(name: str) -> Any:  # lazy: council.core.models imports our models module
    if name in __all__:
        from council.oparl.importer import service

        return getattr(service, name)
    raise AttributeError(name)
