"""A real SMTP server for tests: it records what it accepts and answers as told.

It stands in for the operator's upstream, on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import datetime
import email
import email.policy
import functools
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.bind((host, 0))
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
    tls: bool = False
    login: str | None = None

    @functools.cached_property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


# Scripted DATA behaviours besides a reply line: hang up after the body, or
# say nothing for this many seconds.
DROP = "drop"
STALL = "stall:"


class _Recorder:
    def __init__(self, capture: Capture) -> None:
        self.capture = capture

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str | bytes:
        if not any(seen is session for seen, _ in self.capture.seen_sessions):
            self.capture.seen_sessions.append((session, server))
        if self.capture.mail_replies:
            return self.capture.mail_replies.pop(0)
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
        capture.active += 1
        capture.most_active = max(capture.most_active, capture.active)
        try:
            if not capture.answering.is_set():
                await asyncio.to_thread(capture.answering.wait)
            if capture.data_delay:
                await asyncio.sleep(capture.data_delay)
            return await self._data(server, session, envelope)
        finally:
            capture.active -= 1

    async def _data(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        capture = self.capture
        reply = capture.data_replies.pop(0) if capture.data_replies else capture.data_reply
        if reply == DROP:
            # The body arrived, the reply never comes: the connection dies.
            assert isinstance(server.transport, asyncio.Transport)
            server.transport.abort()
            return "421 4.3.0 gone"
        if reply.startswith(STALL):
            await asyncio.sleep(float(reply.removeprefix(STALL)))
            return "451 4.3.0 too late"
        if reply.startswith("2"):
            data = session.auth_data
            login = data.login.decode() if isinstance(data, LoginPassword) else None
            capture.received.append(
                Captured(
                    helo=session.host_name,
                    mail_from=envelope.mail_from or "",
                    mail_options=list(envelope.mail_options),
                    rcpt_tos=list(envelope.rcpt_tos),
                    content=envelope.original_content or b"",
                    tls=session.ssl is not None,
                    login=login.login.decode()
                    if session.authenticated
                    and isinstance(login := session.auth_data, LoginPassword)
                    else None,
                )
            )
        return reply


class Capture:
    """The upstream. Script it with ``mail_replies`` (used once each, in order),
    ``mail_reply`` (the answer after those), ``rcpt_replies`` (address
    substring -> reply), ``data_replies`` (used once each, in order; ``DROP``
    hangs up after the body, ``STALL + "seconds"`` keeps silent) and
    ``data_reply`` (the answer after those). ``data_delay`` slows every DATA,
    clearing ``answering`` keeps each DATA waiting for its reply until it is set;
    ``sessions`` counts connections that sent MAIL and ``most_active`` the most DATA
    commands handled at once.

    With ``tls`` it offers STARTTLS and requires it; with ``logins`` (login to
    password) it also requires AUTH, which it offers only over TLS.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        tls: ssl.SSLContext | None = None,
        logins: dict[str, str] | None = None,
        host: str = LOOPBACK,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.received: list[Captured] = []
        # Bytes too, to answer with what is not UTF-8 as a broken upstream does.
        self.mail_replies: list[str | bytes] = []
        self.mail_reply: str | None = None
        self.data_delay = 0.0
        # While clear, DATA waits with the body received and no reply given.
        self.answering = threading.Event()
        self.answering.set()
        self.seen_sessions: list[tuple[Session, SMTP]] = []
        self.active = 0
        self.most_active = 0
        self.rcpt_replies: dict[str, str] = {}
        self.data_replies: list[str] = []
        self.data_reply = "250 2.0.0 Ok: captured"
        self.logins = logins or {}
        secure: dict[str, Any] = {}
        if tls is not None:
            secure = {"tls_context": tls, "require_starttls": True}
        if logins:
            secure |= {"authenticator": self._authenticate, "auth_required": True}
        self.controller = Controller(
            _Recorder(self),
            hostname=host,
            port=self.port,
            server_hostname="capture.test",
            **secure,
        )

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self.logins.get(data.login.decode()) == data.password.decode()
        )
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"smtp://{host}:{self.port}"

    def start(self) -> Capture:
        self.controller.start()
        return self

    async def _hang_up(self) -> None:
        for _, server in self.seen_sessions:
            if server.transport is not None:
                server.transport.close()
        # Let the loop finish closing them before it stops.
        await asyncio.sleep(0.05)

    @property
    def sessions(self) -> int:
        """Connections that got as far as MAIL FROM."""
        return len(self.seen_sessions)

    def stop(self) -> None:
        # Herald keeps idle sessions for reuse: hang them up first, so that no
        # connection outlives the server.
        started = self.controller._thread is not None  # its loop is running
        if started:
            asyncio.run_coroutine_threadsafe(self._hang_up(), self.controller.loop).result(5)
        # A capture a test never started (an upstream that stays down) stops quietly,
        # and closes the loop it made but never ran, which would leak its sockets.
        self.controller.stop(no_assert=True)
        if not started and not self.controller.loop.is_running():
            self.controller.loop.close()

    def for_run(self, run_id: str) -> list[Captured]:
        return [c for c in self.received if run_id in str(c.message.get("Message-ID", ""))]

    def wait_for(
        self, predicate: Callable[[Captured], bool], timeout: float = 10.0
    ) -> list[Captured]:
        """Every received message matching ``predicate``, once there is one."""
        found: list[Captured] = wait_until(
            lambda: [c for c in self.received if predicate(c)], timeout, "a matching message"
        )
        return found

    def wait_for_run(self, run_id: str, count: int = 1, timeout: float = 10.0) -> list[Captured]:
        found: list[Captured] = wait_until(
            lambda: len(self.for_run(run_id)) >= count and self.for_run(run_id),
            timeout,
            f"{count} message(s) of {run_id} upstream",
        )
        return found


@dataclass(frozen=True)
class CertificateAuthority:
    """A throw-away CA and a certificate it signed for 127.0.0.1, made per test run."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    @classmethod
    def make(cls, directory: Path) -> CertificateAuthority:
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Herald Test CA")])
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, LOOPBACK)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address(LOOPBACK)), x509.DNSName("localhost")]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        ca = cls(directory / "ca.pem", directory / "server.pem", directory / "server.key")
        ca.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        ca.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        ca.key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return ca

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context
