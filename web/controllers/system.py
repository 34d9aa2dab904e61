"""Health, readiness, metrics (``web/metrics.py``) and the language switch."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from litestar import Request, get
from litestar.datastructures import Cookie
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from web import i18n, metrics


@get("/healthz", name="healthz", cache=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _file_store_check(settings: Any) -> str:
    """The file store exists and takes a write (a full or read-only disk fails here first)."""
    try:
        for d in (settings.files_dir, settings.media_dir):
            d.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=d, prefix=".readyz-"):
                pass
    except OSError as exc:
        return f"error: not writable ({exc.strerror or type(exc).__name__})"
    return "ok"


def _ffmpeg_check(settings: Any) -> str:
    try:
        from transcripts.final import ffmpeg_exe

        exe = ffmpeg_exe(settings)
    except Exception as exc:  # imageio-ffmpeg without its binary raises here
        return f"error: {type(exc).__name__}"
    found = shutil.which(exe) if not os.path.isabs(exe) else (exe if os.access(exe, os.X_OK) else None)
    return "ok" if found else f"error: not found ({exe})"


def _model_check(settings: Any) -> str:
    """Present (a configured dir with model.bin, or the assembled base) or assemblable from the packages."""
    from transcripts.model_files import MARKER, ModelFilesError, default_model_dir, source_files

    if settings.whisper_model_dir:
        ok = (Path(settings.whisper_model_dir) / "model.bin").is_file()
        return "ok" if ok else f"error: no model.bin in {settings.whisper_model_dir}"
    if (default_model_dir(settings) / MARKER).is_file():
        return "ok"
    try:
        source_files()
    except ModelFilesError as exc:
        return f"error: {exc}"
    return "ok (assembled on first use)"


def _jobs_check(request: Request[Any, Any, Any]) -> str:
    settings = request.app.state.settings
    runner = getattr(request.app.state, "jobs", None)
    if settings.saq_url:
        return "ok (SAQ workers)"
    if not settings.jobs_in_process:
        return "ok (external worker)"
    tasks = getattr(runner, "_tasks", None)
    if runner is None or not tasks:
        return "error: job runner not started"
    if all(t.done() for t in tasks):
        return "error: job runner stopped"
    return "ok"


@get("/readyz", name="readyz", cache=False)
async def readyz(request: Request[Any, Any, Any], db_session: AsyncSession) -> Response[dict[str, Any]]:
    """Readiness for a load balancer: 200 when every check starts with ``ok``, else 503 with the reasons."""
    checks: dict[str, str] = {}
    try:
        await db_session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # readiness reports, it does not raise
        checks["database"] = f"error: {type(exc).__name__}"
    settings = request.app.state.settings
    checks["file_store"] = await asyncio.to_thread(_file_store_check, settings)
    checks["jobs"] = _jobs_check(request)
    checks["ffmpeg"] = await asyncio.to_thread(_ffmpeg_check, settings)
    checks["whisper_model"] = await asyncio.to_thread(_model_check, settings)
    ok = all(v.startswith("ok") for v in checks.values())
    return Response(
        {"status": "ok" if ok else "error", "checks": checks},
        status_code=200 if ok else 503,
        headers={"Cache-Control": "no-store"},
    )


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


routes: list[Any] = [healthz, readyz, set_language, *metrics.routes]
