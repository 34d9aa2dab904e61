"""Helpers for vote tests that need real server processes.

``ForkServer``: a process that imports the app once and then forks a fresh uvicorn server per request
(a few milliseconds instead of a second of imports), so that the crash test can kill -9 a server a
hundred times. ``Subprocess``: a plain ``uvicorn web.asgi:app`` process (two of them on one PostgreSQL
database for the cross-process race). Both listen on loopback only and are always killed.

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


async def wait_ready(base: str, limit_s: float = 20.0, proc: Any = None) -> None:
    deadline = time.monotonic() + limit_s
    async with httpx.AsyncClient(base_url=base, timeout=2) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if proc is not None and proc.poll() is not None:
                raise RuntimeError("server process ended")
            await asyncio.sleep(0.01)
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
    """The zygote: ``spawn()`` gives (pid, base URL) of a new server process."""

    def __init__(self, settings: Settings) -> None:
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

    def spawn(self) -> tuple[int, str]:
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


def _serve_forever() -> None:
    import uvicorn

    from web.app import create_app

    # Built once, before any event loop exists: every child serves a copy made by fork().
    app = create_app()
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
