"""Alembic environment: async engine, the same SQLite pragmas as the app."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from council.core.db import make_engine
from council.core.migrate import include_object
from council.core.models import metadata  # web.models imports the other rooms first
from council.core.settings import Settings

config = context.config


def _render_item(type_: str, obj: Any, autogen_context: Any) -> Any:
    # Our TypeDecorator renders as a plain timezone-aware DateTime in migrations.
    if type_ == "type" and obj.__class__.__name__ == "UTCDateTime":
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    url = config.attributes["database_url"]
    settings = Settings(database_url=url)
    engine = make_engine(settings)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run against a database")
asyncio.run(_run_async())
