"""Health, readiness, security headers and the language switch."""

from __future__ import annotations

import pytest


async def test_healthz_and_readyz(client):
    r = await client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["checks"]["database"] == "ok"


async def test_security_headers_on_pages(client):
    r = await client.get("/healthz")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"


async def test_language_switch_sets_cookie_and_redirects(client):
    r = await client.get("/sprache/en?next=/suche", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/suche"
    assert "lang=en" in r.headers["set-cookie"]


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "/ok\r\nSet-Cookie: x=1",
        "evil",
    ],
)
async def test_language_switch_never_redirects_off_site(client, target):
    r = await client.get("/sprache/de", params={"next": target}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/"


async def test_unknown_language_is_404(client):
    r = await client.get("/sprache/xx")
    assert r.status_code == 404
    assert "text/html" in r.headers["content-type"]


async def test_error_pages_follow_the_language(client):
    r = await client.get("/gibt-es-nicht")
    assert r.status_code == 404 and "Seite nicht gefunden" in r.text and 'lang="de"' in r.text
    r = await client.get("/gibt-es-nicht?lang=en")
    assert r.status_code == 404 and 'lang="en"' in r.text
    assert "Page not found" in r.text


async def test_security_headers_on_error_pages_of_unmatched_routes(client):
    r = await client.get("/gibt-es-nicht")
    assert r.status_code == 404
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
