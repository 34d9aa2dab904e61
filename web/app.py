"""The app factory: the one place that wires Rathaus together."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from litestar import Litestar, Request
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.config.compression import CompressionConfig
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware.base import DefineMiddleware
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import ASGIApp, Empty, Receive, Scope, Send

from council.core.db import Database
from council.core.jobs import JobRunner
from council.core.settings import Settings, get_settings
from web import i18n
from web.cache import PageCache, page_cache_middleware
from web.controllers import route_handlers
from web.deps import provide_db_session, provide_viewer, session_middleware
from web.errors import exception_handlers
from web.guards import exception_handlers as guard_exception_handlers
from web.metrics import metrics_middleware
from web.templating import make_environment

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"

#: Strict CSP: no inline scripts or styles, no eval; htmx is configured for it in base.html.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'; object-src 'none'"
)


def locale_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            cookie = None
            query = None
            for key, value in scope.get("headers", []):
                if key == b"cookie":
                    for part in value.decode("latin-1").split(";"):
                        name, _, val = part.strip().partition("=")
                        if name == "lang":
                            cookie = val
            qs = scope.get("query_string", b"").decode("latin-1")
            for part in qs.split("&"):
                name, _, val = part.partition("=")
                if name == "lang":
                    query = val
            token = i18n.current_locale.set(i18n.negotiate(cookie, query))
            try:
                await app(scope, receive, send)
            finally:
                i18n.current_locale.reset(token)
        else:
            await app(scope, receive, send)

    return middleware


SECURITY_HEADERS = {
    b"content-security-policy": CSP.encode(),
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"same-origin",
    b"x-frame-options": b"DENY",
    b"permissions-policy": b"camera=(self), microphone=(self), geolocation=()",
}


async def add_security_headers(message: Any, scope: Scope) -> None:
    """A before_send hook, so that every response gets them — error pages of unmatched routes too."""
    if message["type"] != "http.response.start":
        return
    headers = list(message.get("headers", []))
    present = {bytes(k).lower() for k, _ in headers}
    headers.extend((k, v) for k, v in SECURITY_HEADERS.items() if k not in present)
    message["headers"] = headers


def _channels_backend(settings: Settings) -> ChannelsBackend:
    if settings.channels_backend == "redis":
        from litestar.channels.backends.redis import RedisChannelsPubSubBackend
        from redis.asyncio import Redis

        return RedisChannelsPubSubBackend(redis=Redis.from_url(settings.redis_url))
    if settings.channels_backend == "postgres":
        from litestar.channels.backends.asyncpg import AsyncPgChannelsBackend

        dsn = settings.resolved_database_url.replace("postgresql+asyncpg://", "postgresql://")
        return AsyncPgChannelsBackend(dsn=dsn)
    return MemoryChannelsBackend(history=0)


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()

    async def on_startup(app: Litestar) -> None:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        app.state.page_cache = PageCache(ttl=settings.page_cache_seconds)
        db = Database(settings)
        app.state.db = db
        app.state.settings = settings
        if settings.saq_url:
            # Jobs run on SAQ workers (``rathaus worker --saq``): wake() puts a drain on their queue.
            from council.core.saq import SaqWaker

            waker = SaqWaker(settings)
            app.state.jobs = waker
            await waker.start()
        else:
            runner = JobRunner(db.sessionmaker, settings=settings)
            app.state.jobs = runner
            if settings.jobs_in_process:
                _register_jobs()
                await runner.start(sole_worker=True)
        # streaming: app.state.streams (StreamManager), app.state.on_archived hook, the demo stream
        from web import media_wiring

        await media_wiring.startup(app)
        # transcripts: live captions on stream start, the final transcript job on archive
        from web import transcripts_wiring

        await transcripts_wiring.startup(app)

    async def on_shutdown(app: Litestar) -> None:
        from web import media_wiring
        from web.controllers.media_rtc import close_rtc

        await close_rtc(app)  # WHIP publishers and WHEP viewers first: they feed the packagers
        from web import transcripts_wiring

        await transcripts_wiring.shutdown(app)  # live captioners read the packagers' audio
        await media_wiring.shutdown(app)  # stop the packagers before the database goes
        runner: JobRunner | None = getattr(app.state, "jobs", None)
        if runner is not None:
            await runner.stop()
        from web.limits import close_form_limiter

        await close_form_limiter(app)
        db: Database | None = getattr(app.state, "db", None)
        if db is not None:
            await db.dispose()

    env = make_environment(auto_reload=settings.debug)
    env.globals["municipality_name"] = settings.municipality_name
    template_config = TemplateConfig(engine=JinjaTemplateEngine.from_environment(env))

    channels = ChannelsPlugin(
        backend=_channels_backend(settings),
        arbitrary_channels_allowed=True,
        create_ws_route_handlers=False,
        subscriber_max_backlog=1000,
        subscriber_backlog_strategy="dropleft",
    )

    csrf = CSRFConfig(
        secret=settings.secret_key,
        cookie_name="csrftoken",
        cookie_secure=settings.secure_cookies,
        cookie_httponly=False,
        cookie_samesite="lax",
        header_name="x-csrftoken",
        # WHIP: Bearer stream key; WHEP: no state but its own; /api/ops: Bearer operator token;
        # unsubscribing from invitation mails: the HMAC key in the URL is the token (RFC 8058 one-click
        # POSTs come from mail providers, without our cookie)
        exclude=["/oparl", "^/whip/", "^/whep/", "^/api/ops/", "^/einladungen/abbestellen/"],
    )

    static = create_static_files_router(
        path="/static", directories=[STATIC_DIR], name="static", cache_control=None
    )

    app = Litestar(
        route_handlers=[*route_handlers, static],
        dependencies={
            "db_session": Provide(provide_db_session),
            "viewer": Provide(provide_viewer),
        },
        plugins=[channels, HTMXPlugin()],
        template_config=template_config,
        csrf_config=csrf,
        compression_config=CompressionConfig(
            backend="gzip", minimum_size=1024, gzip_compress_level=6, exclude_opt_key="skip_compression"
        ),
        middleware=[
            DefineMiddleware(metrics_middleware),  # outermost: counts and times every request
            DefineMiddleware(page_cache_middleware),
            DefineMiddleware(locale_middleware),
            DefineMiddleware(session_middleware),  # settles request.state viewer (council.accounts)
        ],
        exception_handlers={**exception_handlers, **guard_exception_handlers},
        before_send=[add_security_headers],
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        request_max_body_size=settings.max_upload_bytes + 1024 * 1024,
        debug=settings.debug,
        # JSON logs: leave logging to web.logs.configure_logging (Litestar's default would put its own
        # plain-text handler on the root logger at startup)
        logging_config=None if settings.log_format == "json" else Empty,
        state=State({"settings": settings}),
    )
    return app


def _register_jobs() -> None:
    """Import the modules whose job functions the in-process runner must know."""
    import importlib

    for module in JOB_MODULES:
        importlib.import_module(module)


#: Modules that register job functions with ``council.core.jobs.job``.
JOB_MODULES = [
    "council.alerts.jobs",
    "council.backoffice.jobs",
    "council.documents.jobs",
    "council.search.jobs",
    "streaming.jobs",
    "transcripts.jobs",
    "transcripts.search",
]


def request_settings(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings
