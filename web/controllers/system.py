"""Health, readiness and the language switch."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar import Request, get
from litestar.datastructures import Cookie
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from web import i18n


@get("/healthz", name="healthz", cache=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", name="readyz", cache=False)
async def readyz(request: Request[Any, Any, Any], db_session: AsyncSession) -> Response[dict[str, Any]]:
    checks: dict[str, Any] = {}
    try:
        await db_session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # readiness reports, it does not raise
        checks["database"] = f"error: {type(exc).__name__}"
    settings = request.app.state.settings
    checks["file_store"] = "ok" if settings.var_dir.exists() else "missing"
    runner = getattr(request.app.state, "jobs", None)
    checks["jobs"] = "in-process" if settings.jobs_in_process and runner is not None else "external"
    ok = all(v in ("ok", "in-process", "external") for v in checks.values())
    return Response({"status": "ok" if ok else "error", "checks": checks}, status_code=200 if ok else 503)


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths: no open redirect."""
    if not target or "\\" in target or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@get("/sprache/{lang:str}", name="set_language", cache=False)
async def set_language(lang: str, next: str | None = None) -> Redirect:
    if lang not in i18n.LOCALES:
        raise NotFoundException()
    return Redirect(
        path=_safe_next(next),
        cookies=[Cookie(key="lang", value=lang, max_age=365 * 24 * 3600, samesite="lax", httponly=True)],
        status_code=303,
    )


routes: list[Any] = [healthz, readyz, set_language]
