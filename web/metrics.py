"""Prometheus metrics at ``/metrics`` (text exposition format 0.0.4), written by hand.

Why by hand: a dozen series do not justify a dependency, and the numbers that matter most (job queue,
streams, WHEP viewers, transcription speed) are read when scraped, from the database and the stream
manager, rather than kept in a registry. Each app process exposes its own request counters; scrape
every process (or every ``--workers`` port) — the database-derived series are the same everywhere.

Access: the operator token (``Authorization: Bearer …``, see ``web/controllers/ops.py``) or a direct
loopback client (no proxy headers). Behind nginx every client looks like loopback, which is why the
proxy headers count and docs/nginx/rathaus.conf refuses ``/metrics`` from outside.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from litestar import Request, get
from litestar.exceptions import NotAuthorizedException
from litestar.response import Response
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy import func, select

from council.core.tokens import same_secret

#: Latency histogram buckets (seconds).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """Request counters of this process (the other series are read at scrape time)."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self.latency: dict[str, list[int]] = {}
        self.latency_sum: dict[str, float] = defaultdict(float)
        self.latency_count: dict[str, int] = defaultdict(int)
        self.sse_clients = 0

    def observe(self, method: str, route: str, status: int, seconds: float | None) -> None:
        self.requests[(method, route, str(status))] += 1
        if seconds is None:
            return
        counts = self.latency.setdefault(route, [0] * len(BUCKETS))
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                counts[i] += 1
        self.latency_sum[route] += seconds
        self.latency_count[route] += 1


def get_metrics(app: Any) -> Metrics:
    metrics: Metrics | None = getattr(app.state, "metrics", None)
    if metrics is None:
        metrics = app.state.metrics = Metrics()
    return metrics


def metrics_middleware(app: ASGIApp) -> ASGIApp:
    """Counts every HTTP request by route template and status; times all but SSE streams."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        metrics = get_metrics(scope["app"])
        started = time.perf_counter()
        status = 500
        sse = False

        async def wrapped(message: Message) -> None:
            nonlocal status, sse
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for key, value in message.get("headers", []):
                    is_type = bytes(key).lower() == b"content-type"
                    if is_type and bytes(value).startswith(b"text/event-stream"):
                        sse = True
                        metrics.sse_clients += 1
            await send(message)

        try:
            await app(scope, receive, wrapped)
        finally:
            if sse:
                metrics.sse_clients -= 1
            route = str(scope.get("path_template") or "unmatched")  # a template: bounded label values
            method = str(scope.get("method", "GET"))
            metrics.observe(method, route, status, None if sse else time.perf_counter() - started)

    return middleware


# --- exposition --------------------------------------------------------------------------------------


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class _Out:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]

    def sample(self, name: str, value: float, **labels: object) -> None:
        if labels:
            inner = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            self.lines.append(f"{name}{{{inner}}} {value:g}")
        else:
            self.lines.append(f"{name} {value:g}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _stream_figures(app: Any) -> list[tuple[int, float, int, int]]:
    """``(meeting_id, bitrate bit/s over the last ten segments, restarts, segments)`` per live stream."""
    from streaming.paths import meeting_paths

    manager = getattr(app.state, "streams", None)
    if manager is None:
        return []
    out = []
    for meeting_id, live in list(getattr(manager, "_live", {}).items()):
        entries = list(getattr(live, "entries", []))[-10:]
        raw_dir = meeting_paths(app.state.settings.media_dir, meeting_id).raw
        size, dur = 0, 0.0
        for e in entries:
            try:
                size += (raw_dir / e.raw).stat().st_size
                dur += e.dur
            except (OSError, AttributeError):
                continue
        out.append((meeting_id, size * 8 / dur if dur else 0.0, int(live.restarts), len(live.entries)))
    return out


async def render(app: Any) -> str:
    from council.core.jobs import Job
    from transcripts.models import TranscriptRun

    metrics = get_metrics(app)
    out = _Out()
    out.family("rathaus_http_requests_total", "counter", "HTTP requests by method, route and status.")
    for (method, route, status), n in sorted(metrics.requests.items()):
        out.sample("rathaus_http_requests_total", n, method=method, route=route, status=status)
    out.family("rathaus_http_request_duration_seconds", "histogram", "Time to the end of the response.")
    for route, counts in sorted(metrics.latency.items()):
        for bound, n in zip(BUCKETS, counts, strict=True):
            out.sample("rathaus_http_request_duration_seconds_bucket", n, route=route, le=f"{bound:g}")
        total = metrics.latency_count[route]
        out.sample("rathaus_http_request_duration_seconds_bucket", total, route=route, le="+Inf")
        out.sample("rathaus_http_request_duration_seconds_sum", metrics.latency_sum[route], route=route)
        out.sample("rathaus_http_request_duration_seconds_count", metrics.latency_count[route], route=route)
    out.family("rathaus_sse_clients", "gauge", "Open server-sent-event streams (live pages) in this process.")
    out.sample("rathaus_sse_clients", metrics.sse_clients)

    rtc = getattr(app.state, "rtc", None)
    per_meeting: dict[int, int] = defaultdict(int)
    if rtc is not None:
        for v in list(getattr(rtc.viewers, "viewers", {}).values()):
            per_meeting[int(v.meeting_id)] += 1
    out.family("rathaus_whep_viewers", "gauge", "Live WebRTC (WHEP) viewers in this process, per meeting.")
    out.sample("rathaus_whep_viewers", sum(per_meeting.values()), meeting="all")
    for mid, n in sorted(per_meeting.items()):
        out.sample("rathaus_whep_viewers", n, meeting=mid)

    streams = _stream_figures(app)
    out.family("rathaus_stream_live", "gauge", "Streams this process is packaging.")
    out.sample("rathaus_stream_live", len(streams))
    out.family("rathaus_stream_bitrate_bits_per_second", "gauge", "Bit rate of the last ten segments.")
    for mid, bitrate, _restarts, _segs in streams:
        out.sample("rathaus_stream_bitrate_bits_per_second", round(bitrate), meeting=mid)
    out.family("rathaus_stream_restarts_total", "counter", "ffmpeg restarts of the stream's packager.")
    for mid, _bitrate, restarts, _segs in streams:
        out.sample("rathaus_stream_restarts_total", restarts, meeting=mid)
    out.family("rathaus_stream_segments", "gauge", "Segments published by the live stream.")
    for mid, _bitrate, _restarts, segs in streams:
        out.sample("rathaus_stream_segments", segs, meeting=mid)

    db = getattr(app.state, "db", None)
    if db is not None:
        async with db.sessionmaker() as s:
            rows = (await s.execute(select(Job.state, func.count()).group_by(Job.state))).all()
            run = (
                await s.execute(
                    select(TranscriptRun)
                    .where(TranscriptRun.finished.is_not(None), TranscriptRun.started.is_not(None))
                    .order_by(TranscriptRun.finished.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
        out.family("rathaus_jobs", "gauge", "Jobs in the queue table by state.")
        by_state: dict[str, int] = {str(state): int(n) for state, n in rows}
        for state in sorted({"queued", "running", "done", "failed", *by_state}):
            out.sample("rathaus_jobs", by_state.get(state, 0), state=state)
        out.family(
            "rathaus_transcription_realtime_factor",
            "gauge",
            "Recording seconds per wall-clock second of the last finished transcription.",
        )
        if run is not None and run.duration_s and run.started and run.finished:
            took = (run.finished - run.started).total_seconds()
            if took > 0:
                out.sample("rathaus_transcription_realtime_factor", round(run.duration_s / took, 3))
    return out.text()


def _allowed(request: Request[Any, Any, Any]) -> bool:
    from web.controllers.ops import ops_token

    scheme, _sep, token = request.headers.get("authorization", "").partition(" ")
    expected = ops_token(request.app.state.settings)
    if scheme.lower() == "bearer" and same_secret(token.strip(), expected):
        return True
    proxied = any(h in request.headers for h in ("x-forwarded-for", "x-real-ip", "forwarded"))
    host = request.client.host if request.client else ""
    return not proxied and host in ("127.0.0.1", "::1")


@get("/metrics", name="metrics", cache=False, include_in_schema=False)
async def metrics_endpoint(request: Request[Any, Any, Any]) -> Response[str]:
    if not _allowed(request):
        raise NotAuthorizedException(detail="Metriken nur mit Betriebs-Token oder von localhost.")
    return Response(await render(request.app), media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})


routes: list[Any] = [metrics_endpoint]
