"""The SMTP listener: a legacy app's raw message in, 250 once it is committed.

The handler only strips the protocol: it checks the envelope, parses the
message and hands it to the intake, like Postfix's smtpd hands to cleanup.

Herald is never an open relay: a client from outside ``[smtp] allow`` must
log in (AUTH PLAIN or LOGIN, offered only over TLS) before MAIL, and a login
may be limited to sender and recipient domains.
"""

from __future__ import annotations

import asyncio
import binascii
import email.policy
import email.utils
import re
import ssl
import sys
from base64 import b64decode
from collections import Counter
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import structlog
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, Session

from gateway.addresses import check_address
from gateway.config import Config, SMTPSettings, client_ip
from gateway.content import mime
from gateway.context import Context, Role
from gateway.decisions import answer, reply
from gateway.entrance.intake import Intake
from gateway.errors import (
    ConfigError,
    Decision,
    Drop,
    NotAReport,
    NotFoundError,
    Overloaded,
    StageError,
    StoreError,
)
from gateway.queue.bounces import Bounces
from gateway.queue.return_path import ReturnPath
from gateway.replies import Reply
from gateway.settings.passwords import verify_password
from gateway.settings.smtp_users import domain_allowed
from gateway.store import AccountStore, SMTPUser, new_id

log = structlog.get_logger(__name__)

TYPE_HEADER = "X-Herald-Type"
NULL_SENDER = "<>"
DEFAULT_TYPE = "legacy"


# Any line ending that is not CRLF: bare CR, bare LF.
_LINE_ENDING = re.compile(rb"\r\n|\r|\n")
# Per connection; a client that fails this often is cut off with 421.
AUTH_ATTEMPTS = 3


def _peer(session: Session) -> str:
    return str(session.peer[0]) if isinstance(session.peer, tuple) else str(session.peer)


def normalise_line_endings(raw: bytes) -> bytes:
    """``raw`` with every bare CR and bare LF made CRLF.

    SMTP smuggling (CVE-2023-51766 and kin) hides a second message behind a
    ``<LF>.<LF>`` that one server reads as the end of DATA and the next does
    not. aiosmtpd ends DATA only at ``<CRLF>.<CRLF>``; making every ending CRLF
    here means the upstream, too, sees the lone dot as content (dot-stuffed on
    the way out, RFC 5321 §4.5.2), so one transaction stays one message.
    """
    return _LINE_ENDING.sub(b"\r\n", raw)


def _refused(reply: Reply) -> AuthResult:
    # handled=False makes aiosmtpd send ``message`` as the reply.
    return AuthResult(success=False, handled=False, message=reply.format_reply())


async def _response(server: SMTP, args: list[str], challenge: str) -> bytes | AuthResult:
    """The client's answer: the initial response in ``args``, else one asked for
    with a 334 ``challenge``; an ``AuthResult`` when it gave up or sent garbage."""
    if len(args) < 2:
        answer = await server.challenge_auth(challenge)
        # aiosmtpd has already answered a client that cancelled with "*".
        return AuthResult(success=False) if answer is MISSING else bytes(answer)
    try:
        return b64decode(args[1], validate=True)
    except (binascii.Error, ValueError):
        return _refused(Reply.AUTH_MALFORMED)


class SMTPIngress:
    """The aiosmtpd handler."""

    def __init__(
        self,
        intake: Intake,
        accounts: AccountStore,
        hostname: str,
        settings: SMTPSettings,
        bounces: Bounces | None = None,
    ) -> None:
        self.intake = intake
        # The SMTP logins that AUTH checks.
        self.accounts = accounts
        self.hostname = hostname
        self.settings = settings
        # With [bounces] on: delivery status notifications to a message's
        # return path, taken from anyone and never relayed.
        self.bounces = bounces

    # RFC 4954 §4: the client's credentials, checked off the event loop
    # because scrypt is deliberately slow.
    async def auth_PLAIN(self, server: SMTP, args: list[str]) -> AuthResult:
        raw = await _response(server, args, "")
        if isinstance(raw, AuthResult):
            return raw
        parts = raw.split(b"\x00")
        if len(parts) != 3:
            return _refused(Reply.AUTH_MALFORMED)
        return await self._login(server, "PLAIN", parts[1], parts[2])

    async def auth_LOGIN(self, server: SMTP, args: list[str]) -> AuthResult:
        login = await _response(server, args, server.AuthLoginUsernameChallenge)
        if isinstance(login, AuthResult):
            return login
        password = await _response(server, [], server.AuthLoginPasswordChallenge)
        if isinstance(password, AuthResult):
            return password
        return await self._login(server, "LOGIN", login, password)

    async def _login(
        self, server: SMTP, mechanism: str, login: bytes, password: bytes
    ) -> AuthResult:
        assert server.session is not None
        name = login.decode("utf-8", errors="replace")
        user: SMTPUser | None = None
        try:
            user = await self.accounts.get_smtp_user(name)
        except NotFoundError:
            pass
        except StoreError as exc:
            log.exception("smtp_auth_store_unavailable")
            return _refused(answer(exc).reply)
        # A missing login still costs one hash: the time tells nothing.
        ok = await asyncio.to_thread(
            verify_password,
            password.decode("utf-8", errors="replace"),
            user.password_hash if user else None,
        )
        peer = _peer(server.session)
        if not ok or user is None:
            log.info("smtp_auth_refused", peer=peer, login=name[:128], mechanism=mechanism)
            return _refused(Reply.AUTH_FAILED)
        log.info("smtp_auth_accepted", peer=peer, login=user.name, mechanism=mechanism)
        return AuthResult(success=True, auth_data=user, message=Reply.AUTH_OK.format_reply())

    def _login_of(self, session: Session) -> SMTPUser | None:
        user = session.auth_data if session.authenticated else None
        return user if isinstance(user, SMTPUser) else None

    def _may_relay(self, session: Session) -> bool:
        return self._login_of(session) is not None or self.settings.allows(_peer(session))

    def _return_path(self) -> ReturnPath | None:
        return self.bounces.return_path if self.bounces is not None else None

    def _is_bounce(self, address: str) -> bool:
        return_path = self._return_path()
        return return_path is not None and return_path.is_bounce_address(address)

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        # aiosmtpd hands the null reverse-path over as written, "<>"; it also
        # keeps it so in the envelope, where an empty one would mean "no MAIL yet".
        sender = "" if address == NULL_SENDER else address
        # RFC 3464 §2: a DSN comes with the null reverse-path, from servers
        # that never log in; such a transaction may only go to a bounce
        # address (handle_RCPT), so Herald relays nothing for them.
        if not self._may_relay(session) and (sender or self._return_path() is None):
            log.info("smtp_relay_refused", peer=_peer(session), stage="MAIL")
            return Reply.AUTH_REQUIRED.format_reply()
        # RFC 5321 §4.5.5: the null reverse-path is valid (bounces use it).
        if sender:
            try:
                check_address(address)
            except ValueError:
                return Reply.BAD_SENDER.format_reply()
        try:
            # Refuse before the client sends the body when there is no room.
            await self.intake.check_room()
        except (Overloaded, StoreError) as exc:
            return reply(exc)
        user = self._login_of(session)
        if user is not None and (
            not domain_allowed(sender, user.sender_domains) or (not sender and user.sender_domains)
        ):
            domain = sender.rpartition("@")[2] or "the null sender"
            return Reply.SENDER_NOT_ALLOWED.format_reply(domain=domain)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        if isinstance(server, _Session):
            server.transaction_begun()
        return Reply.SENDER_OK.format_reply()

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        bounce = self._is_bounce(address)
        if not bounce and not self._may_relay(session):
            log.info("smtp_relay_refused", peer=_peer(session), stage="RCPT")
            return Reply.RELAY_DENIED.format_reply()
        try:
            check_address(address)
        except ValueError:
            return Reply.BAD_RECIPIENT.format_reply()
        if envelope.rcpt_tos and self._is_bounce(envelope.rcpt_tos[0]) != bounce:
            return Reply.BOUNCE_ALONE.format_reply()
        if bounce:
            return_path = self._return_path()
            if return_path is None or return_path.message_of(address) is None:
                log.info("smtp_bounce_address_unknown", peer=_peer(session))
                return Reply.UNKNOWN_BOUNCE_ADDRESS.format_reply()
            envelope.rcpt_tos.append(address)
            return Reply.RECIPIENT_OK.format_reply()
        user = self._login_of(session)
        if user is not None and not domain_allowed(address, user.recipient_domains):
            return Reply.RECIPIENT_NOT_ALLOWED.format_reply(domain=address.rpartition("@")[2])
        if len(envelope.rcpt_tos) >= self.settings.max_recipients:
            return Reply.TOO_MANY_RECIPIENTS.format_reply()
        envelope.rcpt_tos.append(address)
        return Reply.RECIPIENT_OK.format_reply()

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd's default reply names the exception; a client learns nothing here.
        log.error("smtp_session_failed", error=type(error).__name__)
        return Reply.LOCAL_ERROR.format_reply()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if envelope.rcpt_tos and self._is_bounce(envelope.rcpt_tos[0]):
            return await self._bounce(session, envelope)
        if not self._may_relay(session) or not envelope.rcpt_tos:
            return Reply.RELAY_DENIED.format_reply()
        run_id = new_id("run")
        peer = _peer(session)
        user = self._login_of(session)
        # RFC 5321 §4.4: a relay adds a Received line at the top of the message.
        # RFC 4954 §7: an authenticated submission says so with ESMTPA/ESMTPSA.
        protocol = "ESMTP" + ("S" if session.ssl else "") + ("A" if user else "")
        received = (
            f"Received: from {_received_name(session.host_name)} ([{peer}])\r\n"
            f"\tby {self.hostname} (Herald) with {protocol} id {run_id};\r\n"
            f"\t{email.utils.formatdate(usegmt=True)}\r\n"
        ).encode()
        raw = normalise_line_endings(envelope.original_content or b"")
        message = BytesParser(policy=email.policy.default).parsebytes(received + raw)
        if not isinstance(message, EmailMessage):
            return Reply.BAD_SYNTAX.format_reply(reason="not an RFC 5322 message")
        try:
            # Before anything reads a header: the email package itself fails
            # on some (a To whose encoded display name decodes to CR LF).
            mime.check_headers(message)
        except ValueError as exc:
            log.info("smtp_message_refused", peer=peer, reason=str(exc))
            return Reply.UNSAFE_HEADER.format_reply(reason=str(exc))
        email_type = str(message.get(TYPE_HEADER, DEFAULT_TYPE)).strip() or DEFAULT_TYPE
        ctx = Context(
            source="smtp",
            email_type=email_type,
            run_id=run_id,
            mail_from="" if envelope.mail_from == NULL_SENDER else envelope.mail_from or "",
            message=message,
            subject=str(message.get("Subject", "")),
        )
        visible = _header_addresses(message)
        for address in envelope.rcpt_tos:
            ctx.add_recipient(address, visible.get(address.lower(), "bcc"), "envelope")
        structlog.contextvars.bind_contextvars(run_id=run_id)
        try:
            with self.intake.admit("smtp"):
                accepted = await self.intake.submit(ctx)
        except (Decision, StageError, StoreError) as exc:
            if isinstance(exc, StoreError):
                log.exception("message_not_stored")
            return reply(exc, run_id=run_id)
        finally:
            structlog.contextvars.unbind_contextvars("run_id")
        if accepted.status == "dropped":
            return answer(Drop).reply.format_reply(reason=f"run {accepted.run_id}")
        return Reply.QUEUED.format_reply(run_id=accepted.run_id)

    async def _bounce(self, session: Session, envelope: Envelope) -> str:
        """A DSN to bounce addresses: matched and kept, never relayed."""
        return_path, bounces = self._return_path(), self.bounces
        if return_path is None or bounces is None:  # checked at RCPT; [bounces] is off
            return Reply.RELAY_DENIED.format_reply()
        raw = normalise_line_endings(envelope.original_content or b"")
        try:
            for address in envelope.rcpt_tos:
                message_id = return_path.message_of(address)
                if message_id is not None:
                    await bounces.receive(message_id, raw)
        except NotAReport as exc:
            log.info("smtp_bounce_refused", peer=_peer(session), reason=exc.reason)
            return reply(exc)
        except StoreError as exc:
            log.exception("bounce_not_stored")
            return reply(exc)
        # RFC 5321 §6.1: only now, with the report committed, is it ours.
        return Reply.REPORT_RECEIVED.format_reply()


def _received_name(helo: str | None) -> str:
    """The client's HELO name, fit for a header: a hostile one is replaced."""
    if helo and re.fullmatch(r"[A-Za-z0-9.:\[\]_-]{1,255}", helo):
        return helo
    return "unknown"


def _header_addresses(message: EmailMessage) -> dict[str, Role]:
    """Which envelope recipients the headers show, and as what."""
    roles: dict[str, Role] = {}
    headers: tuple[tuple[str, Role], ...] = (("Cc", "cc"), ("To", "to"))
    for header, role in headers:
        for _, address in email.utils.getaddresses(message.get_all(header, [])):
            if address:
                roles[address.lower()] = role
    return roles


class _Session(SMTP):
    """One SMTP connection admitted by its ``Listener``'s gate; it says why
    before it closes a connection that idles or never starts a transaction."""

    def __init__(self, listener: Listener, address: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listener = listener
        self._address = address
        self._first_mail: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # STARTTLS calls this again for the encrypted transport: the clock
        # started with the connection keeps running.
        if self.transport is None:
            self._first_mail = self.loop.call_later(
                self._listener.config.smtp.pre_mail_timeout, self._no_mail_in_time
            )
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._first_mail is not None:
            self._first_mail.cancel()
        self._listener.release(self._address)
        super().connection_lost(error)

    def transaction_begun(self) -> None:
        """MAIL FROM was accepted: from now on only ``idle_timeout`` applies."""
        if self._first_mail is not None:
            self._first_mail.cancel()
            self._first_mail = None

    def _hang_up(self, reply: str) -> None:
        transport: Any = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(reply.encode() + b"\r\n")
            transport.close()

    def _no_mail_in_time(self) -> None:
        # RFC 5321 §4.5.3.2.7 asks a server to wait at least 5 minutes for the
        # next command, and Herald does so once a transaction has begun. A
        # client that has not sent MAIL FROM yet has no mail at stake, yet it
        # holds one of [smtp] max_connections slots; like Postfix under
        # stress, Herald gives it a shorter time and says why (§3.8: 421).
        log.info("smtp_no_mail_in_time", peer=self._address)
        self._hang_up(Reply.NO_MAIL_IN_TIME.format_reply(hostname=self.hostname))

    def _timeout_cb(self) -> None:
        self._hang_up(Reply.IDLE_TIMEOUT.format_reply(hostname=self.hostname))
        super()._timeout_cb()  # type: ignore[no-untyped-call]  # aiosmtpd leaves it untyped


def _client_address(peer: Any) -> str:
    """The client's address as the per-address limit counts it."""
    host = str(peer[0]) if isinstance(peer, tuple) else str(peer)
    address = client_ip(host)
    return host if address is None else str(address)


class _Gate(asyncio.Protocol):
    """The first protocol of every connection: it hands the connection to a
    ``_Session``, or greets it with a 421 and hangs up (RFC 5321 §3.8) when
    the listener is at ``[smtp] max_connections`` or the client's address at
    ``max_connections_per_address``."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        address = _client_address(transport.get_extra_info("peername"))
        session = self.listener.admit(address)
        if isinstance(session, Reply):
            if isinstance(transport, asyncio.WriteTransport):
                transport.write(session.format_reply(address=address).encode() + b"\r\n")
            transport.close()
            return
        transport.set_protocol(session)
        session.connection_made(transport)


def tls_context(settings: SMTPSettings, where: str = "[smtp]") -> ssl.SSLContext | None:
    """The server-side TLS context for STARTTLS and the TLS listener, if configured."""
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"{where} tls_cert/tls_key: cannot load {settings.tls_cert} and"
            f" {settings.tls_key} ({exc})"
        ) from exc
    return context


# The commands of a mail transaction are not counted toward command_limit:
# each message bounds its own (max_recipients, max_message_size), and a
# legacy app that keeps one connection open for a bulk send of thousands of
# messages is normal reuse, not abuse (Postfix sets no such limit either).
# What command_limit bounds is a session that repeats commands carrying no
# mail (NOOP, HELO, VRFY, HELP...).
TRANSACTION_COMMANDS = ("MAIL", "RCPT", "DATA", "RSET")
UNLIMITED = sys.maxsize


class Listener:
    """A protocol factory for ``loop.create_server``, on Herald's own loop,
    that holds the number of connections at ``[smtp] max_connections``, and
    those from one client address at ``max_connections_per_address``.

    With ``context``, the plain listener offers STARTTLS (RFC 3207); with
    ``implicit_tls`` the socket is already TLS (RFC 8314). AUTH is offered only
    once the connection is encrypted, so no password crosses in clear.
    """

    def __init__(
        self,
        config: Config,
        intake: Intake,
        accounts: AccountStore,
        context: ssl.SSLContext | None = None,
        *,
        implicit_tls: bool = False,
        bounces: Bounces | None = None,
    ) -> None:
        self.config = config
        self.handler = SMTPIngress(intake, accounts, config.hostname, config.smtp, bounces)
        self.context = context
        self.implicit_tls = implicit_tls
        self.active = 0
        self.by_address: Counter[str] = Counter()

    def __call__(self) -> asyncio.BaseProtocol:
        # The client's address is known only once the connection is made.
        return _Gate(self)

    def admit(self, address: str) -> _Session | Reply:
        """A session for a new connection from ``address``, or the reply that refuses it."""
        settings = self.config.smtp
        if self.active >= self.config.smtp.max_connections:
            log.warning("smtp_connection_refused", reason="busy", peer=address, active=self.active)
            return Reply.TOO_BUSY
        if self.by_address[address] >= settings.max_connections_per_address:
            log.warning(
                "smtp_connection_refused",
                reason="address_busy",
                peer=address,
                connections=self.by_address[address],
            )
            return Reply.TOO_MANY_FROM_ADDRESS
        self.active += 1
        self.by_address[address] += 1
        return _Session(
            self,
            address,
            self.handler,
            hostname=self.config.hostname,
            ident="Herald ESMTP",
            data_size_limit=self.config.smtp.max_message_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            tls_context=None if self.implicit_tls else self.context,
            auth_require_tls=not self.implicit_tls,
            timeout=settings.idle_timeout,
            command_call_limit={
                "*": settings.command_limit,
                "AUTH": AUTH_ATTEMPTS,
                **dict.fromkeys(TRANSACTION_COMMANDS, UNLIMITED),
            },
        )

    def release(self, address: str) -> None:
        """A session from ``address`` has ended."""
        self.active -= 1
        self.by_address[address] -= 1
        if self.by_address[address] <= 0:
            del self.by_address[address]
