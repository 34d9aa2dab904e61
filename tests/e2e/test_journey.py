"""A resident's way through the site: home → calendar → meeting → paper → document → PDF."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.conftest import DemoFacts, text_sample

pytestmark = pytest.mark.e2e


async def test_home_to_pdf(page: Any, demo_facts: DemoFacts) -> None:
    response = await page.goto("/")
    assert response is not None and response.ok, f"home page answered {response and response.status}"
    assert await page.locator("h1").count() >= 1, "the home page has no <h1>"

    # The calendar, through the main navigation.
    nav = page.get_by_role("navigation", name="Hauptnavigation")
    await nav.get_by_role("link", name="Kalender").click()
    await page.wait_for_url(re.compile(r"/kalender"))
    assert await page.locator("h1").count() >= 1, "the calendar has no <h1>"

    # The month of a meeting that leads to a paper with a PDF; then the meeting itself.
    response = await page.goto(f"/kalender?monat={demo_facts.meeting_month}")
    assert response is not None and response.ok, f"/kalender?monat= answered {response and response.status}"
    meeting_link = page.locator(f'main a[href="/sitzungen/{demo_facts.meeting_id}"]').first
    await meeting_link.click()
    await page.wait_for_url(re.compile(rf"/sitzungen/{demo_facts.meeting_id}$"))

    # A paper linked from the agenda.
    await page.locator(f'main a[href="/vorlagen/{demo_facts.paper_id}"]').first.click()
    await page.wait_for_url(re.compile(rf"/vorlagen/{demo_facts.paper_id}$"))

    # One of its documents: the page shows the extracted text.
    await page.locator(f'main a[href="/dokumente/{demo_facts.file_id}"]').first.click()
    await page.wait_for_url(re.compile(rf"/dokumente/{demo_facts.file_id}$"))
    sample = text_sample(demo_facts.file_text)
    body_text = " ".join((await page.locator("main").inner_text()).split())
    assert sample in body_text, f"document page does not show the extracted text (looked for {sample!r})"

    # The PDF itself, inline and as a download.
    inline = page.locator(f'main a[href="/dokumente/{demo_facts.file_id}/datei"]').first
    assert await inline.count() == 1, "document page has no link to the file"
    href = await inline.get_attribute("href")
    pdf = await page.request.get(href)
    assert pdf.ok, f"{href} answered {pdf.status}"
    assert pdf.headers["content-type"].startswith("application/pdf")
    assert (await pdf.body()).startswith(b"%PDF")

    download = await page.request.get(f"/dokumente/{demo_facts.file_id}/download")
    assert download.ok
    assert download.headers["content-type"].startswith("application/pdf")
    assert download.headers.get("content-disposition", "").startswith("attachment")

    page.problems.assert_none()


async def test_unknown_meeting_is_a_404_page(page: Any) -> None:
    response = await page.goto("/sitzungen/999999999")
    assert response is not None and response.status == 404
    assert await page.locator("h1").count() >= 1, "the 404 page has no <h1>"
    # The site's own error page, not a bare framework message.
    assert await page.locator("nav").count() >= 1
