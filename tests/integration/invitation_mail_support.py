"""A real SMTP sink on loopback (aiosmtpd) and a bounded wait for the invitation mail job."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select

from council.backoffice.models import InvitationDispatch
from council.core.settings import Settings


class Sink:
    """Keeps every accepted message; ``refuse`` maps an address to how many times to answer 451 first."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.refuse: dict[str, int] = {}
        self.refused: list[str] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.refuse.get(address, 0) > 0:
            self.refuse[address] -= 1
            self.refused.append(address)
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [
            parse(m)
            for m in self.messages
            if address in m.rcpt_tos  # one envelope per mail: the job sends one mail per recipient
        ]

    @property
    def recipients(self) -> list[str]:
        return sorted(r for m in self.messages for r in m.rcpt_tos)


def parse(envelope: Any) -> EmailMessage:
    msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def body(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


@contextlib.contextmanager
def smtp_sink(settings: Settings) -> Iterator[Sink]:
    from aiosmtpd.controller import Controller

    from tests.integration.vote_server import free_port

    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    old = settings.smtp_host, settings.smtp_port
    settings.smtp_host, settings.smtp_port = "127.0.0.1", port
    try:
        yield sink
    finally:
        controller.stop()
        settings.smtp_host, settings.smtp_port = old


async def wait_dispatches(db: Any, meeting_id: int, count: int = 1, limit_s: float = 120.0) -> list[Any]:
    """Wait (bounded, polling) until the meeting's ``count`` newest dispatches have finished."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while True:
        async with db.sessionmaker() as s:
            rows = list(
                (
                    await s.execute(
                        select(InvitationDispatch)
                        .where(InvitationDispatch.meeting_id == meeting_id)
                        .order_by(InvitationDispatch.id.desc())
                    )
                ).scalars()
            )
        if len(rows) >= count and all(r.state not in ("queued", "sending") for r in rows[:count]):
            return rows
        assert loop.time() < deadline, [(r.id, r.state) for r in rows]
        await asyncio.sleep(0.1)
