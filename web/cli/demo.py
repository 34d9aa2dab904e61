"""`rathaus demo …` commands."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from council.core.settings import Settings, get_settings
from web.cli import main, run_async


def _sqlite_path(settings: Settings) -> Path | None:
    url = settings.resolved_database_url
    if not url.startswith("sqlite") or ":memory:" in url:
        return None
    return Path(url.split(":///", 1)[1])


async def _database_has_town(settings: Settings) -> bool:
    from council.core.db import Database
    from council.demo.generate import is_empty

    db = Database(settings)
    try:
        async with db.sessionmaker() as session:
            return not await is_empty(session)
    finally:
        await db.dispose()


async def _drop_all(settings: Settings) -> None:
    from sqlalchemy import MetaData, Table, text

    from council.core.db import Database
    from council.core.models import metadata

    def drop(sync_conn: Any) -> None:
        # metadata.drop_all trips over the body <-> location cycle on PostgreSQL; CASCADE does not
        quote = sync_conn.dialect.identifier_preparer.quote
        for table in [*reversed(metadata.sorted_tables), Table("alembic_version", MetaData())]:
            sync_conn.execute(text(f"DROP TABLE IF EXISTS {quote(table.name)} CASCADE"))

    db = Database(settings)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(drop)
    finally:
        await db.dispose()


def _reset(settings: Settings) -> None:
    path = _sqlite_path(settings)
    if path is not None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        run_async(_drop_all, settings)


@main.command()
@click.option(
    "--scale",
    type=click.Choice(["small", "standard", "10y"]),
    default="standard",
    show_default=True,
    help="small: for tests; standard: one town, ~40 meetings; 10y: ten years (~20,000 papers).",
)
@click.option("--seed", default=1, show_default=True, type=int, help="The same seed gives the same town.")
@click.option("--reset", is_flag=True, help="Delete everything in the database first (SQLite: the file).")
def demo(scale: str, seed: int, reset: bool) -> None:
    """Load the demo municipality (Stadt Hennef (Sieg), fictional people) into an empty database."""
    from council.core.migrate import upgrade

    settings = get_settings()
    if reset:
        click.echo("lösche die Datenbank …")
        _reset(settings)
    # migrations first: upgrade() runs its own event loop
    upgrade(settings)
    if run_async(_database_has_town, settings):
        raise click.ClickException(
            "Die Datenbank enthält bereits Daten. Mit --reset wird sie vorher geleert (alles geht verloren)."
        )

    started = time.perf_counter()

    def progress(message: str) -> None:
        click.echo(f"[{time.perf_counter() - started:6.1f}s] {message}")

    async def go() -> tuple[Any, list[tuple[str, str, str]]]:
        from council.accounts.service import ensure_demo_accounts
        from council.core.db import Database
        from council.demo.generate import load_demo

        db = Database(settings)
        try:
            summary = await load_demo(db, settings, scale=scale, seed=seed, progress=progress)
            async with db.sessionmaker() as session:
                accounts = await ensure_demo_accounts(session)
            return summary, accounts
        finally:
            await db.dispose()

    summary, accounts = run_async(go)
    click.echo(f"Demo ({scale}, seed {seed}) geladen: {summary.describe()}")
    click.echo("Demo-Zugänge (nur für die Demo!):")
    for username, password, roles in accounts:
        click.echo(f"  {username:<12} {password:<26} {roles}")
