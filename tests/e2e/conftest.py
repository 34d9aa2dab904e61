"""End-to-end tests in real Chromium (Playwright, async API on the suite's session event loop).

The site under test is the small demo served by uvicorn in a thread (``live_server`` from
tests/conftest.py). Which runs get these tests is decided by ``RATHAUS_E2E``:

- ``RATHAUS_E2E=1``  run them; a missing browser is an error (``.ci/test`` sets this for the SQLite pass)
- ``RATHAUS_E2E=0``  skip them (``.ci/test`` sets this for the PostgreSQL pass: same pages, twice the time)
- unset             run them when /usr/bin/chromium exists, else skip

``-m "not e2e"`` leaves them out as well. On a failure a screenshot lands in test-results/e2e/.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("RATHAUS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
AXE_JS = Path(__file__).parent / "vendor" / "axe-4.11.0.min.js"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-results" / "e2e"
E2E_DIR = Path(__file__).parent.resolve()


def _e2e_mode() -> str:
    value = os.environ.get("RATHAUS_E2E", "").strip().lower()
    if value in ("0", "false", "no", "off"):
        return "off"
    if value in ("1", "true", "yes", "on"):
        return "on"
    return "auto"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mode = _e2e_mode()
    reason = None
    if mode == "off":
        reason = "end-to-end tests disabled (RATHAUS_E2E=0)"
    elif mode == "auto" and not os.access(CHROMIUM, os.X_OK):
        reason = f"{CHROMIUM} not found (install chromium or set RATHAUS_CHROMIUM)"
    for item in items:
        if E2E_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Any:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


# --- the browser ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


class PageProblems:
    """What the browser complained about: console errors (CSP violations show up here) and JS errors."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.page: Any = None

    def attach(self, page: Any) -> None:
        self.page = page
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.messages.append(f"page error: {exc}"))

    def _on_console(self, msg: Any) -> None:
        if msg.type != "error":
            return
        url = msg.location.get("url", "?")
        # The document's own 4xx status (asserted by the test where it matters) is no page problem;
        # a failing stylesheet or script is.
        # The browser's own favicon probe is not the page's doing either.
        if msg.text.startswith("Failed to load resource") and (
            url.endswith("/favicon.ico") or (self.page is not None and url == self.page.url)
        ):
            return
        self.messages.append(f"console error on {url}: {msg.text}")

    def assert_none(self) -> None:
        assert not self.messages, "the browser reported problems:\n  " + "\n  ".join(self.messages)


async def _new_page(
    browser: Any, base_url: str, request: pytest.FixtureRequest, **context_options: Any
) -> AsyncIterator[Any]:
    context = await browser.new_context(
        base_url=base_url, locale="de-DE", timezone_id="Europe/Berlin", **context_options
    )
    context.set_default_timeout(15_000)
    page = await context.new_page()
    problems = PageProblems()
    problems.attach(page)
    page.problems = problems
    try:
        yield page
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-150:]
            try:
                await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            except Exception:  # a screenshot is a courtesy; never mask the failure itself
                pass
        await context.close()


@pytest.fixture
async def page(browser: Any, live_server: str, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A fresh browser context on the demo site, with the site's CSP enforced.

    ``page.problems.assert_none()`` checks that no console error (e.g. a CSP violation) happened.
    """
    async for p in _new_page(browser, live_server, request):
        yield p


@pytest.fixture
async def page_nojs(browser: Any, live_server: str, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """Like ``page`` with JavaScript switched off: every page must work without it."""
    async for p in _new_page(browser, live_server, request, java_script_enabled=False):
        yield p


@pytest.fixture
async def axe_page(browser: Any, live_server: str, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A page for accessibility checks. CSP is bypassed only so that axe can be injected inline."""
    async for p in _new_page(browser, live_server, request, bypass_csp=True):
        yield p


@asynccontextmanager
async def serve_in_loop(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn as a task on the test's own event loop (so a test can publish on the
    app's event bus directly); yields the base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.02)
    if not server.started:
        server.should_exit = True
        raise RuntimeError("uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


# --- what the demo contains --------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoFacts:
    """Records of the demo the tests walk through: public all the way down, with extracted text."""

    meeting_id: int
    meeting_month: str  # YYYY-MM in Europe/Berlin, for /kalender?monat=
    paper_id: int
    file_id: int
    file_text: str
    search_term: str


@pytest.fixture(scope="session")
async def demo_facts(demo_db: Any) -> DemoFacts:
    from zoneinfo import ZoneInfo

    from sqlalchemy import func, select

    from council.records.access import ANONYMOUS, paper_visible
    from council.records.models import AgendaItem, Consultation, File, Meeting, Paper

    async with demo_db.sessionmaker() as session:
        # Anonymous visibility spelled out: the access clauses correlate subqueries on these very tables.
        row = (
            await session.execute(
                select(Meeting.id, Meeting.start, Paper.id, File.id, File.text)
                .select_from(Consultation)
                .join(AgendaItem, AgendaItem.id == Consultation.agenda_item_id)
                .join(Meeting, Meeting.id == AgendaItem.meeting_id)
                .join(Paper, Paper.id == Consultation.paper_id)
                .join(File, File.id == Paper.main_file_id)
                .where(
                    *(m.public.is_(True) for m in (Meeting, AgendaItem, Paper, File)),
                    *(m.deleted.is_(False) for m in (Meeting, AgendaItem, Paper, File, Consultation)),
                    Meeting.start.is_not(None),
                    File.mime_type == "application/pdf",
                    File.text.is_not(None),
                    func.length(File.text) > 40,
                )
                .order_by(Meeting.start.desc(), Paper.id)
                .limit(1)
            )
        ).first()
        if row is None:
            pytest.fail(
                "the demo has no public meeting → agenda item → paper → PDF with extracted text; "
                "the end-to-end journey needs one"
            )
        meeting_id, start, paper_id, file_id, text = row

        term = "Radweg"
        found = (
            await session.execute(
                select(Paper.id).where(paper_visible(ANONYMOUS), Paper.name.ilike("%radweg%")).limit(1)
            )
        ).first()
        if found is None:
            name = (await session.execute(select(Paper.name).where(Paper.id == paper_id))).scalar_one()
            words = sorted(re.findall(r"[A-Za-zÄÖÜäöüß]{6,}", name), key=len, reverse=True)
            term = words[0] if words else name.split()[0]

    month = start.astimezone(ZoneInfo("Europe/Berlin")).strftime("%Y-%m")
    return DemoFacts(meeting_id, month, paper_id, file_id, text, term)


# --- helpers -------------------------------------------------------------------------------------------


def text_sample(text: str, length: int = 40) -> str:
    """A run of words from extracted text that a page showing the text must contain verbatim."""
    for line in text.splitlines():
        words = line.split()
        if len(" ".join(words)) >= 20:
            return " ".join(words)[:length].rsplit(" ", 1)[0]
    return " ".join(text.split()[:4])


async def run_axe(page: Any) -> list[dict[str, Any]]:
    """Run axe-core (WCAG 2.0/2.1 A and AA rules) on the current page and return its violations."""
    await page.add_script_tag(path=str(AXE_JS))
    result = await page.evaluate(
        """async () => {
            const r = await axe.run(document, {
                runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
                resultTypes: ['violations'],
            });
            return r.violations;
        }"""
    )
    return list(result)


def describe_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"[{v.get('impact')}] {v['id']}: {v['help']} ({v.get('helpUrl', '')})")
        for node in v.get("nodes", [])[:5]:
            target = " ".join(str(t) for t in node.get("target", []))
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            lines.append(f"    at {target}: {summary[:300]}")
            lines.append(f"       {node.get('html', '')[:200]}")
        if len(v.get("nodes", [])) > 5:
            lines.append(f"    … and {len(v['nodes']) - 5} more elements")
    return "\n".join(lines)
