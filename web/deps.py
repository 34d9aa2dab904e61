"""Dependencies handed to route handlers: a database session per request and the viewer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Request
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

from council.records.access import ANONYMOUS, Viewer


async def provide_db_session(state: State) -> AsyncIterator[AsyncSession]:
    async with state.db.sessionmaker() as session:
        try:
            yield session
        except Exception:
            await session.rollback()
            raise


async def provide_viewer(request: Request[Any, Any, Any], db_session: AsyncSession) -> Viewer:
    """Anonymous until a staff login exists (see ``council.accounts``)."""
    return ANONYMOUS
