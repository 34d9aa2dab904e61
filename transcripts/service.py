"""Queries and corrections of transcripts: the API the web pages use.

Visibility of the meeting and agenda item (non-public meetings are for members and staff) is the
caller's check (``council.records.access``), as for every record; here ``include_private`` only decides
about segments spoken by someone who did not consent to publication (``public=False``), which only
staff may read.

Functions flush; the caller commits (one transaction per request).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from council.core.jobs import Job, enqueue
from council.core.types import utcnow
from council.records.models import Meeting, Person
from transcripts.items import done_spans
from transcripts.jobs import FINAL_KIND
from transcripts.models import (
    RunState,
    SegmentRevision,
    SegmentSource,
    SpeakerRole,
    TranscriptRun,
    TranscriptSegment,
)

MAX_TEXT = 5000
MAX_NOTE = 1000


class SegmentNotFound(LookupError):
    """No such (undeleted) segment."""


async def shown_source(session: AsyncSession, meeting_id: int) -> str:
    """Which segments a meeting shows: the final transcript once its run is done and found speech,
    the live captions before (and if the final run found nothing)."""
    state = (
        await session.execute(select(TranscriptRun.state).where(TranscriptRun.meeting_id == meeting_id))
    ).scalar_one_or_none()
    if state == RunState.DONE:
        has_final = (
            await session.execute(
                select(TranscriptSegment.id)
                .where(
                    TranscriptSegment.meeting_id == meeting_id,
                    TranscriptSegment.source == SegmentSource.FINAL,
                    TranscriptSegment.deleted.is_(False),
                )
                .limit(1)
            )
        ).scalar_one_or_none()
        if has_final is not None:
            return SegmentSource.FINAL
    return SegmentSource.LIVE


async def segments(
    session: AsyncSession,
    meeting_id: int,
    *,
    agenda_item_id: int | None = None,
    include_private: bool = False,
    source: str | None = None,
) -> list[TranscriptSegment]:
    """The meeting's transcript in time order, with ``person`` (``speaker_name``) and ``agenda_item``
    loaded. ``source`` None: what the meeting shows (``shown_source``)."""
    src = source or await shown_source(session, meeting_id)
    stmt = (
        select(TranscriptSegment)
        .options(selectinload(TranscriptSegment.person), selectinload(TranscriptSegment.agenda_item))
        .where(
            TranscriptSegment.meeting_id == meeting_id,
            TranscriptSegment.deleted.is_(False),
        )
        .order_by(TranscriptSegment.start_s, TranscriptSegment.id)
    )
    spans = await done_spans(session, meeting_id) if src == SegmentSource.LIVE else []
    if not spans:
        stmt = stmt.where(TranscriptSegment.source == src)
    else:
        # agenda items already published with final text while the stream ran (transcripts.items)
        stmt = stmt.where(
            or_(
                TranscriptSegment.source == SegmentSource.LIVE,
                and_(
                    TranscriptSegment.source == SegmentSource.FINAL,
                    or_(
                        *[
                            and_(TranscriptSegment.start_s >= a - 0.01, TranscriptSegment.start_s < b)
                            for a, b in spans
                        ]
                    ),
                ),
            )
        )
    if agenda_item_id is not None:
        stmt = stmt.where(TranscriptSegment.agenda_item_id == agenda_item_id)
    if not include_private:
        stmt = stmt.where(TranscriptSegment.public.is_(True))
    return list((await session.execute(stmt)).scalars().all())


def clean_text(text: str, *, limit: int = MAX_TEXT, what: str = "Der Text") -> str:
    """Validated, NFC-normalised text; ValueError with a German message otherwise."""
    if "\x00" in text:
        raise ValueError(f"{what} enthält ein Nullzeichen.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} enthält ungültige Zeichen.") from None
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text):
        raise ValueError(f"{what} enthält Steuerzeichen.")
    text = unicodedata.normalize("NFC", text).strip()
    if len(text) > limit:
        raise ValueError(f"{what} ist zu lang (höchstens {limit} Zeichen).")
    return text


async def correct_segment(
    session: AsyncSession,
    segment_id: int,
    *,
    text: str | None = None,
    person_id: int | None = None,
    speaker_role: str | None = None,
    editor_id: int | None,
    note: str | None = None,
) -> TranscriptSegment:
    """Correct a segment's text and/or speaker; every version is kept as a SegmentRevision.

    ``None`` means "unchanged". Setting ``person_id`` makes the role ``speaker``; setting the role to
    ``chair`` or ``unknown`` clears the person. Raises ValueError (German message) on bad input and
    SegmentNotFound if there is no such segment. Flushes; the caller commits.
    """
    seg = (
        await session.execute(
            select(TranscriptSegment).where(
                TranscriptSegment.id == segment_id, TranscriptSegment.deleted.is_(False)
            )
        )
    ).scalar_one_or_none()
    if seg is None:
        raise SegmentNotFound(segment_id)
    if text is None and person_id is None and speaker_role is None:
        raise ValueError("Keine Änderung angegeben.")
    new_text = seg.text
    if text is not None:
        new_text = clean_text(text)
        if not new_text:
            raise ValueError("Der Text darf nicht leer sein.")
    new_note = clean_text(note, limit=MAX_NOTE, what="Die Anmerkung") if note else None
    new_person, new_role = seg.person_id, seg.speaker_role
    if speaker_role is not None:
        if speaker_role not in {r.value for r in SpeakerRole}:
            raise ValueError("Unbekannte Sprecherrolle.")
        new_role = speaker_role
        if speaker_role != SpeakerRole.SPEAKER:
            new_person = None
    if person_id is not None:
        if speaker_role is not None and speaker_role != SpeakerRole.SPEAKER:
            raise ValueError("Eine Person kann nur mit der Rolle „Redner/in“ angegeben werden.")
        if await session.get(Person, person_id) is None:
            raise ValueError("Unbekannte Person.")
        new_person, new_role = person_id, SpeakerRole.SPEAKER
    if new_role == SpeakerRole.SPEAKER and new_person is None:
        raise ValueError("Für die Rolle „Redner/in“ muss eine Person angegeben werden.")
    if (new_text, new_person, new_role) == (seg.text, seg.person_id, seg.speaker_role):
        return seg
    has_history = (
        await session.execute(select(SegmentRevision.id).where(SegmentRevision.segment_id == seg.id).limit(1))
    ).scalar_one_or_none()
    now = utcnow()
    if has_history is None:  # keep the machine's version as version 1 (or whatever came before)
        session.add(
            SegmentRevision(
                segment_id=seg.id,
                version=seg.version,
                text=seg.text,
                person_id=seg.person_id,
                speaker_role=seg.speaker_role,
                editor=None,
                at=seg.modified or now,
                note=None,
            )
        )
    seg.version += 1
    seg.text, seg.person_id, seg.speaker_role = new_text, new_person, str(new_role)
    seg.corrected = True
    session.add(
        SegmentRevision(
            segment_id=seg.id,
            version=seg.version,
            text=new_text,
            person_id=new_person,
            speaker_role=str(new_role),
            editor=editor_id,
            at=now,
            note=new_note,
        )
    )
    await session.flush()
    return seg


async def revisions(session: AsyncSession, segment_id: int) -> list[SegmentRevision]:
    """Every version of a segment, oldest first (empty if it was never corrected)."""
    return list(
        (
            await session.execute(
                select(SegmentRevision)
                .where(SegmentRevision.segment_id == segment_id)
                .order_by(SegmentRevision.version)
            )
        )
        .scalars()
        .all()
    )


@dataclass(frozen=True)
class RunStatus:
    state: str
    chunks_done: int
    chunks_total: int | None
    #: 0..1 (from the job's progress while it runs).
    progress: float
    message: str | None
    duration_s: float | None
    job_id: int | None
    started: datetime | None
    finished: datetime | None


async def run_status(session: AsyncSession, meeting_id: int) -> RunStatus | None:
    """The final transcription's state for the meeting (None if none was ever requested)."""
    run = (
        await session.execute(select(TranscriptRun).where(TranscriptRun.meeting_id == meeting_id))
    ).scalar_one_or_none()
    if run is None:
        return None
    progress = 1.0 if run.state in (RunState.DONE, RunState.EMPTY) else 0.0
    if run.state in (RunState.RUNNING, RunState.QUEUED) and run.job_id is not None:
        job = await session.get(Job, run.job_id)
        if job is not None:
            progress = float(job.progress or 0.0)
    return RunStatus(
        state=run.state,
        chunks_done=run.chunks_done,
        chunks_total=run.chunks_total,
        progress=progress,
        message=run.message,
        duration_s=run.duration_s,
        job_id=run.job_id,
        started=run.started,
        finished=run.finished,
    )


async def enqueue_final(
    session: AsyncSession,
    meeting_id: int,
    media_path: str | Path,
    started_at: datetime,
    *,
    force: bool = False,
    hotwords: str | None = None,
) -> Job:
    """Queue the final transcription of a recording (``started_at``: wall clock of media second 0).

    Idempotent: while a run for the meeting is queued or running, its job is returned. Flushes; commit,
    then wake the job runner. ValueError (German) for an unknown meeting or a naive ``started_at``.
    """
    if await session.get(Meeting, meeting_id) is None:
        raise ValueError("Unbekannte Sitzung.")
    if started_at.tzinfo is None:
        raise ValueError("Der Beginn der Aufnahme braucht eine Zeitzone.")
    run = (
        await session.execute(select(TranscriptRun).where(TranscriptRun.meeting_id == meeting_id))
    ).scalar_one_or_none()
    if run is not None and run.job_id is not None and run.state in (RunState.QUEUED, RunState.RUNNING):
        existing = await session.get(Job, run.job_id)
        if existing is not None and existing.state in ("queued", "running"):
            return existing
    payload = {
        "meeting_id": meeting_id,
        "media_path": str(media_path),
        "started_at": started_at.astimezone(UTC).isoformat(),
        "force": force,
    }
    if hotwords:
        payload["hotwords"] = hotwords
    job = enqueue(session, FINAL_KIND, payload)
    await session.flush()
    if run is None:
        run = TranscriptRun(meeting_id=meeting_id, chunks_done=0, resume_s=0.0)
        session.add(run)
    if run.state != RunState.RUNNING or force:  # a running run keeps its checkpoint to resume from
        run.state = RunState.QUEUED
        run.message = None
    run.job_id = job.id
    await session.flush()
    return job
