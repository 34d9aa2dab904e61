"""Test fixtures on the real thing: SQLite or PostgreSQL (``RATHAUS_TEST_DATABASE=sqlite|postgres``).

The same suite runs on both (``.ci/test`` runs it twice). Every test that writes gets a fresh database
(copied from a template with the schema); tests that only read share one database with the small demo
municipality loaded (``demo_*`` fixtures) — they must not write to it.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

# Settings are read from the environment: set ours before anything imports the app.
os.environ.setdefault("RATHAUS_SECRET_KEY", "test-secret-key-not-for-production")
os.environ.pop("RATHAUS_DATABASE_URL", None)

from council.core.db import Database
from council.core.settings import Settings
from web.models import metadata  # every room's tables, votes included

BACKEND = os.environ.get("RATHAUS_TEST_DATABASE", "sqlite")
PG_ADMIN_URL = os.environ.get("RATHAUS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
RUN_ID = uuid.uuid4().hex[:8]


def pytest_report_header(config: pytest.Config) -> str:
    return f"rathaus test database: {BACKEND}"


_PROGRESS = os.environ.get("RATHAUS_TEST_PROGRESS")


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    # .ci/test names the test that was running when a pass dies of a signal (a crash in C code
    # leaves no pytest report): the id is written, unbuffered, before each test starts.
    if _PROGRESS:
        with open(_PROGRESS, "w", encoding="utf-8") as fh:
            fh.write(nodeid + "\n")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_pg = pytest.mark.skip(reason="PostgreSQL only")
    for item in items:
        if "postgres_only" in item.keywords and BACKEND != "postgres":
            item.add_marker(skip_pg)


# --- database factories --------------------------------------------------------------------------


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _pg_url(dbname: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return base.replace("postgresql://", "postgresql+asyncpg://") + "/" + dbname


async def _create_schema(settings: Settings) -> None:
    db = Database(settings)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
    finally:
        await db.dispose()


class DatabaseFactory:
    """Makes fresh databases quickly by copying a template that already has the schema."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.template: str | None = None
        self.created: list[str] = []

    async def template_ready(self) -> None:
        if self.template is not None:
            return
        if BACKEND == "postgres":
            name = f"rathaus_tpl_{RUN_ID}"
            await _pg_admin(f'DROP DATABASE IF EXISTS "{name}"')
            await _pg_admin(f'CREATE DATABASE "{name}"')
            self.created.append(name)
            await _create_schema(Settings(database_url=_pg_url(name), var_dir=self.root / "tpl"))
            self.template = name
        else:
            path = self.root / "template.db"
            await _create_schema(Settings(database_url=f"sqlite+aiosqlite:///{path}", var_dir=self.root))
            self.template = str(path)

    async def new(self, var_dir: Path) -> Settings:
        await self.template_ready()
        var_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (test setup, a local tmp dir)
        if BACKEND == "postgres":
            name = f"rathaus_t_{RUN_ID}_{uuid.uuid4().hex[:10]}"
            await _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
            self.created.append(name)
            url = _pg_url(name)
        else:
            assert self.template is not None
            target = var_dir / "rathaus.db"
            shutil.copyfile(self.template, target)
            url = f"sqlite+aiosqlite:///{target}"
        return Settings(
            database_url=url,
            var_dir=var_dir,
            secret_key="test-secret-key-not-for-production",
            jobs_in_process=True,
            # Tests change data and look again at once; the page cache has its own tests.
            page_cache_seconds=0,
            # Whisper runs only where a test asks for it (test_meeting_pipeline, the transcript tests).
            live_captions=False,
            # The daily digest has its own test (a clock it controls); apps in tests don't queue it.
            alerts_digest_hour=24,
        )

    async def cleanup(self) -> None:
        if BACKEND != "postgres":
            return
        for name in reversed(self.created):
            try:
                await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception:  # cleanup must not hide a test's own failure
                pass


@pytest.fixture(scope="session")
async def db_factory(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DatabaseFactory]:
    factory = DatabaseFactory(tmp_path_factory.mktemp("db"))
    yield factory
    await factory.cleanup()


@pytest.fixture
async def settings(db_factory: DatabaseFactory, tmp_path: Path) -> Settings:
    """Settings for a fresh, empty database with the schema and its own var/ directory."""
    return await db_factory.new(tmp_path / "var")


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings)
    yield database
    await database.dispose()


@pytest.fixture
async def session(db: Database) -> AsyncIterator[Any]:
    async with db.sessionmaker() as s:
        yield s


# --- the app ---------------------------------------------------------------------------------------


@pytest.fixture
async def app(settings: Settings) -> Any:
    from web.app import create_app

    return create_app(settings)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[Any]:
    from litestar.testing import AsyncTestClient

    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:8000") as c:
        yield c


# --- the shared demo (read-only) ------------------------------------------------------------------


@pytest.fixture(scope="session")
async def demo_settings(db_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A database with the small demo municipality and its documents (text extracted, indexed)."""
    from council.demo import load_demo

    settings = await db_factory.new(tmp_path_factory.mktemp("demo") / "var")
    database = Database(settings)
    try:
        await load_demo(database, settings, scale="small")
    finally:
        await database.dispose()
    return settings


@pytest.fixture(scope="session")
async def demo_app(demo_settings: Settings) -> Any:
    from web.app import create_app

    return create_app(demo_settings)


@pytest.fixture(scope="session")
async def demo_client(demo_app: Any) -> AsyncIterator[Any]:
    from litestar.testing import AsyncTestClient

    async with AsyncTestClient(app=demo_app, base_url="http://127.0.0.1:8000") as c:
        yield c


@pytest.fixture(scope="session")
async def demo_db(demo_settings: Settings) -> AsyncIterator[Database]:
    database = Database(demo_settings)
    yield database
    await database.dispose()


# --- a real server for end-to-end tests -----------------------------------------------------------


@pytest.fixture(scope="session")
def live_server(demo_settings: Settings) -> Iterator[str]:
    """The demo app served by uvicorn in a thread on a free loopback port."""
    import socket
    import threading

    import uvicorn

    from web.app import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    app = create_app(demo_settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    import time

    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("live server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
