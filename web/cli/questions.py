"""``rathaus questions purge [--days N]``: the retention job for question time.

Deletes the personal data (name, e-mail, the hashes derived from them, opt-in rows) of questions that
were closed more than N days ago (default: ``RATHAUS_QUESTIONS_RETENTION_DAYS``, 90). The question's
text stays: it is part of the meeting's record. Run it daily (cron / systemd timer).
"""

from __future__ import annotations

import click

from council.core.settings import get_settings
from web.cli import main, run_async


@main.group()
def questions() -> None:
    """Einwohnerfragestunde."""


@questions.command("purge")
@click.option(
    "--days", type=click.IntRange(min=0), default=None, help="Tage nach Abschluss (Standard: Einstellung)."
)
def purge(days: int | None) -> None:
    """Persönliche Daten abgeschlossener Fragen nach Ablauf der Frist löschen."""
    from council.core.db import Database
    from council.questions.service import purge as purge_questions

    settings = get_settings()
    keep = settings.questions_retention_days if days is None else days

    async def go() -> int:
        db = Database(settings)
        try:
            async with db.sessionmaker() as session:
                return await purge_questions(session, keep)
        finally:
            await db.dispose()

    n = run_async(go)
    click.echo(f"{n} Fragen: persönliche Daten gelöscht (Frist {keep} Tage)")
