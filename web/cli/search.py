"""`rathaus search …` commands: rebuild the index, try a query."""

from __future__ import annotations

import time

import click

from council.core.db import Database
from council.core.settings import Settings, get_settings
from council.records.access import STAFF_ROLES, Viewer
from council.search.indexer import reindex_all
from council.search.query import search
from web.cli import main, run_async


async def reindex(settings: Settings, *, show_progress: bool = True) -> int:
    """Rebuild the search index, committing after every batch. Returns the number of documents."""
    db = Database(settings)
    started = time.monotonic()
    try:
        async with db.sessionmaker() as session:

            async def progress(done: int, total: int) -> None:
                await session.commit()
                if show_progress:
                    rate = done / max(time.monotonic() - started, 1e-6)
                    click.echo(f"\rindexed {done}/{total} records ({rate:.0f}/s)", nl=False, err=True)

            n = await reindex_all(session, progress=progress)
            await session.commit()
            if show_progress:
                click.echo("", err=True)
            return n
    finally:
        await db.dispose()


@main.group("search")
def search_group() -> None:
    """Full-text search index."""


@search_group.command("reindex")
@click.option("--quiet", "-q", is_flag=True, help="No progress line.")
def reindex_cmd(quiet: bool) -> None:
    """Rebuild the whole search index (papers, agenda items, documents)."""
    started = time.monotonic()
    n = run_async(reindex, get_settings(), show_progress=not quiet)
    click.echo(f"{n} documents indexed in {time.monotonic() - started:.1f} s")


@search_group.command("query")
@click.argument("text", nargs=-1, required=True)
@click.option("--all", "as_staff", is_flag=True, help="Search non-public records too (as staff).")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 100))
def query_cmd(text: tuple[str, ...], as_staff: bool, limit: int) -> None:
    """Search like the website does (anonymously unless --all) and print the hits."""
    viewer = Viewer(account_id=0, roles=STAFF_ROLES) if as_staff else Viewer()

    async def go() -> None:
        db = Database(get_settings())
        try:
            async with db.sessionmaker() as session:
                results = await search(session, viewer, " ".join(text), per_page=limit)
        finally:
            await db.dispose()
        click.echo(f"{results.total} hits")
        for hit in results.hits:
            day = hit.date.isoformat() if hit.date else "----------"
            click.echo(f"{hit.kind:<12} {day}  {hit.title}  {hit.url}")
            if hit.snippet:
                click.echo("    " + hit.snippet.replace("\x02", "[").replace("\x03", "]"))

    run_async(go)
