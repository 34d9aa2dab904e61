"""Operating commands: ``transcribe``, ``stream …``, ``archive finalize``, ``backup``, ``restore``.

Exit codes (all commands here): 0 done; 1 the work failed (bad media, a refused request, a backup
that does not verify, a restore into a non-empty installation); 2 wrong usage (click's own code);
3 the running server could not be reached (``stream …``).

``stream …`` talks to the *running server* over HTTP (``/api/ops/…``, web/controllers/ops.py): the
packager, the WHEP relay and live captions live in the serving process, which is what a clerk expects
to see on the website. The token is derived from ``RATHAUS_SECRET_KEY``, so run the command with the
installation's environment (the same ``.env`` or systemd ``EnvironmentFile``).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from council.core.settings import Settings, get_settings
from council.live.media import vtt_timestamp
from web.cli import main

EXIT_FAILED = 1
EXIT_UNREACHABLE = 3


# --- transcribe -----------------------------------------------------------------------------------------


@dataclass
class _Cue:
    start_s: float
    end_s: float
    text: str
    public: bool = True
    speaker_name: str | None = None


def srt_timestamp(seconds: float) -> str:
    """SRT writes the WebVTT time with a decimal comma."""
    return vtt_timestamp(seconds).replace(".", ",")


def render_transcript(segments: list[Any], fmt: str, *, source: str, duration: float | None) -> str:
    """Segments (``transcripts.engine.Segment``) as txt, vtt, srt or json."""
    if fmt == "txt":
        return "\n".join(s.text.strip() for s in segments if s.text.strip()) + "\n"
    if fmt == "vtt":
        from transcripts.webvtt import webvtt

        return webvtt([_Cue(s.start, s.end, s.text) for s in segments], voices=False)
    if fmt == "srt":
        out = []
        for n, s in enumerate((s for s in segments if s.text.strip()), 1):
            end = max(s.end, s.start + 0.5)
            out += [
                str(n),
                f"{srt_timestamp(s.start)} --> {srt_timestamp(end)}",
                " ".join(s.text.split()),
                "",
            ]
        return "\n".join(out)
    data = {
        "source": source,
        "duration_s": duration,
        "segments": [
            {"start": round(s.start, 3), "end": round(s.end, 3), "text": s.text, "words": s.words_json()}
            for s in segments
        ],
    }
    return json.dumps(data, ensure_ascii=False, indent=1) + "\n"


async def _transcribe_file(
    settings: Settings, path: Path, *, show_progress: bool
) -> tuple[list[Any], float | None, float]:
    from transcripts.engine import get_transcriber
    from transcripts.final import decode_chunks, decode_many, grouped, probe

    info = await probe(settings, path)
    if not info.has_audio:
        raise click.ClickException(f"{path} hat keine Tonspur.")
    transcriber = get_transcriber(settings)
    segments: list[Any] = []
    total = max(1, round(info.duration_s or 0))
    started = time.monotonic()
    with click.progressbar(
        length=total, label="Transkription", file=sys.stderr, show_eta=True, hidden=not show_progress
    ) as bar:
        done = 0
        async for group in grouped(decode_chunks(settings, path)):
            # the final job's decode: a group of chunks, their windows batched together
            results = await decode_many(transcriber, [samples for _o, samples in group])
            for (offset, _samples), result in zip(group, results, strict=True):
                segments += [s.shifted(offset) for s in result.segments]
            offset, samples = group[-1]
            reached = min(total, round(offset + len(samples) / 16_000))
            bar.update(max(0, reached - done))
            done = max(done, reached)
    return segments, info.duration_s, time.monotonic() - started


async def _queue_meeting_transcript(settings: Settings, meeting_id: int, force: bool) -> int:
    from council.core.db import Database
    from streaming.models import Recording
    from transcripts import jobs as _jobs  # noqa: F401  (registers the job kind)
    from transcripts.service import enqueue_final

    db = Database(settings)
    try:
        async with db.sessionmaker() as s:
            from sqlalchemy import select

            rec = (
                await s.execute(select(Recording).where(Recording.meeting_id == meeting_id))
            ).scalar_one_or_none()
            if rec is None or rec.state != "ready" or not rec.mp4_path or rec.started_at is None:
                state = rec.state if rec is not None else "keine"
                raise click.ClickException(
                    f"Sitzung {meeting_id} hat keine fertige Aufnahme (Zustand: {state}); "
                    "erst `rathaus archive finalize` abwarten."
                )
            try:
                job = await enqueue_final(
                    s, meeting_id, settings.media_dir / rec.mp4_path, rec.started_at, force=force
                )
            except ValueError as exc:
                raise click.ClickException(str(exc)) from exc
            await s.commit()
            job_id = job.id
        await _wake_saq(settings)
        return job_id
    finally:
        await db.dispose()


async def _wake_saq(settings: Settings) -> None:
    """With SAQ workers, put a wake-up on their queue; the job runner polls on its own."""
    if not settings.saq_url:
        return
    from council.core.saq import SaqWaker

    waker = SaqWaker(settings)
    await waker.start()
    try:
        await waker.kick()
    finally:
        await waker.stop()


@main.command()
@click.argument("media", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["txt", "vtt", "srt", "json"]), default="txt", show_default=True
)
@click.option(
    "--model",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A CTranslate2 Whisper model directory (default: RATHAUS_WHISPER_MODEL_DIR or the bundled base).",
)
@click.option("--meeting", type=int, help="Queue the final transcript of this meeting's recording instead.")
@click.option("--force", is_flag=True, help="With --meeting: transcribe again even if a transcript exists.")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here, not stdout."
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def transcribe(
    media: Path | None,
    fmt: str,
    model: Path | None,
    meeting: int | None,
    force: bool,
    output: Path | None,
    quiet: bool,
) -> None:
    """Transcribe MEDIA (any audio or video file ffmpeg reads) and print the transcript.

    For archives recorded before Rathaus. ``--meeting ID`` queues the job for a recorded meeting
    instead (it runs in the server's job runner or on the workers). Exit 1 if the file cannot be read.
    """
    settings = get_settings()
    if meeting is not None:
        if media is not None:
            raise click.UsageError("Entweder eine Datei oder --meeting, nicht beides.")
        job_id = asyncio.run(_queue_meeting_transcript(settings, meeting, force))
        click.echo(f"Transkription für Sitzung {meeting} eingereiht (Job {job_id}).")
        return
    if media is None:
        raise click.UsageError("Eine Datei angeben oder --meeting ID.")
    if model is not None:
        settings = settings.model_copy(update={"whisper_model_dir": str(model)})
    from transcripts.final import MediaError
    from transcripts.model_files import ModelFilesError

    try:
        segments, duration, took = asyncio.run(_transcribe_file(settings, media, show_progress=not quiet))
    except (MediaError, ModelFilesError) as exc:
        raise click.ClickException(str(exc)) from exc
    text = render_transcript(segments, fmt, source=str(media), duration=duration)
    if output is not None:
        output.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)
    if not quiet and duration:
        click.echo(
            f"{len(segments)} Abschnitte, {duration:.1f} s in {took:.1f} s ({duration / took:.1f}x Echtzeit)",
            err=True,
        )


# --- stream (over HTTP to the running server) ----------------------------------------------------------


def _server_url(settings: Settings, server: str | None) -> str:
    if server:
        return server.rstrip("/")
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104
    return f"http://{host}:{settings.port}"


def _ops_call(
    ctx: click.Context, method: str, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    import httpx

    from web.controllers.ops import ops_token

    settings: Settings = ctx.obj["settings"]
    url = _server_url(settings, ctx.obj["server"]) + path
    try:
        resp = httpx.request(
            method,
            url,
            json=body,
            headers={"Authorization": f"Bearer {ops_token(settings)}"},
            timeout=ctx.obj["timeout"],
        )
    except httpx.HTTPError as exc:
        click.echo(f"Server nicht erreichbar ({url}): {exc}", err=True)
        ctx.exit(EXIT_UNREACHABLE)
    try:
        data: dict[str, Any] = resp.json()
    except ValueError:
        data = {"detail": resp.text[:300]}
    if resp.status_code >= 400:
        click.echo(f"Fehler {resp.status_code}: {data.get('detail') or data}", err=True)
        ctx.exit(EXIT_FAILED)
    return data


def _print_status(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    for key in (
        "meeting_id",
        "state",
        "source",
        "started_at",
        "segments",
        "restarts",
        "slate_active",
        "last_error",
    ):
        click.echo(f"{key:13} {data.get(key)}")


@main.group()
@click.option(
    "--server", envvar="RATHAUS_OPS_URL", help="Base URL of the running server (default: RATHAUS_HOST:PORT)."
)
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for the server.")
@click.pass_context
def stream(ctx: click.Context, server: str | None, timeout: float) -> None:
    """A meeting's live stream, run by the serving process (exit 3: server not reachable)."""
    ctx.obj = {"settings": get_settings(), "server": server, "timeout": timeout}


@stream.command("start")
@click.argument("meeting", type=int)
@click.option(
    "--source",
    default="testsrc",
    show_default=True,
    help="testsrc (or testsrc?size=320x240&rate=10), a file on the server, or a URL.",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def stream_start(ctx: click.Context, meeting: int, source: str, as_json: bool) -> None:
    """Start MEETING's stream from SOURCE (a file path is made absolute here; it must exist on the server)."""
    if source.partition("?")[0] not in ("testsrc", "testbild", "testpattern") and "://" not in source:
        source = str(Path(source).resolve())
    _print_status(_ops_call(ctx, "POST", f"/api/ops/streams/{meeting}/start", {"source": source}), as_json)


@stream.command("stop")
@click.argument("meeting", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def stream_stop(ctx: click.Context, meeting: int, as_json: bool) -> None:
    """Stop MEETING's stream; the archive is finalised by a job."""
    _print_status(_ops_call(ctx, "POST", f"/api/ops/streams/{meeting}/stop"), as_json)


@stream.command("status")
@click.argument("meeting", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def stream_status(ctx: click.Context, meeting: int, as_json: bool) -> None:
    """Show MEETING's stream state."""
    _print_status(_ops_call(ctx, "GET", f"/api/ops/streams/{meeting}"), as_json)


@stream.command("keys")
@click.argument("meeting", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def stream_keys(ctx: click.Context, meeting: int, as_json: bool) -> None:
    """Make a NEW stream key for MEETING (the old one stops working) and print the publish URLs."""
    data = _ops_call(ctx, "POST", f"/api/ops/streams/{meeting}/key")
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    click.echo(f"Schlüssel  {data['key']}")
    for name, url in (data.get("urls") or {}).items():
        click.echo(f"{name.upper():10} {url or '(aus)'}")
    click.echo("WHIP: den Schlüssel als Bearer-Token senden (OBS: Feld »Bearer Token«).")


# --- archive ---------------------------------------------------------------------------------------------


async def _queue_finalize(
    settings: Settings, meeting_id: int, wait: float | None
) -> tuple[int, str, str | None]:
    from sqlalchemy import select

    from council.core.db import Database
    from council.core.jobs import Job, enqueue
    from council.records.models import Meeting
    from streaming import jobs as _jobs  # noqa: F401  (registers streaming.finalize)
    from streaming.models import Recording

    db = Database(settings)
    try:
        async with db.sessionmaker() as s:
            if await s.get(Meeting, meeting_id) is None:
                raise click.ClickException(f"Keine Sitzung {meeting_id}.")
            rec = (
                await s.execute(select(Recording).where(Recording.meeting_id == meeting_id))
            ).scalar_one_or_none()
            if rec is None:
                raise click.ClickException(f"Sitzung {meeting_id} hat keine Aufnahme.")
            job = enqueue(s, "streaming.finalize", {"meeting_id": meeting_id})
            await s.commit()
            job_id = job.id
        deadline = time.monotonic() + (wait or 0)
        state, error = "queued", None
        while wait and time.monotonic() < deadline:
            async with db.sessionmaker() as s:
                row = await s.get(Job, job_id)
                assert row is not None
                state, error = row.state, row.error
            if state not in ("queued", "running"):
                break
            await asyncio.sleep(0.5)
        return job_id, state, error
    finally:
        await db.dispose()


@main.group()
def archive() -> None:
    """The archive of recorded meetings."""


@archive.command("finalize")
@click.argument("meeting", type=int)
@click.option("--wait", type=float, default=None, help="Wait up to this many seconds for the job to finish.")
def archive_finalize(meeting: int, wait: float | None) -> None:
    """Queue closing MEETING's archive again: VOD playlist, MP4, chapters; then its transcript.

    Runs in the server's job runner (or ``rathaus worker``). Exit 1 if --wait sees it fail.
    """
    settings = get_settings()
    job_id, state, error = asyncio.run(_queue_finalize(settings, meeting, wait))
    click.echo(f"Archiv-Abschluss für Sitzung {meeting}: Job {job_id}, {state}")
    if state == "failed":
        click.echo(error or "", err=True)
        sys.exit(EXIT_FAILED)


# --- backup and restore -----------------------------------------------------------------------------------


class _Bar:
    """click.progressbar fed from ``progress(done, total)`` callbacks (the total is known late)."""

    def __init__(self, label: str, hidden: bool) -> None:
        self.label, self.hidden = label, hidden
        self.bar: Any = None
        self.done = 0

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = click.progressbar(
                length=max(total, 1), label=self.label, file=sys.stderr, hidden=self.hidden
            )
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@main.command("backup")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--verify", is_flag=True, help="Only check every checksum of the latest backup in DIRECTORY.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def backup_cmd(directory: Path, verify: bool, quiet: bool) -> None:
    """Back up the database and the file store into DIRECTORY (a new snapshot; unchanged files are
    hard-linked to the previous one). Safe while the server runs.

    With --verify: re-read every file of the latest snapshot; exit 1 on a missing or changed file.
    """
    from council.core import backup as bk

    bar = _Bar("Prüfen" if verify else "Sichern", hidden=quiet)
    try:
        if verify:
            result = bk.verify(directory, progress=bar)
            bar.close()
            for name in result.missing:
                click.echo(f"FEHLT      {name}", err=True)
            for name in result.mismatched:
                click.echo(f"ABWEICHUNG {name}", err=True)
            click.echo(
                f"{result.path}: {result.checked} Dateien geprüft, {'in Ordnung' if result.ok else 'FEHLER'}"
            )
            if not result.ok:
                sys.exit(EXIT_FAILED)
            return
        started = time.monotonic()
        done = bk.backup(get_settings(), directory, progress=bar)
        bar.close()
    except bk.BackupError as exc:
        bar.close()
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"{done.path}: Datenbank ({done.database}) und {done.files - 1} Dateien "
        f"({done.copied} kopiert, {done.linked} verlinkt, {done.bytes_copied / 1e6:.1f} MB) "
        f"in {time.monotonic() - started:.1f} s"
    )


@main.command("restore")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def restore_cmd(directory: Path, quiet: bool) -> None:
    """Restore the latest backup in DIRECTORY (or the snapshot DIRECTORY) into this installation.

    The installation must be empty (no tables, nothing under files/ and media/); the backup is
    verified first. Exit 1 if it is refused or damaged. Start the server afterwards (it migrates).
    """
    from council.core import backup as bk

    bar = _Bar("Wiederherstellen", hidden=quiet)
    try:
        result = bk.restore(get_settings(), directory, progress=bar)
    except bk.BackupError as exc:
        bar.close()
        raise click.ClickException(str(exc)) from exc
    bar.close()
    click.echo(f"{result.path} wiederhergestellt ({result.checked} Dateien geprüft).")
