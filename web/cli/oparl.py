"""`rathaus import-oparl URL`: read an OParl 1.0/1.1 endpoint into Rathaus (incremental on re-runs)."""

from __future__ import annotations

import sys
import time

import click

from council.core.db import Database
from council.core.settings import Settings, get_settings
from council.oparl.importer.service import ImportOptions, ImportReport, import_oparl
from web.cli import main, run_async


class _ProgressLine:
    """One status line, rewritten in place on a terminal (one line per phase otherwise)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.phase = ""
        self.last = 0.0

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        if phase == self.phase and now - self.last < 0.2 and (total is None or done < total):
            return
        self.last = now
        if total:
            width = 30
            filled = int(width * min(done, total) / total)
            text = f"{phase:24} [{'#' * filled}{'-' * (width - filled)}] {done}/{total}"
        else:
            text = f"{phase:24} {done} Objekte"
        if self.tty:
            click.echo("\r" + text.ljust(78), nl=False, err=True)
        elif phase != self.phase:
            click.echo(text, err=True)
        self.phase = phase

    def close(self) -> None:
        if self.tty and self.phase:
            click.echo("", err=True)


async def run_import(
    settings: Settings, url: str, options: ImportOptions, progress: bool = True
) -> ImportReport:
    db = Database(settings)
    line = _ProgressLine() if progress else None
    try:
        return await import_oparl(db, settings, url, options, progress=line)
    finally:
        if line is not None:
            line.close()
        await db.dispose()


@main.command("import-oparl")
@click.argument("url")
@click.option("--body", "body", help="Nur diese Körperschaft (ID-URL, Kurzname, Name oder Nummer).")
@click.option("--no-files", is_flag=True, help="Dateien nicht herunterladen.")
@click.option("--max-objects", type=click.IntRange(1), help="Höchstens so viele Objekte lesen.")
@click.option("--max-seconds", type=click.FloatRange(1), help="Nach so vielen Sekunden aufhören zu lesen.")
@click.option("--full", is_flag=True, help="Alles lesen, nicht nur seit dem letzten Import Geändertes.")
@click.option("--allow-foreign-files", is_flag=True, help="Dateien auch von anderen Hosts laden.")
@click.option(
    "--extract",
    type=click.Choice(["job", "now", "none"]),
    default="job",
    show_default=True,
    help="Text der PDFs: als Job einreihen, sofort lesen oder gar nicht.",
)
@click.option("--quiet", is_flag=True, help="Keine Fortschrittsanzeige.")
@click.option("--warnings/--no-warnings", default=False, help="Alle Warnungen einzeln ausgeben.")
def import_oparl_command(
    url: str,
    body: str | None,
    no_files: bool,
    max_objects: int | None,
    max_seconds: float | None,
    full: bool,
    allow_foreign_files: bool,
    extract: str,
    quiet: bool,
    warnings: bool,
) -> None:
    """Import the OParl endpoint at URL (a System, Body or body list URL)."""
    options = ImportOptions(
        body=body,
        files=not no_files,
        max_objects=max_objects,
        max_seconds=max_seconds,
        full=full,
        allow_foreign_downloads=allow_foreign_files,
        extract=extract,  # type: ignore[arg-type]
    )
    report = run_async(run_import, get_settings(), url, options, not quiet)
    click.echo(report.summary())
    if warnings:
        for warning in report.warnings:
            click.echo(f"  {warning}")
    if report.error and not report.bodies:
        raise click.ClickException(report.error)
