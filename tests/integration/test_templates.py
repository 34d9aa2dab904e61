"""Every template under web/templates is rendered by some test.

One sweep requests the site's pages (anonymous and as staff, full pages, htmx fragments and error
pages) and records which templates Jinja loaded — includes, imports and base templates count. A
template the sweep does not reach must at least be named by another test that renders it directly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import BaseLoader, Environment

from council.accounts.models import Account
from council.accounts.sessions import SESSION_COOKIE, create_session
from council.live.models import EventKind, TimelineEvent
from tests.factories import make_town
from web.templating import TEMPLATE_DIR

TESTS_DIR = Path(__file__).parent.parent


class RecordingLoader(BaseLoader):
    """Delegates to the real loader and notes every template name asked for."""

    def __init__(self, inner: BaseLoader) -> None:
        self.inner = inner
        self.loaded: set[str] = set()

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        self.loaded.add(template)
        return self.inner.get_source(environment, template)

    def list_templates(self) -> list[str]:
        return self.inner.list_templates()


def all_templates() -> list[str]:
    return sorted(p.relative_to(TEMPLATE_DIR).as_posix() for p in TEMPLATE_DIR.rglob("*.html"))


def referenced_elsewhere(name: str) -> bool:
    """Whether another test file names the template (it renders it directly)."""
    me = Path(__file__).resolve()
    for path in TESTS_DIR.rglob("*.py"):
        if path.resolve() != me and name in path.read_text(encoding="utf-8", errors="replace"):
            return True
    return False


async def test_every_template_is_rendered(app: Any, client: Any, session: Any) -> None:
    env: Environment = app.template_engine.engine
    recorder = RecordingLoader(env.loader)  # type: ignore[arg-type]
    env.loader = recorder
    env.cache = None  # every load goes through the recorder, whatever rendered before

    town = await make_town(session)
    session.add(TimelineEvent(meeting_id=town.past_meeting.id, kind=EventKind.MEETING_OPENED))
    session.add(
        TimelineEvent(
            meeting_id=town.past_meeting.id,
            kind=EventKind.AGENDA_ITEM_STARTED,
            agenda_item_id=town.public_item.id,
        )
    )
    await session.commit()

    anonymous = [
        "/",
        "/kalender",
        "/kalender?monat=2026-11",
        "/sitzungen",
        "/sitzungen?zeitraum=kommende",
        f"/sitzungen/{town.past_meeting.id}",
        f"/sitzungen/{town.next_meeting.id}",
        "/vorlagen",
        f"/vorlagen/{town.paper.id}",
        "/gremien",
        f"/gremien/{town.committee.id}",
        "/personen",
        f"/personen/{town.persons[4].id}",
        "/suche",
        "/suche?q=Radweg",
        f"/dokumente/{town.public_file.id}",
        "/anmelden",
        "/mediathek",
        f"/sitzungen/{town.past_meeting.id}/video",
        f"/sitzungen/{town.past_meeting.id}/wortprotokoll",
        "/gibt-es-nicht",  # 404 page
        "/kalender?monat=2026-13",  # 400 page
    ]
    fragments = ["/sitzungen", "/vorlagen", "/personen", "/suche?q=Radweg"]
    for path in anonymous:
        r = await client.get(path)
        assert r.status_code < 500, (path, r.status_code)
    for path in fragments:
        r = await client.get(path, headers={"HX-Request": "true"})
        assert r.status_code < 500, (path, r.status_code)

    # Staff pages: a clerk's session, made directly (logging in is the accounts tests' business).
    account = Account(
        username="vorlage-clerk",
        display_name="Sitzungsdienst",
        password_hash="not-a-hash",
        roles=["clerk"],
        disabled=False,
        failed_logins=0,
    )
    session.add(account)
    await session.flush()
    token = await create_session(session, account.id)
    await session.commit()
    client.cookies.set(SESSION_COOKIE, token, domain="127.0.0.1")
    for path in (
        "/verwaltung",
        "/verwaltung/dokumente/neu",
        f"/sitzungen/{town.secret_meeting.id}",
        f"/verwaltung/sitzungen/{town.next_meeting.id}/studio",
        f"/verwaltung/sitzungen/{town.next_meeting.id}/stream",
    ):
        r = await client.get(path)
        assert r.status_code < 500, (path, r.status_code)
    client.cookies.delete(SESSION_COOKIE)

    missing = [
        name
        for name in all_templates()
        # votes/* are swept by test_vote_templates_are_rendered below (they need a poll).
        if not name.startswith("votes/") and name not in recorder.loaded and not referenced_elsewhere(name)
    ]
    assert not missing, f"templates no test renders: {missing}"
    # The public pages' own templates are all reached by the sweep itself.
    mine = [
        n
        for n in all_templates()
        if n.split("/")[0] in ("meetings", "papers", "persons", "organizations", "partials")
        or n in ("home.html", "calendar.html", "base.html", "error.html")
    ]
    assert set(mine) <= recorder.loaded, sorted(set(mine) - recorder.loaded)


async def test_vote_templates_are_rendered(app: Any, client: Any, session: Any) -> None:
    """The vote pages: the clerk's poll page, a councillor's ballot (standalone and on the device page),
    the public results and the verification page — with an open poll and with a closed one."""
    from tests.vote_helpers import cookies, make_vote_town
    from votes import service

    env: Environment = app.template_engine.engine
    recorder = RecordingLoader(env.loader)  # type: ignore[arg-type]
    env.loader = recorder
    env.cache = None

    vt = await make_vote_town(session)
    poll = await service.create_poll(session, meeting_id=vt.meeting_id, agenda_item_id=vt.item_id)
    await session.commit()
    poll_id = poll.id
    await service.open_poll(session, None, poll_id)
    member = vt.members[0]
    member_pages = [
        f"/abstimmungen/{poll_id}",
        f"/sitzungen/{vt.meeting_id}/teilnahme",
        f"/sitzungen/{vt.meeting_id}/stimmzettel",
    ]
    for path in member_pages:
        r = await client.get(path, cookies=cookies(vt.tokens[member]))
        assert r.status_code < 500, (path, r.status_code)
    answer = await service.cast_ballot(
        session, poll_id, person_id=member, account_id=vt.account_ids[member], choice="yes"
    )
    assert answer.status == 201, answer
    await service.close_poll(session, None, poll_id, hands=None)
    r = await client.get(
        f"/verwaltung/sitzungen/{vt.meeting_id}/abstimmungen", cookies=cookies(vt.clerk_token)
    )
    assert r.status_code == 200
    for path in (f"/sitzungen/{vt.meeting_id}/abstimmungen", f"/abstimmungen/{poll_id}/pruefung"):
        r = await client.get(path)
        assert r.status_code == 200, (path, r.status_code)
    votes_templates = [n for n in all_templates() if n.startswith("votes/")]
    assert set(votes_templates) <= recorder.loaded, sorted(set(votes_templates) - recorder.loaded)
