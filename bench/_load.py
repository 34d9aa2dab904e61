"""The shared load generator: a real server process, N keep-alive HTTP workers, percentiles, a table, JSON.

Everything is bounded: every run stops at ``duration`` seconds or ``max_requests`` requests, whichever
comes first; the server listens on loopback only and is always terminated (``Server`` is a context
manager that kills its process group on the way out, also on errors and Ctrl-C).

Besides latency and throughput, each endpoint records the CPU time the *server process* spent per request
(read from ``/proc/<pid>/stat``). On a shared machine req/s moves with whatever else runs; CPU per request
moves much less, so it is the better figure for comparing endpoints and backends.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "bench" / "results"
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# --- figures --------------------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (``p`` in 0..100); NaN when empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class Target:
    """What an endpoint must reach; ``None`` means no requirement on that figure."""

    min_rps: float | None = None
    max_p95_ms: float | None = None

    def check(self, result: EndpointResult) -> str:
        if self.min_rps is None and self.max_p95_ms is None:
            return "-"
        failed = []
        if self.min_rps is not None and not result.rps >= self.min_rps:
            failed.append(f"req/s<{self.min_rps:g}")
        if self.max_p95_ms is not None and not result.p95 < self.max_p95_ms:
            failed.append(f"p95>={self.max_p95_ms:g}ms")
        if result.errors:
            failed.append("errors")
        return "PASS" if not failed else "FAIL (" + ", ".join(failed) + ")"

    def describe(self) -> str:
        parts = []
        if self.min_rps is not None:
            parts.append(f"≥{self.min_rps:g} req/s")
        if self.max_p95_ms is not None:
            parts.append(f"p95<{self.max_p95_ms:g} ms")
        return ", ".join(parts) or "-"


@dataclass
class EndpointResult:
    name: str
    paths: int
    concurrency: int
    elapsed_s: float
    latencies_ms: list[float]
    status: Counter[int] = field(default_factory=Counter)
    exceptions: Counter[str] = field(default_factory=Counter)
    bytes_received: int = 0
    server_cpu_s: float | None = None
    client_cpu_s: float | None = None
    target: Target = field(default_factory=Target)
    error_samples: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.latencies_ms.sort()

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def errors(self) -> int:
        """Non-2xx answers and transport failures."""
        return sum(n for code, n in self.status.items() if not 200 <= code < 300) + sum(
            self.exceptions.values()
        )

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def p50(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p95(self) -> float:
        return percentile(self.latencies_ms, 95)

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 99)

    @property
    def max(self) -> float:
        return self.latencies_ms[-1] if self.latencies_ms else math.nan

    @property
    def server_cpu_ms_per_request(self) -> float | None:
        if self.server_cpu_s is None or not self.requests:
            return None
        return self.server_cpu_s * 1000 / self.requests

    @property
    def client_cpu_ms_per_request(self) -> float | None:
        if self.client_cpu_s is None or not self.requests:
            return None
        return self.client_cpu_s * 1000 / self.requests

    @property
    def verdict(self) -> str:
        return self.target.check(self)

    def as_json(self, baseline: EndpointResult | None = None) -> dict[str, Any]:
        def r(x: float | None, nd: int = 2) -> float | None:
            return None if x is None or math.isnan(x) else round(x, nd)

        return {
            "name": self.name,
            "distinct_paths": self.paths,
            "concurrency": self.concurrency,
            "requests": self.requests,
            "elapsed_s": r(self.elapsed_s, 3),
            "rps": r(self.rps, 1),
            "p50_ms": r(self.p50),
            "p95_ms": r(self.p95),
            "p99_ms": r(self.p99),
            "max_ms": r(self.max),
            "mean_ms": r(sum(self.latencies_ms) / self.requests if self.requests else math.nan),
            "errors": self.errors,
            "status": {str(k): v for k, v in sorted(self.status.items())},
            "exceptions": dict(self.exceptions),
            "error_samples": self.error_samples[:10],
            "bytes_per_request": round(self.bytes_received / self.requests) if self.requests else None,
            "server_cpu_ms_per_request": r(self.server_cpu_ms_per_request, 3),
            "client_cpu_ms_per_request": r(self.client_cpu_ms_per_request, 3),
            "rps_vs_baseline": r(self.rps / baseline.rps, 3) if baseline and baseline.rps else None,
            "target": self.target.describe(),
            "verdict": self.verdict,
        }


# --- the server process ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux ``/proc``); None where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # after the ")" the fields start at #3 (state): utime is #14, stime #15
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


#: Servers started and not yet stopped: stopped at interpreter exit whatever happened before.
_LIVE: set[Server] = set()


@atexit.register
def _stop_live_servers() -> None:
    for server in list(_LIVE):
        server.stop()


def cancel_on_sigterm() -> None:
    """Call inside the main coroutine: SIGTERM (``timeout``, ``kill``) cancels it, so every ``finally``
    (and ``with Server``) runs and the server process is stopped."""
    task = asyncio.current_task()
    if task is None:
        return
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    except (NotImplementedError, RuntimeError):  # not on this platform / not the main thread
        pass


def tree_cpu_seconds(root: int) -> float | None:
    """User + system CPU of a process and all its descendants (the uvicorn supervisor and its workers)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = (Path("/proc") / entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(entry)] = int(fields[1])
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    known = [t for t in (process_cpu_seconds(pid) for pid in tree) if t is not None]
    return sum(known) if known else None


class Server:
    """``uvicorn web.asgi:app`` in its own process (``workers`` worker processes, default 1), on
    loopback, with the given environment. ``cpu_seconds`` counts the supervisor and its workers.

    Use as a context manager; the process group is terminated (then killed) on exit, whatever happened.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        log_path: Path,
        app: str = "web.asgi:app",
        startup_timeout: float = 90.0,
        workers: int = 1,
    ) -> None:
        self.workers = max(1, workers)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.app = app
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float | None:
        if self.proc is None:
            return None
        return process_cpu_seconds(self.pid) if self.workers == 1 else tree_cpu_seconds(self.pid)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        cmd = [
            sys.executable, "-m", "uvicorn", self.app,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--workers", str(self.workers), "--no-access-log", "--log-level", "warning",
            "--no-proxy-headers", "--timeout-keep-alive", "30",
        ]  # fmt: skip
        _LIVE.add(self)
        self.proc = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: we can always kill all of it
        )
        deadline = time.monotonic() + self.startup_timeout
        # With several workers: a few answers in a row, so that not just the first worker is up.
        wanted, ready = (1 if self.workers == 1 else 3), 0
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode}; log: {self.log_path}\n{self.log_tail()}"
                )
            try:
                resp = httpx.get(self.base_url + "/healthz", timeout=2.0)
                ready = ready + 1 if resp.status_code == 200 else 0
                if ready >= wanted:
                    if self.workers > 1:
                        time.sleep(min(10.0, 1.0 * self.workers))  # every worker up before figures start
                    return
            except httpx.HTTPError:
                ready = 0
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"server did not answer /healthz in {self.startup_timeout:.0f} s; log: {self.log_path}"
                )
            time.sleep(0.2)

    def stop(self) -> None:
        _LIVE.discard(self)
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def __enter__(self) -> Server:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the load -------------------------------------------------------------------------------------------


class Response:
    __slots__ = ("content", "status_code")

    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code = status_code
        self.content = content


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, parsed with httptools (what uvicorn uses on the server side)."""

    def __init__(self, timeout: float) -> None:
        import httptools

        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Response] | None = None
        self.body: list[bytes] = []
        self.timeout = timeout
        self.closed = False
        self.keep_alive = True

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except Exception as exc:  # malformed response: fail this request, drop the connection
            self._fail(ConnectionError(f"bad response: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionError("connection closed by server"))

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.body = []

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(Response(self.parser.get_status_code(), b"".join(self.body)))

    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def request(self, raw: bytes) -> Response:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self.waiter = waiter = loop.create_future()
        timer = loop.call_later(self.timeout, self._fail, TimeoutError(f"no answer in {self.timeout:g} s"))
        self.transport.write(raw)
        try:
            return await waiter
        finally:
            timer.cancel()


class RawClient:
    """A lean keep-alive HTTP/1.1 GET client: ~10x less CPU per request than httpx.

    On two cores the load generator competes with the server for CPU; httpx spends ~1.4 ms of CPU per
    request here, which caps the whole run near 700 req/s whatever the server does. This client sends a
    fixed request line and headers and parses the answer with httptools; it does not decompress.
    """

    def __init__(
        self, base_url: str, concurrency: int, headers: Mapping[str, str], timeout: float = 30.0
    ) -> None:
        parts = httpx.URL(base_url)
        self.host = parts.host
        self.port = parts.port or 80
        self.timeout = timeout
        self.concurrency = concurrency
        self._idle: list[_Connection] = []
        self._all: list[_Connection] = []
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._head = f"Host: {self.host}:{self.port}\r\n{lines}\r\n".encode("latin-1")

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, conn = await asyncio.wait_for(
            loop.create_connection(lambda: _Connection(self.timeout), self.host, self.port), self.timeout
        )
        self._all.append(conn)
        return conn

    async def get(self, path: str) -> Response:
        conn = None
        while self._idle and conn is None:
            conn = self._idle.pop()
            if conn.closed:
                conn = None
        if conn is None:
            conn = await self._connect()
        raw = b"GET " + path.encode("ascii") + b" HTTP/1.1\r\n" + self._head
        try:
            resp = await conn.request(raw)
        except BaseException:
            conn.close()
            raise
        if conn.keep_alive and not conn.closed:
            self._idle.append(conn)
        else:
            conn.close()
        return resp

    async def aclose(self) -> None:
        for conn in self._all:
            conn.close()
        self._all.clear()
        self._idle.clear()

    async def __aenter__(self) -> RawClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


#: Sent with every request: what a browser asks for (the app gzips HTML over 1 KiB).
REQUEST_HEADERS = {"accept": "text/html", "accept-encoding": "gzip", "user-agent": "rathaus-bench"}


def make_client(base_url: str, concurrency: int, kind: str = "raw") -> Any:
    """One HTTP/1.1 keep-alive connection per worker: ``raw`` (lean, default) or ``httpx``."""
    if kind == "raw":
        return RawClient(base_url, concurrency, REQUEST_HEADERS)
    return httpx.AsyncClient(
        base_url=base_url,
        http2=False,
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        timeout=httpx.Timeout(30.0),
        follow_redirects=False,
        headers=REQUEST_HEADERS,
    )


async def drive(
    client: Any,
    name: str,
    paths: Sequence[str],
    *,
    duration: float,
    concurrency: int,
    max_requests: int,
    server: Server | None = None,
    target: Target | None = None,
) -> EndpointResult:
    """Request ``paths`` round-robin from ``concurrency`` workers until ``duration`` or ``max_requests``.

    The order is deterministic (a shared counter over ``paths``); each latency is the time from sending
    the request to having read the whole body.
    """
    if not paths:
        raise ValueError(f"{name}: no paths to request")
    latencies: list[float] = []
    status: Counter[int] = Counter()
    exceptions: Counter[str] = Counter()
    samples: list[str] = []
    received = 0
    counter = 0
    n_paths = len(paths)
    deadline = math.inf  # set just before the workers start

    async def worker() -> None:
        nonlocal counter, received
        while True:
            i = counter
            if i >= max_requests or time.perf_counter() >= deadline:
                return
            counter = i + 1
            path = paths[i % n_paths]
            t0 = time.perf_counter()
            try:
                resp = await client.get(path)
                body = resp.content
            except Exception as exc:  # transport failures count as errors, the run goes on
                latencies.append((time.perf_counter() - t0) * 1000)
                exceptions[type(exc).__name__] += 1
                if len(samples) < 10:
                    samples.append(f"{path}: {type(exc).__name__}: {exc}")
                continue
            latencies.append((time.perf_counter() - t0) * 1000)
            status[resp.status_code] += 1
            received += len(body)
            if not 200 <= resp.status_code < 300 and len(samples) < 10:
                samples.append(f"{path}: HTTP {resp.status_code}")

    cpu0 = server.cpu_seconds() if server else None
    ccpu0 = time.process_time()
    start = time.perf_counter()
    deadline = start + duration
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    ccpu = time.process_time() - ccpu0
    cpu1 = server.cpu_seconds() if server else None
    return EndpointResult(
        name=name,
        paths=n_paths,
        concurrency=concurrency,
        elapsed_s=elapsed,
        latencies_ms=latencies,
        status=status,
        exceptions=exceptions,
        bytes_received=received,
        server_cpu_s=(cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else None,
        client_cpu_s=ccpu,
        target=target or Target(),
        error_samples=samples,
    )


async def warm_up(client: Any, paths: Sequence[str], *, seconds: float, concurrency: int) -> None:
    """Touch every path once (bounded by ``seconds``): templates compiled, pools filled, caches warm."""
    deadline = time.perf_counter() + seconds
    queue = list(paths)

    async def worker() -> None:
        while queue and time.perf_counter() < deadline:
            path = queue.pop()
            try:
                await client.get(path)
            except Exception:  # warm-up only
                pass

    await asyncio.gather(*(worker() for _ in range(concurrency)))


# --- output ---------------------------------------------------------------------------------------------


def _f(x: float | None, nd: int = 1) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def format_table(results: Sequence[EndpointResult], baseline: EndpointResult | None) -> str:
    header = (
        "endpoint", "paths", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms",
        "errors", "srv cpu ms/req", "vs /healthz", "target", "check",
    )  # fmt: skip
    rows = [header]
    for res in results:
        ratio = res.rps / baseline.rps if baseline and baseline.rps else None
        rows.append(
            (
                res.name, str(res.paths), str(res.requests), _f(res.rps), _f(res.p50, 2), _f(res.p95, 2),
                _f(res.p99, 2), _f(res.max, 1), str(res.errors), _f(res.server_cpu_ms_per_request, 2),
                "-" if ratio is None else f"{ratio:.2f}x", res.target.describe(), res.verdict,
            )
        )  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    numeric = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
    lines = []
    for n, row in enumerate(rows):
        cells = [
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "loadavg_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import litestar
        import sqlalchemy
        import uvicorn

        info["versions"] = {
            "litestar": getattr(litestar, "__version__", None) and str(litestar.__version__),
            "sqlalchemy": sqlalchemy.__version__,
            "uvicorn": uvicorn.__version__,
            "httpx": httpx.__version__,
        }
    except Exception:  # informational only
        pass
    return info


def write_json(name: str, payload: Mapping[str, Any], results_dir: Path = RESULTS_DIR) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    path = results_dir / f"{name}-{stamp}.json"
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    latest = results_dir / f"{name}-latest.json"
    latest.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    return path
