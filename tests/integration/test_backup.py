"""Backup and restore while the real server (a uvicorn subprocess) serves writes and records a stream.

What it proves: every write the server acknowledged before the backup began, and every stream segment
finished before it began, is in the restored installation; the backup's checksums hold; a second
backup links unchanged files instead of copying; verify catches a damaged file; restore refuses a
non-empty installation. The stream is started and stopped with ``rathaus stream …`` over the operator
API, so that path is tested end to end too. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from council.accounts import service
from council.accounts.sessions import create_session
from council.core import backup as bk
from council.core.db import Database
from council.core.settings import Settings
from council.live.models import TimelineEvent
from tests.conftest import BACKEND, DatabaseFactory, _pg_admin, _pg_url
from tests.factories import make_town

RATHAUS = str(Path(sys.executable).with_name("rathaus"))
SESSION_COOKIE = "rathaus_session"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(settings: Settings, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        RATHAUS_DATABASE_URL=settings.resolved_database_url,
        RATHAUS_VAR_DIR=str(settings.var_dir),
        RATHAUS_SECRET_KEY=settings.secret_key,
        RATHAUS_PORT=str(port),
        RATHAUS_HOST="127.0.0.1",
        RATHAUS_LIVE_CAPTIONS="false",
        RATHAUS_PAGE_CACHE_SECONDS="0",
        RATHAUS_HLS_SEGMENT_SECONDS="1",
        RATHAUS_LOG_FORMAT="json",
    )
    return env


def _cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RATHAUS, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _finished_segments(media: Path) -> dict[str, Path]:
    """Segments the raw part playlists name (ffmpeg lists a segment once it is complete)."""
    found: dict[str, Path] = {}
    for playlist in sorted(media.glob("*/raw/part-*.m3u8")):
        for line in playlist.read_text().splitlines():
            if line and not line.startswith("#"):
                found[f"{playlist.parent.relative_to(media).as_posix()}/{line}"] = playlist.parent / line
    return found


async def _empty_target(tmp_path: Path, db_factory: DatabaseFactory) -> Settings:
    var = tmp_path / "restored"
    var.mkdir()
    if BACKEND == "postgres":
        name = f"rathaus_restore_{os.getpid()}_{int(time.time() * 1000) % 10**9}"
        await _pg_admin(f'CREATE DATABASE "{name}"')
        db_factory.created.append(name)  # dropped at the end of the session
        url = _pg_url(name)
    else:
        url = f"sqlite+aiosqlite:///{var / 'rathaus.db'}"
    return Settings(database_url=url, var_dir=var, secret_key="test-secret-key-not-for-production")


@pytest.fixture
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    from council.accounts import passwords

    monkeypatch.setattr(passwords, "_hasher", PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024),)))


async def test_backup_while_serving_and_recording(
    settings: Settings, db: Database, tmp_path: Path, cheap_argon2: None, db_factory: DatabaseFactory
) -> None:
    async with db.sessionmaker() as s:
        town = await make_town(s)
        account = await service.create_account(s, "clerk1", "correct horse battery", ("clerk",))
        await s.flush()
        token = await create_session(s, account.id)
        await s.commit()
        meeting_id = town.council_meeting.id  # type: ignore[union-attr]
        person_id = town.persons[0].id
    # a document in the file store, like an upload would leave it
    (settings.files_dir / "ab").mkdir(parents=True)
    (settings.files_dir / "ab" / "abcdef").write_bytes(b"%PDF-1.4 test document\n" * 100)

    port = _free_port()
    env = _env(settings, port)
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(  # noqa: ASYNC220 (a long-running child; we only start it here)
        [RATHAUS, "serve", "--no-migrate"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    acked_before: list[int] = []
    backup_dir = tmp_path / "backups"
    try:
        async with httpx.AsyncClient(base_url=base, cookies={SESSION_COOKIE: token}, timeout=30) as c:
            for _ in range(300):  # up to 30 s for the server to come up
                try:
                    if (await c.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
            else:
                pytest.fail("server did not start")

            # the operator API needs its token
            r = await c.get(f"/api/ops/streams/{meeting_id}")
            assert r.status_code == 401
            r = await c.post(f"/api/ops/streams/{meeting_id}/start", headers={"Authorization": "Bearer nope"})
            assert r.status_code == 401
            out = await asyncio.to_thread(_cli, env, "stream", "status", "999999")
            assert out.returncode == 1 and "999999" in out.stderr

            out = await asyncio.to_thread(
                _cli, env, "stream", "start", str(meeting_id), "--source", "testsrc?size=320x240&rate=10"
            )
            assert out.returncode == 0, out.stderr
            assert "live" in out.stdout
            out = await asyncio.to_thread(
                _cli, env, "stream", "start", str(meeting_id), "--source", "ftp://example.org/x"
            )
            assert out.returncode == 1  # already live (409) or refused scheme (400): a clear refusal

            console = f"/verwaltung/sitzungen/{meeting_id}/konsole"
            page = await c.get(console)
            assert page.status_code == 200, page.text[:300]
            m = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
            assert m
            csrf = m.group(1)

            async def act(action: str, **data: Any) -> int:
                r = await c.post(
                    f"{console}/{action}", data={"_csrf_token": csrf, **data}, follow_redirects=False
                )
                return r.status_code

            assert await act("eroeffnen") == 303
            stop = asyncio.Event()
            acked: list[tuple[float, int]] = []

            async def writer() -> None:
                for i in range(3000):  # bounded; stopped once the backup is done
                    if stop.is_set():
                        return
                    status = await act("anwesend" if i % 2 == 0 else "abwesend", person_id=str(person_id))
                    assert status == 303
                    acked.append((time.monotonic(), i))

            task = asyncio.create_task(writer())
            media = settings.media_dir
            for _ in range(300):  # up to 30 s for three finished segments
                if len(_finished_segments(media)) >= 3 and len(acked) >= 5:
                    break
                await asyncio.sleep(0.1)
            finished_before = _finished_segments(media)
            assert len(finished_before) >= 3
            started = time.monotonic()
            acked_before = [i for t, i in acked if t < started]
            out = await asyncio.to_thread(_cli, env, "backup", "-q", str(backup_dir))
            assert out.returncode == 0, out.stderr
            stop.set()
            await asyncio.wait_for(task, 30)
            assert any(t >= started for t, _ in acked), "no write while the backup ran"

            out = await asyncio.to_thread(_cli, env, "stream", "stop", str(meeting_id))
            assert out.returncode == 0, out.stderr
            out = await asyncio.to_thread(_cli, env, "stream", "status", str(meeting_id), "--json")
            assert out.returncode == 0 and '"ended"' in out.stdout
            # the archive again, by hand (the stop queued it once already), then the transcript job
            out = await asyncio.to_thread(_cli, env, "archive", "finalize", str(meeting_id), "--wait", "120")
            assert out.returncode == 0 and "done" in out.stdout, out.stdout + out.stderr
            out = await asyncio.to_thread(_cli, env, "transcribe", "--meeting", str(meeting_id))
            assert out.returncode == 0 and "eingereiht" in out.stdout, out.stdout + out.stderr
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        log.close()

    # the server logged JSON lines (RATHAUS_LOG_FORMAT=json)
    lines = [line for line in (tmp_path / "server.log").read_text().splitlines() if line.strip()]
    logged = [json.loads(line) for line in lines]  # every line, uvicorn's and the app's
    assert logged and all({"ts", "level", "logger", "message"} <= set(rec) for rec in logged)

    # verify: every checksum holds
    out = await asyncio.to_thread(_cli, env, "backup", "--verify", "-q", str(backup_dir))
    assert out.returncode == 0, out.stdout + out.stderr

    # restore into an empty installation
    target = await _empty_target(tmp_path, db_factory)
    result = await asyncio.to_thread(bk.restore, target, backup_dir)
    assert result.ok
    snapshot = bk.resolve_snapshot(backup_dir)
    manifest = bk.load_manifest(snapshot)
    for rel in finished_before:  # every segment finished before the backup began
        restored = target.media_dir / rel
        assert restored.is_file(), rel
        assert bk.sha256_file(restored) == manifest["files"][f"media/{rel}"]["sha256"]
        assert bk.sha256_file(restored) == bk.sha256_file(finished_before[rel])
    for rel in _finished_segments(target.media_dir):  # and every segment the copied playlists name
        assert (target.media_dir / rel).stat().st_size > 0
    assert (target.files_dir / "ab" / "abcdef").read_bytes() == b"%PDF-1.4 test document\n" * 100

    rdb = Database(target)
    try:
        async with rdb.sessionmaker() as s:
            n = (
                await s.scalar(
                    select(func.count())
                    .select_from(TimelineEvent)
                    .where(TimelineEvent.meeting_id == meeting_id, TimelineEvent.kind.like("attendance.%"))
                )
                or 0
            )
    finally:
        await rdb.dispose()
    assert n >= len(acked_before), (n, len(acked_before))

    # restore refuses a non-empty installation (exit 1, nothing written)
    renv = _env(target, _free_port())
    out = await asyncio.to_thread(_cli, renv, "restore", "-q", str(backup_dir))
    assert out.returncode == 1 and "leere" in out.stderr

    # a second backup links what did not change
    again = await asyncio.to_thread(bk.backup, settings, backup_dir)
    assert again.linked > 0 and again.path.name != snapshot.name
    # a damaged file is found
    victim = next(p for p in sorted((again.path / "media").rglob("*.ts")))
    victim.unlink()  # break the hard link first: the older snapshot must stay intact
    victim.write_bytes(b"broken")
    out = await asyncio.to_thread(_cli, env, "backup", "--verify", "-q", str(backup_dir))
    assert out.returncode == 1 and "ABWEICHUNG" in out.stderr
    assert (await asyncio.to_thread(bk.verify, snapshot)).ok
