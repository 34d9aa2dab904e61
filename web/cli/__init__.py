"""The ``rathaus`` command line. Each area adds its commands in a module of its own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from council.core.settings import get_settings

T = TypeVar("T")


def run_async(fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    return asyncio.run(fn(*args, **kwargs))  # type: ignore[arg-type]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Ausführliche Protokollausgabe.")
def main(verbose: bool) -> None:
    """Rathaus – Ratsinformationssystem. Settings come from RATHAUS_* environment variables.

    Exit codes: 0 done; 1 failed or refused (message on stderr); 2 wrong usage; 3 the running server
    could not be reached (stream …). Production guide: docs/deployment.md.
    """
    from web.logs import configure_logging

    configure_logging(get_settings().log_format, level=logging.DEBUG if verbose else logging.INFO)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION."""
    from council.core.migrate import upgrade

    upgrade(get_settings(), revision)
    click.echo(f"database at {revision}")


@main.command()
@click.option("--host", default=None, help="Bind address (default RATHAUS_HOST, 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default RATHAUS_PORT, 8000).")
@click.option("--workers", default=1, show_default=True, help="Processes (needs a shared event bus).")
@click.option("--no-migrate", is_flag=True, help="Do not apply migrations first.")
def serve(host: str | None, port: int | None, workers: int, no_migrate: bool) -> None:
    """Serve the website."""
    import uvicorn

    from council.core.migrate import upgrade

    settings = get_settings()
    if not no_migrate:
        upgrade(settings)
    uvicorn.run(
        "web.asgi:app",
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        proxy_headers=False,
        log_level="info",
        # JSON logs: keep our root handler (uvicorn's dictConfig would replace it with plain text)
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
    )


@main.command()
@click.option("--once", is_flag=True, help="Run the queued jobs, then exit.")
@click.option("--saq", is_flag=True, help="Run as a SAQ worker (RATHAUS_SAQ_URL, RATHAUS_SAQ_QUEUE).")
def worker(once: bool, saq: bool) -> None:
    """Run the job runner in its own process."""
    from council.core.db import Database
    from council.core.jobs import JobRunner
    from web.app import JOB_MODULES, _register_jobs

    if saq:
        from council.core.saq import run_worker

        settings = get_settings()
        if not settings.saq_url:
            raise click.UsageError("RATHAUS_SAQ_URL is not set.")
        asyncio.run(run_worker(settings, JOB_MODULES))
        return

    _register_jobs()

    async def go() -> None:
        settings = get_settings()
        db = Database(settings)
        runner = JobRunner(db.sessionmaker, settings=settings)
        try:
            if once:
                await runner.recover()
                n = await runner.run_until_empty()
                click.echo(f"{n} jobs run")
            else:
                await runner.start(sole_worker=False)
                await asyncio.Event().wait()
        finally:
            await runner.stop()
            await db.dispose()

    asyncio.run(go())


def _load_commands() -> None:
    import importlib

    for name in ("alerts", "demo", "documents", "oparl", "ops", "questions", "search", "users", "votes"):
        importlib.import_module(f"web.cli.{name}")


_load_commands()
