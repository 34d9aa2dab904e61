"""Saved searches with alerts on the real database and a real SMTP sink (aiosmtpd): new matches since
the last digest under a controlled clock, access by the owner's Viewer (non-public never reaches a
resident), the private feed token, double opt-in and unsubscribe, hostile input and rate limits."""

from __future__ import annotations

import email
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email import policy
from typing import Any

import pytest
from sqlalchemy import func, select

from council.alerts import service
from council.alerts.models import SavedSearch, SavedSearchHit
from council.core.settings import Settings
from council.records.models import Paper
from council.search.indexer import index_papers, reindex_all
from tests.factories import Town, make_town
from tests.vote_helpers import _account, cookies, csrf

#: Rendered here (test_templates looks for the names): alerts/manage.html, alerts/confirm.html,
#: alerts/unsubscribe.html.
T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


@dataclass
class AlertTown:
    town: Town
    member_id: int  # committee member: may see the secret paper
    member_token: str
    outsider_id: int  # council member outside the committee: may not
    outsider_token: str


async def _alert_town(db: Any) -> AlertTown:
    async with db.sessionmaker() as s:
        town = await make_town(s)
        await reindex_all(s)
        mid, mtok = await _account(s, "anna", ["councillor"], town.persons[0].id)
        oid, otok = await _account(s, "oezlem", ["councillor"], town.persons[2].id)
        await s.commit()
    return AlertTown(town, mid, mtok, oid, otok)


async def _add_papers(db: Any, town: Town, *, public_name: str, secret_name: str) -> tuple[int, int]:
    """A new public and a new non-public paper (the latter consulted like the town's secret paper)."""
    async with db.sessionmaker() as s:
        pub = Paper(body_id=town.body.id, name=public_name, date=date(2026, 11, 21), public=True)
        sec = Paper(body_id=town.body.id, name=secret_name, date=date(2026, 11, 21), public=False)
        s.add_all([pub, sec])
        await s.flush()
        from council.records.models import Consultation, consultation_organization

        c = Consultation(paper_id=sec.id, meeting_id=town.past_meeting.id, role="Entscheidung")  # type: ignore[union-attr]
        s.add(c)
        await s.flush()
        await s.execute(
            consultation_organization.insert().values(consultation_id=c.id, organization_id=town.committee.id)
        )
        await index_papers(s, [pub.id, sec.id])
        await s.commit()
        return pub.id, sec.id


class Outbox:
    def __init__(self) -> None:
        self.mails: list[tuple[str, str, str]] = []

    async def __call__(self, settings: Settings, to: str, subject: str, body: str) -> bool:
        self.mails.append((to, subject, body))
        return True


async def test_digest_new_matches_since_last_digest(db: Any, settings: Settings) -> None:
    at = await _alert_town(db)
    async with db.sessionmaker() as s:
        member = await _viewer(s, at.member_id)
        outsider = await _viewer(s, at.outsider_id)
        # saved before the new papers exist: today's matches are the baseline, never mailed
        m = await service.create_for_account(s, member, "Geheimweg", email="anna@example.org", now=T0)
        o = await service.create_for_account(s, outsider, "Geheimweg", email="oez@example.org", now=T0)
        r = await service.create_public(s, "Geheimweg", "resi@example.org", now=T0)
        r2 = await service.create_public(s, "Radweg", "resi@example.org", now=T0)
        for c in (m, o, r, r2):
            c.saved.email_confirmed = T0
        await s.commit()
        baseline = await s.scalar(
            select(func.count())
            .select_from(SavedSearchHit)
            .where(SavedSearchHit.saved_search_id == m.saved.id)
        )
        assert baseline and baseline >= 1  # the town's secret paper (the member may see it)

    outbox = Outbox()
    async with db.sessionmaker() as s:
        run = await service.run_digest(s, settings, T0 + timedelta(hours=1), send=outbox)
        await s.commit()
    assert run.mails == 0 and outbox.mails == []  # nothing new since saving

    pub_id, sec_id = await _add_papers(
        db, at.town, public_name="Neubau eines Radwegs am Geheimweg", secret_name="Geheimweg 9: Vorkaufsrecht"
    )
    t1 = T0 + timedelta(days=1)
    async with db.sessionmaker() as s:
        run = await service.run_digest(s, settings, t1, send=outbox)
        await s.commit()
    by_to = {to: body for to, _subj, body in outbox.mails}
    assert set(by_to) == {"anna@example.org", "oez@example.org", "resi@example.org"}
    # the committee member gets both new papers; the outsider and the resident only the public one
    assert (
        f"/vorlagen/{pub_id}" in by_to["anna@example.org"]
        and f"/vorlagen/{sec_id}" in by_to["anna@example.org"]
    )
    for to in ("oez@example.org", "resi@example.org"):
        assert f"/vorlagen/{pub_id}" in by_to[to]
        assert f"/vorlagen/{sec_id}" not in by_to[to] and "Vorkaufsrecht" not in by_to[to]
    # one mail for both of the resident's searches, each with its own unsubscribe link
    assert len([t for t, _s, _b in outbox.mails if t == "resi@example.org"]) == 1
    assert by_to["resi@example.org"].count("/benachrichtigungen/abbestellen/") == 2
    async with db.sessionmaker() as s:
        saved = await s.get(SavedSearch, m.saved.id)
        assert saved is not None and saved.last_digest == t1

    # the next day: nothing new, nothing mailed again
    outbox.mails.clear()
    async with db.sessionmaker() as s:
        run = await service.run_digest(s, settings, t1 + timedelta(days=1), send=outbox)
        await s.commit()
    assert run.mails == 0 and outbox.mails == []

    # a failed mail is retried the next run (its matches were not remembered)
    await _add_papers(db, at.town, public_name="Radweg Nord", secret_name="Geheimweg 11")

    async def fail(*_a: Any) -> bool:
        return False

    async with db.sessionmaker() as s:
        run = await service.run_digest(s, settings, t1 + timedelta(days=2), send=fail)
        await s.commit()
    assert run.failed == 2 and run.mails == 0  # the member (Geheimweg 11) and the resident
    async with db.sessionmaker() as s:
        run = await service.run_digest(s, settings, t1 + timedelta(days=3), send=outbox)
        await s.commit()
    assert run.mails == 2


async def _viewer(s: Any, account_id: int) -> Any:
    from council.accounts.models import Account
    from council.accounts.service import viewer_for_account

    return await viewer_for_account(s, await s.get(Account, account_id), today=date(2026, 11, 20))


async def test_unconfirmed_and_disabled_get_nothing(db: Any, settings: Settings) -> None:
    at = await _alert_town(db)
    async with db.sessionmaker() as s:
        await service.create_public(s, "Radweg", "nobody@example.org", now=T0)  # never confirmed
        member = await _viewer(s, at.member_id)
        c = await service.create_for_account(s, member, "Geheimweg", email="anna@example.org", now=T0)
        c.saved.email_confirmed = T0
        from council.accounts.models import Account

        acc = await s.get(Account, at.member_id)
        acc.disabled = True
        await s.commit()
    await _add_papers(db, at.town, public_name="Radweg Süd", secret_name="Geheimweg 13")
    outbox = Outbox()
    async with db.sessionmaker() as s:
        run = await service.run_digest(s, settings, T0 + timedelta(days=1), send=outbox)
        purged = await service.purge_unconfirmed(s, T0 + timedelta(days=8))
        await s.commit()
    assert outbox.mails == [] and run.mails == 0
    assert purged == 1


# --- over HTTP ----------------------------------------------------------------------------------------


def _feed_items(body: bytes) -> list[str]:
    root = ET.fromstring(body)
    return [el.findtext("link") or "" for el in root.iter("item")]


async def test_feed_token_and_manage_page(client: Any, db: Any, settings: Settings) -> None:
    at = await _alert_town(db)
    token = await csrf(client, at.member_token, path="/benachrichtigungen")
    r = await client.post(
        "/benachrichtigungen",
        data={"_csrf_token": token, "query": "Geheimweg"},
        cookies=cookies(at.member_token),
    )
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    m = re.search(r'value="(http[^"]+/benachrichtigungen/feed/([A-Za-z0-9_-]+))"', r.text)
    assert m
    feed_path = m.group(1).split("://", 1)[1].split("/", 1)[1]
    async with db.sessionmaker() as s:
        saved = (await s.execute(select(SavedSearch))).scalar_one()
        assert saved.feed_token_hash and m.group(2) not in saved.feed_token_hash  # only the hash is stored
        assert saved.feed_token_hash == service.token_hash(m.group(2))
    client.cookies.clear()
    feed = await client.get("/" + feed_path)
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("application/rss+xml")
    links = _feed_items(feed.content)
    assert any(f"/vorlagen/{at.town.secret_paper.id}" in u for u in links)  # type: ignore[union-attr]
    # unknown or malformed tokens
    assert (await client.get("/benachrichtigungen/feed/" + "x" * 43)).status_code == 404
    assert (await client.get("/benachrichtigungen/feed/%3Cscript%3E")).status_code == 404
    # the manage page lists it; another account cannot touch it
    page = await client.get("/benachrichtigungen", cookies=cookies(at.member_token))
    assert "„Geheimweg“" in page.text
    otoken = await csrf(client, at.outsider_token, path="/benachrichtigungen")
    r = await client.post(
        f"/benachrichtigungen/{saved.id}/loeschen",
        data={"_csrf_token": otoken},
        cookies=cookies(at.outsider_token),
    )
    assert r.status_code == 404
    # a new feed token: the old URL stops working
    token = await csrf(client, at.member_token, path="/benachrichtigungen")
    r = await client.post(
        f"/benachrichtigungen/{saved.id}/feed", data={"_csrf_token": token}, cookies=cookies(at.member_token)
    )
    assert r.status_code == 200
    client.cookies.clear()
    assert (await client.get("/" + feed_path)).status_code == 404
    new = re.search(r'value="http[^"]+(/benachrichtigungen/feed/[A-Za-z0-9_-]+)"', r.text)
    assert new and (await client.get(new.group(1))).status_code == 200
    # the owner loses access (account disabled): the feed goes dark
    async with db.sessionmaker() as s:
        from council.accounts.models import Account

        acc = await s.get(Account, at.member_id)
        acc.disabled = True
        await s.commit()
    assert (await client.get(new.group(1))).status_code == 404
    # delete (CSRF required)
    assert (
        await client.post(f"/benachrichtigungen/{saved.id}/loeschen", cookies=cookies(at.outsider_token))
    ).status_code == 403


async def test_outsider_feed_has_no_secret(client: Any, db: Any) -> None:
    at = await _alert_town(db)
    token = await csrf(client, at.outsider_token, path="/benachrichtigungen")
    r = await client.post(
        "/benachrichtigungen",
        data={"_csrf_token": token, "query": "Geheimweg"},
        cookies=cookies(at.outsider_token),
    )
    m = re.search(r'value="http[^"]+(/benachrichtigungen/feed/[A-Za-z0-9_-]+)"', r.text)
    assert m
    client.cookies.clear()
    feed = await client.get(m.group(1))
    assert feed.status_code == 200
    assert "Geheimweg" not in "".join(_feed_items(feed.content)) and b"Kaufpreis" not in feed.content
    assert not any(f"/vorlagen/{at.town.secret_paper.id}" in u for u in _feed_items(feed.content))  # type: ignore[union-attr]


@pytest.fixture
def smtp_sink(settings: Settings) -> Iterator[list[Any]]:
    from aiosmtpd.controller import Controller

    from tests.integration.vote_server import free_port

    messages: list[Any] = []

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            messages.append(envelope)
            return "250 OK"

    port = free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    settings.smtp_host, settings.smtp_port = "127.0.0.1", port
    try:
        yield messages
    finally:
        controller.stop()


def _mail_text(envelope: Any) -> str:
    msg = email.message_from_bytes(envelope.content, policy=policy.default)
    return str(msg["Subject"]) + "\n" + msg.get_content()  # type: ignore[attr-defined]


async def test_resident_double_optin_digest_unsubscribe(
    client: Any, db: Any, settings: Settings, smtp_sink: list[Any]
) -> None:
    at = await _alert_town(db)
    token = await csrf(client, path="/benachrichtigungen")
    page = await client.get("/benachrichtigungen")
    assert "Ihre E-Mail-Adresse" in page.text
    r = await client.post(
        "/benachrichtigungen", data={"_csrf_token": token, "query": "Geheimweg", "email": "resi@example.org"}
    )
    assert r.status_code == 200 and 'id="alert-sent"' in r.text and "/feed/" not in r.text
    assert len(smtp_sink) == 1 and smtp_sink[0].rcpt_tos == ["resi@example.org"]
    link = re.search(r"/benachrichtigungen/bestaetigen/([A-Za-z0-9_-]+)", _mail_text(smtp_sink[0]))
    assert link
    # not confirmed yet: the digest skips it
    await _add_papers(db, at.town, public_name="Geheimweg wird Radweg", secret_name="Geheimweg 9 Kaufpreis")
    async with db.sessionmaker() as s:
        assert (await service.run_digest(s, settings, T0 + timedelta(days=1))).searches == 0
    # GET shows a button (mail scanners confirm nothing); POST confirms
    assert (await client.get(link.group(0))).status_code == 200
    async with db.sessionmaker() as s:
        assert (await s.execute(select(SavedSearch.email_confirmed))).scalar_one() is None
    confirmed = await client.post(link.group(0), data={"_csrf_token": token})
    assert confirmed.status_code == 200
    feed = re.search(r'value="http[^"]+(/benachrichtigungen/feed/[A-Za-z0-9_-]+)"', confirmed.text)
    assert feed  # the resident's private feed, shown once
    again = await client.post(link.group(0), data={"_csrf_token": token})
    assert again.status_code == 200 and "/benachrichtigungen/feed/" not in again.text
    assert (await client.post(link.group(0) + "x", data={"_csrf_token": token})).status_code == 404
    rss = await client.get(feed.group(1))
    assert rss.status_code == 200
    links = _feed_items(rss.content)
    assert any("/vorlagen/" in u for u in links)  # "Geheimweg wird Radweg" (public)
    assert b"Kaufpreis" not in rss.content and b"Vorkaufs" not in rss.content
    assert not any(f"/vorlagen/{at.town.secret_paper.id}" in u for u in links)  # type: ignore[union-attr]
    async with db.sessionmaker() as s:
        run = await service.run_digest(s, settings, T0 + timedelta(days=1))
        await s.commit()
    assert run.mails == 1 and len(smtp_sink) == 2
    text = _mail_text(smtp_sink[1])
    assert "Geheimweg wird Radweg" in text and "Kaufpreis" not in text and "Vorkaufs" not in text
    unsub = re.search(r"/benachrichtigungen/abbestellen/(\d+)/([0-9a-f]{40})", text)
    assert unsub
    bad = f"/benachrichtigungen/abbestellen/{unsub.group(1)}/{'0' * 40}"
    assert (await client.get(bad)).status_code == 404
    assert (await client.post(bad, data={"_csrf_token": token})).status_code == 404
    assert (await client.get(unsub.group(0))).status_code == 200
    assert (await client.post(unsub.group(0), data={"_csrf_token": token})).status_code == 200
    async with db.sessionmaker() as s:
        assert (await s.scalar(select(func.count()).select_from(SavedSearch))) == 0
        assert (await s.scalar(select(func.count()).select_from(SavedSearchHit))) == 0


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ({"query": "Radweg\x00", "email": "a@example.org"}, 400),
        ({"query": "", "email": "a@example.org"}, 400),
        ({"query": '- ( ) " or', "email": "a@example.org"}, 400),
        ({"query": "x" * 5000, "email": "a@example.org"}, 400),
        ({"query": "Radweg", "email": "not an address"}, 400),
        ({"query": "Radweg", "email": ""}, 400),
        ({"query": "Radweg", "email": "a@example.org", "website": "spam"}, 400),
    ],
)
async def test_hostile_input(client: Any, db: Any, data: dict[str, str], status: int) -> None:
    token = await csrf(client, path="/benachrichtigungen")
    r = await client.post("/benachrichtigungen", data={"_csrf_token": token, **data})
    assert r.status_code == status
    assert 'role="alert"' in r.text
    async with db.sessionmaker() as s:
        assert (await s.scalar(select(func.count()).select_from(SavedSearch))) == 0


async def test_bad_kind_csrf_and_rate_limit(client: Any, db: Any, settings: Settings) -> None:
    at = await _alert_town(db)
    token = await csrf(client, at.member_token, path="/benachrichtigungen")
    r = await client.post(
        "/benachrichtigungen",
        data={"_csrf_token": token, "query": "Radweg", "kinds": "evil"},
        cookies=cookies(at.member_token),
    )
    assert r.status_code == 400
    r = await client.post("/benachrichtigungen", data={"query": "Radweg"}, cookies=cookies(at.member_token))
    assert r.status_code == 403
    client.cookies.clear()
    settings.questions_ip_limit = 2
    token = await csrf(client, path="/benachrichtigungen")
    codes = [
        (
            await client.post(
                "/benachrichtigungen",
                data={"_csrf_token": token, "query": "Radweg", "email": f"r{i}@example.org"},
            )
        ).status_code
        for i in range(3)
    ]
    assert codes == [200, 200, 429]
    # the confirm and unsubscribe links with garbage
    assert (await client.get("/benachrichtigungen/bestaetigen/..%2F..")).status_code == 404
    assert (await client.get("/benachrichtigungen/abbestellen/1/zz")).status_code == 404
    assert (await client.get("/benachrichtigungen/abbestellen/99999999999/" + "0" * 40)).status_code in (
        404,
        400,
    )


async def test_digest_job_runs(db: Any, settings: Settings) -> None:
    """The registered job runs the digest through the job runner (as the daily timer would)."""
    from council.alerts import jobs
    from council.core.jobs import Job, JobRunner

    await _alert_town(db)
    async with db.sessionmaker() as s:
        c = await service.create_public(s, "Radweg", "resi@example.org", now=T0)
        c.saved.email_confirmed = T0
        jobs.enqueue_digest(s, T0 + timedelta(days=1))
        await s.commit()
    runner = JobRunner(db.sessionmaker, settings=settings)
    assert await runner.run_one()
    async with db.sessionmaker() as s:
        job = (await s.execute(select(Job).where(Job.kind == "alerts.digest"))).scalar_one()
        assert job.state == "done", job.error
        assert job.message and job.message.startswith("1 Suchen")


async def test_cli_digest(db: Any, settings: Settings) -> None:
    """``rathaus alerts digest`` (the daily timer's command) runs, and ``--enqueue`` queues the job."""
    import asyncio
    import os
    import subprocess
    import sys

    from council.core.jobs import Job

    env = dict(
        os.environ, RATHAUS_DATABASE_URL=settings.resolved_database_url, RATHAUS_VAR_DIR=str(settings.var_dir)
    )
    for extra, expect in (([], "0 Suchen, 0 Mails"), (["--enqueue"], "eingereiht")):
        out = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", "from web.cli import main; main()", "alerts", "digest", *extra],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        assert expect in out.stdout
    async with db.sessionmaker() as s:
        assert (await s.execute(select(Job.kind))).scalar_one() == "alerts.digest"


async def test_daily_digest_is_queued_once_a_day_from_its_hour(db: Any, settings: Any) -> None:
    """The job runners queue the digest themselves (council.core.jobs.daily): not before the configured
    local hour, once per local day, again the next day."""
    from datetime import UTC, datetime

    from sqlalchemy import func, select

    import council.alerts.jobs  # noqa: F401  (registers the job and its daily schedule)
    from council.core.jobs import Job, enqueue_due_daily

    settings.alerts_digest_hour = 7

    async def digests() -> int:
        async with db.sessionmaker() as s:
            return int(
                await s.scalar(select(func.count()).select_from(Job).where(Job.kind == "alerts.digest")) or 0
            )

    # 05:30 UTC = 06:30 in Berlin (winter): not yet due.
    assert await enqueue_due_daily(db.sessionmaker, settings, datetime(2026, 11, 26, 5, 30, tzinfo=UTC)) == []
    assert await digests() == 0
    # Due from 07:00 Berlin; a second look the same day queues nothing more.
    first = await enqueue_due_daily(db.sessionmaker, settings, datetime(2026, 11, 26, 6, 5, tzinfo=UTC))
    assert len(first) == 1
    again = await enqueue_due_daily(db.sessionmaker, settings, datetime(2026, 11, 26, 15, 0, tzinfo=UTC))
    assert again == [] and await digests() == 1
    nextday = await enqueue_due_daily(db.sessionmaker, settings, datetime(2026, 11, 27, 7, 0, tzinfo=UTC))
    assert len(nextday) == 1 and await digests() == 2
    # 24 switches it off.
    settings.alerts_digest_hour = 24
    assert await enqueue_due_daily(db.sessionmaker, settings, datetime(2026, 11, 28, 10, 0, tzinfo=UTC)) == []
