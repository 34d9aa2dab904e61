"""Online motion submission in the councillor's workspace (/arbeitsbereich/antraege).

A councillor drafts a motion or inquiry, adds attachments (PDF, through the documents store and its
checks), invites co-signers from the own faction, and submits it on behalf of the faction; invited
co-signers confirm on the same page. Only the author sees and edits a draft (others get 404, as if it
did not exist); residents never reach these pages (role ``councillor``; staff pass the guard but have
no person to draft as). The services live in ``council.backoffice.motions``.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from council.accounts.models import Account
from council.backoffice import motions
from council.backoffice.motions import MOTION_TYPES
from council.backoffice.papers import PaperError
from council.documents.service import UploadRejected
from council.documents.store import FileStore
from council.records.access import Viewer
from web import i18n
from web.controllers.backoffice_papers import (
    MAX_ID,
    checked_upload,
    commit_with_retry,
    int_field,
    settings_of,
    text_field,
    version_field,
)
from web.guards import require_role

_ = i18n.gettext
GUARDS = [require_role("councillor")]
BASE = "/arbeitsbereich/antraege"


async def _account(db_session: AsyncSession, viewer: Viewer) -> Account:
    account = await db_session.get(Account, viewer.account_id) if viewer.account_id else None
    if account is None:
        raise PaperError(403, "Für diesen Bereich fehlt Ihnen die Berechtigung.")
    return account


def _values(form: Any) -> dict[str, Any]:
    return {
        "paper_type": text_field(form, "paper_type", 50),
        "title": text_field(form, "title", 2000),
        "text": text_field(form, "text"),
        "justification": text_field(form, "justification"),
        "target_meeting_id": text_field(form, "target_meeting_id", 20),
    }


async def _form_context(
    request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer
) -> dict[str, Any]:
    account = await _account(db_session, viewer)
    factions = await motions.factions_of(db_session, account.person_id) if account.person_id else []
    meetings = await motions.upcoming_meetings(db_session, factions[0].body_id) if factions else []
    days = settings_of(request).motion_deadline_days
    return {
        "nav": None,
        "types": MOTION_TYPES,
        "factions": factions,
        "meetings": [(m, motions.deadline_for(m, days)) for m in meetings],
        "deadline_days": days,
    }


# --- overview and new ----------------------------------------------------------------------------


@get(BASE, name="motions", guards=GUARDS, cache=False)
async def index(request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer) -> Template:
    account_id = viewer.account_id or 0
    return Template(
        template_name="motions/index.html",
        context={
            "mine": await motions.my_motions(db_session, account_id),
            "invited": await motions.invitations(db_session, account_id),
            "viewer": viewer,
        },
    )


@get(f"{BASE}/neu", name="motion_new", guards=GUARDS, cache=False)
async def new_form(request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer) -> Template:
    try:
        context = await _form_context(request, db_session, viewer)
    except PaperError as exc:
        return _error(exc)
    context["values"] = {"paper_type": "Antrag", "title": "", "text": "", "justification": ""}
    return Template(template_name="motions/new.html", context=context)


def _error(exc: PaperError) -> Template:
    return Template(
        template_name="error.html",
        context={"title": _("Anfrage nicht möglich"), "status": exc.status_code, "detail": _(exc.message)},
        status_code=exc.status_code,
    )


@post(f"{BASE}/neu", name="motion_create", guards=GUARDS)
async def create(
    request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer
) -> Template | Redirect:
    form = await request.form()
    values = _values(form)
    try:
        account = await _account(db_session, viewer)

        async def op() -> int:
            motion = await motions.create_draft(
                db_session,
                account,
                paper_type=values["paper_type"],
                title=values["title"],
                text=values["text"],
                justification=values["justification"],
                target_meeting_id=int_field(form, "target_meeting_id", required=False),
                faction_id=int_field(form, "faction_id", required=False),
            )
            return motion.id

        motion_id = await commit_with_retry(db_session, op)
    except PaperError as exc:
        await db_session.rollback()
        try:
            context = await _form_context(request, db_session, viewer)
        except PaperError:
            return _error(exc)
        context.update(values=values, error=_(exc.message))
        return Template(template_name="motions/new.html", context=context, status_code=exc.status_code)
    return Redirect(path=f"{BASE}/{motion_id}", status_code=303)


# --- one motion ----------------------------------------------------------------------------------


async def _page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    viewer: Viewer,
    motion_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
    values: dict[str, Any] | None = None,
) -> Template:
    try:
        if not 0 < motion_id <= MAX_ID:
            raise PaperError(404, "Diesen Antrag gibt es nicht.")
        motion = await motions.load_motion(db_session, motion_id)
        if not motions.may_view(motion, viewer.account_id, staff=viewer.is_staff):
            raise PaperError(404, "Diesen Antrag gibt es nicht.")
        context = await _form_context(request, db_session, viewer) if motion.status == "draft" else {}
    except PaperError as exc:
        return _error(exc)
    is_author = motion.author_account_id == viewer.account_id
    colleagues = (
        await motions.faction_colleagues(db_session, motion.faction_id, viewer.account_id or 0)
        if is_author and motion.status == "draft"
        else []
    )
    invited = {s.account_id for s in motion.signers}
    context.update(
        motion=motion,
        is_author=is_author,
        my_signature=next((s for s in motion.signers if s.account_id == viewer.account_id), None),
        colleagues=[(a, p) for a, p in colleagues if a.id not in invited],
        error=error,
        values=values
        or {
            "paper_type": motion.paper_type,
            "title": motion.title,
            "text": motion.text,
            "justification": motion.justification,
            "target_meeting_id": str(motion.target_meeting_id or ""),
        },
    )
    return Template(template_name="motions/detail.html", context=context, status_code=status_code)


@get(f"{BASE}/{{motion_id:int}}", name="motion", guards=GUARDS, cache=False)
async def show(
    request: Request[Any, Any, Any], motion_id: int, db_session: AsyncSession, viewer: Viewer
) -> Template:
    return await _page(request, db_session, viewer, motion_id)


async def _act(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    viewer: Viewer,
    motion_id: int,
    op: Any,
    values: dict[str, Any] | None = None,
) -> Template | Redirect:
    try:
        if not 0 < motion_id <= MAX_ID:
            raise PaperError(404, "Diesen Antrag gibt es nicht.")
        await commit_with_retry(db_session, op)
    except PaperError as exc:
        await db_session.rollback()
        return await _page(
            request,
            db_session,
            viewer,
            motion_id,
            error=_(exc.message),
            status_code=exc.status_code,
            values=values,
        )
    except UploadRejected as exc:
        await db_session.rollback()
        from web.controllers.documents import _reject_message

        return await _page(
            request, db_session, viewer, motion_id, error=_reject_message(exc), status_code=exc.status_code
        )
    return Redirect(path=f"{BASE}/{motion_id}", status_code=303)


@post(f"{BASE}/{{motion_id:int}}", name="motion_update", guards=GUARDS)
async def update(
    request: Request[Any, Any, Any], motion_id: int, db_session: AsyncSession, viewer: Viewer
) -> Template | Redirect:
    form = await request.form()
    values = _values(form)

    async def op() -> None:
        await motions.update_draft(
            db_session,
            await _account(db_session, viewer),
            motion_id,
            version_field(form),
            paper_type=values["paper_type"],
            title=values["title"],
            text=values["text"],
            justification=values["justification"],
            target_meeting_id=int_field(form, "target_meeting_id", required=False),
        )

    return await _act(request, db_session, viewer, motion_id, op, values)


@post(f"{BASE}/{{motion_id:int}}/mitzeichnende", name="motion_invite", guards=GUARDS)
async def invite(
    request: Request[Any, Any, Any], motion_id: int, db_session: AsyncSession, viewer: Viewer
) -> Template | Redirect:
    form = await request.form()

    async def op() -> None:
        signer = int_field(form, "account_id")
        assert signer is not None
        await motions.invite_signer(db_session, await _account(db_session, viewer), motion_id, signer)

    return await _act(request, db_session, viewer, motion_id, op)


@post(f"{BASE}/{{motion_id:int}}/mitzeichnen", name="motion_sign", guards=GUARDS)
async def sign(
    request: Request[Any, Any, Any], motion_id: int, db_session: AsyncSession, viewer: Viewer
) -> Template | Redirect:
    async def op() -> None:
        await motions.confirm_signature(db_session, await _account(db_session, viewer), motion_id)

    return await _act(request, db_session, viewer, motion_id, op)


@post(f"{BASE}/{{motion_id:int}}/anlagen", name="motion_attach", guards=GUARDS)
async def attach(
    request: Request[Any, Any, Any], motion_id: int, db_session: AsyncSession, viewer: Viewer
) -> Template | Redirect:
    settings = settings_of(request)
    form = await request.form()

    async def op() -> None:
        upload = checked_upload(form, settings.max_upload_bytes)
        await motions.add_attachment(
            db_session,
            FileStore(settings.files_dir),
            await _account(db_session, viewer),
            motion_id,
            await upload.read(),
            name=text_field(form, "name", 500),
            file_name=upload.filename,
            max_bytes=settings.max_upload_bytes,
        )

    return await _act(request, db_session, viewer, motion_id, op)


@post(f"{BASE}/{{motion_id:int}}/einreichen", name="motion_submit", guards=GUARDS)
async def submit(
    request: Request[Any, Any, Any], motion_id: int, db_session: AsyncSession, viewer: Viewer
) -> Template | Redirect:
    settings = settings_of(request)
    form = await request.form()

    async def op() -> None:
        await motions.submit(
            db_session,
            FileStore(settings.files_dir),
            await _account(db_session, viewer),
            motion_id,
            version_field(form),
            deadline_days=settings.motion_deadline_days,
        )

    result = await _act(request, db_session, viewer, motion_id, op)
    if isinstance(result, Redirect):
        runner = getattr(request.app.state, "jobs", None)
        wake = getattr(runner, "wake", None)
        if callable(wake):
            wake()
    return result


routes: list[Any] = [index, new_form, create, show, update, invite, sign, attach, submit]
