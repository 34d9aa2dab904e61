"""``rathaus alerts digest``: the daily digest of saved searches (run daily: cron / systemd timer).

Mails every confirmed saved search's new matches since the last digest (one mail per address) and
deletes residents' searches whose address was never confirmed (``council.alerts.service``). With
``--enqueue`` it only queues the ``alerts.digest`` job for the worker(s) instead of running here.
"""

from __future__ import annotations

import click

from council.core.settings import get_settings
from web.cli import main, run_async


@main.group()
def alerts() -> None:
    """Gespeicherte Suchen und Benachrichtigungen."""


@alerts.command("digest")
@click.option("--enqueue", is_flag=True, help="Nur als Job einreihen (für die Worker).")
def digest(enqueue: bool) -> None:
    """Tägliche Zusammenfassung neuer Treffer verschicken."""
    from council.alerts import jobs, service
    from council.core.db import Database

    settings = get_settings()

    async def go() -> str:
        db = Database(settings)
        try:
            async with db.sessionmaker() as session:
                if enqueue:
                    row = jobs.enqueue_digest(session)
                    await session.flush()
                    job_id = row.id
                    await session.commit()
                    return f"Job {job_id} eingereiht"
                run = await service.run_digest(session, settings)
                purged = await service.purge_unconfirmed(session)
                await session.commit()
                return (
                    f"{run.searches} Suchen, {run.mails} Mails, {run.matches} Treffer, "
                    f"{run.failed} fehlgeschlagen, {purged} unbestätigte gelöscht"
                )
        finally:
            await db.dispose()

    click.echo(run_async(go))
