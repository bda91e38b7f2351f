"""A real SMTP server for tests: it records what it accepts and answers as told.

It stands in for the operator's upstream, on 127.0.0.1 only.
"""

from __future__ import annotations

import email
import email.policy
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@dataclass(frozen=True)
class Captured:
    """One message as the upstream received it."""

    helo: str | None
    mail_from: str
    mail_options: list[str]
    rcpt_tos: list[str]
    content: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _Recorder:
    def __init__(self, capture: Capture) -> None:
        self.capture = capture

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.capture.mail_reply is not None:
            return self.capture.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        for marker, reply in self.capture.rcpt_replies.items():
            if marker in address:
                return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        capture = self.capture
        reply = capture.data_replies.pop(0) if capture.data_replies else capture.data_reply
        if reply.startswith("2"):
            capture.received.append(
                Captured(
                    helo=session.host_name,
                    mail_from=envelope.mail_from or "",
                    mail_options=list(envelope.mail_options),
                    rcpt_tos=list(envelope.rcpt_tos),
                    content=envelope.original_content or b"",
                )
            )
        return reply


class Capture:
    """The upstream. Script it with ``mail_reply``, ``rcpt_replies`` (address
    substring -> reply), ``data_replies`` (used once each, in order) and
    ``data_reply`` (the answer after those)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[Captured] = []
        self.mail_reply: str | None = None
        self.rcpt_replies: dict[str, str] = {}
        self.data_replies: list[str] = []
        self.data_reply = "250 2.0.0 Ok: captured"
        self.controller = Controller(
            _Recorder(self), hostname=LOOPBACK, port=self.port, server_hostname="capture.test"
        )

    @property
    def url(self) -> str:
        return f"smtp://{LOOPBACK}:{self.port}"

    def start(self) -> Capture:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def for_run(self, run_id: str) -> list[Captured]:
        return [c for c in self.received if run_id in str(c.message.get("Message-ID", ""))]

    def wait_for_run(self, run_id: str, count: int = 1, timeout: float = 10.0) -> list[Captured]:
        return wait_until(
            lambda: len(self.for_run(run_id)) >= count and self.for_run(run_id),
            timeout,
            f"{count} message(s) of {run_id} upstream",
        )
