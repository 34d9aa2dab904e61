"""The clerk's back office for meetings (/verwaltung/sitzungsdienst): meetings, agenda builder,
invitation and minutes.

Every page works without JavaScript: each action is a plain form POST (CSRF token in the form) answered
with a 303 back to the page; a refusal renders the page again with the message and its status (400,
404, 409 for a stale version — the page then shows the current state and version). Drag-and-drop
reordering (web/static/js/backoffice-agenda.js) posts the same ``reihenfolge`` action with the
``x-csrftoken`` header.

This module is also where the minutes draft is composed from ``transcripts.minutes`` (``council``
must not import ``transcripts``).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.exceptions import HTTPException, NotFoundException
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council.backoffice import agenda as agenda_svc
from council.backoffice import invitation as invitation_svc
from council.backoffice import mailing as mailing_svc
from council.backoffice import meetings as svc
from council.backoffice import minutes as minutes_svc
from council.backoffice import subscriptions as subscriptions_svc
from council.backoffice.audit import meeting_changes
from council.core.settings import Settings
from council.documents.store import FileStore
from council.records.access import Viewer, meeting_visible
from council.records.models import Meeting
from web import i18n
from web.guards import require_role

_ = i18n.gettext

BASE = "/verwaltung/sitzungsdienst"
MAX_ID = 2**31 - 1
require_clerk = require_role("clerk", "admin")


def messages() -> dict[str, str]:
    """The text for each ``BackofficeError.code`` (in the request's language)."""
    return {
        "meeting_not_found": _("Diese Sitzung gibt es nicht."),
        "item_not_found": _("Diesen Tagesordnungspunkt gibt es nicht."),
        "name_required": _("Bitte einen Namen angeben."),
        "organization_required": _("Bitte ein Gremium wählen."),
        "organization_unknown": _("Dieses Gremium gibt es nicht."),
        "bad_start": _("Bitte Datum (JJJJ-MM-TT) und Beginn (HH:MM) angeben."),
        "bad_end": _("Das Ende muss eine Uhrzeit (HH:MM) sein."),
        "bad_version": _("Die Version des Formulars fehlt oder ist ungültig. Bitte die Seite neu laden."),
        "already_published": _("Die Sitzung ist bereits veröffentlicht."),
        "not_published": _("Die Sitzung ist noch nicht veröffentlicht."),
        "not_holdable": _("Nur eine veröffentlichte, nicht abgesagte Sitzung kann als durchgeführt gelten."),
        "meeting_cancelled": _("Die Sitzung ist abgesagt."),
        "agenda_empty": _("Die Tagesordnung ist leer."),
        "item_name_required": _("Bitte einen Titel für den Tagesordnungspunkt angeben."),
        "too_many_items": _("Die Tagesordnung hat bereits die größtmögliche Zahl an Punkten."),
        "bad_direction": _("Unbekannte Richtung."),
        "cannot_move": _("Dieser Punkt kann nicht weiter verschoben werden."),
        "bad_order": _("Die Reihenfolge muss jeden Tagesordnungspunkt genau einmal enthalten."),
        "paper_required": _("Bitte das Aktenzeichen oder die Nummer einer Vorlage angeben."),
        "paper_unknown": _("Diese Vorlage gibt es nicht."),
        "paper_already_linked": _("Diese Vorlage ist mit diesem Punkt bereits verknüpft."),
        "paper_not_linked": _("Diese Vorlage ist mit diesem Punkt nicht verknüpft."),
        "minutes_approved": _("Die Niederschrift ist bereits freigegeben."),
        "minutes_empty": _("Die Niederschrift ist leer."),
        "dispatch_unknown": _("Diesen Versand gibt es nicht."),
        "dispatch_not_retryable": _("Bei diesem Versand gibt es nichts erneut zu senden."),
    }


def _stale_message(current: int) -> str:
    return _(
        "Jemand anderes hat diese Sitzung inzwischen geändert (aktuelle Version {version}). "
        "Ihre Änderung wurde nicht gespeichert. "
        "Bitte prüfen Sie den aktuellen Stand und speichern Sie erneut."
    ).format(version=current)


def _message(exc: svc.BackofficeError) -> str:
    if isinstance(exc, svc.StaleVersion):
        return _stale_message(exc.current_version)
    return messages().get(exc.code, _("Diese Aktion ist gerade nicht möglich."))


def _check_id(value: int) -> int:
    if not (1 <= value <= MAX_ID):
        raise NotFoundException()
    return value


def _settings(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _actor(viewer: Viewer) -> svc.Actor:
    return svc.Actor(viewer.account_id, viewer.name)


def _field(form: Any, name: str) -> str:
    value = form.get(name) if form is not None else None
    return value if isinstance(value, str) else ""


def _flag(form: Any, name: str) -> bool:
    return _field(form, name).strip().lower() in ("1", "on", "true", "ja")


def _form_id(form: Any, name: str) -> int:
    value = svc.parse_id(_field(form, name)[:12])
    if value is None:
        raise svc.BackofficeError("item_not_found")
    return value


def _status_of(exc: svc.BackofficeError) -> int:
    return exc.status


# --- list and new ---------------------------------------------------------------------------------


async def _list_context(
    session: AsyncSession, values: dict[str, Any] | None = None, error: str | None = None
) -> dict[str, Any]:
    rows = await svc.list_meetings(session)
    return {
        "rows": rows,
        "organizations": await svc.gremien(session),
        "values": values or {"public": True, "start_time": "18:00"},
        "error": error,
        "base": BASE,
    }


@get(BASE, name="backoffice_meetings", guards=[require_clerk], cache=False)
async def meetings_list(db_session: AsyncSession) -> Template:
    return Template(template_name="backoffice/meetings/list.html", context=await _list_context(db_session))


@post(f"{BASE}/neu", name="backoffice_meeting_create", guards=[require_clerk], cache=False)
async def meeting_create(request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Viewer) -> Any:
    form = await request.form()
    values: dict[str, Any] = {
        k: _field(form, k) for k in ("name", "organization_id", "date", "start_time", "end_time", "location")
    }
    values["public"] = _flag(form, "public")
    try:
        data = svc.parse_meeting_form(values)
        meeting = await svc.create_meeting(
            db_session, _actor(viewer), data, standing_items=_flag(form, "standing")
        )
        meeting_id = meeting.id
        await db_session.commit()
    except svc.BackofficeError as exc:
        await db_session.rollback()
        return Template(
            template_name="backoffice/meetings/list.html",
            context=await _list_context(db_session, values, _message(exc)),
            status_code=exc.status,
        )
    return Redirect(path=f"{BASE}/{meeting_id}", status_code=303)


# --- one meeting ----------------------------------------------------------------------------------


async def _meeting_context(
    session: AsyncSession, meeting_id: int, error: str | None = None, notice: str | None = None
) -> dict[str, Any]:
    meeting, wf = await svc.load_meeting(session, meeting_id)
    start = meeting.start.astimezone(svc.TZ) if meeting.start else None
    end = meeting.end.astimezone(svc.TZ) if meeting.end else None
    return {
        "meeting": meeting,
        "wf": wf,
        "items": await agenda_svc.items(session, meeting_id),
        "changes": list(await meeting_changes(session, meeting_id)),
        "organizations": await svc.gremien(session),
        "values": {
            "name": meeting.name,
            "organization_id": meeting.organizations[0].id if meeting.organizations else None,
            "date": start.date().isoformat() if start else "",
            "start_time": start.strftime("%H:%M") if start else "",
            "end_time": end.strftime("%H:%M") if end else "",
            "location": meeting.location.label if meeting.location else "",
            "public": meeting.public,
        },
        "when": invitation_svc.when_text(meeting),
        "dispatches": await mailing_svc.dispatches_for(session, meeting_id),
        "recipients": {
            "members": len(await invitation_svc.recipients(session, meeting)),
            "subscribers": await subscriptions_svc.count_confirmed(
                session, [o.id for o in meeting.organizations]
            )
            if meeting.public
            else 0,
        },
        "dispatch_labels": dispatch_labels(),
        "error": error,
        "notice": notice,
        "base": BASE,
        "action_labels": action_labels(),
    }


def dispatch_labels() -> dict[str, str]:
    """Labels for the invitation mail's send status (dispatch and per-recipient states)."""
    return {
        "queued": _("wartet auf den Versand"),
        "sending": _("wird versandt"),
        "done": _("versandt"),
        "partial": _("teilweise fehlgeschlagen"),
        "skipped": _("nicht versandt: kein Mailserver eingerichtet"),
        "failed": _("fehlgeschlagen"),
        "pending": _("wartet"),
        "sent": _("versandt"),
        "uncertain": _("ungewiss (Versand unterbrochen)"),
        "member": _("Mitglied"),
        "subscriber": _("Abonnent/in"),
    }


def action_labels() -> dict[str, str]:
    """Labels for the change log."""
    return {
        "created": _("Sitzung angelegt"),
        "updated": _("Sitzung geändert"),
        "rescheduled": _("Sitzung verlegt"),
        "cancelled": _("Sitzung abgesagt"),
        "reinstated": _("Absage aufgehoben"),
        "published": _("Sitzung veröffentlicht"),
        "held": _("Sitzung als durchgeführt markiert"),
        "deleted": _("Sitzung gelöscht"),
        "invitation_sent": _("Einladung versandt"),
        "invitation_resent": _("Einladung erneut versandt"),
        "item_added": _("Tagesordnungspunkt hinzugefügt"),
        "urgent_item_added": _("Dringlichkeitspunkt hinzugefügt"),
        "item_changed": _("Tagesordnungspunkt geändert"),
        "item_moved": _("Tagesordnungspunkt verschoben"),
        "items_reordered": _("Tagesordnung neu geordnet"),
        "item_removed": _("Tagesordnungspunkt entfernt"),
        "paper_linked": _("Vorlage verknüpft"),
        "paper_unlinked": _("Vorlagenverknüpfung gelöst"),
        "minutes_saved": _("Niederschrift gespeichert"),
        "minutes_approved": _("Niederschrift freigegeben"),
    }


@get(f"{BASE}/{{meeting_id:int}}", name="backoffice_meeting", guards=[require_clerk], cache=False)
async def meeting_page(meeting_id: int, db_session: AsyncSession) -> Template:
    try:
        context = await _meeting_context(db_session, _check_id(meeting_id))
    except svc.NotFound:
        raise NotFoundException() from None
    await db_session.commit()  # a workflow row created for an older meeting
    return Template(template_name="backoffice/meetings/meeting.html", context=context)


@get(
    f"{BASE}/{{meeting_id:int}}/top/{{item_id:int}}",
    name="backoffice_agenda_item",
    guards=[require_clerk],
    cache=False,
)
async def item_page(meeting_id: int, item_id: int, db_session: AsyncSession) -> Template:
    try:
        context = await _meeting_context(db_session, _check_id(meeting_id))
    except svc.NotFound:
        raise NotFoundException() from None
    view = next((v for v in context["items"] if v.item.id == item_id), None)
    if view is None:
        raise NotFoundException()
    context["view"] = view
    return Template(template_name="backoffice/meetings/item.html", context=context)


ACTIONS = frozenset(
    {
        "bearbeiten",
        "veroeffentlichen",
        "absagen",
        "wiederaufnehmen",
        "durchgefuehrt",
        "loeschen",
        "einladen",
        "top-neu",
        "top-bearbeiten",
        "top-hoch",
        "top-runter",
        "top-entfernen",
        "reihenfolge",
        "vorlage-verknuepfen",
        "vorlage-loesen",
        "versand-wiederholen",
    }
)


async def _run(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    viewer: Viewer,
    meeting_id: int,
    action: str,
    form: Any,
) -> tuple[str | None, bool]:
    """Do one action; returns (where to go, whether jobs were queued)."""
    actor = _actor(viewer)
    version = svc.parse_version(_field(form, "version")[:12])
    here = f"{BASE}/{meeting_id}"
    if action == "bearbeiten":
        values: dict[str, Any] = {
            k: _field(form, k)
            for k in ("name", "organization_id", "date", "start_time", "end_time", "location")
        }
        values["public"] = _flag(form, "public")
        await svc.update_meeting(session, actor, meeting_id, version, svc.parse_meeting_form(values))
    elif action == "veroeffentlichen":
        await svc.publish(session, actor, meeting_id, version)
    elif action in ("absagen", "wiederaufnehmen"):
        await svc.set_cancelled(session, actor, meeting_id, version, action == "absagen")
    elif action == "durchgefuehrt":
        await svc.mark_held(session, actor, meeting_id, version)
    elif action == "loeschen":
        await svc.delete_meeting(session, actor, meeting_id, version)
        return BASE, False
    elif action == "einladen":
        settings = _settings(request)
        await invitation_svc.send_invitation(
            session,
            FileStore(settings.files_dir),
            settings,
            actor,
            meeting_id,
            version,
            base_url=settings.base_url,
        )
        return f"{here}#versand", True
    elif action == "versand-wiederholen":
        dispatch_id = svc.parse_id(_field(form, "dispatch_id")[:12])
        if dispatch_id is None:
            raise svc.BackofficeError("dispatch_unknown")
        await mailing_svc.retry_failed(session, dispatch_id, meeting_id)
        return f"{here}#versand", True
    elif action == "top-neu":
        public = _field(form, "part") != "nichtoeffentlich"
        item = await agenda_svc.add_item(
            session,
            actor,
            meeting_id,
            version,
            name=_field(form, "name"),
            text=_field(form, "text"),
            public=public,
            sub=_flag(form, "sub"),
            urgent=_flag(form, "urgent"),
        )
        return f"{here}#top-{item.id}", False
    elif action == "top-bearbeiten":
        item_id = _form_id(form, "item_id")
        await agenda_svc.edit_item(
            session,
            actor,
            meeting_id,
            version,
            item_id,
            name=_field(form, "name"),
            text=_field(form, "text"),
            public=_field(form, "part") != "nichtoeffentlich",
            sub=_flag(form, "sub"),
        )
        return f"{here}#top-{item_id}", False
    elif action in ("top-hoch", "top-runter"):
        item_id = _form_id(form, "item_id")
        await agenda_svc.move_item(
            session, actor, meeting_id, version, item_id, "up" if action == "top-hoch" else "down"
        )
        return f"{here}#top-{item_id}", False
    elif action == "top-entfernen":
        await agenda_svc.remove_item(session, actor, meeting_id, version, _form_id(form, "item_id"))
    elif action == "reihenfolge":
        raw = _field(form, "order")[:5000]
        ids = [svc.parse_id(p) for p in raw.split(",") if p.strip()]
        if not ids or any(i is None for i in ids):
            raise svc.BackofficeError("bad_order")
        await agenda_svc.reorder(session, actor, meeting_id, version, [i for i in ids if i is not None])
    elif action == "vorlage-verknuepfen":
        item_id = _form_id(form, "item_id")
        await agenda_svc.link_paper(session, actor, meeting_id, version, item_id, _field(form, "paper"))
        return f"{here}#top-{item_id}", False
    elif action == "vorlage-loesen":
        item_id = _form_id(form, "item_id")
        paper_id = svc.parse_id(_field(form, "paper_id")[:12])
        if paper_id is None:
            raise svc.BackofficeError("paper_unknown")
        await agenda_svc.unlink_paper(session, actor, meeting_id, version, item_id, paper_id)
        return f"{here}#top-{item_id}", False
    return here, False


@post(
    f"{BASE}/{{meeting_id:int}}/{{action:str}}",
    name="backoffice_meeting_action",
    guards=[require_clerk],
    cache=False,
)
async def meeting_action(
    request: Request[Any, Any, Any], meeting_id: int, action: str, db_session: AsyncSession, viewer: Viewer
) -> Any:
    if action not in ACTIONS:
        raise NotFoundException()
    meeting_id = _check_id(meeting_id)
    form = await request.form()
    try:
        target, _queued = await _run(request, db_session, viewer, meeting_id, action, form)
        await db_session.commit()
    except svc.BackofficeError as exc:
        await db_session.rollback()
        if isinstance(exc, svc.NotFound) and exc.code == "meeting_not_found":
            raise NotFoundException(detail=_message(exc)) from None
        if request.headers.get("x-requested-with") == "fetch":
            raise HTTPException(status_code=exc.status, detail=_message(exc)) from None
        db_session.expire_all()
        try:
            context = await _meeting_context(db_session, meeting_id, error=_message(exc))
        except svc.NotFound:
            raise NotFoundException() from None
        return Template(
            template_name="backoffice/meetings/meeting.html", context=context, status_code=_status_of(exc)
        )
    # The invitation mail, text extraction of a new PDF, the search index of changed items.
    jobs = getattr(request.app.state, "jobs", None)
    if jobs is not None and _settings(request).jobs_in_process:
        jobs.wake()
    return Redirect(path=target or BASE, status_code=303)


# --- minutes --------------------------------------------------------------------------------------


async def composed_minutes(session: AsyncSession, meeting_id: int) -> dict[int, tuple[str, str]]:
    """The first draft per item from the timeline, votes and transcript (``transcripts.minutes``)."""
    from transcripts.minutes import minutes_draft

    draft = await minutes_draft(session, meeting_id, include_private=True)
    out: dict[int, tuple[str, str]] = {}
    for item in draft.items:
        if item.agenda_item_id is None:
            continue
        lines = [f"{e.speaker}: {e.text}" for e in item.entries if e.text]
        votes = [v.summary for v in item.votes if v.summary]
        out[item.agenda_item_id] = ("\n\n".join(lines), "\n".join(votes))
    return out


async def _minutes_context(
    session: AsyncSession, meeting_id: int, error: str | None = None
) -> dict[str, Any]:
    meeting, wf = await svc.load_meeting(session, meeting_id)
    composed = await composed_minutes(session, meeting_id) if not wf.minutes_draft else None
    entries, approved = await minutes_svc.current(session, meeting_id, composed)
    return {
        "meeting": meeting,
        "wf": wf,
        "entries": entries,
        "approved": approved,
        "error": error,
        "base": BASE,
    }


@get(
    f"{BASE}/{{meeting_id:int}}/niederschrift", name="backoffice_minutes", guards=[require_clerk], cache=False
)
async def minutes_page(meeting_id: int, db_session: AsyncSession) -> Template:
    try:
        context = await _minutes_context(db_session, _check_id(meeting_id))
    except svc.NotFound:
        raise NotFoundException() from None
    await db_session.commit()
    return Template(template_name="backoffice/meetings/minutes.html", context=context)


@post(
    f"{BASE}/{{meeting_id:int}}/niederschrift/{{action:str}}",
    name="backoffice_minutes_action",
    guards=[require_clerk],
    cache=False,
)
async def minutes_action(
    request: Request[Any, Any, Any], meeting_id: int, action: str, db_session: AsyncSession, viewer: Viewer
) -> Any:
    if action not in ("speichern", "freigeben"):
        raise NotFoundException()
    meeting_id = _check_id(meeting_id)
    form = await request.form()
    actor = _actor(viewer)
    try:
        version = svc.parse_version(_field(form, "version")[:12])
        entries: dict[int, tuple[str, str]] = {}
        for key in list(form.keys())[:2000]:
            if key.startswith("text-") or key.startswith("resolution-"):
                item_id = svc.parse_id(key.split("-", 1)[1][:12])
                if item_id is None:
                    raise svc.BackofficeError("item_not_found")
                entries[item_id] = (_field(form, f"text-{item_id}"), _field(form, f"resolution-{item_id}"))
        if entries:
            await minutes_svc.save_draft(db_session, actor, meeting_id, version, entries)
            version += 1
        if action == "freigeben":
            settings = _settings(request)
            await minutes_svc.approve(
                db_session, FileStore(settings.files_dir), settings, actor, meeting_id, version
            )
        await db_session.commit()
    except svc.BackofficeError as exc:
        await db_session.rollback()
        if isinstance(exc, svc.NotFound) and exc.code == "meeting_not_found":
            raise NotFoundException(detail=_message(exc)) from None
        db_session.expire_all()
        context = await _minutes_context(db_session, meeting_id, error=_message(exc))
        return Template(
            template_name="backoffice/meetings/minutes.html", context=context, status_code=exc.status
        )
    jobs = getattr(request.app.state, "jobs", None)
    if action == "freigeben" and jobs is not None and _settings(request).jobs_in_process:
        jobs.wake()
    return Redirect(path=f"{BASE}/{meeting_id}/niederschrift", status_code=303)


# --- the public change log of an agenda -----------------------------------------------------------


@get("/sitzungen/{meeting_id:int}/aenderungen", name="meeting_agenda_changes", cache=False)
async def agenda_changes(meeting_id: int, db_session: AsyncSession, viewer: Viewer) -> Template:
    """Changes made after the invitation was sent (visible to whoever may see the meeting)."""
    meeting = (
        await db_session.execute(
            select(Meeting).where(Meeting.id == _check_id(meeting_id), meeting_visible(viewer))
        )
    ).scalar_one_or_none()
    if meeting is None:
        raise NotFoundException()
    changes = await meeting_changes(db_session, meeting.id, visible_only=True)
    if not (viewer.is_staff or viewer.organization_ids):
        # Residents do not see what happened to non-public items.
        changes = [c for c in changes if (c.diff or {}).get("_public") is not False]
    return Template(
        template_name="backoffice/meetings/changes.html",
        context={"meeting": meeting, "changes": changes, "action_labels": action_labels()},
    )


routes = [
    meetings_list,
    meeting_create,
    meeting_page,
    item_page,
    meeting_action,
    minutes_page,
    minutes_action,
    agenda_changes,
]
