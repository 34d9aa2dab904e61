"""The clerk's papers (/verwaltung/vorlagen): the inbox of submitted motions, new papers with automatic
references, editing under an optimistic lock (a stale save → 409 with the current state), the
consultation path and its scheduling in one step (with a recorded deadline override), results, file
versions and soft delete. Staff only; every POST carries the CSRF token.

The services (``council.backoffice.papers``/``motions``) do the work; this module parses forms, maps
their errors to 4xx pages (never a 5xx for bad input) and commits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from council.backoffice import motions, papers
from council.backoffice.audit import changes_for
from council.backoffice.motion_models import Motion, PaperState
from council.backoffice.papers import Actor, PaperError
from council.backoffice.references import PAPER_TYPES
from council.core.settings import Settings
from council.documents.service import UploadRejected
from council.documents.store import FileStore
from council.records.access import Viewer
from council.records.models import Organization, Paper
from web import i18n
from web.guards import require_staff

_ = i18n.gettext
T = TypeVar("T")

#: Largest id accepted in forms (PostgreSQL integer).
MAX_ID = 2**31 - 1
MAX_FIELD = 20_000
PATH_STEPS = 5
BASE = "/verwaltung/vorlagen"


def settings_of(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def actor_of(viewer: Viewer) -> Actor:
    return Actor(viewer.account_id, viewer.name)


def text_field(form: Any, key: str, max_length: int = MAX_FIELD) -> str:
    value = form.get(key) if form is not None else None
    if value is None or isinstance(value, UploadFile):
        return ""
    return str(value)[:max_length]


def int_field(form: Any, key: str, *, required: bool = True) -> int | None:
    raw = text_field(form, key, 20).strip()
    if not raw and not required:
        return None
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) <= MAX_ID:
        raise PaperError(400, "Ungültige Angabe im Formular.")
    return int(raw)


def version_field(form: Any) -> int:
    version = int_field(form, "version")
    assert version is not None
    return version


async def commit_with_retry(db_session: AsyncSession, op: Callable[[], Awaitable[T]]) -> T:
    """Run ``op`` and commit; SQLite may refuse a concurrent writer outright — try again a few times."""
    for attempt in range(4):
        try:
            result = await op()
            await db_session.commit()
            return result
        except DBAPIError as exc:
            await db_session.rollback()
            if "locked" not in str(exc).lower() and "could not serialize" not in str(exc).lower():
                raise
            if attempt == 3:
                raise PaperError(
                    409, "Die Datenbank ist gerade beschäftigt. Bitte erneut versuchen."
                ) from exc
            await asyncio.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


async def organizations(db_session: AsyncSession) -> list[Organization]:
    """Bodies that consult papers (council, committees): not factions or administration units."""
    stmt = (
        select(Organization)
        .where(Organization.deleted.is_(False))
        .where((Organization.organization_type.is_(None)) | (Organization.organization_type == "Gremium"))
        .order_by(Organization.name)
        .limit(500)
    )
    return list((await db_session.execute(stmt)).scalars())


# --- list, inbox, new ----------------------------------------------------------------------------


async def _index_context(db_session: AsyncSession) -> dict[str, Any]:
    rows = (
        await db_session.execute(
            select(Paper, PaperState)
            .join(PaperState, PaperState.paper_id == Paper.id)
            .where(Paper.deleted.is_(False))
            .order_by(Paper.id.desc())
            .limit(200)
        )
    ).all()
    return {
        "nav": "papers",
        "inbox": await motions.inbox(db_session),
        "papers": [(p, s) for p, s in rows],
        "types": list(PAPER_TYPES),
        "values": {"paper_type": "Beschlussvorlage", "name": "", "public": True},
    }


@get(BASE, name="backoffice_papers", guards=[require_staff], cache=False)
async def index(db_session: AsyncSession) -> Template:
    return Template(template_name="backoffice/papers/index.html", context=await _index_context(db_session))


@post(BASE, name="backoffice_paper_create", guards=[require_staff], status_code=303)
async def create(
    request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer
) -> Template | Redirect:
    form = await request.form()
    values: dict[str, Any] = {
        "name": text_field(form, "name", 2000),
        "paper_type": text_field(form, "paper_type", 100),
        "public": text_field(form, "public", 10) == "on",
    }
    settings = settings_of(request)
    body_id = (await db_session.execute(select(Organization.body_id).limit(1))).scalar_one_or_none()
    try:
        if body_id is None:
            raise PaperError(400, "Es ist noch keine Gebietskörperschaft angelegt.")

        async def op() -> int:
            paper = await papers.create_paper(
                db_session,
                actor_of(viewer),
                body_id=body_id,
                name=values["name"],
                paper_type=values["paper_type"],
                public=values["public"],
                pattern=settings.paper_reference_pattern,
            )
            return paper.id

        paper_id = await commit_with_retry(db_session, op)
    except PaperError as exc:
        await db_session.rollback()
        context = await _index_context(db_session)
        context.update(values=values, error=_(exc.message))
        return Template(
            template_name="backoffice/papers/index.html", context=context, status_code=exc.status_code
        )
    return Redirect(path=f"{BASE}/{paper_id}", status_code=303)


@post(f"{BASE}/antraege/{{motion_id:int}}/annehmen", name="backoffice_motion_accept", guards=[require_staff])
async def accept_motion(
    request: Request[Any, Any, Any], motion_id: int, db_session: AsyncSession, viewer: Viewer
) -> Template | Redirect:
    settings = settings_of(request)
    try:
        if not 0 < motion_id <= MAX_ID:
            raise PaperError(404, "Diesen Antrag gibt es nicht.")

        async def op() -> int:
            paper = await motions.accept(
                db_session, actor_of(viewer), motion_id, pattern=settings.paper_reference_pattern
            )
            return paper.id

        paper_id = await commit_with_retry(db_session, op)
    except PaperError as exc:
        await db_session.rollback()
        context = await _index_context(db_session)
        context["error"] = _(exc.message)
        return Template(
            template_name="backoffice/papers/index.html", context=context, status_code=exc.status_code
        )
    return Redirect(path=f"{BASE}/{paper_id}", status_code=303)


# --- one paper -----------------------------------------------------------------------------------


async def _paper_context(db_session: AsyncSession, paper_id: int) -> dict[str, Any]:
    paper = await papers.load_paper(db_session, paper_id)
    state = await papers.state_of(db_session, paper_id)
    motion = (
        await db_session.execute(
            select(Motion).where(Motion.paper_id == paper_id).options(selectinload(Motion.signers))
        )
    ).scalar_one_or_none()
    return {
        "nav": "papers",
        "paper": paper,
        "state": state,
        "motion": motion,
        "steps": papers.live_consultations(paper),
        "organizations": await organizations(db_session),
        "path_steps": PATH_STEPS,
        "results": papers.RESULTS,
        "versions": await papers.file_versions(db_session, paper_id),
        "timeline": await papers.timeline(db_session, paper_id),
        "changes": await changes_for(db_session, "paper", paper_id, limit=50),
        "values": {"name": paper.name, "public": paper.public},
    }


async def _paper_page(
    db_session: AsyncSession, paper_id: int, *, error: str | None = None, status_code: int = 200, **extra: Any
) -> Template:
    try:
        if not 0 < paper_id <= MAX_ID:  # beyond the database's integers: no such paper, not a 500
            raise PaperError(404, "Diese Vorlage gibt es nicht.")
        context = await _paper_context(db_session, paper_id)
    except PaperError as exc:
        return Template(
            template_name="error.html",
            context={"title": _("Nicht gefunden"), "status": exc.status_code, "detail": _(exc.message)},
            status_code=exc.status_code,
        )
    context["error"] = error
    if extra.get("values"):
        context["values"] = extra["values"]
    return Template(template_name="backoffice/papers/edit.html", context=context, status_code=status_code)


@get(f"{BASE}/{{paper_id:int}}", name="backoffice_paper", guards=[require_staff], cache=False)
async def show(paper_id: int, db_session: AsyncSession) -> Template:
    return await _paper_page(db_session, paper_id)


async def _act(
    db_session: AsyncSession,
    paper_id: int,
    op: Callable[[], Awaitable[Any]],
    values: dict[str, Any] | None = None,
) -> Template | Redirect:
    """Run one change; on a refusal show the paper page again, as it is now, with the message."""
    try:
        if not 0 < paper_id <= MAX_ID:
            raise PaperError(404, "Diese Vorlage gibt es nicht.")
        await commit_with_retry(db_session, op)
    except PaperError as exc:
        await db_session.rollback()
        return await _paper_page(
            db_session, paper_id, error=_(exc.message), status_code=exc.status_code, values=values
        )
    except UploadRejected as exc:
        await db_session.rollback()
        from web.controllers.documents import _reject_message

        return await _paper_page(
            db_session, paper_id, error=_reject_message(exc), status_code=exc.status_code
        )
    return Redirect(path=f"{BASE}/{paper_id}", status_code=303)


@post(f"{BASE}/{{paper_id:int}}/bearbeiten", name="backoffice_paper_update", guards=[require_staff])
async def update(
    request: Request[Any, Any, Any], paper_id: int, db_session: AsyncSession, viewer: Viewer
) -> Template | Redirect:
    form = await request.form()
    values: dict[str, Any] = {
        "name": text_field(form, "name", 2000),
        "public": text_field(form, "public", 10) == "on",
    }

    async def op() -> None:
        await papers.update_paper(
            db_session,
            actor_of(viewer),
            paper_id,
            version_field(form),
            name=values["name"],
            public=values["public"],
        )

    return await _act(db_session, paper_id, op, values)


@post(f"{BASE}/{{paper_id:int}}/beratungsfolge", name="backoffice_paper_path", guards=[require_staff])
async def set_path(
    request: Request[Any, Any, Any], paper_id: int, db_session: AsyncSession, viewer: Viewer
) -> Template | Redirect:
    form = await request.form()

    async def op() -> None:
        ids = [
            i
            for i in (int_field(form, f"step{n}", required=False) for n in range(1, PATH_STEPS + 1))
            if i is not None
        ]
        await papers.set_path(db_session, actor_of(viewer), paper_id, version_field(form), ids)

    return await _act(db_session, paper_id, op)


@post(f"{BASE}/{{paper_id:int}}/terminieren", name="backoffice_paper_schedule", guards=[require_staff])
async def schedule(
    request: Request[Any, Any, Any], paper_id: int, db_session: AsyncSession, viewer: Viewer
) -> Template | Redirect:
    form = await request.form()
    settings = settings_of(request)

    async def op() -> None:
        override = text_field(form, "override", 10) == "on"
        reason = text_field(form, "override_reason", 2000).strip()
        if override and not reason:
            raise PaperError(400, "Bitte begründen Sie die Ausnahme von der Antragsfrist.")
        await papers.schedule_path(
            db_session,
            actor_of(viewer),
            paper_id,
            version_field(form),
            deadline_days=settings.motion_deadline_days,
            override_reason=reason if override else None,
        )

    return await _act(db_session, paper_id, op)


@post(f"{BASE}/{{paper_id:int}}/ergebnis", name="backoffice_paper_result", guards=[require_staff])
async def result(
    request: Request[Any, Any, Any], paper_id: int, db_session: AsyncSession, viewer: Viewer
) -> Template | Redirect:
    form = await request.form()

    async def op() -> None:
        consultation_id = int_field(form, "consultation")
        assert consultation_id is not None
        await papers.record_result(
            db_session,
            actor_of(viewer),
            paper_id,
            version_field(form),
            consultation_id,
            text_field(form, "result", 50),
        )

    return await _act(db_session, paper_id, op)


def checked_upload(form: Any, max_bytes: int) -> UploadFile:
    """The form's ``file`` upload, refused before reading when absent (400) or too large (413); the
    documents store checks the content (magic bytes) itself."""
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise PaperError(400, "Bitte eine PDF-Datei auswählen.")
    size = upload.file.seek(0, 2)
    upload.file.seek(0)
    if size > max_bytes:
        raise UploadRejected(413, "too large", "too_large", max_bytes=max_bytes)
    return upload


@post(f"{BASE}/{{paper_id:int}}/dateien", name="backoffice_paper_file", guards=[require_staff])
async def add_file(
    request: Request[Any, Any, Any], paper_id: int, db_session: AsyncSession, viewer: Viewer
) -> Template | Redirect:
    settings = settings_of(request)
    form = await request.form()

    async def op() -> None:
        upload = checked_upload(form, settings.max_upload_bytes)
        data = await upload.read()
        await papers.add_file_version(
            db_session,
            FileStore(settings.files_dir),
            actor_of(viewer),
            paper_id,
            version_field(form),
            data,
            kind=text_field(form, "kind", 20),
            name=text_field(form, "name", 500),
            file_name=upload.filename,
            max_bytes=settings.max_upload_bytes,
        )

    return await _act(db_session, paper_id, op)


@post(f"{BASE}/{{paper_id:int}}/loeschen", name="backoffice_paper_delete", guards=[require_staff])
async def delete(
    request: Request[Any, Any, Any], paper_id: int, db_session: AsyncSession, viewer: Viewer
) -> Template | Redirect:
    form = await request.form()
    try:
        if not 0 < paper_id <= MAX_ID:
            raise PaperError(404, "Diese Vorlage gibt es nicht.")

        async def op() -> None:
            await papers.delete_paper(db_session, actor_of(viewer), paper_id, version_field(form))

        await commit_with_retry(db_session, op)
    except PaperError as exc:
        await db_session.rollback()
        return await _paper_page(db_session, paper_id, error=_(exc.message), status_code=exc.status_code)
    return Redirect(path=BASE, status_code=303)


routes: list[Any] = [index, create, accept_motion, show, update, set_path, schedule, result, add_file, delete]
