"""``rathaus verify-votes [MEETING]``: recompute the vote log's hash chain and the tallies."""

from __future__ import annotations

import sys

import click

from council.core.settings import get_settings
from web.cli import main, run_async


@main.command("verify-votes")
@click.argument("meeting", type=int, required=False)
def verify_votes(meeting: int | None) -> None:
    """Check the hash-chained vote log and recount every poll (of MEETING, or all) from it.

    Exit status 0 when the chain is intact and every tally matches, 1 otherwise.
    """
    from council.core.db import Database
    from votes.verify import verify

    async def go() -> bool:
        db = Database(get_settings())
        try:
            async with db.sessionmaker() as session:
                report = await verify(session, meeting_id=meeting)
        finally:
            await db.dispose()
        click.echo(f"Protokoll: {report.entries} Einträge, Kettenkopf {report.head}")
        if report.chain_ok:
            click.echo("Kette: unversehrt")
        for problem in report.chain_problems:
            click.echo(f"Kette: {problem}")
        for check in report.polls:
            tally = check.tally_from_log
            counted = (
                f"{tally['yes']} Ja, {tally['no']} Nein, {tally['abstain']} Enthaltungen" if tally else "–"
            )
            status = "ok" if check.ok else "FEHLER"
            click.echo(
                f"Abstimmung {check.poll_id} ({check.kind}, {check.state}): {status}; nachgezählt: {counted}"
            )
            for problem in check.problems:
                click.echo(f"  - {problem}")
        return report.ok

    ok = run_async(go)
    if not ok:
        sys.exit(1)
