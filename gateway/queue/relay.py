"""The one place that talks to the upstream.

``Router`` picks, for each delivery, where the message goes from the
settings in force at that moment (``gateway.settings.smtp``): the sender's
own upstream, the saved SMTP settings, the configured upstream, or, with
none of them, ``MaildirCapture``, which stands in so a newcomer can read what
would have been sent. ``SMTPRelay`` hands messages over with aiosmtplib and
answers per recipient. ``diagnose`` runs one test transaction and says which
step failed and why.

Each upstream, named by ``host:port``, has a ``Guard`` that outlives the
settings being re-read: at most ``max_connections`` sessions at once, an
optional pace (messages per second), idle sessions kept for reuse, and a
circuit breaker that stops connecting for a while after consecutive
connection failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import mailbox
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol

import aiosmtplib
import structlog

from gateway.addresses import check_address, check_header_text
from gateway.config import Config, Upstream, UpstreamLimits
from gateway.content import mime
from gateway.content.mime import cleanup
from gateway.errors import InvalidInput, UnsafeHeader
from gateway.settings import smtp as smtp_settings
from gateway.store import Cleaned, Store, new_id

log = structlog.get_logger(__name__)

Verdict = Literal["sent", "deferred", "failed"]
Step = Literal["connect", "starttls", "auth", "mail", "rcpt", "data"]


@dataclass(frozen=True)
class Result:
    """The upstream's answer for one recipient."""

    verdict: Verdict
    reply: str | None = None
    error: str | None = None


BeforeData = Callable[[], Awaitable[None]]


class Relay(Protocol):
    def describe(self) -> str: ...

    @property
    def identity(self) -> str:
        """The upstream's ``host:port`` (or the capture folder), for metrics."""
        ...

    async def send(
        self,
        mail_from: str,
        recipients: Sequence[str],
        content: bytes,
        *,
        before_data: BeforeData | None = None,
    ) -> dict[str, Result]:
        """Relay one message. ``before_data`` is awaited just before DATA;
        when it raises, the transaction is abandoned and nothing is sent."""
        ...

    async def close(self) -> None: ...


class Router:
    """Chooses the way out for each delivery from the settings in force."""

    def __init__(self, config: Config, store: Store, guards: Guards | None = None) -> None:
        self.config = config
        self.store = store
        # Without a registry (a one-off Router) sessions are not kept for reuse.
        self.guards = guards
        self.vault = smtp_settings.vault_for(config)
        self.capture = MaildirCapture(config.capture_dir)

    async def settings_for(self, mail_from: str) -> tuple[dict[str, Any] | None, str]:
        """The saved form of the upstream for a message from ``mail_from``
        and where it comes from (``smtp_settings.chosen``)."""
        saved = await self.store.read_settings(smtp_settings.SETTING)
        senders: list[str] = []
        if any(key != smtp_settings.SETTING for key in saved):
            # Some sender has its own upstream: is this message from one?
            senders = [
                identity.key
                for identity in await self.store.list_senders()
                if identity.address.lower() == mail_from.lower()
            ]
        return smtp_settings.chosen(saved, self.config, senders)

    async def relay_for(self, mail_from: str) -> Relay:
        """The relay for a message from ``mail_from``: read at every delivery,
        so a saved change applies to the next message without a restart."""
        form, source = await self.settings_for(mail_from)
        if form is None:
            return self.capture
        upstream = smtp_settings.upstream(form, source, self.config, self.vault)
        # The limits are the configuration's, whichever settings chose the upstream.
        upstream = dataclasses.replace(upstream, limits=self.config.upstream_limits)
        return SMTPRelay(upstream, local_hostname=self.config.hostname, guards=self.guards)

    async def close(self) -> None:
        if self.guards is not None:
            await self.guards.close()


def _reply(code: int, message: str) -> str:
    """An upstream's reply as Herald records it: one line of valid text.

    aiosmtplib hands over bytes that are not UTF-8 as surrogates; those and
    control characters such as NUL are replaced, so that whatever the upstream
    sends, the store can keep the outcome.
    """
    text = message.encode("utf-8", "replace").decode("utf-8")
    text = "".join(char if char.isprintable() else " " for char in text)
    return " ".join(f"{code} {text}".split())


def _verdict(code: int) -> Verdict:
    # RFC 5321 §4.2.1: 4yz is transient, 5yz is permanent.
    return "failed" if 500 <= code < 600 else "deferred"


def _all(recipients: Sequence[str], result: Result) -> dict[str, Result]:
    return dict.fromkeys(recipients, result)


class Guard:
    """What Herald keeps about one upstream (``host:port``): its connection
    slots, its pace, its idle connections and its circuit breaker."""

    def __init__(self, identity: str, limits: UpstreamLimits) -> None:
        self.identity = identity
        self.limits = limits
        self.slots = asyncio.Semaphore(limits.max_connections)
        self.failures = 0
        self.open_until = 0.0
        self._next_send = 0.0
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []

    def configure(self, limits: UpstreamLimits) -> None:
        if limits.max_connections != self.limits.max_connections:
            # Holders of the old semaphore release into it; new sends use this one.
            self.slots = asyncio.Semaphore(limits.max_connections)
        self.limits = limits

    def closed_for(self) -> float:
        """Seconds the breaker stays open; 0 when sending may go ahead."""
        return max(self.open_until - time.monotonic(), 0.0)

    def succeeded(self) -> None:
        if self.failures >= self.limits.breaker_threshold:
            log.info("upstream_breaker_closed", upstream=self.identity)
        self.failures = 0

    def failed(self) -> None:
        self.failures += 1
        if self.failures >= self.limits.breaker_threshold:
            # Half-open after the cooldown: the next send probes, and one more
            # failure opens the breaker again at once.
            self.open_until = time.monotonic() + self.limits.breaker_cooldown
            log.warning(
                "upstream_breaker_opened",
                upstream=self.identity,
                failures=self.failures,
                seconds=self.limits.breaker_cooldown,
            )

    async def pace(self) -> None:
        """Wait for this upstream's next send slot under ``rate``."""
        if self.limits.rate is None:
            return
        now = time.monotonic()
        at = max(now, self._next_send)
        self._next_send = at + 1.0 / self.limits.rate
        if at > now:
            await asyncio.sleep(at - now)

    def take_idle(self) -> aiosmtplib.SMTP | None:
        now = time.monotonic()
        while self._idle:
            client, since = self._idle.pop()
            if now - since < self.limits.idle_timeout and client.is_connected:
                return client
            client.close()
        return None

    def put_idle(self, client: aiosmtplib.SMTP) -> None:
        if len(self._idle) >= self.limits.max_connections:
            client.close()
            return
        self._idle.append((client, time.monotonic()))
        asyncio.get_running_loop().call_later(self.limits.idle_timeout, self._sweep)

    def _sweep(self) -> None:
        now = time.monotonic()
        keep = []
        for client, since in self._idle:
            if now - since >= self.limits.idle_timeout:
                client.close()
            else:
                keep.append((client, since))
        self._idle = keep

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client, _ in idle:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await client.quit()
            client.close()


class Guards:
    """One ``Guard`` per upstream identity, kept across configuration reloads."""

    def __init__(self) -> None:
        self._guards: dict[str, Guard] = {}

    def for_upstream(self, upstream: Upstream) -> Guard:
        guard = self._guards.get(upstream.identity)
        if guard is None:
            guard = self._guards[upstream.identity] = Guard(upstream.identity, upstream.limits)
        else:
            guard.configure(upstream.limits)
        return guard

    async def close(self) -> None:
        for guard in self._guards.values():
            await guard.close()


class _Session:
    """One SMTP session with the upstream: connect, STARTTLS, AUTH as the
    settings ask. ``step`` says how far it got, for ``diagnose``."""

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


class SMTPRelay:
    def __init__(
        self, upstream: Upstream, *, local_hostname: str, guards: Guards | None = None
    ) -> None:
        self.upstream = upstream
        self.local_hostname = local_hostname
        # Idle sessions are kept only in a registry that someone will close.
        self.reuse = guards is not None
        self.guard = (guards or Guards()).for_upstream(upstream)

    def describe(self) -> str:
        return str(self.upstream)

    @property
    def identity(self) -> str:
        return self.upstream.identity

    async def close(self) -> None:
        await self.guard.close()

    async def _connection(self) -> aiosmtplib.SMTP:
        """An idle session to reuse (after RSET, as Postfix does), else a new one."""
        client = self.guard.take_idle()
        if client is not None:
            try:
                await client.rset()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()
            else:
                return client
        return await _Session(self.upstream, self.local_hostname).__aenter__()

    async def send(
        self,
        mail_from: str,
        recipients: Sequence[str],
        content: bytes,
        *,
        before_data: BeforeData | None = None,
    ) -> dict[str, Result]:
        guard = self.guard
        if wait := guard.closed_for():
            # The breaker is open: defer without connecting, so a down
            # upstream is not hammered by every queued message.
            return _all(
                recipients,
                Result(
                    "deferred",
                    error=f"upstream {guard.identity} is failing; not tried for {wait:.0f}s more",
                ),
            )
        async with guard.slots:
            await guard.pace()
            client: aiosmtplib.SMTP | None = None
            try:
                client = await self._connection()
                results = await self._transaction(
                    client, mail_from, recipients, content, before_data
                )
            except aiosmtplib.SMTPResponseException as exc:
                # Refused sender, refused data, refused login: the same for everyone.
                # A refused login is the operator's to fix; retry as Postfix does.
                if client is not None:
                    client.close()
                if exc.code == 421:
                    # RFC 5321 §3.8: 421 means the service is shutting the channel.
                    guard.failed()
                else:
                    guard.succeeded()
                verdict: Verdict = (
                    "deferred"
                    if isinstance(exc, aiosmtplib.SMTPAuthenticationError)
                    else _verdict(exc.code)
                )
                return _all(recipients, Result(verdict, error=_reply(exc.code, exc.message)))
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                # Refused connections, timeouts, TLS failures and dropped sessions
                # are transient: the message may well go through next time.
                if client is not None:
                    client.close()
                guard.failed()
                return _all(recipients, Result("deferred", error=f"{type(exc).__name__}: {exc}"))
            guard.succeeded()
            if self.reuse:
                guard.put_idle(client)
            else:
                with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                    await client.quit()
                client.close()
            return results

    async def _transaction(
        self,
        client: aiosmtplib.SMTP,
        mail_from: str,
        recipients: Sequence[str],
        content: bytes,
        before_data: BeforeData | None,
    ) -> dict[str, Result]:
        """MAIL, one RCPT per recipient, DATA: so each recipient gets its own answer."""
        await client.mail(mail_from, options=_mail_options(client, mail_from, recipients, content))
        results: dict[str, Result] = {}
        accepted = []
        for address in recipients:
            try:
                await client.rcpt(address)
            except aiosmtplib.SMTPRecipientRefused as exc:
                results[address] = Result(_verdict(exc.code), error=_reply(exc.code, exc.message))
            else:
                accepted.append(address)
        if accepted and before_data is not None:
            try:
                await before_data()
            except Exception as exc:
                results.update(_all(accepted, Result("deferred", error=f"not sent: {exc}")))
                accepted = []
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


def _mail_options(
    client: aiosmtplib.SMTP, mail_from: str, recipients: Sequence[str], content: bytes
) -> list[str]:
    options = []
    if client.supports_extension("8bitmime") and any(byte > 127 for byte in content):
        options.append("BODY=8BITMIME")
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


async def diagnose(
    upstream: Upstream, *, local_hostname: str, mail_from: str, to: str, content: bytes
) -> Diagnosis:
    """Send one message to one recipient and say precisely what happened."""
    session = _Session(upstream, local_hostname)
    try:
        async with session as client:
            await client.mail(mail_from, options=_mail_options(client, mail_from, [to], content))
            session.step = "rcpt"
            await client.rcpt(to)
            session.step = "data"
            response = await client.data(content)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        return classify(exc, session.step, upstream)
    reply = _reply(response.code, response.message)
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
        reply = _reply(exc.code, exc.message)
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


class MaildirCapture:
    """Writes each message to a Maildir instead of sending it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def describe(self) -> str:
        return f"maildir:{self.directory}"

    @property
    def identity(self) -> str:
        return self.describe()

    async def close(self) -> None:
        pass

    async def send(
        self,
        mail_from: str,
        recipients: Sequence[str],
        content: bytes,
        *,
        before_data: BeforeData | None = None,
    ) -> dict[str, Result]:
        if before_data is not None:
            try:
                await before_data()
            except Exception as exc:
                return _all(recipients, Result("deferred", error=f"not sent: {exc}"))
        # The envelope goes in front, as a local delivery agent would write it,
        # so the reader sees Bcc recipients that the headers rightly hide.
        envelope = f"Return-Path: <{mail_from}>\r\nX-Envelope-To: {', '.join(recipients)}\r\n"
        key = await asyncio.to_thread(self._add, envelope.encode() + content)
        return _all(recipients, Result("sent", reply=f"250 2.0.0 captured as {key}"))

    def _add(self, data: bytes) -> str:
        # Made here rather than by mailbox.Maildir(create=True), which fails
        # when two deliveries create the folder at once, and makes no parents.
        for folder in ("tmp", "new", "cur"):
            (self.directory / folder).mkdir(parents=True, exist_ok=True, mode=0o700)
        return mailbox.Maildir(self.directory, create=False).add(data)


async def send_test(
    store: Store,
    config: Config,
    *,
    mail_from: Any,
    to: Any,
    subject: Any = "Herald test message",
    text: Any = "This is a test message from Herald.",
    proposed: Mapping[str, Any] | None = None,
) -> Diagnosis:
    """Send a test message with the settings the relay would use for
    ``mail_from``, or with ``proposed`` changes to them, saved or not.

    Raises ``InvalidInput`` naming a bad field before anything is sent.
    """
    sender = _field("from", mail_from, check_address)
    recipient = _field("to", to, check_address)
    title = _field("subject", subject, check_header_text)
    if not isinstance(text, str):
        raise InvalidInput("#/text", "must be a string")
    router = Router(config, store)
    vault = router.vault
    form, source = await router.settings_for(sender)
    if proposed:
        if source == "configuration" or form is None:
            form = smtp_settings.saved_form(config.upstream, vault)
        form, source = smtp_settings.apply(form, proposed, vault), "proposed"
    if form is None:
        raise InvalidInput("#/host", "no upstream is set: save one or propose a host")
    upstream = smtp_settings.upstream(form, source, config, vault)
    message_id = f"<{new_id('test')}@{config.hostname}>"
    message = mime.compose(
        sender=mime.mailbox(sender),
        to=[mime.mailbox(recipient)],
        subject=title,
        text=text,
        html=None,
        message_id=message_id,
    )
    try:
        # Not queued, but held to the queue's rule all the same.
        content = cleanup(message, message_id=message_id)
    except UnsafeHeader as exc:
        raise InvalidInput("#/subject", exc.reason) from exc
    return await diagnose(
        upstream, local_hostname=config.hostname, mail_from=sender, to=recipient, content=content
    )


async def send_now(store: Store, config: Config, content: Cleaned, to: str) -> tuple[Result, str]:
    """Hand ``content`` from ``[sender] address`` to ``to`` through the
    upstream in force, outside the queue (a test send); its answer, or the
    exact failure, and which upstream it was."""
    way_out = await Router(config, store).relay_for(config.sender.address)
    result = (await way_out.send(config.sender.address, [to], content))[to]
    log.info("test_email_sent", to_domain=to.rpartition("@")[2], verdict=result.verdict)
    return result, way_out.describe()


def _field(name: str, value: Any, check: Callable[[str, str], str]) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"#/{name}", "is required")
    try:
        return check(value, f"the {name} value")
    except ValueError as exc:
        raise InvalidInput(f"#/{name}", str(exc)) from exc
