"""The language switch: German by default, English on request, remembered, and back."""

from __future__ import annotations

import re
from typing import Any

import pytest

from web.i18n import translations

pytestmark = pytest.mark.e2e


async def test_switch_to_english_and_back(page: Any) -> None:
    await page.goto("/kalender")
    html = page.locator("html")
    assert await html.get_attribute("lang") == "de"

    await page.get_by_role("navigation", name="Sprache").locator('a[hreflang="en"]').click()
    await page.wait_for_url(re.compile(r"/kalender$"))
    assert await html.get_attribute("lang") == "en"

    # Remembered for the next page (a cookie, not a query parameter).
    await page.goto("/")
    assert await html.get_attribute("lang") == "en"
    english = translations("en").gettext("Kalender")
    if english != "Kalender":  # the English catalog is built at the end from all msgids
        nav = page.locator("nav.main-nav")
        assert english in await nav.inner_text()

    await page.locator('a[hreflang="de"]').first.click()
    await page.wait_for_url(re.compile(r"/$"))
    assert await html.get_attribute("lang") == "de"
    page.problems.assert_none()


async def test_unknown_language_is_404(page: Any) -> None:
    response = await page.goto("/sprache/xx")
    assert response is not None and response.status == 404
