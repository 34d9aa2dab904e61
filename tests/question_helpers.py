"""Setup for the question-time tests: the vote town's council meeting (moved a week ahead of now, so
that its question time is open) with an Einwohnerfragestunde item, and a clerk with a session."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from council.core.types import utcnow
from council.records.models import AgendaItem, Meeting
from tests.vote_helpers import make_vote_town


@dataclass
class QTown:
    meeting_id: int
    item_id: int
    question_time_id: int
    clerk_token: str
    councillor_token: str


async def make_question_town(db: Any) -> QTown:
    async with db.sessionmaker() as s:
        vt = await make_vote_town(s)
        meeting = await s.get(Meeting, vt.meeting_id)
        assert meeting is not None
        meeting.start = utcnow() + timedelta(days=7)
        meeting.end = None
        qt = AgendaItem(meeting_id=meeting.id, number="2", order=2, name="Einwohnerfragestunde", public=True)
        s.add(qt)
        await s.commit()
        return QTown(vt.meeting_id, vt.item_id, qt.id, vt.clerk_token, vt.tokens[vt.members[0]])


def tracking_token(location: str) -> str:
    m = re.fullmatch(r"/fragen/([A-Za-z0-9_-]{20,100})", location)
    assert m, location
    return m.group(1)
