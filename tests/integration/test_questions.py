"""Question time over real HTTP: submit → tracking → moderation → answered live → tracking shows it;
access rules, hostile input, duplicates and GO rules, support, deletion, export, retention, e-mail
(a real SMTP sink) and the shared rate limiter (Redis)."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from council.accounts.sessions import SESSION_COOKIE
from council.core.types import utcnow
from council.live.models import TimelineEvent
from council.questions import service
from council.questions.models import EmailOptIn, Question, QuestionEvent, QuestionSupport
from council.questions.ratelimit import MemoryLimiter, RedisLimiter
from council.questions.rules import QuestionRules
from tests.question_helpers import make_question_town, tracking_token
from tests.vote_helpers import csrf

#: Templates these tests render (for tests/integration/test_templates.py): the form and tracking page
#: (every flow), moderation.html and public.html (the first test), _support.html (htmx support),
#: confirm.html (the double opt-in), _meeting.html (the meeting page).
RENDERED = [
    "questions/form.html",
    "questions/tracking.html",
    "questions/moderation.html",
    "questions/public.html",
    "questions/_support.html",
    "questions/confirm.html",
    "questions/_meeting.html",
]


def use(client: Any, token: str | None) -> None:
    client.cookies.delete(SESSION_COOKIE)
    if token:
        client.cookies.set(SESSION_COOKIE, token, domain="127.0.0.1")


async def _submit(client: Any, mid: int, token: str, **fields: str) -> Any:
    data = {
        "_csrf_token": token,
        "text": "Wann wird der Radweg an der Bonner Straße saniert?",
        "name": "Anna",
    }
    data.update(fields)
    return await client.post(f"/sitzungen/{mid}/fragen", data=data, follow_redirects=False)


async def _count(db: Any, model: Any = Question) -> int:
    async with db.sessionmaker() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar_one())


async def test_submit_track_moderate_answer(client: Any, db: Any) -> None:
    qt = await make_question_town(db)
    mid = qt.meeting_id
    form = await client.get(f"/sitzungen/{mid}/fragen")
    assert form.status_code == 200 and 'name="website"' in form.text
    token = await csrf(client, path=f"/sitzungen/{mid}/fragen")
    r = await _submit(client, mid, token, consent="on")
    assert r.status_code == 303
    tok = tracking_token(r.headers["location"])
    page = await client.get(r.headers["location"])
    assert page.status_code == 200 and "Eingereicht" in page.text and "Radweg" in page.text
    async with db.sessionmaker() as s:
        q = (await s.execute(select(Question))).scalar_one()
        assert q.token_hash == service.token_hash(tok) and tok not in (q.token_hash or "")
        qid = q.id
    # not yet public
    assert (await client.get(f"/sitzungen/{mid}/fragen/{qid}")).status_code == 404

    # the clerk: staff only
    assert (await client.get("/verwaltung/fragen", follow_redirects=False)).status_code in (302, 303, 401)
    use(client, qt.councillor_token)
    assert (await client.get("/verwaltung/fragen")).status_code == 403
    assert (
        await client.post(f"/verwaltung/fragen/{qid}/annehmen", data={"_csrf_token": token})
    ).status_code == 403
    use(client, qt.clerk_token)
    mod = await client.get("/verwaltung/fragen")
    assert mod.status_code == 200 and "Radweg" in mod.text and "Anna" in mod.text
    r = await client.post(
        f"/verwaltung/fragen/{qid}/annehmen", data={"_csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303
    r = await client.post(
        f"/verwaltung/fragen/{qid}/einplanen", data={"_csrf_token": token, "slot": ""}, follow_redirects=False
    )
    assert r.status_code == 303
    # anonymise: the original is kept, not published
    r = await client.post(
        f"/verwaltung/fragen/{qid}/bearbeiten",
        data={"_csrf_token": token, "text": "Wann wird der Radweg saniert?"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    r = await client.post(
        f"/verwaltung/fragen/{qid}/beantwortung-start", data={"_csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303
    again = await client.post(f"/verwaltung/fragen/{qid}/beantwortung-start", data={"_csrf_token": token})
    assert again.status_code == 409
    r = await client.post(
        f"/verwaltung/fragen/{qid}/beantwortung-ende", data={"_csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303
    r = await client.post(
        f"/verwaltung/fragen/{qid}/antwort",
        data={"_csrf_token": token, "answer": "Im Frühjahr <b>2027</b>."},
        follow_redirects=False,
    )
    assert r.status_code == 303
    async with db.sessionmaker() as s:
        kinds = [
            e.kind for e in (await s.execute(select(TimelineEvent).order_by(TimelineEvent.id))).scalars()
        ]
        assert kinds[-2:] == ["question.answering", "question.answered"]
    use(client, None)
    page = await client.get(f"/fragen/{tok}")
    assert "Beantwortet" in page.text and "Im Frühjahr &lt;b&gt;2027&lt;/b&gt;." in page.text
    assert "Frage Nr. 1" in page.text
    public = await client.get(f"/sitzungen/{mid}/fragen/{qid}")
    assert public.status_code == 200 and "Wann wird der Radweg saniert?" in public.text
    assert "Bonner Straße" not in public.text and "Anna" not in public.text
    meeting_page = await client.get(f"/sitzungen/{mid}")
    assert (
        "Wann wird der Radweg saniert?" in meeting_page.text and "Einwohnerfragestunde" in meeting_page.text
    )


async def test_reject_with_reason_withdraw_export_delete(client: Any, db: Any) -> None:
    qt = await make_question_town(db)
    mid = qt.meeting_id
    token = await csrf(client, path=f"/sitzungen/{mid}/fragen")
    r1 = await _submit(client, mid, token, email="anna@example.org")
    r2 = await _submit(
        client, mid, token, text="Wie hoch sind die Kosten der neuen Brücke am Markt?", name="B."
    )
    tok1, tok2 = tracking_token(r1.headers["location"]), tracking_token(r2.headers["location"])
    use(client, qt.clerk_token)
    async with db.sessionmaker() as s:
        q1 = (
            await s.execute(select(Question).where(Question.token_hash == service.token_hash(tok1)))
        ).scalar_one()
    bad = await client.post(
        f"/verwaltung/fragen/{q1.id}/ablehnen", data={"_csrf_token": token, "reason": "nope"}
    )
    assert bad.status_code == 400
    r = await client.post(
        f"/verwaltung/fragen/{q1.id}/ablehnen",
        data={"_csrf_token": token, "reason": "not_competent", "note": "Bitte an den Kreis wenden."},
        follow_redirects=False,
    )
    assert r.status_code == 303
    use(client, None)
    page = await client.get(f"/fragen/{tok1}")
    assert (
        "Abgelehnt" in page.text
        and "nicht zuständig" in page.text
        and "Bitte an den Kreis wenden." in page.text
    )
    # withdraw the other; a closed one cannot be withdrawn
    assert (
        await client.post(
            f"/fragen/{tok2}/zurueckziehen", data={"_csrf_token": token}, follow_redirects=False
        )
    ).status_code == 303
    assert (
        await client.post(f"/fragen/{tok2}/zurueckziehen", data={"_csrf_token": token})
    ).status_code == 409
    # export, then delete personal data: gone everywhere (row, opt-in, export, moderation page)
    exp = await client.post(f"/fragen/{tok1}/export", data={"_csrf_token": token})
    assert exp.status_code == 200 and exp.json()["email"] == "anna@example.org" and exp.json()["history"]
    assert await _count(db, EmailOptIn) == 1
    r = await client.post(f"/fragen/{tok1}/loeschen", data={"_csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    exp = (await client.post(f"/fragen/{tok1}/export", data={"_csrf_token": token})).json()
    assert exp["name"] is None and exp["email"] is None and exp["text"]
    assert await _count(db, EmailOptIn) == 0
    async with db.sessionmaker() as s:
        q = await s.get(Question, q1.id)
        assert q is not None and q.author_name is None and q.email is None and q.person_key is None
    use(client, qt.clerk_token)
    mod = await client.get("/verwaltung/fragen")
    assert "anna@example.org" not in mod.text
    # unknown / malformed tokens
    use(client, None)
    assert (await client.get("/fragen/" + "A" * 43)).status_code == 404
    assert (await client.get("/fragen/x")).status_code == 404
    assert (
        await client.post("/fragen/" + "A" * 43 + "/loeschen", data={"_csrf_token": token})
    ).status_code == 404
    # without CSRF: refused
    assert (await client.post(f"/fragen/{tok1}/export", data={})).status_code == 403


async def test_rules_duplicates_honeypot_and_limits(client: Any, db: Any, settings: Any) -> None:
    qt = await make_question_town(db)
    mid = qt.meeting_id
    token = await csrf(client, path=f"/sitzungen/{mid}/fragen")
    assert (await _submit(client, mid, token, website="http://spam")).status_code == 400
    assert (await _submit(client, mid, token)).status_code == 303
    dup = await _submit(
        client, mid, token, text="wann wird der  RADWEG an der Bonner Straße saniert!", name="Other"
    )
    assert dup.status_code == 409 and "bereits gestellt" in dup.text
    assert (
        await _submit(client, mid, token, text="Zweite Frage von Anna zum Thema Parken?")
    ).status_code == 303
    third = await _submit(client, mid, token, text="Dritte Frage von Anna zum Thema Bäume?")
    assert third.status_code == 409 and "höchstzulässige" in third.text
    assert await _count(db) == 2
    # not a question-time meeting / unknown item / non-public
    assert (await client.get(f"/sitzungen/{mid}/fragen?top=999999")).status_code == 404
    assert (await client.get(f"/sitzungen/{mid}/fragen?top={qt.item_id}")).status_code == 200
    assert (await client.get(f"/sitzungen/{mid}/fragen?top=abc")).status_code == 400
    assert (await client.get("/sitzungen/999999/fragen")).status_code == 404


HOSTILE = [
    "<script>alert(1)</script> und eine Frage dazu?",
    '<div hx-get="/verwaltung/fragen" hx-trigger="load">Frage mit htmx</div>',
    "Frage mit NUL \x00 darin, ist das erlaubt?",
    "Frage mit RTL \u202eoverride\u202c im Text?",
    "Z" + "\u0301" * 10_000,
    "Frage mit einsamem Surrogat \ud800 darin?",
    "x" * 5000,
    "Frage " + "é" * 50 + " normal?",
]


@pytest.mark.parametrize("field", ["text", "name", "email"])
async def test_hostile_input_every_field(client: Any, db: Any, field: str) -> None:
    qt = await make_question_town(db)
    mid = qt.meeting_id
    token = await csrf(client, path=f"/sitzungen/{mid}/fragen")
    acked = 0
    for i, value in enumerate(HOSTILE):
        base = {
            "text": f"Eine ordentliche Frage Nummer {i} zum Haushalt?",
            "name": f"Person {i}",
            "email": "",
        }
        base[field] = value
        try:
            body = "&".join(
                f"{k}={v}" for k, v in [("_csrf_token", token)] + [(k, _q(v)) for k, v in base.items()]
            ).encode("utf-8", "surrogatepass")
        except UnicodeEncodeError:
            continue
        r = await client.post(
            f"/sitzungen/{mid}/fragen",
            content=body,
            headers={"content-type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
        assert r.status_code < 500, (field, i, r.status_code)
        if r.status_code == 303:
            acked += 1
            page = await client.get(r.headers["location"])
            assert page.status_code == 200
            assert "<script>alert" not in page.text and 'hx-get="/verwaltung' not in page.text
            assert "\u202e" not in page.text
        else:
            assert 400 <= r.status_code < 500
            assert "<script>alert" not in r.text and 'hx-get="/verwaltung' not in r.text
    assert await _count(db) == acked
    assert await _count(db, QuestionEvent) == acked  # one history row each, nothing half-written
    # 1 MB body
    big = await client.post(
        f"/sitzungen/{mid}/fragen",
        data={"_csrf_token": token, "text": "y" * (1024 * 1024), "name": "Big"},
        follow_redirects=False,
    )
    assert big.status_code in (400, 413)
    assert await _count(db) == acked


def _q(value: str) -> str:
    from urllib.parse import quote

    return quote(value.encode("utf-8", "surrogatepass"), safe="")


async def test_support_once_per_browser(client: Any, db: Any) -> None:
    qt = await make_question_town(db)
    mid = qt.meeting_id
    token = await csrf(client, path=f"/sitzungen/{mid}/fragen")
    r = await _submit(client, mid, token, consent="on")
    async with db.sessionmaker() as s:
        qid = (await s.execute(select(Question.id))).scalar_one()
        await service.accept(s, qid)
    url = f"/sitzungen/{mid}/fragen/{qid}/unterstuetzen"
    first = await client.post(url, data={"_csrf_token": token}, follow_redirects=False)
    assert first.status_code == 303 and "rathaus_supporter" in first.headers.get("set-cookie", "")
    assert (await client.post(url, data={"_csrf_token": token}, follow_redirects=False)).status_code == 303
    page = await client.get(f"/sitzungen/{mid}/fragen/{qid}")
    assert "Danke für Ihre Unterstützung." in page.text and "1 Unterstützungen" in page.text
    listing = await client.get(f"/sitzungen/{mid}")
    assert (
        "1 Unterstützungen" in listing.text and f"/sitzungen/{mid}/fragen/{qid}#support-{qid}" in listing.text
    )
    hx = await client.post(url, headers={"x-csrftoken": token, "hx-request": "true"})
    assert hx.status_code == 200 and "1 Unterstützungen" in hx.text
    client.cookies.delete("rathaus_supporter")
    await client.post(url, data={"_csrf_token": token}, follow_redirects=False)
    async with db.sessionmaker() as s:
        q = await s.get(Question, qid)
        assert q is not None and q.support_count == 2
        assert (await s.execute(select(func.count()).select_from(QuestionSupport))).scalar_one() == 2
    assert r.status_code == 303
    # merging adds the supports to the question that stays
    async with db.sessionmaker() as s:
        d = await service.submit(
            s,
            QuestionRules(),
            "k",
            meeting_id=mid,
            agenda_item_id=None,
            text="Eine ganz andere Frage zur Brücke?",
            name="C",
            email=None,
            consent=True,
        )
        await service.merge(s, qid, d.question.id)
        target = await s.get(Question, d.question.id)
        assert target is not None and target.support_count == 2


async def test_bulk_actions(client: Any, db: Any) -> None:
    qt = await make_question_town(db)
    mid = qt.meeting_id
    token = await csrf(client, path=f"/sitzungen/{mid}/fragen")
    for i in range(3):
        await _submit(client, mid, token, text=f"Sammelfrage Nummer {i} zum Haushalt?", name=f"P{i}")
    async with db.sessionmaker() as s:
        ids = [str(i) for i in (await s.execute(select(Question.id).order_by(Question.id))).scalars()]
    use(client, qt.clerk_token)
    r = await client.post(
        "/verwaltung/fragen/sammel",
        data={"_csrf_token": token, "aktion": "einplanen", "ids": ids},
        follow_redirects=False,
    )
    assert r.status_code == 303
    async with db.sessionmaker() as s:
        slots = [q.slot for q in (await s.execute(select(Question).order_by(Question.id))).scalars()]
    assert slots == [1, 2, 3]
    assert (
        await client.post("/verwaltung/fragen/sammel", data={"_csrf_token": token, "aktion": "x", "ids": ids})
    ).status_code == 400
    # the form sent with no question ticked carries no ids field at all: a message, not a 500
    r = await client.post("/verwaltung/fragen/sammel", data={"_csrf_token": token, "aktion": "annehmen"})
    assert r.status_code == 400 and "mindestens eine Frage" in r.text
    async with db.sessionmaker() as s:
        assert [q.slot for q in (await s.execute(select(Question).order_by(Question.id))).scalars()] == slots


async def test_retention_purge_with_clock(db: Any) -> None:
    qt = await make_question_town(db)
    t0 = utcnow()
    async with db.sessionmaker() as s:
        a = await service.submit(
            s,
            QuestionRules(),
            "k",
            meeting_id=qt.meeting_id,
            agenda_item_id=None,
            text="Frage A zur Straßenbeleuchtung?",
            name="A",
            email="a@example.org",
            consent=True,
            now=t0,
        )
        b = await service.submit(
            s,
            QuestionRules(),
            "k",
            meeting_id=qt.meeting_id,
            agenda_item_id=None,
            text="Frage B zur Straßenreinigung?",
            name="B",
            email=None,
            consent=True,
            now=t0,
        )
        await service.reject(s, a.question.id, "other", None, now=t0)
        assert await service.purge(s, 90, now=t0 + timedelta(days=89)) == 0
        assert await service.purge(s, 90, now=t0 + timedelta(days=91)) == 1
        qa = await s.get(Question, a.question.id)
        qb = await s.get(Question, b.question.id)
        assert (
            qa is not None and qa.author_name is None and qa.email is None and qa.text.startswith("Frage A")
        )
        assert qb is not None and qb.author_name == "B"  # still open: kept
        assert await service.purge(s, 90, now=t0 + timedelta(days=200)) == 0


async def test_cli_purge(db: Any, settings: Any) -> None:
    import os
    import subprocess
    import sys

    qt = await make_question_town(db)
    past = utcnow() - timedelta(days=100)
    async with db.sessionmaker() as s:
        a = await service.submit(
            s,
            QuestionRules(),
            "k",
            meeting_id=qt.meeting_id,
            agenda_item_id=None,
            text="Alte Frage zur Kita?",
            name="A",
            email=None,
            consent=False,
            now=past,
        )
        await service.reject(s, a.question.id, "other", None, now=past)
    env = dict(
        os.environ, RATHAUS_DATABASE_URL=settings.resolved_database_url, RATHAUS_VAR_DIR=str(settings.var_dir)
    )
    out = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", "from web.cli import main; main()", "questions", "purge", "--days", "90"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("1 Fragen")


async def test_mail_double_optin_and_answer_notice(client: Any, db: Any, settings: Any) -> None:
    from aiosmtpd.controller import Controller

    class Sink:
        def __init__(self) -> None:
            self.messages: list[Any] = []

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            self.messages.append(envelope)
            return "250 OK"

    sink = Sink()
    from tests.integration.vote_server import free_port

    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings.smtp_host, settings.smtp_port = "127.0.0.1", port
        qt = await make_question_town(db)
        mid = qt.meeting_id
        token = await csrf(client, path=f"/sitzungen/{mid}/fragen")
        r = await _submit(client, mid, token, email="anna@example.org", consent="on")
        assert r.status_code == 303
        assert len(sink.messages) == 1 and sink.messages[0].rcpt_tos == ["anna@example.org"]
        text = _mail_text(sink.messages[0])
        link = re.search(r"/frage-bestaetigen/([A-Za-z0-9_-]+)", text)
        assert link
        async with db.sessionmaker() as s:
            qid = (await s.execute(select(Question.id))).scalar_one()
        # not confirmed: no notices
        use(client, qt.clerk_token)
        await client.post(f"/verwaltung/fragen/{qid}/annehmen", data={"_csrf_token": token})
        assert len(sink.messages) == 1
        use(client, None)
        assert (await client.get(link.group(0))).status_code == 200
        assert (await client.post(link.group(0), data={"_csrf_token": token})).status_code == 200
        use(client, qt.clerk_token)
        await client.post(
            f"/verwaltung/fragen/{qid}/antwort", data={"_csrf_token": token, "answer": "So ist es."}
        )
        assert len(sink.messages) == 2
        assert "Beantwortet" in _mail_text(sink.messages[1])
    finally:
        controller.stop()


def _mail_text(envelope: Any) -> str:
    import email
    from email import policy

    msg = email.message_from_bytes(envelope.content, policy=policy.default)
    return str(msg["Subject"]) + "\n" + msg.get_content()  # type: ignore[attr-defined]


async def test_rate_limiters() -> None:
    clock = [0.0]
    mem = MemoryLimiter("s", clock=lambda: clock[0])
    assert [await mem.hit("ip", "1.2.3.4", 3, 60) for _ in range(4)] == [True, True, True, False]
    clock[0] = 61
    assert await mem.hit("ip", "1.2.3.4", 3, 60)
    import uuid

    prefix = f"rathaus:test:{uuid.uuid4().hex[:8]}"
    a, b = (
        RedisLimiter("s", "redis://127.0.0.1:6379/0", prefix),
        RedisLimiter("s", "redis://127.0.0.1:6379/0", prefix),
    )
    try:
        results = [await (a if i % 2 else b).hit("ip", "10.0.0.1", 5, 60) for i in range(8)]
        assert results.count(True) == 5  # two "processes", one budget
        keys = [k async for k in a.redis.scan_iter(f"{prefix}:*")]
        assert keys and all(b"10.0.0.1" not in k for k in keys)
    finally:
        await a.close()
        await b.close()


async def test_ip_limit_answers_429(client: Any, db: Any, settings: Any) -> None:
    settings.questions_ip_limit = 3
    qt = await make_question_town(db)
    token = await csrf(client, path=f"/sitzungen/{qt.meeting_id}/fragen")
    codes = [
        (
            await _submit(client, qt.meeting_id, token, text=f"Frage Nummer {i} zum Haushalt?", name=f"N{i}")
        ).status_code
        for i in range(6)
    ]
    assert codes == [303, 303, 303, 429, 429, 429]
    assert await _count(db) == 3
    json.dumps(codes)


async def test_answer_links_clip_and_transcript_excerpt(client: Any, db: Any) -> None:
    from streaming.models import Recording
    from transcripts.models import TranscriptSegment

    qt = await make_question_town(db)
    t0 = utcnow() - timedelta(minutes=30)
    async with db.sessionmaker() as s:
        s.add(Recording(meeting_id=qt.meeting_id, started_at=t0, duration_s=1200.0, state="ready"))
        for start, text in [
            (50, "Vorher spricht der Bürgermeister."),
            (120, "Zur Frage des Radwegs: im Frühjahr."),
            (150, "Die Mittel sind im Haushalt."),
            (300, "Nächster Punkt."),
        ]:
            s.add(
                TranscriptSegment(
                    meeting_id=qt.meeting_id,
                    start_s=start,
                    end_s=start + 20,
                    at=t0 + timedelta(seconds=start),
                    text=text,
                    machine_text=text,
                    source="live",
                )
            )
        d = await service.submit(
            s,
            QuestionRules(),
            "k",
            meeting_id=qt.meeting_id,
            agenda_item_id=None,
            text="Wann kommt der Radweg?",
            name="A",
            email=None,
            consent=True,
        )
        await service.schedule(s, d.question.id)
        await service.start_answer(s, None, d.question.id, now=t0 + timedelta(seconds=115))
        await service.end_answer(s, None, d.question.id, now=t0 + timedelta(seconds=175))
        qid, tok = d.question.id, d.token
    page = await client.get(f"/fragen/{tok}")
    assert f"/sitzungen/{qt.meeting_id}/video?t=115" in page.text
    assert "Zur Frage des Radwegs" in page.text and "Die Mittel sind im Haushalt." in page.text
    assert "Vorher spricht" not in page.text and "Nächster Punkt" not in page.text
    public = await client.get(f"/sitzungen/{qt.meeting_id}/fragen/{qid}")
    assert "video?t=115" in public.text and "Zur Frage des Radwegs" in public.text


async def test_follow_up_rule(client: Any, db: Any, settings: Any) -> None:
    qt = await make_question_town(db)
    mid = qt.meeting_id
    token = await csrf(client, path=f"/sitzungen/{mid}/fragen")
    tok = tracking_token((await _submit(client, mid, token, consent="on")).headers["location"])
    # not before the question is accepted
    assert (
        await client.post(f"/fragen/{tok}/nachfrage", data={"_csrf_token": token, "text": "Und wann genau?"})
    ).status_code == 409
    async with db.sessionmaker() as s:
        await service.accept(s, (await s.execute(select(Question.id))).scalar_one())
    page = await client.get(f"/fragen/{tok}")
    assert "Nachfrage stellen" in page.text
    r = await client.post(
        f"/fragen/{tok}/nachfrage",
        data={"_csrf_token": token, "text": "Und wann genau im Jahr?"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    child = tracking_token(r.headers["location"])
    child_page = await client.get(f"/fragen/{child}")
    assert "Nachfrage" in child_page.text and "Nachfrage stellen" not in child_page.text
    # the GO allows one follow-up (questions_follow_ups = 1)
    second = await client.post(
        f"/fragen/{tok}/nachfrage", data={"_csrf_token": token, "text": "Und noch etwas dazu?"}
    )
    assert second.status_code == 409
    async with db.sessionmaker() as s:
        rows = (await s.execute(select(Question).order_by(Question.id))).scalars().all()
        assert len(rows) == 2 and rows[1].follow_up_of_id == rows[0].id and rows[1].author_name == "Anna"
