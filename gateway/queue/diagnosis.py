"""What a test transaction with the upstream came to, in words an operator can act on.

``diagnose`` sends one message to one recipient and, when a step fails,
``classify`` names it: the name not resolved, the connection refused, the
certificate not trusted, the login or the recipient refused, and so on.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from typing import Literal

import aiosmtplib

from gateway.config import Upstream
from gateway.queue.transaction import Session, Step, Verdict, mail_options, reply_text

Outcome = Literal[
    "accepted",
    "name-not-resolved",
    "connection-refused",
    "connection-failed",
    "timeout",
    "tls-failed",
    "certificate-untrusted",
    "auth-refused",
    "sender-refused",
    "recipient-refused",
    "message-refused",
    "server-refused",
    "disconnected",
]


@dataclass(frozen=True)
class Diagnosis:
    """What one test transaction with the upstream came to."""

    outcome: Outcome
    detail: str
    step: Step
    upstream: str
    reply: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "accepted"

    @property
    def verdict(self) -> Verdict:
        """What the queue would have recorded for this recipient."""
        if self.ok:
            return "sent"
        # A refused login is the operator's to fix, so the queue retries it;
        # any other 5yz reply is permanent (RFC 5321 §4.2.1).
        if self.outcome != "auth-refused" and self.reply and self.reply.startswith("5"):
            return "failed"
        return "deferred"

    @property
    def error(self) -> str | None:
        """The upstream's refusal as it said it, else what went wrong; None when accepted."""
        return None if self.ok else self.reply or self.detail


async def diagnose(
    upstream: Upstream, *, local_hostname: str, mail_from: str, to: str, content: bytes
) -> Diagnosis:
    """Send one message to one recipient and say precisely what happened."""
    session = Session(upstream, local_hostname)
    try:
        async with session as client:
            await client.mail(mail_from, options=mail_options(client, mail_from, [to], content))
            session.step = "rcpt"
            await client.rcpt(to)
            session.step = "data"
            response = await client.data(content)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        return classify(exc, session.step, upstream)
    reply = reply_text(response.code, response.message)
    return Diagnosis(
        "accepted", f"the upstream accepted the message: {reply}", "data", str(upstream), reply
    )


def classify(exc: BaseException, step: Step, upstream: Upstream) -> Diagnosis:
    """The readable outcome of a failed test transaction at ``step``."""
    where = f"{upstream.host} port {upstream.port}"
    causes = _chain(exc)

    def found(kind: type[BaseException]) -> BaseException | None:
        return next((c for c in causes if isinstance(c, kind)), None)

    def result(outcome: Outcome, detail: str, reply: str | None = None) -> Diagnosis:
        return Diagnosis(outcome, detail, step, str(upstream), reply)

    if (error := found(socket.gaierror)) is not None:
        return result(
            "name-not-resolved", f"the name {upstream.host!r} cannot be resolved: {error}"
        )
    if upstream.ca_file and (error := found(FileNotFoundError)) is not None:
        return result("tls-failed", f"the CA file {upstream.ca_file} cannot be read: {error}")
    if (error := found(ssl.SSLCertVerificationError)) is not None:
        reason = getattr(error, "verify_message", "") or str(error)
        return result(
            "certificate-untrusted",
            f"the certificate of {where} is not trusted: {reason}",
        )
    if (error := found(ssl.SSLError)) is not None:
        return result("tls-failed", f"the TLS handshake with {where} failed: {error}")
    if found(ConnectionRefusedError) is not None:
        return result("connection-refused", f"{where} refused the connection")
    if found(TimeoutError) is not None:
        return result("timeout", f"{where} did not answer in time, at step {step}: {exc}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        reply = reply_text(exc.code, exc.message)
        outcome: Outcome = {
            "auth": "auth-refused",
            "mail": "sender-refused",
            "rcpt": "recipient-refused",
            "data": "message-refused",
            "starttls": "tls-failed",
        }.get(step, "server-refused")  # type: ignore[assignment]
        return result(outcome, f"the upstream refused {_STEP_NAMES[step]}: {reply}", reply)
    if step == "starttls":
        return result("tls-failed", f"STARTTLS with {where} failed: {exc}")
    if step == "auth":
        return result("auth-refused", f"the login was not possible: {exc}")
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        return result("disconnected", f"{where} closed the connection ({_STEP_NAMES[step]})")
    return result("connection-failed", f"cannot talk to {where}: {exc}")


_STEP_NAMES: dict[Step, str] = {
    "connect": "while connecting",
    "starttls": "STARTTLS",
    "auth": "the login",
    "mail": "the sender",
    "rcpt": "the recipient",
    "data": "the message",
}


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception that caused it."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen
