"""Searching from the form: results with highlighted hits, and a result that opens — with and without JS."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest

from tests.e2e.conftest import DemoFacts

pytestmark = pytest.mark.e2e

RESULT_PATH = re.compile(r"^/(vorlagen|sitzungen|dokumente|personen|gremien)/\d+$")


async def _search_and_open(page: Any, term: str) -> None:
    response = await page.goto("/")
    assert response is not None and response.ok
    await page.get_by_role("navigation", name="Hauptnavigation").get_by_role("link", name="Suche").click()
    await page.wait_for_url(re.compile(r"/suche"))

    box = page.locator('main input[name="q"]').first
    await box.fill(term)
    # Without JS the form submits (a navigation); with JS htmx swaps the results and pushes the URL.
    await box.press("Enter")
    await page.wait_for_url(re.compile(r"/suche\?(.*&)?q="))

    marks = page.locator("main mark")
    await marks.first.wait_for()
    texts = [t.lower() for t in await marks.all_inner_texts()]
    assert any(term[:4].lower() in t for t in texts), f"no highlighted hit for {term!r}: {texts[:10]}"

    # The first link to a record in the results opens that record.
    hrefs = await page.locator("main a[href]").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    targets = [h for h in hrefs if RESULT_PATH.match(h.split("?")[0].split("#")[0])]
    assert targets, f"no result links to records among {hrefs[:20]}"
    await page.locator(f'main a[href="{targets[0]}"]').first.click()
    await page.wait_for_url(re.compile(re.escape(targets[0]) + "$"))
    assert await page.locator("h1").count() >= 1
    response = await page.request.get(targets[0])
    assert response.ok, f"{targets[0]} answered {response.status}"


async def test_search_with_javascript(page: Any, demo_facts: DemoFacts) -> None:
    await _search_and_open(page, demo_facts.search_term)
    page.problems.assert_none()


async def test_search_without_javascript(page_nojs: Any, demo_facts: DemoFacts) -> None:
    await _search_and_open(page_nojs, demo_facts.search_term)


async def test_hostile_query_is_shown_escaped(page: Any) -> None:
    hostile = '<script>alert(1)</script>\u202e"; DROP TABLE paper; --'
    response = await page.goto("/suche?q=" + quote(hostile))
    assert response is not None and response.status < 500
    # Echoed as text (if at all), never as markup; no dialog, no page error.
    assert await page.locator("main script").count() == 0
    page.problems.assert_none()
