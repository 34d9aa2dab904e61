"""Helpers for vote tests that need real server processes.

``ForkServer``: a process that imports the app once, warms it (every template compiled, the modules that
the app imports on startup and on its first requests imported, uvicorn's protocol classes loaded) and
then forks a fresh uvicorn server per request: a child answers within a few tens of milliseconds and
serves its first ballot at full speed, so that the crash test can kill -9 a server a hundred times.
``Subprocess``: a plain ``uvicorn web.asgi:app`` process (two of them on one PostgreSQL database for the
cross-process race). Both listen on loopback only and are always killed.

Run as ``python -m tests.integration.vote_server``: reads a port per line on stdin, answers the pid.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from council.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "RATHAUS_DATABASE_URL": settings.resolved_database_url,
            "RATHAUS_VAR_DIR": str(settings.var_dir),
            "RATHAUS_SECRET_KEY": settings.secret_key,
            "RATHAUS_JOBS_IN_PROCESS": "false",
            "RATHAUS_PAGE_CACHE_SECONDS": "0",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


async def wait_ready(
    base: str, limit_s: float = 20.0, proc: Any = None, client: httpx.AsyncClient | None = None
) -> None:
    """Poll ``base``/healthz until it answers 200. ``client``: reuse one (a new ``httpx.AsyncClient``
    costs ~25 ms of CPU, its TLS context, which a loop of a hundred servers feels)."""
    deadline = time.monotonic() + limit_s
    own = client is None
    http = client or httpx.AsyncClient(timeout=2)
    try:
        while time.monotonic() < deadline:
            try:
                if (await http.get(f"{base}/healthz", timeout=2)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if proc is not None and proc.poll() is not None:
                raise RuntimeError("server process ended")
            await asyncio.sleep(0.01)
    finally:
        if own:
            await http.aclose()
    raise RuntimeError(f"server at {base} did not start")


class Subprocess:
    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "web.asgi:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=ROOT,
            env=server_env(settings),
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


class ForkServer:
    """The zygote: ``spawn()`` gives (pid, base URL) of a new server process.

    With ``spare`` (the default) one server is always forked ahead: ``spawn()`` hands out the one started
    during the previous round (usually listening already) and forks the next, so a server's start
    overlaps the round before instead of adding to it.
    """

    def __init__(self, settings: Settings, *, spare: bool = True) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.vote_server"],
            cwd=ROOT,
            env=server_env(settings),
            start_new_session=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.children: list[int] = []
        self.spare = spare
        self._next: tuple[int, str] | None = None

    def spawn(self) -> tuple[int, str]:
        if not self.spare:
            return self._fork()
        current = self._next or self._fork()
        self._next = self._fork()
        return current

    def _fork(self) -> tuple[int, str]:
        port = free_port()
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{port}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line.strip():
            raise RuntimeError("fork server died: " + (self.proc.stderr.read() if self.proc.stderr else ""))
        pid = int(line)
        self.children.append(pid)
        return pid, f"http://127.0.0.1:{port}"

    def kill(self, pid: int) -> None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        for pid in self.children:
            self.kill(pid)
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


def _vote_template(name: str) -> bool:
    """The templates the vote routes render (the page layout and its partials, errors, votes/)."""
    return name in ("base.html", "error.html") or name.startswith(("votes/", "partials/"))


def warm(app: Any) -> None:
    """Do once, in the zygote, what every forked server would otherwise do on its first requests.

    The app's lifespan runs once (its startup imports the database driver, the stream manager, …) with
    two requests through it, then shuts down cleanly: no event loop, connection or thread survives into
    the children. The vote routes' templates are compiled into the environment's cache, which the
    children inherit.
    """
    import threading

    import uvicorn

    env = app.template_engine.engine
    for name in env.list_templates(filter_func=_vote_template):
        env.get_template(name)
    uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error").load()

    async def first_requests() -> None:
        transport = httpx.ASGITransport(app=app)
        async with (
            app.lifespan(),
            httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client,
        ):
            for path in ("/healthz", "/anmelden"):
                await client.get(path)

    asyncio.run(first_requests())
    deadline = time.monotonic() + 5
    for thread in threading.enumerate():  # fork() copies no threads: let none hold a lock meanwhile
        if thread is not threading.main_thread():
            thread.join(timeout=max(0.0, deadline - time.monotonic()))


def _serve_forever() -> None:
    import uvicorn

    from web.app import create_app

    # Built and warmed once, before any event loop exists: every child serves a copy made by fork().
    app = create_app()
    warm(app)
    for line in sys.stdin:
        port = int(line)
        pid = os.fork()
        if pid == 0:
            try:
                uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", access_log=False)
            finally:
                os._exit(0)
        print(pid, flush=True)
        try:  # reap the children killed before
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass


if __name__ == "__main__":
    _serve_forever()
