"""Transcript segments written directly (as the final job would) for the web and search tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council.accounts.models import Account
from council.accounts.sessions import create_session
from council.records.models import AgendaItem
from tests.factories import Town, make_town
from transcripts.models import TranscriptSegment


@dataclass
class TranscriptTown:
    town: Town
    #: Segments by a short name.
    seg: dict[str, TranscriptSegment] = field(default_factory=dict)
    clerk_token: str = ""
    clerk_account_id: int = 0
    #: A signed-in councillor who is not staff (member of the committee).
    member_token: str = ""
    secret_meeting_item_id: int = 0


async def account(
    session: AsyncSession, username: str, roles: list[str], person_id: int | None
) -> tuple[int, str]:
    row = Account(
        username=username, display_name=username, password_hash="!unusable", roles=roles, person_id=person_id
    )
    session.add(row)
    await session.flush()
    return row.id, await create_session(session, row.id)


async def make_transcript_town(session: AsyncSession) -> TranscriptTown:
    """The test town's past committee meeting (public) with a final transcript:

    * ``chair`` — the chair opens (item 1, no speaker);
    * ``radweg`` — persons[0] on the public item 2 about the Radweg;
    * ``private`` — a non-consenting speaker on item 2 (segment not public);
    * ``secret_item`` — persons[1] on the non-public item 3;
    * ``secret_meeting`` — a segment of the non-public special meeting.
    """
    town = await make_town(session)
    past = town.past_meeting
    assert past is not None and past.start is not None
    items = {
        i.number: i
        for i in (await session.execute(select(AgendaItem).where(AgendaItem.meeting_id == past.id))).scalars()
    }
    secret_item = (
        await session.execute(select(AgendaItem).where(AgendaItem.meeting_id == town.secret_meeting.id))  # type: ignore[union-attr]
    ).scalar_one()

    def seg(meeting_id: int, start: float, text: str, **kw: object) -> TranscriptSegment:
        at = past.start + timedelta(seconds=start)  # type: ignore[operator]
        return TranscriptSegment(
            meeting_id=meeting_id,
            start_s=start,
            end_s=start + 4.0,
            at=at,
            text=text,
            machine_text=text,
            source="final",
            **kw,
        )

    tt = TranscriptTown(town=town, secret_meeting_item_id=secret_item.id)
    tt.seg = {
        "chair": seg(
            past.id,
            5.0,
            "Ich eröffne die Sitzung und begrüße alle Anwesenden.",
            agenda_item_id=items["1"].id,
            speaker_role="chair",
        ),
        "radweg": seg(
            past.id,
            3725.0,
            "Die Sanierung der Radwege an der Landstraße ist dringend, die Schlaglöcher gefährden Kinder.",
            agenda_item_id=items["2"].id,
            person_id=town.persons[0].id,
            speaker_role="speaker",
        ),
        "private": seg(
            past.id,
            3790.0,
            "Ich möchte nicht aufgezeichnet werden, aber die Brückensanierung kostet zu viel.",
            agenda_item_id=items["2"].id,
            person_id=town.persons[2].id,
            speaker_role="speaker",
            public=False,
        ),
        "secret_item": seg(
            past.id,
            4000.0,
            "Der Kaufpreis für das Grundstück am Geheimweg beträgt vertraulich zwei Millionen.",
            agenda_item_id=items["3"].id,
            person_id=town.persons[1].id,
            speaker_role="speaker",
        ),
        "secret_meeting": seg(
            town.secret_meeting.id,  # type: ignore[union-attr]
            10.0,
            "In der Sondersitzung beraten wir den Tauschvertrag Kiesgrube.",
            agenda_item_id=secret_item.id,
            speaker_role="unknown",
        ),
    }
    session.add_all(tt.seg.values())
    await session.flush()
    tt.clerk_account_id, tt.clerk_token = await account(session, "clerk", ["clerk"], None)
    _, tt.member_token = await account(session, "member", [], town.persons[1].id)
    await session.commit()
    return tt
