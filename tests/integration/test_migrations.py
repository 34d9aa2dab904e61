"""Migrations are code: an empty database upgraded to head matches the models exactly."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from council.core.db import Database
from council.core.migrate import include_object, upgrade
from council.core.settings import Settings
from tests.conftest import BACKEND, _pg_admin, _pg_url
from web.models import metadata


@pytest.fixture
async def empty_settings(tmp_path):
    if BACKEND == "postgres":
        name = f"rathaus_mig_{uuid.uuid4().hex[:10]}"
        await _pg_admin(f'CREATE DATABASE "{name}"')
        yield Settings(database_url=_pg_url(name), var_dir=tmp_path)
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        yield Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'm.db'}", var_dir=tmp_path)


async def test_upgrade_to_head_matches_models(empty_settings):
    await asyncio.to_thread(upgrade, empty_settings)
    await asyncio.to_thread(upgrade, empty_settings)  # idempotent
    db = Database(empty_settings)
    try:
        async with db.engine.connect() as conn:

            def diff(sync_conn):
                ctx = MigrationContext.configure(
                    sync_conn, opts={"compare_type": False, "include_object": include_object}
                )
                return compare_metadata(ctx, metadata)

            changes = await conn.run_sync(diff)
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            if conn.dialect.name == "postgresql":
                trigger_sql = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
            else:
                trigger_sql = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
            triggers = set((await conn.execute(text(trigger_sql))).scalars())
    finally:
        await db.dispose()
    assert changes == [], changes
    assert {"meeting", "agenda_item", "paper", "file", "timeline_event", "job", "poll", "vote_log"} <= tables
    assert any("vote_log" in t for t in triggers), triggers  # the vote log is append-only in SQL too
