"""``import_oparl``: read an OParl 1.0/1.1 endpoint into the records, incrementally and idempotently.

Per body: read every list (``modified_since`` the start of the last complete run, unless ``full``),
flatten embedded objects (``mapping.Store``), then write type by type in dependency order, upserting by
``origin_id`` (the source's id URL) and resolving references by origin id; association tables of the
objects read are replaced; ``deleted: true`` soft-deletes. Then files are downloaded (same host only,
size-limited), stored content-addressed, their text extraction queued (or run), and the search index
updated. Bad data never stops the run: every repair or skip is an :class:`ImportWarning`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Table, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.sqltypes import String

from council.core.db import Database
from council.core.jobs import enqueue
from council.core.settings import Settings
from council.core.types import utcnow
from council.documents import jobs as _document_jobs  # noqa: F401  (registers documents.extract_text)
from council.documents.jobs import extract_file_text
from council.documents.store import FileStore
from council.oparl.importer.client import FetchError, OParlClient, TooLarge
from council.oparl.importer.faults import as_int, clean_str, parse_datetime, short_type
from council.oparl.importer.mapping import Mapped, Store, map_object
from council.oparl.importer.models import OParlImportState
from council.records import models as m
from council.search.indexer import index_agenda_items, index_files, index_papers

log = logging.getLogger(__name__)

EXTRACT_JOB = "documents.extract_text"
CHUNK = 500
#: Clock skew allowance between the source and us for ``modified_since``.
SINCE_MARGIN = timedelta(minutes=5)

MODELS: dict[str, type[Any]] = {
    "Body": m.Body,
    "LegislativeTerm": m.LegislativeTerm,
    "Location": m.Location,
    "Organization": m.Organization,
    "Person": m.Person,
    "Membership": m.Membership,
    "File": m.File,
    "Meeting": m.Meeting,
    "AgendaItem": m.AgendaItem,
    "Paper": m.Paper,
    "Consultation": m.Consultation,
}
#: Write order (references point backwards, except same-type ones which get a second pass).
ORDER = (
    "Location",
    "LegislativeTerm",
    "Organization",
    "Person",
    "Membership",
    "File",
    "Meeting",
    "AgendaItem",
    "Paper",
    "Consultation",
)
#: The body's list URLs, read in this order, and the type of their objects.
BODY_LISTS = (
    ("legislativeTermList", "LegislativeTerm"),
    ("locationList", "Location"),
    ("organization", "Organization"),
    ("person", "Person"),
    ("membership", "Membership"),
    ("meeting", "Meeting"),
    ("paper", "Paper"),
    ("agendaItem", "AgendaItem"),
    ("consultation", "Consultation"),
    ("file", "File"),
)
WITH_BODY = {"LegislativeTerm", "Location", "Organization", "Person", "File", "Meeting", "Paper"}
#: Required foreign keys: an object whose reference does not resolve is skipped.
REQUIRED = {
    "Membership": ("person_id", "organization_id"),
    "AgendaItem": ("meeting_id",),
    "Consultation": ("paper_id",),
}
#: link name -> (table, parent column, child column)
LINKS: dict[str, tuple[Table, str, str]] = {
    "meeting_organization": (m.meeting_organization, "meeting_id", "organization_id"),
    "meeting_auxiliary_file": (m.meeting_auxiliary_file, "meeting_id", "file_id"),
    "agenda_item_auxiliary_file": (m.agenda_item_auxiliary_file, "agenda_item_id", "file_id"),
    "paper_auxiliary_file": (m.paper_auxiliary_file, "paper_id", "file_id"),
    "paper_related": (m.paper_related, "paper_id", "related_id"),
    "paper_superordinated": (m.paper_hierarchy, "subordinated_id", "superordinated_id"),
    "paper_subordinated": (m.paper_hierarchy, "superordinated_id", "subordinated_id"),
    "paper_originator_person": (m.paper_originator_person, "paper_id", "person_id"),
    "paper_originator_organization": (m.paper_originator_organization, "paper_id", "organization_id"),
    "paper_under_direction_of": (m.paper_under_direction_of, "paper_id", "organization_id"),
    "consultation_organization": (m.consultation_organization, "consultation_id", "organization_id"),
}
#: Embedded children whose absence from a parent's full array means they are gone.
CHILDREN = {
    "Meeting": ("agendaItem", "AgendaItem", "meeting_id"),
    "Paper": ("consultation", "Consultation", "paper_id"),
}

Progress = Callable[[str, int, int | None], Awaitable[None] | None]


@dataclass
class ImportOptions:
    #: Only this body: its id URL, short name, name or 1-based position in the body list.
    body: str | None = None
    files: bool = True
    #: Ignore the last import time: read everything (still idempotent).
    full: bool = False
    max_objects: int | None = None
    max_seconds: float | None = None
    #: Per-file download limit; ``None``: ``settings.max_upload_bytes``.
    max_file_bytes: int | None = None
    #: Download files from other hosts than the endpoint's too.
    allow_foreign_downloads: bool = False
    #: ``job``: queue documents.extract_text; ``now``: extract here; ``none``: leave pending.
    extract: Literal["job", "now", "none"] = "job"
    download_concurrency: int = 4
    timeout: float = 30.0
    retries: int = 4
    backoff: float = 0.5


@dataclass
class ImportWarning:
    code: str
    url: str
    message: str
    type: str | None = None

    def __str__(self) -> str:
        kind = f"{self.type} " if self.type else ""
        return f"[{self.code}] {kind}{self.url}: {self.message}"


@dataclass
class ImportReport:
    endpoint: str
    started: datetime = field(default_factory=utcnow)
    finished: datetime | None = None
    bodies: list[str] = field(default_factory=list)
    #: body origin id -> the ``modified_since`` used (None: full read)
    since: dict[str, datetime | None] = field(default_factory=dict)
    fetched: int = 0
    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    deleted: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)
    files_downloaded: int = 0
    bytes_downloaded: int = 0
    requests: int = 0
    retries: int = 0
    warnings: list[ImportWarning] = field(default_factory=list)
    #: False when a guard (max objects/time) stopped the run or a body could not be read.
    complete: bool = True
    error: str | None = None

    def warning_codes(self) -> Counter[str]:
        return Counter(w.code for w in self.warnings)

    @property
    def seconds(self) -> float:
        end = self.finished or utcnow()
        return (end - self.started).total_seconds()

    def summary(self) -> str:
        kinds = sorted(set(self.created) | set(self.updated) | set(self.deleted) | set(self.unchanged))
        lines = [
            f"OParl import from {self.endpoint}: {len(self.bodies)} bodies, {self.fetched} objects read, "
            f"{self.requests} requests ({self.retries} retries), {self.seconds:.1f} s"
            + ("" if self.complete else " — INCOMPLETE"),
        ]
        for kind in kinds:
            lines.append(
                f"  {kind:15} new {self.created[kind]:6}  changed {self.updated[kind]:6}  "
                f"deleted {self.deleted[kind]:5}  unchanged {self.unchanged[kind]:6}"
            )
        lines.append(f"  files downloaded: {self.files_downloaded} ({self.bytes_downloaded} bytes)")
        if self.warnings:
            codes = ", ".join(f"{c} {n}" for c, n in self.warning_codes().most_common())
            lines.append(f"  warnings: {len(self.warnings)} ({codes})")
        if self.error:
            lines.append(f"  error: {self.error}")
        return "\n".join(lines)


class _Guard(Exception):
    pass


@dataclass
class _Download:
    file_id: int
    url: str
    expected_sha512: str | None


def _host(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return (parts.hostname or "").lower(), port


def _fit(model: type[Any], fields: dict[str, Any]) -> dict[str, Any]:
    """Cut strings to their column's length (PostgreSQL refuses longer values)."""
    columns = model.__table__.c
    for key, value in fields.items():
        if isinstance(value, str) and key in columns:
            length = getattr(columns[key].type, "length", None)
            if isinstance(columns[key].type, String) and length and len(value) > length:
                fields[key] = value[:length]
    return fields


class Importer:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        endpoint: str,
        options: ImportOptions | None = None,
        *,
        progress: Progress | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.endpoint = endpoint.strip()
        self.options = options or ImportOptions()
        self.progress = progress
        self.report = ImportReport(endpoint=self.endpoint)
        self.store_files = FileStore(settings.files_dir)
        self.client = OParlClient(
            timeout=self.options.timeout,
            retries=self.options.retries,
            backoff=self.options.backoff,
            transport=transport,
            warn=lambda code, url, msg: self.warn(code, url, msg),
        )
        self._deadline = (
            time.monotonic() + self.options.max_seconds if self.options.max_seconds is not None else None
        )
        self._host = _host(self.endpoint)

    # --- bookkeeping ---------------------------------------------------------------------------------

    def warn(self, code: str, url: str, message: str, kind: str | None = None) -> None:
        warning = ImportWarning(code=code, url=str(url)[:500], message=message[:500], type=kind)
        self.report.warnings.append(warning)
        log.warning("oparl import: %s", warning)

    async def _progress(self, phase: str, done: int, total: int | None = None) -> None:
        if self.progress is None:
            return
        result = self.progress(phase, done, total)
        if asyncio.iscoroutine(result):
            await result

    def _check_guards(self, store: Store) -> None:
        if self.options.max_objects is not None and store.count >= self.options.max_objects:
            raise _Guard(f"max objects ({self.options.max_objects}) reached")
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise _Guard(f"max time ({self.options.max_seconds} s) reached")

    # --- the run -------------------------------------------------------------------------------------

    async def run(self) -> ImportReport:
        try:
            bodies = await self._bodies()
            for body in bodies:
                await self._import_body(body)
        except FetchError as exc:
            self.report.complete = False
            self.report.error = str(exc)
            self.warn("fetch_failed", exc.url, str(exc))
        finally:
            await self.client.aclose()
            self.report.requests = self.client.stats.requests
            self.report.retries = self.client.stats.retries
            self.report.finished = utcnow()
        log.info("%s", self.report.summary())
        return self.report

    async def _bodies(self) -> list[dict[str, Any]]:
        root = await self.client.get_json(self.endpoint)
        kind = short_type(root.get("type")) if isinstance(root, dict) else None
        found: list[Any] = []
        if kind == "Body":
            found = [root]
        elif kind == "System" or (isinstance(root, dict) and "oparlVersion" in root):
            ref = root.get("body")
            if isinstance(ref, list):  # embedded bodies (some 1.0 servers)
                found = ref
            elif isinstance(ref, dict):
                self.warn("body_not_list", self.endpoint, "System.body is an object", "System")
                found = [ref]
            elif isinstance(ref, str) and ref.strip():
                found = [item async for item in self.client.iter_list(ref.strip(), kind="body")]
            else:
                self.warn("no_body", self.endpoint, "System without body list", "System")
        else:  # a body list URL given directly
            if isinstance(root, list) or (isinstance(root, dict) and "data" in root):
                found = [item async for item in self.client.iter_list(self.endpoint, kind="body")]
            else:
                self.warn("unknown_endpoint", self.endpoint, "neither System, Body nor a body list")
        bodies: list[dict[str, Any]] = []
        for item in found:
            if isinstance(item, str):
                try:
                    item = await self.client.get_json(item)
                except FetchError as exc:
                    self.warn("fetch_failed", exc.url, f"body: {exc}", "Body")
                    continue
            if isinstance(item, dict) and clean_str(item.get("id")) and item.get("deleted") is not True:
                bodies.append(item)
        wanted = clean_str(self.options.body)
        if wanted:
            chosen = [
                b
                for i, b in enumerate(bodies, 1)
                if wanted
                in (clean_str(b.get("id")), clean_str(b.get("shortName")), clean_str(b.get("name")), str(i))
            ]
            if not chosen:
                self.warn("body_not_found", self.endpoint, f"no body {wanted!r}")
                self.report.complete = False
            bodies = chosen
        return bodies

    async def _import_body(self, body: dict[str, Any]) -> None:
        body_id = clean_str(body.get("id")) or ""
        self.report.bodies.append(body_id)
        run_started = utcnow()
        async with self.db.sessionmaker() as session:
            state = (
                await session.execute(
                    select(OParlImportState).where(
                        OParlImportState.endpoint == self.endpoint[:500],
                        OParlImportState.body_origin_id == body_id[:500],
                    )
                )
            ).scalar_one_or_none()
            since = None
            if state is not None and state.last_started is not None and not self.options.full:
                since = state.last_started - SINCE_MARGIN
        self.report.since[body_id] = since

        store = Store(self.warn)
        complete = True
        try:
            store.collect(body, "Body")
            for key, kind in BODY_LISTS:
                url = clean_str(body.get(key))
                if not url:
                    continue
                await self._progress(f"{kind} lesen", len(store))
                if not await self._read_list(store, url, kind, since):
                    complete = False
        except _Guard as exc:
            complete = False
            self.warn("guard", body_id, f"{exc}; stopped reading, what was read is written", "Body")
        except FetchError as exc:
            complete = False
            self.warn("fetch_failed", exc.url, str(exc))
        self.report.fetched += len(store)

        writer = _Writer(self, store, body_id)
        downloads = await writer.write()
        if self.options.files and downloads:
            await self._download_all(downloads)
        await writer.reindex()

        if complete and self.report.complete:
            async with self.db.sessionmaker() as session:
                state = (
                    await session.execute(
                        select(OParlImportState).where(
                            OParlImportState.endpoint == self.endpoint[:500],
                            OParlImportState.body_origin_id == body_id[:500],
                        )
                    )
                ).scalar_one_or_none()
                if state is None:
                    state = OParlImportState(endpoint=self.endpoint[:500], body_origin_id=body_id[:500])
                    session.add(state)
                state.last_started = run_started
                state.last_finished = utcnow()
                state.objects = len(store)
                state.warnings = len(self.report.warnings)
                state.summary = {
                    "created": dict(self.report.created),
                    "updated": dict(self.report.updated),
                    "deleted": dict(self.report.deleted),
                }
                await session.commit()
        else:
            self.report.complete = False

    async def _read_list(self, store: Store, url: str, kind: str, since: datetime | None) -> bool:
        try:
            n = 0
            async for item in self.client.iter_list(url, since=since, kind=kind):
                if isinstance(item, str):
                    try:
                        item = await self.client.get_json(item)
                    except FetchError as exc:
                        self.warn("fetch_failed", exc.url, str(exc), kind)
                        continue
                    if not isinstance(item, dict):
                        self.warn("bad_item", url, "list reference is not an object", kind)
                        continue
                store.collect(item, kind)
                n += 1
                if n % 100 == 0:
                    await self._progress(f"{kind} lesen", len(store))
                self._check_guards(store)
        except FetchError as exc:
            if exc.status == 404:
                self.warn("list_missing", url, f"{kind} list answered 404; skipped", kind)
                return True
            # The other lists are still read; the run counts as incomplete (no new modified_since).
            self.warn("list_failed", url, f"{kind} list failed: {exc}", kind)
            return False
        return True

    # --- files ---------------------------------------------------------------------------------------

    def allowed_download(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return False
        return self.options.allow_foreign_downloads or _host(url) == self._host

    async def _download_all(self, downloads: list[_Download]) -> None:
        limit = self.options.max_file_bytes or self.settings.max_upload_bytes
        sem = asyncio.Semaphore(max(1, self.options.download_concurrency))
        done = 0
        results: list[tuple[_Download, bytes]] = []
        lock = asyncio.Lock()

        async def fetch(item: _Download) -> None:
            nonlocal done
            async with sem:
                try:
                    data = await self.client.download(item.url, limit)
                except TooLarge as exc:
                    self.warn("file_too_large", item.url, str(exc), "File")
                    data = None
                except FetchError as exc:
                    self.warn("download_failed", item.url, str(exc), "File")
                    data = None
            async with lock:
                done += 1
                if data:
                    results.append((item, data))
                elif data is not None:
                    self.warn("file_empty", item.url, "download is empty", "File")
                if len(results) >= 20:
                    batch = results[:]
                    results.clear()
                    await self._store_downloads(batch)
                await self._progress("Dateien laden", done, len(downloads))

        await asyncio.gather(*(fetch(d) for d in downloads))
        if results:
            await self._store_downloads(results)

    async def _store_downloads(self, batch: list[tuple[_Download, bytes]]) -> None:
        stored = []
        for item, data in batch:
            blob = await asyncio.to_thread(self.store_files.put, data)
            if item.expected_sha512 and item.expected_sha512.lower() != blob.sha512:
                self.warn("checksum_mismatch", item.url, "sha512Checksum differs from the download", "File")
            stored.append((item, data, blob))
        async with self.db.sessionmaker() as session:
            extract_now: list[int] = []
            for item, data, blob in stored:
                record = await session.get(m.File, item.file_id)
                if record is None:
                    continue
                is_pdf = data[:1024].find(b"%PDF-") >= 0
                record.storage_key = blob.key
                record.sha512 = blob.sha512
                record.size = blob.size
                if is_pdf:
                    record.mime_type = "application/pdf"
                    record.text_state = "pending"
                    if self.options.extract == "job":
                        enqueue(session, EXTRACT_JOB, {"file_id": record.id})
                    elif self.options.extract == "now":
                        extract_now.append(record.id)
                else:
                    record.text_state = "no_text"
                self.report.files_downloaded += 1
                self.report.bytes_downloaded += blob.size
            await session.flush()
            for file_id in extract_now:
                await extract_file_text(session, self.store_files, file_id)
            await session.commit()


class _Writer:
    """Writes one body's objects (a :class:`Store`) in one transaction."""

    def __init__(self, importer: Importer, store: Store, body_origin: str) -> None:
        self.imp = importer
        self.store = store
        self.body_origin = body_origin
        self.ids: dict[str, dict[str, int]] = defaultdict(dict)
        self.missing: dict[str, set[str]] = defaultdict(set)
        self.touched: dict[str, set[int]] = defaultdict(set)
        self.body_pk: int | None = None

    def _warn_for(self, kind: str, oid: str) -> Callable[[str, str], None]:
        return lambda code, msg: self.imp.warn(code, oid, msg, kind)

    async def _resolve(self, session: AsyncSession, wanted: dict[str, set[str]]) -> None:
        for kind, origins in wanted.items():
            model = MODELS[kind]
            todo = sorted(o for o in origins if o not in self.ids[kind] and o not in self.missing[kind])
            for i in range(0, len(todo), CHUNK):
                chunk = todo[i : i + CHUNK]
                rows = (
                    await session.execute(
                        select(model.origin_id, model.id).where(model.origin_id.in_(chunk)).order_by(model.id)
                    )
                ).all()
                for origin, pk in rows:
                    self.ids[kind].setdefault(origin, pk)
                self.missing[kind].update(o for o in chunk if o not in self.ids[kind])

    async def write(self) -> list[_Download]:
        downloads: list[_Download] = []
        async with self.imp.db.sessionmaker() as session:
            await self._write_body(session)
            for kind in ORDER:
                objs = list(self.store.objects[kind].values())
                if objs:
                    await self.imp._progress(f"{kind} schreiben", 0, len(objs))
                    downloads.extend(await self._write_kind(session, kind, objs))
            await self._body_location(session)
            await session.commit()
        return downloads

    async def _write_body(self, session: AsyncSession) -> None:
        obj = self.store.objects["Body"].get(self.body_origin) or {"id": self.body_origin}
        mapped = map_object("Body", obj, self._warn_for("Body", self.body_origin))
        record = (
            (
                await session.execute(
                    select(m.Body).where(m.Body.origin_id == self.body_origin).order_by(m.Body.id)
                )
            )
            .scalars()
            .first()
        )
        fields = _fit(m.Body, mapped.fields)
        if record is None:
            record = m.Body(
                origin_id=self.body_origin, created=parse_datetime(obj.get("created")) or utcnow(), **fields
            )
            session.add(record)
            self.imp.report.created["Body"] += 1
        else:
            self._apply(record, fields, "Body")
        await session.flush()
        self.body_pk = record.id
        self.ids["Body"][self.body_origin] = record.id

    async def _body_location(self, session: AsyncSession) -> None:
        obj = self.store.objects["Body"].get(self.body_origin)
        if obj is None or self.body_pk is None:
            return
        ref = clean_str(obj.get("location"))
        if ref:
            await self._resolve(session, {"Location": {ref}})
            record = await session.get(m.Body, self.body_pk)
            if (
                record is not None
                and ref in self.ids["Location"]
                and record.location_id != self.ids["Location"][ref]
            ):
                record.location_id = self.ids["Location"][ref]
                await session.flush()

    def _apply(self, record: Any, fields: dict[str, Any], kind: str) -> bool:
        changed = False
        for key, value in fields.items():
            if getattr(record, key) != value:
                setattr(record, key, value)
                changed = True
        if record.deleted:
            record.deleted = False
            changed = True
        if changed:
            self.imp.report.updated[kind] += 1
        else:
            self.imp.report.unchanged[kind] += 1
        return changed

    async def _write_kind(
        self, session: AsyncSession, kind: str, objs: list[dict[str, Any]]
    ) -> list[_Download]:
        model = MODELS[kind]
        mapped: list[tuple[dict[str, Any], Mapped]] = []
        wanted: dict[str, set[str]] = defaultdict(set)
        for obj in objs:
            if obj.get("deleted") is True:
                mapped.append((obj, Mapped()))
                continue
            mp = map_object(kind, obj, self._warn_for(kind, obj["id"]))
            mapped.append((obj, mp))
            for ref_kind, ref in mp.refs.values():
                if ref:
                    wanted[ref_kind].add(ref)
            for ref_kind, refs in mp.lists.values():
                wanted[ref_kind].update(refs)
        wanted[kind].update(o["id"] for o in objs)
        await self._resolve(session, wanted)

        existing: dict[str, Any] = {}
        origin_ids = [o["id"] for o in objs]
        for i in range(0, len(origin_ids), CHUNK):
            chunk = origin_ids[i : i + CHUNK]
            for record in (
                await session.execute(select(model).where(model.origin_id.in_(chunk)).order_by(model.id))
            ).scalars():
                existing.setdefault(record.origin_id, record)

        downloads: list[tuple[str, str, str | None]] = []
        written: list[tuple[Any, dict[str, Any], Mapped]] = []
        changed: list[Any] = []
        for n, (obj, mp) in enumerate(mapped, 1):
            oid = obj["id"]
            record = existing.get(oid)
            if obj.get("deleted") is True:
                if record is not None and not record.deleted:
                    record.deleted = True
                    self.imp.report.deleted[kind] += 1
                    self.touched[kind].add(record.id)
                continue
            fields = dict(mp.fields)
            if kind in WITH_BODY:
                fields["body_id"] = self.body_pk
            later: dict[str, str] = {}
            for column, (ref_kind, ref) in mp.refs.items():
                if ref is None:
                    fields[column] = None
                elif ref_kind == kind:
                    later[column] = ref
                elif ref in self.ids[ref_kind]:
                    fields[column] = self.ids[ref_kind][ref]
                else:
                    fields[column] = None
                    self.imp.warn("unresolved", oid, f"{column}: {ref_kind} {ref} not found", kind)
            if any(fields.get(col) is None for col in REQUIRED.get(kind, ())):
                self.imp.warn(
                    "skipped", oid, f"required reference missing ({', '.join(REQUIRED[kind])})", kind
                )
                continue
            if kind == "File":
                self._file_fields(obj, fields, record, downloads)
            fields = _fit(model, fields)
            if record is None:
                record = model(
                    origin_id=oid, created=parse_datetime(obj.get("created")) or utcnow(), **fields
                )
                session.add(record)
                existing[oid] = record
                self.imp.report.created[kind] += 1
                changed.append(record)
            elif self._apply(record, fields, kind):
                changed.append(record)
            written.append((record, later, mp))
            if n % CHUNK == 0:
                await session.flush()
                await self.imp._progress(f"{kind} schreiben", n, len(mapped))
        await session.flush()
        for record, _later, _mp in written:
            self.ids[kind][record.origin_id] = record.id
            self.missing[kind].discard(record.origin_id)
        self.touched[kind].update(record.id for record in changed)
        # same-type references (Organization.subOrganizationOf) once all of this type exist
        for record, later, _mp in written:
            for column, ref in later.items():
                target = self.ids[kind].get(ref)
                if target is None:
                    self.imp.warn("unresolved", record.origin_id, f"{column}: {kind} {ref} not found", kind)
                if getattr(record, column) != target:
                    setattr(record, column, target)
        await self._write_links(session, kind, written)
        await self._retire_children(session, kind, written)
        await session.flush()
        await self.imp._progress(f"{kind} schreiben", len(mapped), len(mapped))
        return [
            _Download(file_id=self.ids["File"][oid], url=url, expected_sha512=sha)
            for oid, url, sha in downloads
            if oid in self.ids["File"]
        ]

    def _file_fields(
        self,
        obj: dict[str, Any],
        fields: dict[str, Any],
        record: Any,
        downloads: list[tuple[str, str, str | None]],
    ) -> None:
        oid = obj["id"]
        url = clean_str(obj.get("downloadUrl"))
        if url is None:
            access = clean_str(obj.get("accessUrl"))
            if access:
                if "downloadUrl" in obj:
                    self.imp.warn("empty_download_url", oid, "downloadUrl empty; using accessUrl", "File")
                url = access
            else:
                self.imp.warn("no_download_url", oid, "neither downloadUrl nor accessUrl", "File")
        size = as_int(obj.get("size"))
        sha = clean_str(obj.get("sha512Checksum"))
        sha = sha.lower() if sha else None
        have_blob = (
            record is not None and record.storage_key and self.imp.store_files.exists(record.storage_key)
        )
        if not have_blob:
            fields["size"] = size if size and size > 0 else 0
            if sha:
                fields["sha512"] = sha
        need = (
            not have_blob
            or (sha is not None and record.sha512 != sha)
            or (sha is None and size is not None and size > 0 and record.size != size)
        )
        if need and url and self.imp.options.files:
            if self.imp.allowed_download(url):
                downloads.append((oid, url, sha))
            else:
                self.imp.warn("foreign_download", url, "file on another host; not downloaded", "File")
        if record is None:
            fields.setdefault("text_state", "pending")

    async def _write_links(
        self, session: AsyncSession, kind: str, written: list[tuple[Any, dict[str, str], Mapped]]
    ) -> None:
        if not written:
            return
        rows_by_table: dict[Table, list[dict[str, int]]] = defaultdict(list)
        clear: dict[tuple[Table, str], set[int]] = defaultdict(set)
        for record, _later, mp in written:
            for link, (ref_kind, refs) in mp.lists.items():
                table, parent_col, child_col = LINKS[link]
                clear[(table, parent_col)].add(record.id)
                seen: set[int] = set()
                for pos, ref in enumerate(refs):
                    target = self.ids[ref_kind].get(ref)
                    if target is None:
                        self.imp.warn(
                            "unresolved", record.origin_id, f"{link}: {ref_kind} {ref} not found", kind
                        )
                        continue
                    if target in seen:
                        continue
                    seen.add(target)
                    rows_by_table[table].append({parent_col: record.id, child_col: target, "position": pos})
        for (table, parent_col), parent_ids in clear.items():
            ids = sorted(parent_ids)
            for i in range(0, len(ids), CHUNK):
                await session.execute(delete(table).where(table.c[parent_col].in_(ids[i : i + CHUNK])))
        for table, rows in rows_by_table.items():
            unique: dict[tuple[int, ...], dict[str, int]] = {}
            pk = [c.name for c in table.primary_key.columns]
            for row in rows:
                unique.setdefault(tuple(row[c] for c in pk), row)
            values = list(unique.values())
            for i in range(0, len(values), CHUNK):
                await session.execute(insert(table), values[i : i + CHUNK])

    async def _retire_children(
        self, session: AsyncSession, kind: str, written: list[tuple[Any, dict[str, str], Mapped]]
    ) -> None:
        """Agenda items (consultations) no longer in a meeting's (paper's) full embedded array are gone."""
        if kind not in CHILDREN:
            return
        field_name, child_kind, fk = CHILDREN[kind]
        child_model = MODELS[child_kind]
        for record, _later, _mp in written:
            obj = self.store.objects[kind].get(record.origin_id) or {}
            if field_name not in obj or not isinstance(obj[field_name], list):
                continue
            keep = set(obj[field_name])
            stale = (
                (
                    await session.execute(
                        select(child_model).where(
                            getattr(child_model, fk) == record.id,
                            child_model.deleted.is_(False),
                            child_model.origin_id.is_not(None),
                        )
                    )
                )
                .scalars()
                .all()
            )
            for child in stale:
                if child.origin_id not in keep and child.origin_id not in self.store.objects[child_kind]:
                    child.deleted = True
                    self.imp.report.deleted[child_kind] += 1
                    self.touched[child_kind].add(child.id)

    async def reindex(self) -> None:
        async with self.imp.db.sessionmaker() as session:
            items = set(self.touched["AgendaItem"])
            meetings = sorted(self.touched["Meeting"])
            for i in range(0, len(meetings), CHUNK):
                rows = await session.execute(
                    select(m.AgendaItem.id).where(m.AgendaItem.meeting_id.in_(meetings[i : i + CHUNK]))
                )
                items.update(rows.scalars())
            await index_papers(session, self.touched["Paper"])
            await index_agenda_items(session, items)
            await index_files(session, self.touched["File"])
            await session.commit()


async def import_oparl(
    db: Database,
    settings: Settings,
    endpoint: str,
    options: ImportOptions | None = None,
    *,
    progress: Progress | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> ImportReport:
    """Import (or update) everything at ``endpoint`` (a System URL, a Body URL or a body list URL)."""
    return await Importer(db, settings, endpoint, options, progress=progress, transport=transport).run()
