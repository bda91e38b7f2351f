"""The one place that talks to the upstream.

``SMTPRelay`` hands messages to the operator's SMTP server with aiosmtplib.
``MaildirCapture`` stands in for it while no upstream is configured, so a
newcomer can read what would have been sent. Both answer per recipient.
"""

from __future__ import annotations

import asyncio
import mailbox
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import aiosmtplib

from gateway.config import Config, Upstream

Verdict = Literal["sent", "deferred", "failed"]


@dataclass(frozen=True)
class Result:
    """The upstream's answer for one recipient."""

    verdict: Verdict
    reply: str | None = None
    error: str | None = None


class Relay(Protocol):
    def describe(self) -> str: ...

    async def send(
        self, mail_from: str, recipients: Sequence[str], content: bytes
    ) -> dict[str, Result]: ...


def for_config(config: Config) -> Relay:
    if config.upstream is None:
        return MaildirCapture(config.capture_dir)
    return SMTPRelay(config.upstream, local_hostname=config.hostname)


def _reply(code: int, message: str) -> str:
    return " ".join(f"{code} {message}".split())


def _verdict(code: int) -> Verdict:
    # RFC 5321 §4.2.1: 4yz is transient, 5yz is permanent.
    return "failed" if 500 <= code < 600 else "deferred"


def _all(recipients: Sequence[str], result: Result) -> dict[str, Result]:
    return dict.fromkeys(recipients, result)


class SMTPRelay:
    def __init__(self, upstream: Upstream, *, local_hostname: str) -> None:
        self.upstream = upstream
        self.local_hostname = local_hostname
        self.tls_context = _tls_context(upstream) if upstream.security != "none" else None

    def describe(self) -> str:
        return str(self.upstream)

    async def send(
        self, mail_from: str, recipients: Sequence[str], content: bytes
    ) -> dict[str, Result]:
        up = self.upstream
        client = aiosmtplib.SMTP(
            hostname=up.host,
            port=up.port,
            username=up.username,
            password=up.password,
            local_hostname=self.local_hostname,
            timeout=up.timeout,
            use_tls=up.security == "tls",
            start_tls=up.security == "starttls",
            validate_certs=up.verify,
            tls_context=self.tls_context,
        )
        try:
            async with client:
                return await self._transaction(client, mail_from, recipients, content)
        except aiosmtplib.SMTPResponseException as exc:
            # Refused sender, refused data, refused login: the same for everyone.
            # A refused login is the operator's to fix; retry as Postfix does.
            verdict: Verdict = (
                "deferred"
                if isinstance(exc, aiosmtplib.SMTPAuthenticationError)
                else _verdict(exc.code)
            )
            return _all(recipients, Result(verdict, error=_reply(exc.code, exc.message)))
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # Refused connections, timeouts, TLS failures and dropped sessions
            # are transient: the message may well go through next time.
            return _all(recipients, Result("deferred", error=f"{type(exc).__name__}: {exc}"))

    async def _transaction(
        self, client: aiosmtplib.SMTP, mail_from: str, recipients: Sequence[str], content: bytes
    ) -> dict[str, Result]:
        """MAIL, one RCPT per recipient, DATA: so each recipient gets its own answer."""
        if client.last_ehlo_response is None:
            # Extensions are known only after EHLO; aiosmtplib sends it lazily.
            await client.ehlo()
        options = []
        if client.supports_extension("8bitmime") and any(byte > 127 for byte in content):
            options.append("BODY=8BITMIME")
        if client.supports_extension("smtputf8") and not all(
            address.isascii() for address in (mail_from, *recipients)
        ):
            options.append("SMTPUTF8")
        await client.mail(mail_from, options=options)
        results: dict[str, Result] = {}
        accepted = []
        for address in recipients:
            try:
                await client.rcpt(address)
            except aiosmtplib.SMTPRecipientRefused as exc:
                results[address] = Result(_verdict(exc.code), error=_reply(exc.code, exc.message))
            else:
                accepted.append(address)
        if not accepted:
            await client.rset()
            return results
        try:
            response = await client.data(content)
        except aiosmtplib.SMTPResponseException as exc:
            # Recipients refused at RCPT keep their own answer.
            failed = Result(_verdict(exc.code), error=_reply(exc.code, exc.message))
            results.update(dict.fromkeys(accepted, failed))
            return results
        reply = _reply(response.code, response.message)
        results.update(dict.fromkeys(accepted, Result("sent", reply=reply)))
        return results


def _tls_context(upstream: Upstream) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(upstream.ca_file) if upstream.ca_file else None)
    if not upstream.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class MaildirCapture:
    """Writes each message to a Maildir instead of sending it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def describe(self) -> str:
        return f"maildir:{self.directory}"

    async def send(
        self, mail_from: str, recipients: Sequence[str], content: bytes
    ) -> dict[str, Result]:
        # The envelope goes in front, as a local delivery agent would write it,
        # so the reader sees Bcc recipients that the headers rightly hide.
        envelope = f"Return-Path: <{mail_from}>\r\nX-Envelope-To: {', '.join(recipients)}\r\n"
        key = await asyncio.to_thread(self._add, envelope.encode() + content)
        return _all(recipients, Result("sent", reply=f"250 2.0.0 captured as {key}"))

    def _add(self, data: bytes) -> str:
        # Maildir creates only its own folder; the state directory above it
        # may not exist yet when the store lives elsewhere.
        self.directory.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return mailbox.Maildir(self.directory, create=True).add(data)
