"""Saved searches: create, confirm, find new matches, build and send the daily digest.

Every search runs through ``council.search.query.search`` with the owner's Viewer *at the time of the
run* (an account's current memberships; a resident is always anonymous), so an alert never shows what
its owner may not see today, even if it was visible when the search was saved. Matches are keyed by
(kind, ref_id) and remembered in ``saved_search_hit``: a match is reported once. When a search is
saved, its current matches are remembered without being reported (a baseline), so the first digest
holds only what appeared after saving — "tell me when 'Radweg' appears".

Text cleaning, e-mail validation and token hashing are the question-time helpers
(``council.questions.service``); mail goes through ``council.questions.mail.send``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from council.accounts.models import Account
from council.accounts.service import viewer_for_account
from council.alerts.models import SavedSearch, SavedSearchHit
from council.core.settings import Settings
from council.core.tokens import same_secret
from council.core.types import utcnow
from council.questions import mail
from council.questions.rules import QuestionRules
from council.questions.service import (
    QuestionError,
    clean_email,
    clean_text,
    keyed_hash,
    new_token,
    token_hash,
)
from council.records.access import ANONYMOUS, Viewer
from council.search.query import SearchHit, known_kinds, search
from council.search.stem import parse_query

log = logging.getLogger(__name__)

MAX_QUERY = 200
#: Saved searches per account, and per resident e-mail address.
MAX_PER_OWNER = 50
#: Matches looked at per run: pages × per_page, newest-ranked first (search caps candidates anyway).
SCAN_PAGES = 5
SCAN_PER_PAGE = 100
#: Matches listed per search in one digest mail (the rest: "and N more", link to the search).
DIGEST_LIST = 20
#: An unconfirmed resident search is deleted after this many days (``purge_unconfirmed``).
UNCONFIRMED_DAYS = 7

AlertError = QuestionError


@dataclass
class Created:
    saved: SavedSearch
    #: Plain tokens, shown or mailed once; only their hashes are stored.
    feed_token: str | None = None
    optin_token: str | None = None


def unsubscribe_key(secret: str, saved_id: int) -> str:
    """The unsubscribe link's secret part: stateless, unguessable, specific to one saved search."""
    return keyed_hash(secret, f"alert-unsubscribe:{saved_id}")[:40]


def check_unsubscribe_key(secret: str, saved_id: int, key: str) -> bool:
    return same_secret(key, unsubscribe_key(secret, saved_id))


def clean_query(value: str | None) -> str:
    """The saved query, or ``AlertError`` (400): it must contain at least one word to look for."""
    q = clean_text(value, "query", max_len=MAX_QUERY, min_len=1)
    if parse_query(q).is_empty:
        raise AlertError("empty_query", 400, "query")
    return q


def clean_kinds(values: list[str] | None) -> list[str]:
    known = known_kinds()
    wanted = [v for v in (values or []) if isinstance(v, str)]
    if any(v not in known for v in wanted):
        raise AlertError("bad_kind", 400, "kinds")
    return [k for k in known if k in wanted]


async def owner_viewer(session: AsyncSession, saved: SavedSearch) -> Viewer | None:
    """Who the search runs as: the account's current Viewer, anonymous for residents; None when the
    account may no longer be used (disabled, deleted): its alerts then stay silent."""
    if saved.account_id is None:
        return ANONYMOUS
    account = await session.get(Account, saved.account_id)
    viewer = await viewer_for_account(session, account)
    return viewer if viewer.is_authenticated else None


async def current_hits(session: AsyncSession, viewer: Viewer, saved: SavedSearch) -> list[SearchHit]:
    """The search's matches as ``viewer`` sees them now (bounded: ``SCAN_PAGES × SCAN_PER_PAGE``)."""
    hits: list[SearchHit] = []
    for page in range(1, SCAN_PAGES + 1):
        res = await search(
            session, viewer, saved.query, kinds=saved.kinds or None, page=page, per_page=SCAN_PER_PAGE
        )
        hits.extend(res.hits)
        if not res.has_next or len(res.hits) < SCAN_PER_PAGE:
            break
    return hits


async def _seen(session: AsyncSession, saved_id: int) -> set[tuple[str, int]]:
    rows = await session.execute(
        select(SavedSearchHit.kind, SavedSearchHit.ref_id).where(SavedSearchHit.saved_search_id == saved_id)
    )
    return {(k, int(r)) for k, r in rows.all()}


async def new_matches(
    session: AsyncSession, saved: SavedSearch, now: datetime | None = None, *, remember: bool = True
) -> list[SearchHit]:
    """Matches not reported before, as the owner sees them now; remembered (``first_seen=now``) unless
    ``remember`` is false. The caller commits."""
    now = now or utcnow()
    viewer = await owner_viewer(session, saved)
    if viewer is None:
        return []
    seen = await _seen(session, saved.id)
    fresh: list[SearchHit] = []
    for hit in await current_hits(session, viewer, saved):
        key = (hit.kind, hit.ref_id)
        if key in seen:
            continue
        seen.add(key)
        fresh.append(hit)
        if remember:
            session.add(
                SavedSearchHit(saved_search_id=saved.id, kind=hit.kind, ref_id=hit.ref_id, first_seen=now)
            )
    return fresh


async def _count(session: AsyncSession, *where: object) -> int:
    rows = await session.execute(select(SavedSearch.id).where(*where).limit(MAX_PER_OWNER + 1))  # type: ignore[arg-type]
    return len(rows.all())


async def create_for_account(
    session: AsyncSession,
    viewer: Viewer,
    query: str | None,
    *,
    kinds: list[str] | None = None,
    email: str | None = None,
    now: datetime | None = None,
) -> Created:
    """A signed-in person's saved search with a private feed token; a digest address (optional) is
    confirmed by mail like a resident's (an account must not make us mail arbitrary addresses)."""
    if viewer.account_id is None:
        raise AlertError("login", 403)
    now = now or utcnow()
    q = clean_query(query)
    wanted = clean_kinds(kinds)
    address = clean_email(email, QuestionRules())
    if await _count(session, SavedSearch.account_id == viewer.account_id) >= MAX_PER_OWNER:
        raise AlertError("too_many", 409)
    feed = new_token()
    optin = new_token() if address else None
    saved = SavedSearch(
        account_id=viewer.account_id,
        query=q,
        kinds=wanted,
        email=address,
        optin_token_hash=token_hash(optin) if optin else None,
        feed_token_hash=token_hash(feed),
        created=now,
    )
    session.add(saved)
    await session.flush()
    await new_matches(session, saved, now)  # baseline
    return Created(saved, feed_token=feed, optin_token=optin)


async def create_public(
    session: AsyncSession, query: str | None, email: str | None, *, now: datetime | None = None
) -> Created:
    """A resident's saved search (no account): public matches only, mailed once the address is
    confirmed (double opt-in)."""
    now = now or utcnow()
    q = clean_query(query)
    address = clean_email(email, QuestionRules())
    if not address:
        raise AlertError("required", 400, "email")
    if await _count(session, SavedSearch.account_id.is_(None), SavedSearch.email == address) >= MAX_PER_OWNER:
        raise AlertError("too_many", 409)
    optin = new_token()
    saved = SavedSearch(
        account_id=None, query=q, kinds=[], email=address, optin_token_hash=token_hash(optin), created=now
    )
    session.add(saved)
    await session.flush()
    await new_matches(session, saved, now)
    return Created(saved, optin_token=optin)


async def confirm_email(session: AsyncSession, token: str, now: datetime | None = None) -> SavedSearch:
    if not token or len(token) > 100:
        raise AlertError("unknown", 404)
    saved = (
        await session.execute(select(SavedSearch).where(SavedSearch.optin_token_hash == token_hash(token)))
    ).scalar_one_or_none()
    if saved is None:
        raise AlertError("unknown", 404)
    if saved.email_confirmed is None:
        saved.email_confirmed = now or utcnow()
    return saved


async def by_feed_token(session: AsyncSession, token: str) -> SavedSearch | None:
    if not token or len(token) > 100:
        return None
    return (
        await session.execute(select(SavedSearch).where(SavedSearch.feed_token_hash == token_hash(token)))
    ).scalar_one_or_none()


async def new_feed_token(saved: SavedSearch) -> str:
    """Replace the feed token (the old feed URL stops working)."""
    token = new_token()
    saved.feed_token_hash = token_hash(token)
    return token


async def for_account(session: AsyncSession, account_id: int) -> list[SavedSearch]:
    rows = await session.execute(
        select(SavedSearch).where(SavedSearch.account_id == account_id).order_by(SavedSearch.id)
    )
    return list(rows.scalars())


async def unsubscribe(session: AsyncSession, secret: str, saved_id: int, key: str) -> bool:
    """Delete the saved search behind an unsubscribe link; False when the link is not valid."""
    if not check_unsubscribe_key(secret, saved_id, key):
        return False
    await session.execute(delete(SavedSearchHit).where(SavedSearchHit.saved_search_id == saved_id))
    await session.execute(delete(SavedSearch).where(SavedSearch.id == saved_id))
    return True


async def delete_saved(session: AsyncSession, saved: SavedSearch) -> None:
    await session.execute(delete(SavedSearchHit).where(SavedSearchHit.saved_search_id == saved.id))
    await session.delete(saved)


async def recent_hits(
    session: AsyncSession, saved: SavedSearch, viewer: Viewer, limit: int = 50
) -> list[tuple[SearchHit, datetime]]:
    """For the feed: the current matches as ``viewer`` sees them now, each with when it first appeared
    (newest first). Access is applied now, not when the match was remembered."""
    firsts = dict(
        ((k, int(r)), t)
        for k, r, t in (
            await session.execute(
                select(SavedSearchHit.kind, SavedSearchHit.ref_id, SavedSearchHit.first_seen).where(
                    SavedSearchHit.saved_search_id == saved.id
                )
            )
        ).all()
    )
    res = await search(session, viewer, saved.query, kinds=saved.kinds or None, per_page=limit)
    now = utcnow()  # not remembered yet (no digest since it appeared): new as of now
    pairs = [(h, firsts.get((h.kind, h.ref_id)) or now) for h in res.hits]
    pairs.sort(key=lambda p: p[1], reverse=True)
    return pairs


# --- the digest ---------------------------------------------------------------------------------------


@dataclass
class Digest:
    """One mail: every confirmed saved search of one address with new matches."""

    email: str
    sections: list[tuple[SavedSearch, list[SearchHit]]] = field(default_factory=list)


def digest_mail(settings: Settings, digest: Digest) -> tuple[str, str]:
    base = settings.base_url.rstrip("/")
    n = sum(len(h) for _, h in digest.sections)
    subject = f"{settings.municipality_name}: {n} neue Treffer für Ihre gespeicherten Suchen"
    lines = [
        "Guten Tag,",
        "",
        "seit der letzten Nachricht gibt es neue Treffer für Ihre gespeicherten Suchen.",
        "",
    ]
    for saved, hits in digest.sections:
        lines.append(f"»{saved.query}« ({len(hits)} neu)")
        for hit in hits[:DIGEST_LIST]:
            when = f" ({hit.date.strftime('%d.%m.%Y')})" if hit.date else ""
            lines.append(f"  – {hit.title}{when}")
            lines.append(f"    {base}{hit.url}")
        if len(hits) > DIGEST_LIST:
            lines.append(f"  … und {len(hits) - DIGEST_LIST} weitere")
        from urllib.parse import quote

        lines.append(f"  Alle Treffer: {base}/suche?q={quote(saved.query)}")
        key = unsubscribe_key(settings.secret_key, saved.id)
        lines.append(
            f"  Diese Benachrichtigung abbestellen: {base}/benachrichtigungen/abbestellen/{saved.id}/{key}"
        )
        lines.append("")
    return subject, "\n".join(lines)


Sender = Callable[[Settings, str, str, str], Awaitable[bool]]


@dataclass
class DigestRun:
    searches: int = 0
    mails: int = 0
    matches: int = 0
    failed: int = 0


async def run_digest(
    session: AsyncSession,
    settings: Settings,
    now: datetime | None = None,
    *,
    send: Sender = mail.send,
    limit: int = 10_000,
) -> DigestRun:
    """Find new matches for every search with a confirmed address, mail one digest per address, and
    remember the matches. A mail that fails is retried next run (its matches are not remembered)."""
    now = now or utcnow()
    rows = (
        await session.execute(
            select(SavedSearch)
            .where(SavedSearch.email_confirmed.is_not(None), SavedSearch.email.is_not(None))
            .order_by(SavedSearch.id)
            .limit(limit)
        )
    ).scalars()
    by_email: dict[tuple[int | None, str], Digest] = {}
    out = DigestRun()
    for saved in list(rows):
        out.searches += 1
        hits = await new_matches(session, saved, now, remember=False)
        if hits:
            # Separate mails per owner: a resident's and an account's digests never share one.
            key = (saved.account_id, (saved.email or "").casefold())
            by_email.setdefault(key, Digest(email=saved.email or "")).sections.append((saved, hits))
    for digest in by_email.values():
        subject, body = digest_mail(settings, digest)
        if not await send(settings, digest.email, subject, body):
            out.failed += 1
            continue
        out.mails += 1
        for saved, hits in digest.sections:
            for hit in hits:
                session.add(
                    SavedSearchHit(saved_search_id=saved.id, kind=hit.kind, ref_id=hit.ref_id, first_seen=now)
                )
            saved.last_digest = now
            out.matches += len(hits)
        await session.flush()
    return out


async def purge_unconfirmed(session: AsyncSession, now: datetime | None = None) -> int:
    """Delete residents' searches whose address was never confirmed (no account, no consent)."""
    from datetime import timedelta

    cutoff = (now or utcnow()) - timedelta(days=UNCONFIRMED_DAYS)
    ids = (
        (
            await session.execute(
                select(SavedSearch.id).where(
                    SavedSearch.account_id.is_(None),
                    SavedSearch.email_confirmed.is_(None),
                    SavedSearch.created < cutoff,
                )
            )
        )
        .scalars()
        .all()
    )
    if ids:
        await session.execute(delete(SavedSearchHit).where(SavedSearchHit.saved_search_id.in_(ids)))
        await session.execute(delete(SavedSearch).where(SavedSearch.id.in_(ids)))
    return len(ids)
