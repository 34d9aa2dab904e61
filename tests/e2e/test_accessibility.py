"""axe-core (vendored) on the main pages: no serious or critical WCAG 2.1 A/AA violations."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from tests.e2e.conftest import DemoFacts, describe_violations, run_axe

pytestmark = pytest.mark.e2e

PAGES = {
    "home": lambda f: "/",
    "calendar": lambda f: "/kalender",
    "calendar-month": lambda f: f"/kalender?monat={f.meeting_month}",
    "meeting": lambda f: f"/sitzungen/{f.meeting_id}",
    "paper": lambda f: f"/vorlagen/{f.paper_id}",
    "document": lambda f: f"/dokumente/{f.file_id}",
    "search": lambda f: f"/suche?q={quote(f.search_term)}",
    "meetings": lambda f: "/sitzungen",
    "papers": lambda f: "/vorlagen",
}


async def _check(page: Any, path: str) -> None:
    response = await page.goto(path)
    assert response is not None and response.ok, f"{path} answered {response and response.status}"
    violations = await run_axe(page)
    bad = [v for v in violations if v.get("impact") in ("serious", "critical")]
    assert not bad, f"axe found serious/critical WCAG violations on {path}:\n{describe_violations(bad)}"


@pytest.mark.parametrize("name", list(PAGES))
async def test_axe(axe_page: Any, demo_facts: DemoFacts, name: str) -> None:
    await _check(axe_page, PAGES[name](demo_facts))


async def test_axe_english(axe_page: Any, demo_facts: DemoFacts) -> None:
    await axe_page.goto("/sprache/en?next=/")
    assert await axe_page.locator("html").get_attribute("lang") == "en"
    await _check(axe_page, f"/sitzungen/{demo_facts.meeting_id}")
