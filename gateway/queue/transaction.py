"""One SMTP transaction with the upstream, and its answer per recipient.

``Session`` opens a session as the settings ask (connect, STARTTLS, AUTH,
EHLO) and says how far it got; ``deliver`` runs MAIL, one RCPT per
recipient and DATA on an open session, so each recipient gets its own
``Result``. Only the modules of ``gateway.queue`` use aiosmtplib.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

import aiosmtplib

from gateway.config import Upstream

Verdict = Literal["sent", "deferred", "failed"]
Step = Literal["connect", "starttls", "auth", "mail", "rcpt", "data"]
BeforeData = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Result:
    """The upstream's answer for one recipient."""

    verdict: Verdict
    reply: str | None = None
    error: str | None = None


def reply_text(code: int, message: str) -> str:
    """An upstream's reply as Herald records it: one line of valid text.

    aiosmtplib hands over bytes that are not UTF-8 as surrogates; those and
    control characters such as NUL are replaced, so that whatever the upstream
    sends, the store can keep the outcome.
    """
    text = message.encode("utf-8", "replace").decode("utf-8")
    text = "".join(char if char.isprintable() else " " for char in text)
    return " ".join(f"{code} {text}".split())


def verdict_of(code: int) -> Verdict:
    """What a refusal with ``code`` means for the recipients it concerns."""
    # RFC 5321 §4.2.1: 4yz is transient, 5yz is permanent.
    return "failed" if 500 <= code < 600 else "deferred"


def for_all(recipients: Sequence[str], result: Result) -> dict[str, Result]:
    return dict.fromkeys(recipients, result)


class Session:
    """One SMTP session with the upstream: connect, STARTTLS, AUTH as the
    settings ask. ``step`` says how far it got, for the diagnosis."""

    def __init__(self, upstream: Upstream, local_hostname: str) -> None:
        self.upstream = upstream
        self.local_hostname = local_hostname
        self.step: Step = "connect"
        self.client: aiosmtplib.SMTP | None = None

    async def __aenter__(self) -> aiosmtplib.SMTP:
        up = self.upstream
        self.client = aiosmtplib.SMTP(
            hostname=up.host,
            port=up.port,
            local_hostname=self.local_hostname,
            timeout=up.timeout,
            use_tls=up.security == "tls",
            start_tls=False,
            validate_certs=up.verify,
            tls_context=_tls_context(up) if up.security != "none" else None,
        )
        await self.client.connect(timeout=up.connect_timeout or up.timeout)
        try:
            if up.security == "starttls":
                self.step = "starttls"
                await self.client.starttls()
            if up.username is not None:
                self.step = "auth"
                await self.client.login(up.username, up.password or "")
            if self.client.last_ehlo_response is None:
                # Extensions are known only after EHLO; aiosmtplib sends it lazily.
                await self.client.ehlo()
        except BaseException:
            # No __aexit__ follows a failed __aenter__: close the connection here.
            self.client.close()
            raise
        self.step = "mail"
        return self.client

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.client is not None:
            await self.client.__aexit__(exc_type, exc, traceback)


async def deliver(
    client: aiosmtplib.SMTP,
    mail_from: str,
    recipients: Sequence[str],
    content: bytes,
    before_data: BeforeData | None = None,
) -> dict[str, Result]:
    """MAIL, one RCPT per recipient, DATA: so each recipient gets its own answer.

    A refused sender raises ``SMTPResponseException``: it concerns everyone.
    """
    await client.mail(mail_from, options=mail_options(client, mail_from, recipients, content))
    results: dict[str, Result] = {}
    accepted = []
    for address in recipients:
        try:
            await client.rcpt(address)
        except aiosmtplib.SMTPRecipientRefused as exc:
            results[address] = Result(verdict_of(exc.code), error=reply_text(exc.code, exc.message))
        else:
            accepted.append(address)
    if accepted and before_data is not None:
        try:
            await before_data()
        except Exception as exc:
            results.update(for_all(accepted, Result("deferred", error=f"not sent: {exc}")))
            accepted = []
    if not accepted:
        await client.rset()
        return results
    try:
        response = await client.data(content)
    except aiosmtplib.SMTPResponseException as exc:
        # Recipients refused at RCPT keep their own answer.
        failed = Result(verdict_of(exc.code), error=reply_text(exc.code, exc.message))
        results.update(for_all(accepted, failed))
        return results
    reply = reply_text(response.code, response.message)
    results.update(for_all(accepted, Result("sent", reply=reply)))
    return results


def mail_options(
    client: aiosmtplib.SMTP, mail_from: str, recipients: Sequence[str], content: bytes
) -> list[str]:
    """The MAIL parameters this message needs and the upstream offers."""
    options = []
    # RFC 6152: eight-bit content is announced with BODY=8BITMIME. A byte
    # above 127 is what makes content eight-bit; ``isascii`` looks for one in
    # C, at memory speed, where a Python loop cost a tenth of a delivery.
    if client.supports_extension("8bitmime") and not content.isascii():
        options.append("BODY=8BITMIME")
    # RFC 6531 §3.4: addresses beyond ASCII need SMTPUTF8.
    if client.supports_extension("smtputf8") and not all(
        address.isascii() for address in (mail_from, *recipients)
    ):
        options.append("SMTPUTF8")
    return options


def _tls_context(upstream: Upstream) -> ssl.SSLContext:
    ca_file = str(upstream.ca_file) if upstream.ca_file else None
    # Loading CA certificates is slow and settings are read per delivery:
    # contexts are kept per CA file version and verification setting.
    stamp = upstream.ca_file.stat().st_mtime_ns if upstream.ca_file else 0
    return _cached_context(ca_file, stamp, upstream.verify)


@functools.lru_cache(maxsize=16)
def _cached_context(ca_file: str | None, stamp: int, verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
