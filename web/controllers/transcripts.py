"""Transcript pages, the clerk's corrections and the minutes draft.

Public (access-checked like every record — the meeting must be visible to the viewer, segments of
agenda items the viewer may not see are left out, and segments of non-consenting speakers are for
staff only):

* ``GET /sitzungen/{id}/wortprotokoll[?top=ID]`` — the transcript grouped by agenda item, each line
  with speaker, time and a link to that second of the video; run progress while a final run works.
* ``GET /sitzungen/{id}/wortprotokoll.vtt`` — WebVTT captions for the archive video.

Staff (``require_staff``, CSRF on the POST):

* ``GET /verwaltung/wortprotokoll/{segment_id}`` — edit form (htmx swaps it into the line);
* ``POST /verwaltung/wortprotokoll/{segment_id}`` — text and/or speaker; htmx gets the line back,
  a plain form a 303 to the line; bad input is a 400 with the message and writes nothing;
* ``GET /verwaltung/wortprotokoll/{segment_id}/versionen`` — the history;
* ``GET /verwaltung/sitzungen/{id}/protokollentwurf`` (HTML) and ``…/protokollentwurf.md``.

A correction re-indexes the segment for search in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.plugins.htmx import HTMXTemplate
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from council.records.access import ANONYMOUS, Viewer, agenda_item_visible, meeting_visible
from council.records.models import AgendaItem, Meeting, Membership, Person, meeting_organization
from web import i18n
from web.controllers.pages import parse_int
from web.errors import BadInput
from web.guards import require_staff

from transcripts import service  # isort: skip
from transcripts.minutes import minutes_draft  # isort: skip
from transcripts.models import RunState, SpeakerRole, TranscriptSegment  # isort: skip
from transcripts.search import format_time, index_segments, video_url  # isort: skip
from transcripts.webvtt import webvtt  # isort: skip

_ = i18n.gettext

MAX_ID = 2**31 - 1
#: Largest accepted correction form body (the text itself is limited by the service to 5,000 chars).
MAX_FORM_BYTES = 64 * 1024


def _check_id(value: int) -> int:
    if not (1 <= value <= MAX_ID):
        raise NotFoundException()
    return value


def _is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true" and request.headers.get("hx-boosted") != "true"


async def _visible_meeting(session: AsyncSession, viewer: Viewer, meeting_id: int) -> Meeting:
    meeting = (
        await session.execute(
            select(Meeting)
            .where(Meeting.id == _check_id(meeting_id), meeting_visible(viewer))
            .options(selectinload(Meeting.organizations))
        )
    ).scalar_one_or_none()
    if meeting is None:
        raise NotFoundException()
    return meeting


async def _visible_items(session: AsyncSession, viewer: Viewer, meeting_id: int) -> list[AgendaItem]:
    rows = await session.execute(
        select(AgendaItem)
        .where(AgendaItem.meeting_id == meeting_id, agenda_item_visible(viewer))
        .order_by(AgendaItem.order, AgendaItem.id)
    )
    return list(rows.scalars().all())


def speaker_label(seg: TranscriptSegment) -> str:
    person = getattr(seg, "person", None)
    if seg.person_id and person is not None:
        return str(person.name)
    if seg.speaker_role == SpeakerRole.CHAIR:
        return _("Vorsitz")
    return _("Unbekannt")


@dataclass
class Line:
    seg: TranscriptSegment
    speaker: str
    time: str
    video: str


@dataclass
class Group:
    item: AgendaItem | None
    lines: list[Line] = field(default_factory=list)


def _line(seg: TranscriptSegment) -> Line:
    return Line(
        seg=seg,
        speaker=speaker_label(seg),
        time=format_time(seg.start_s),
        video=video_url(seg.meeting_id, seg.start_s),
    )


async def _lines(
    session: AsyncSession, viewer: Viewer, meeting_id: int, items: list[AgendaItem], item_id: int | None
) -> list[TranscriptSegment]:
    segs = await service.segments(
        session, meeting_id, agenda_item_id=item_id, include_private=viewer.is_staff
    )
    allowed = {i.id for i in items}
    return [s for s in segs if s.agenda_item_id is None or s.agenda_item_id in allowed]


def _groups(items: list[AgendaItem], segs: list[TranscriptSegment]) -> list[Group]:
    by_item: dict[int | None, Group] = {None: Group(item=None)}
    for item in items:
        by_item[item.id] = Group(item=item)
    for seg in segs:
        by_item[seg.agenda_item_id].lines.append(_line(seg))
    ordered = [by_item[None], *(by_item[i.id] for i in items)]
    return [g for g in ordered if g.lines]


@get(
    "/sitzungen/{meeting_id:int}/wortprotokoll",
    name="transcript",
    cache=False,
    opt={"page_cache": True},
)
async def transcript_page(
    request: Request[Any, Any, Any], meeting_id: int, db_session: AsyncSession, viewer: Viewer
) -> Template:
    meeting = await _visible_meeting(db_session, viewer, meeting_id)
    items = await _visible_items(db_session, viewer, meeting.id)
    item_id = parse_int(request.query_params.get("top"), "top")
    current = None
    if item_id is not None:
        current = next((i for i in items if i.id == item_id), None)
        if current is None:
            raise NotFoundException()
    segs = await _lines(db_session, viewer, meeting.id, items, item_id)
    status = await service.run_status(db_session, meeting.id)
    return Template(
        template_name="transcripts/page.html",
        context={
            "nav": "meetings",
            "meeting": meeting,
            "items": items,
            "current": current,
            "groups": _groups(items, segs),
            "count": len(segs),
            "status": status,
            "working": status is not None and status.state in (RunState.QUEUED, RunState.RUNNING),
            "can_edit": viewer.is_staff,
        },
    )


@get("/sitzungen/{meeting_id:int}/wortprotokoll.vtt", name="transcript_vtt", cache=False)
async def transcript_vtt(meeting_id: int, db_session: AsyncSession, viewer: Viewer) -> Response[str]:
    meeting = await _visible_meeting(db_session, viewer, meeting_id)
    # Captions go with the public archive video: public items and consenting speakers only, whoever asks.
    items = await _visible_items(db_session, ANONYMOUS, meeting.id)
    segs = [s for s in await _lines(db_session, ANONYMOUS, meeting.id, items, None) if s.public]
    return Response(
        content=webvtt(segs),
        media_type="text/vtt; charset=utf-8",
        headers={"Content-Disposition": f'inline; filename="wortprotokoll-{meeting.id}.vtt"'},
    )


# --- corrections (staff) ---------------------------------------------------------------------------------


async def _segment_for_staff(session: AsyncSession, viewer: Viewer, segment_id: int) -> TranscriptSegment:
    seg = (
        await session.execute(
            select(TranscriptSegment)
            .options(selectinload(TranscriptSegment.person))
            .where(TranscriptSegment.id == _check_id(segment_id), TranscriptSegment.deleted.is_(False))
        )
    ).scalar_one_or_none()
    if seg is None:
        raise NotFoundException()
    await _visible_meeting(session, viewer, seg.meeting_id)
    return seg


async def _speaker_choices(
    session: AsyncSession, meeting: Meeting, seg: TranscriptSegment
) -> list[tuple[str, str]]:
    """(value, label): chair, unknown, then the members of the meeting's organisations (and whoever the
    segment names now, even if no longer a member)."""
    org_ids = (
        (
            await session.execute(
                select(meeting_organization.c.organization_id).where(
                    meeting_organization.c.meeting_id == meeting.id
                )
            )
        )
        .scalars()
        .all()
    )
    persons = (
        await session.execute(
            select(Person.id, Person.name)
            .join(Membership, Membership.person_id == Person.id)
            .where(
                Membership.organization_id.in_(list(org_ids)),
                Person.deleted.is_(False),
                Membership.deleted.is_(False),
            )
            .distinct()
            .order_by(Person.name)
        )
    ).all()
    choices = [("chair", _("Vorsitz")), ("unknown", _("Unbekannt"))]
    seen = set()
    for pid, name in persons:
        seen.add(pid)
        choices.append((f"p{pid}", name))
    if seg.person_id and seg.person_id not in seen and seg.person is not None:
        choices.append((f"p{seg.person_id}", seg.person.name))
    return choices


def _current_choice(seg: TranscriptSegment) -> str:
    if seg.person_id:
        return f"p{seg.person_id}"
    return "chair" if seg.speaker_role == SpeakerRole.CHAIR else "unknown"


async def _edit_context(
    session: AsyncSession, viewer: Viewer, seg: TranscriptSegment, **extra: Any
) -> dict[str, Any]:
    meeting = await _visible_meeting(session, viewer, seg.meeting_id)
    return {
        "meeting": meeting,
        "line": _line(seg),
        "choices": await _speaker_choices(session, meeting, seg),
        "current_choice": _current_choice(seg),
        "can_edit": True,
        **extra,
    }


@get(
    "/verwaltung/wortprotokoll/{segment_id:int}", name="transcript_edit", guards=[require_staff], cache=False
)
async def edit_segment(
    request: Request[Any, Any, Any], segment_id: int, db_session: AsyncSession, viewer: Viewer
) -> Template:
    seg = await _segment_for_staff(db_session, viewer, segment_id)
    context = await _edit_context(db_session, viewer, seg)
    if _is_htmx(request):
        return HTMXTemplate(template_name="transcripts/_edit.html", context=context)
    return Template(template_name="transcripts/edit.html", context=context)


def _parse_speaker(raw: str | None) -> tuple[int | None, str | None]:
    """Form value → (person_id, speaker_role) for ``correct_segment``."""
    if raw is None or raw == "":
        return None, None
    if raw in ("chair", "unknown"):
        return None, raw
    if raw.startswith("p") and 2 <= len(raw) <= 11 and raw[1:].isascii() and raw[1:].isdigit():
        return int(raw[1:]), None
    raise BadInput(detail=_("Unbekannte Auswahl für den Redner."))


@post(
    "/verwaltung/wortprotokoll/{segment_id:int}",
    name="transcript_correct",
    guards=[require_staff],
    cache=False,
)
async def correct_segment(
    request: Request[Any, Any, Any], segment_id: int, db_session: AsyncSession, viewer: Viewer
) -> Any:
    seg = await _segment_for_staff(db_session, viewer, segment_id)
    length = int(request.headers.get("content-length") or 0)
    if length > MAX_FORM_BYTES:
        raise BadInput(detail=_("Die Korrektur ist zu lang (höchstens 5000 Zeichen)."))
    form = await request.form()
    text = form.get("text")
    text = text if isinstance(text, str) else None
    speaker = form.get("speaker")
    person_id, role = _parse_speaker(speaker if isinstance(speaker, str) else None)
    note = form.get("note")
    note = note if isinstance(note, str) and note.strip() else None
    if person_id is not None and person_id == seg.person_id:
        person_id = None  # unchanged
    if role is not None and role == seg.speaker_role and not seg.person_id:
        role = None  # unchanged
    if text is not None and text.strip() == seg.text and person_id is None and role is None:
        text = None
    error: str | None = None
    if text is None and person_id is None and role is None:
        error = None  # nothing changed: show the line as it is
    else:
        try:
            await service.correct_segment(
                db_session,
                seg.id,
                text=text,
                person_id=person_id,
                speaker_role=role,
                editor_id=viewer.account_id,
                note=note,
            )
            await index_segments(db_session, [seg.id])
            await db_session.commit()
        except ValueError as exc:
            await db_session.rollback()
            error = str(exc)
        except service.SegmentNotFound:
            await db_session.rollback()
            raise NotFoundException() from None
    db_session.expire_all()
    seg = await _segment_for_staff(db_session, viewer, segment_id)
    if not _is_htmx(request):
        if error:
            raise BadInput(detail=error)
        return Redirect(path=f"/sitzungen/{seg.meeting_id}/wortprotokoll#s-{seg.id}", status_code=303)
    if error:
        context = await _edit_context(db_session, viewer, seg, error=error, text_value=text)
        return HTMXTemplate(template_name="transcripts/_edit.html", context=context, status_code=400)
    return HTMXTemplate(
        template_name="transcripts/_line.html", context={"line": _line(seg), "can_edit": True}
    )


@get(
    "/verwaltung/wortprotokoll/{segment_id:int}/versionen",
    name="transcript_history",
    guards=[require_staff],
    cache=False,
)
async def segment_history(segment_id: int, db_session: AsyncSession, viewer: Viewer) -> Template:
    seg = await _segment_for_staff(db_session, viewer, segment_id)
    meeting = await _visible_meeting(db_session, viewer, seg.meeting_id)
    revs = await service.revisions(db_session, seg.id)
    person_ids = {r.person_id for r in revs if r.person_id}
    names = (
        dict(
            (await db_session.execute(select(Person.id, Person.name).where(Person.id.in_(person_ids)))).all()
        )
        if person_ids
        else {}
    )
    from council.accounts.models import Account

    editor_ids = {r.editor for r in revs if r.editor}
    editors = (
        dict(
            (
                await db_session.execute(
                    select(Account.id, Account.display_name).where(Account.id.in_(editor_ids))
                )
            ).all()
        )
        if editor_ids
        else {}
    )
    rows = []
    for r in reversed(revs):
        if r.person_id:
            who = names.get(r.person_id, "?")
        else:
            who = _("Vorsitz") if r.speaker_role == SpeakerRole.CHAIR else _("Unbekannt")
        rows.append({"rev": r, "speaker": who, "editor": editors.get(r.editor) if r.editor else None})
    return Template(
        template_name="transcripts/history.html",
        context={"meeting": meeting, "line": _line(seg), "rows": rows},
    )


# --- minutes draft (staff) ---------------------------------------------------------------------------------


@get(
    "/verwaltung/sitzungen/{meeting_id:int}/protokollentwurf",
    name="minutes_draft",
    guards=[require_staff],
    cache=False,
)
async def minutes_page(meeting_id: int, db_session: AsyncSession, viewer: Viewer) -> Template:
    meeting = await _visible_meeting(db_session, viewer, meeting_id)
    draft = await minutes_draft(db_session, meeting.id, include_private=True)
    return Template(
        template_name="transcripts/minutes.html",
        context={"meeting": meeting, "draft": draft, "format_time": format_time},
    )


@get(
    "/verwaltung/sitzungen/{meeting_id:int}/protokollentwurf.md",
    name="minutes_markdown",
    guards=[require_staff],
    cache=False,
)
async def minutes_markdown(meeting_id: int, db_session: AsyncSession, viewer: Viewer) -> Response[str]:
    meeting = await _visible_meeting(db_session, viewer, meeting_id)
    draft = await minutes_draft(db_session, meeting.id, include_private=True)
    return Response(
        content=draft.to_markdown(),
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="protokollentwurf-{meeting.id}.md"'},
    )


routes: list[Any] = [
    transcript_page,
    transcript_vtt,
    edit_segment,
    correct_segment,
    segment_history,
    minutes_page,
    minutes_markdown,
]


#: Live captions shown on the meeting page after a reload.
RECENT_CAPTIONS = 6


async def recent_captions(session: AsyncSession, viewer: Viewer, meeting_id: int) -> list[dict[str, Any]]:
    """The last few public live captions of a meeting (the meeting page renders them server-side)."""
    items = {i.id for i in await _visible_items(session, viewer, meeting_id)}
    rows = (
        await session.execute(
            select(TranscriptSegment.text, TranscriptSegment.agenda_item_id, Person.name)
            .outerjoin(Person, Person.id == TranscriptSegment.person_id)
            .where(
                TranscriptSegment.meeting_id == meeting_id,
                TranscriptSegment.source == "live",
                TranscriptSegment.public.is_(True),
                TranscriptSegment.deleted.is_(False),
            )
            .order_by(TranscriptSegment.start_s.desc(), TranscriptSegment.id.desc())
            .limit(RECENT_CAPTIONS * 2)
        )
    ).all()
    shown = [
        {"text": text, "speaker": name} for text, item_id, name in rows if item_id is None or item_id in items
    ][:RECENT_CAPTIONS]
    return list(reversed(shown))
