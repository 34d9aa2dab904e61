"""Round trip: export the demo through Rathaus' own OParl API, import it into an empty database.

The importer talks HTTP to the demo app in-process through the test client's transport (no socket, no
network). Not ``httpx.ASGITransport``: that would run the app's handlers on this test's event loop while
the app's database pool belongs to the test client's portal loop — asyncpg used from two threads at once
crashed the interpreter (a segmentation fault) under load.
the API's URLs use the demo's ``base_url``, so every id, list link and download stays on that host.
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing.transport import TestClientTransport
from sqlalchemy import select
from sqlalchemy.orm import aliased

from council.oparl.importer import ImportOptions, import_oparl
from council.records.access import (
    ANONYMOUS,
    agenda_item_visible,
    file_visible,
    meeting_visible,
    paper_visible,
)
from council.records.models import (
    AgendaItem,
    Consultation,
    File,
    Meeting,
    Membership,
    Organization,
    Paper,
    Person,
)

try:  # the API room (web/controllers/oparl.py) is written in parallel
    from web.controllers import oparl as _api

    API = hasattr(_api, "oparl_system")
except ImportError:  # pragma: no cover
    API = False

pytestmark = pytest.mark.skipif(
    not API, reason="needs the OParl API (/oparl/v1/system in web/controllers/oparl.py)"
)


class _PortalTransport(TestClientTransport[Any]):
    """The test client's transport (requests run on the app's own loop), closable by the importer."""

    async def aclose(self) -> None:
        """The test client owns the app and its loop; nothing to close here."""


async def _snapshot(db: Any, source: bool) -> dict[str, set[Any]]:
    """Comparable tuples of what the public API shows (source) / what was imported."""
    out: dict[str, set[Any]] = {}
    async with db.sessionmaker() as s:

        async def rows(stmt: Any) -> set[Any]:
            return {tuple(r) for r in (await s.execute(stmt)).all()}

        meeting_where = [meeting_visible(ANONYMOUS)] if source else [Meeting.deleted.is_(False)]
        out["meeting"] = await rows(
            select(Meeting.name, Meeting.start, Meeting.end, Meeting.cancelled, Meeting.meeting_state).where(
                *meeting_where
            )
        )
        held = aliased(Meeting)
        item_where = [agenda_item_visible(ANONYMOUS)] if source else [AgendaItem.deleted.is_(False)]
        out["agenda_item"] = await rows(
            select(held.start, AgendaItem.number, AgendaItem.name, AgendaItem.result, AgendaItem.public)
            .join(held, held.id == AgendaItem.meeting_id)
            .where(*item_where)
        )
        paper_where = [paper_visible(ANONYMOUS)] if source else [Paper.deleted.is_(False)]
        out["paper"] = await rows(
            select(Paper.reference, Paper.name, Paper.date, Paper.paper_type).where(*paper_where)
        )
        out["consultation"] = await rows(
            select(Paper.reference, Consultation.role, Consultation.authoritative)
            .join(Paper, Paper.id == Consultation.paper_id)
            .where(*paper_where, Consultation.deleted.is_(False))
        )
        out["person"] = await rows(
            select(Person.name, Person.given_name, Person.family_name).where(Person.deleted.is_(False))
        )
        out["organization"] = await rows(
            select(Organization.name, Organization.short_name, Organization.organization_type).where(
                Organization.deleted.is_(False)
            )
        )
        out["membership"] = await rows(
            select(
                Person.name, Organization.name, Membership.role, Membership.start_date, Membership.end_date
            )
            .join(Person, Person.id == Membership.person_id)
            .join(Organization, Organization.id == Membership.organization_id)
            .where(Membership.deleted.is_(False), Person.deleted.is_(False))
        )
        file_where = [file_visible(ANONYMOUS)] if source else [File.deleted.is_(False)]
        out["file"] = await rows(select(File.name, File.sha512, File.size).where(*file_where))
    return out


async def test_round_trip_demo(
    demo_app: Any, demo_client: Any, demo_db: Any, demo_settings: Any, db: Any, settings: Any
):
    # demo_client has started the demo app (lifespan); the transport below reuses it in-process.
    transport = _PortalTransport(client=demo_client, raise_server_exceptions=True, root_path="")
    endpoint = demo_settings.base_url.rstrip("/") + "/oparl/v1/system"
    report = await import_oparl(
        db, settings, endpoint, ImportOptions(extract="none", backoff=0.01), transport=transport
    )
    assert report.complete, report.summary()
    assert report.error is None
    unexpected = report.warnings
    assert unexpected == [], "\n".join(map(str, unexpected[:20]))

    source = await _snapshot(demo_db, source=True)
    imported = await _snapshot(db, source=False)
    for kind in source:
        assert source[kind], f"demo has no public {kind}"
        missing = source[kind] - imported[kind]
        extra = imported[kind] - source[kind]
        assert not missing and not extra, f"{kind}: missing {list(missing)[:3]} extra {list(extra)[:3]}"

    # the source's ids are kept for round-tripping: origin_id is the API URL of the same record
    async with demo_db.sessionmaker() as s:
        demo_papers = {
            p.reference: p.id
            for p in (await s.execute(select(Paper).where(paper_visible(ANONYMOUS)))).scalars()
        }
    async with db.sessionmaker() as s:
        for paper in (await s.execute(select(Paper))).scalars():
            assert (
                paper.origin_id
                == f"{demo_settings.base_url.rstrip('/')}/oparl/v1/paper/{demo_papers[paper.reference]}"
            )
            assert paper.web  # the source's HTML page

    # and again: nothing changes
    again = await import_oparl(
        db, settings, endpoint, ImportOptions(extract="none", full=True), transport=transport
    )
    assert again.complete and not again.created and not again.updated and not again.deleted, again.summary()
    assert again.files_downloaded == 0
