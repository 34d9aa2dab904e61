"""Backup and restore of one installation: the database and the files under ``var/``.

Why it is built this way:

* **Consistent while serving.** The database is copied first (SQLite: the online backup API, which
  gives a transaction-consistent copy while the app writes; PostgreSQL: ``pg_dump``, one snapshot
  transaction). The files come after it, so every file the database snapshot refers to already
  exists: the document store is append-only and content-addressed, and stream segments are finished
  before a playlist or the segment journal lists them. Within a meeting's media directory the
  playlists and journals are copied *before* the segments, so every segment that the copied playlists
  name was finished when it was copied (a segment ffmpeg is still writing may be copied half, but
  nothing in the backup refers to it).
* **Incremental.** ``DIR`` holds snapshots (``DIR/<UTC time>/``) and a ``LATEST`` pointer. A file
  whose path, size and modification time match the previous snapshot's manifest is hard-linked to
  the previous copy (not read again); any other file is copied and hashed in one pass. Hard links
  make every snapshot complete on its own: deleting an old one loses nothing of the newer ones.
* **Checked.** ``manifest.json`` lists the SHA-256 and size of every file in the snapshot (database
  dump included); :func:`verify` re-reads them all; :func:`restore` verifies before it writes.
* **Restore only into an empty installation**: no database tables, no files under ``files/`` or
  ``media/``. Restoring over live data is refused rather than merged.

What is *not* backed up: ``var/models`` (the Whisper model is reassembled from the installed packages
or placed again by the operator), caches, temporary files and ``var/bench``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from council.core.settings import Settings

FORMAT = "rathaus-backup/1"
MANIFEST = "manifest.json"
LATEST = "LATEST"
#: The directories under ``var_dir`` that hold state worth keeping.
FILE_ROOTS = ("files", "media")
#: Copied first within a directory: they name the segments, so the segments must be older copies.
_INDEX_SUFFIXES = (".m3u8", ".jsonl", ".json", ".vtt")
_CHUNK = 1 << 20

#: ``progress(done, total)`` — called as files are processed (for a progress bar).
Progress = Callable[[int, int], None]


class BackupError(Exception):
    """A backup or restore cannot go on; ``str(exc)`` says why (for the operator)."""


@dataclass
class BackupResult:
    path: Path
    files: int = 0
    copied: int = 0
    linked: int = 0
    bytes_copied: int = 0
    database: str = ""


@dataclass
class VerifyResult:
    path: Path
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.mismatched


# --- helpers -----------------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def _copy_hashing(src: Path, dst: Path) -> tuple[str, int]:
    """Copy and hash in one read, so the manifest describes exactly the bytes that were copied."""
    h = hashlib.sha256()
    n = 0
    dst.parent.mkdir(parents=True, exist_ok=True)
    with src.open("rb") as fin, dst.open("wb") as fout:
        while block := fin.read(_CHUNK):
            h.update(block)
            fout.write(block)
            n += len(block)
    shutil.copystat(src, dst)
    return h.hexdigest(), n


def _walk(root: Path) -> Iterator[Path]:
    """Files under ``root``, index files (playlists, journals) of each directory before the others."""
    if not root.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        names = sorted(n for n in filenames if not n.startswith(".") and not n.endswith(".tmp"))
        names.sort(key=lambda n: (not n.endswith(_INDEX_SUFFIXES), n))
        for name in names:
            yield Path(dirpath) / name


def sqlite_path(settings: Settings) -> Path:
    url = make_url(settings.resolved_database_url)
    if not url.database:
        raise BackupError("SQLite-Datenbank ohne Dateipfad (im Speicher?) kann nicht gesichert werden.")
    return Path(url.database)


def libpq_url(settings: Settings) -> str:
    """The database URL for ``pg_dump``/``pg_restore`` (no SQLAlchemy driver suffix)."""
    url = make_url(settings.resolved_database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _pg_tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise BackupError(f"{name} wurde nicht gefunden (Debian: apt install postgresql-client).")
    return exe


def _snapshot_name(base: Path) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name, n = stamp, 1
    while (base / name).exists():
        n += 1
        name = f"{stamp}-{n}"
    return name


def resolve_snapshot(path: Path) -> Path:
    """``path`` itself if it is a snapshot, else the one its ``LATEST`` names."""
    path = Path(path)
    if (path / MANIFEST).is_file():
        return path
    latest = path / LATEST
    if latest.is_file():
        snap = path / latest.read_text().strip()
        if (snap / MANIFEST).is_file():
            return snap
    raise BackupError(f"In {path} liegt keine Sicherung (weder {MANIFEST} noch {LATEST}).")


def load_manifest(snapshot: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads((snapshot / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"Manifest in {snapshot} ist nicht lesbar: {exc}") from exc
    if data.get("format") != FORMAT:
        raise BackupError(f"Unbekanntes Sicherungsformat: {data.get('format')!r}")
    return data


async def _alembic_revision(settings: Settings) -> str | None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(settings.resolved_database_url)
    try:
        async with engine.connect() as conn:
            try:
                return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
            except Exception:  # schema made from the models (tests) has no alembic table
                return None
    finally:
        await engine.dispose()


async def table_count(settings: Settings) -> int:
    """How many tables the configured database has (0: empty, restorable)."""
    from sqlalchemy import inspect
    from sqlalchemy.ext.asyncio import create_async_engine

    if settings.is_sqlite:
        path = sqlite_path(settings)
        if not path.exists() or path.stat().st_size == 0:
            return 0
    engine = create_async_engine(settings.resolved_database_url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda c: len(inspect(c).get_table_names()))
    finally:
        await engine.dispose()


# --- backup ------------------------------------------------------------------------------------------


def _dump_database(settings: Settings, target_dir: Path) -> tuple[str, Path]:
    target_dir.mkdir(parents=True, exist_ok=True)
    if settings.is_sqlite:
        src_path = sqlite_path(settings)
        if not src_path.is_file():
            raise BackupError(f"Die Datenbank {src_path} gibt es nicht.")
        out = target_dir / "rathaus.db"
        src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True, timeout=30)
        dst = sqlite3.connect(out)
        try:
            with dst:
                src.backup(dst)  # the online backup API: consistent while the app writes
        finally:
            dst.close()
            src.close()
        return "sqlite", out
    out = target_dir / "rathaus.pgdump"
    proc = subprocess.run(  # noqa: S603 (fixed argv, no shell)
        [
            _pg_tool("pg_dump"),
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            "-f",
            str(out),
            libpq_url(settings),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BackupError(f"pg_dump ist gescheitert: {proc.stderr.strip()[-500:]}")
    return "postgresql", out


def backup(settings: Settings, dest: Path, *, progress: Progress | None = None) -> BackupResult:
    """Write a new snapshot into ``dest`` (created if missing) and point ``LATEST`` at it."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    previous: dict[str, Any] = {}
    prev_dir: Path | None = None
    with contextlib.suppress(BackupError):
        prev_dir = resolve_snapshot(dest)
        previous = load_manifest(prev_dir).get("files", {})
    name = _snapshot_name(dest)
    work = Path(tempfile.mkdtemp(prefix=".partial-", dir=dest))
    try:
        revision = asyncio.run(_alembic_revision(settings))
        kind, dump = _dump_database(settings, work / "database")
        entries: dict[str, dict[str, Any]] = {}
        rel = dump.relative_to(work).as_posix()
        entries[rel] = {"sha256": sha256_file(dump), "size": dump.stat().st_size}
        result = BackupResult(path=dest / name, database=kind)
        sources = [(root, p) for root in FILE_ROOTS for p in _walk(settings.var_dir / root)]
        total = len(sources)
        seen_inodes: dict[tuple[int, int], str] = {}  # public segments are hard links of raw ones
        for done, (root, src) in enumerate(sources, 1):
            relpath = f"{root}/{src.relative_to(settings.var_dir / root).as_posix()}"
            target = work / relpath
            try:
                st = src.stat()
            except FileNotFoundError:  # removed while we walked (a rotated live playlist)
                continue
            old = previous.get(relpath)
            linked = False
            twin = seen_inodes.get((st.st_dev, st.st_ino))
            if twin is not None and twin in entries:
                with contextlib.suppress(OSError):
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.link(work / twin, target)
                    entries[relpath] = dict(entries[twin])
                    result.linked += 1
                    linked = True
            if (
                not linked
                and old
                and prev_dir is not None
                and old.get("size") == st.st_size
                and old.get("mtime_ns") == st.st_mtime_ns
            ):
                with contextlib.suppress(OSError):
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.link(prev_dir / relpath, target)
                    entries[relpath] = dict(old)
                    result.linked += 1
                    linked = True
            if not linked:
                try:
                    digest, size = _copy_hashing(src, target)
                except FileNotFoundError:
                    continue
                entries[relpath] = {"sha256": digest, "size": size, "mtime_ns": st.st_mtime_ns}
                result.copied += 1
                result.bytes_copied += size
            seen_inodes.setdefault((st.st_dev, st.st_ino), relpath)
            if progress is not None:
                progress(done, total)
        result.files = len(entries)
        manifest = {
            "format": FORMAT,
            "created": datetime.now(UTC).isoformat(),
            "database": {"kind": kind, "file": rel, "revision": revision},
            "previous": prev_dir.name if prev_dir is not None else None,
            "files": entries,
        }
        (work / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
        os.rename(work, dest / name)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    tmp_latest = dest / (LATEST + ".tmp")
    tmp_latest.write_text(name + "\n")
    os.replace(tmp_latest, dest / LATEST)
    return result


# --- verify and restore ------------------------------------------------------------------------------


def verify(path: Path, *, progress: Progress | None = None) -> VerifyResult:
    """Re-read every file of the snapshot (``path`` or its ``LATEST``) against the manifest."""
    snapshot = resolve_snapshot(path)
    files: dict[str, Any] = load_manifest(snapshot)["files"]
    result = VerifyResult(path=snapshot)
    total = len(files)
    for done, (relpath, meta) in enumerate(sorted(files.items()), 1):
        f = snapshot / relpath
        if not f.is_file():
            result.missing.append(relpath)
        elif f.stat().st_size != meta["size"] or sha256_file(f) != meta["sha256"]:
            result.mismatched.append(relpath)
        result.checked += 1
        if progress is not None:
            progress(done, total)
    return result


def _installation_empty(settings: Settings) -> list[str]:
    """Reasons the installation is not empty (an empty list: it is)."""
    reasons = []
    for root in FILE_ROOTS:
        d = settings.var_dir / root
        if d.is_dir() and any(d.iterdir()):
            reasons.append(f"{d} ist nicht leer")
    n = asyncio.run(table_count(settings))
    if n:
        reasons.append(f"die Datenbank hat schon {n} Tabellen")
    return reasons


def restore(settings: Settings, path: Path, *, progress: Progress | None = None) -> VerifyResult:
    """Restore the snapshot into this (empty) installation. Verifies the snapshot first."""
    snapshot = resolve_snapshot(path)
    manifest = load_manifest(snapshot)
    checked = verify(snapshot)
    if not checked.ok:
        raise BackupError(
            "Die Sicherung ist beschädigt: "
            f"{len(checked.missing)} Dateien fehlen, {len(checked.mismatched)} weichen ab."
        )
    reasons = _installation_empty(settings)
    if reasons:
        raise BackupError("Wiederherstellen nur in eine leere Installation: " + "; ".join(reasons) + ".")
    db = manifest["database"]
    if (db["kind"] == "sqlite") != settings.is_sqlite:
        raise BackupError(
            f"Die Sicherung enthält eine {db['kind']}-Datenbank, diese Installation nutzt eine andere."
        )
    dump = snapshot / db["file"]
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    if settings.is_sqlite:
        target = sqlite_path(settings)
        target.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm", "-journal"):  # an empty leftover file of a first start
            with contextlib.suppress(FileNotFoundError):
                Path(str(target) + suffix).unlink()
        src = sqlite3.connect(f"file:{dump}?mode=ro", uri=True)
        dst = sqlite3.connect(target)
        try:
            with dst:
                src.backup(dst)
        finally:
            dst.close()
            src.close()
    else:
        proc = subprocess.run(  # noqa: S603 (fixed argv, no shell)
            [
                _pg_tool("pg_restore"),
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                "-d",
                libpq_url(settings),
                str(dump),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise BackupError(f"pg_restore ist gescheitert: {proc.stderr.strip()[-500:]}")
    files = {k: v for k, v in manifest["files"].items() if k.split("/", 1)[0] in FILE_ROOTS}
    total = len(files)
    by_hash: dict[str, Path] = {}
    for done, relpath in enumerate(sorted(files), 1):
        target = settings.var_dir / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        twin = by_hash.get(files[relpath]["sha256"])
        if twin is not None:  # the same bytes twice (a public segment and its raw one): one inode
            os.link(twin, target)
        else:
            shutil.copy2(snapshot / relpath, target)  # a copy: the snapshot stays untouched
            by_hash[files[relpath]["sha256"]] = target
        if progress is not None:
            progress(done, total)
    return checked
