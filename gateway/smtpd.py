"""The SMTP listener: a legacy app's raw message in, 250 once it is committed.

The handler only strips the protocol: it checks the envelope, parses the
message and hands it to the intake, like Postfix's smtpd hands to cleanup.
"""

from __future__ import annotations

import asyncio
import email.policy
import email.utils
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway.addresses import check_address
from gateway.config import Config
from gateway.context import Context, Role
from gateway.errors import Defer, Overloaded, Reject, StageError, StoreError
from gateway.intake import Intake
from gateway.replies import Reply
from gateway.store import new_id

log = structlog.get_logger(__name__)

TYPE_HEADER = "X-Herald-Type"
DEFAULT_TYPE = "legacy"


class SMTPIngress:
    """The aiosmtpd handler."""

    def __init__(self, intake: Intake, hostname: str) -> None:
        self.intake = intake
        self.hostname = hostname

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        # RFC 5321 §4.5.5: the null reverse-path is valid (bounces use it).
        if address:
            try:
                check_address(address)
            except ValueError:
                return Reply.BAD_SENDER.format_reply()
        try:
            # Refuse before the client sends the body when there is no room.
            await self.intake.check_room()
        except Overloaded as exc:
            return Reply.QUEUE_FULL.format_reply(reason=exc.reason)
        except StoreError:
            return Reply.STORE_UNAVAILABLE.format_reply()
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        try:
            check_address(address)
        except ValueError:
            return Reply.BAD_RECIPIENT.format_reply()
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        run_id = new_id("run")
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        # RFC 5321 §4.4: a relay adds a Received line at the top of the message.
        received = (
            f"Received: from {session.host_name or 'unknown'} ([{peer}])\r\n"
            f"\tby {self.hostname} (Herald) with ESMTP id {run_id};\r\n"
            f"\t{email.utils.formatdate(usegmt=True)}\r\n"
        ).encode()
        raw = envelope.original_content or b""
        message = BytesParser(policy=email.policy.default).parsebytes(received + raw)
        if not isinstance(message, EmailMessage):
            return Reply.BAD_SYNTAX.format_reply(reason="not an RFC 5322 message")
        email_type = str(message.get(TYPE_HEADER, DEFAULT_TYPE)).strip() or DEFAULT_TYPE
        ctx = Context(
            source="smtp",
            email_type=email_type,
            run_id=run_id,
            mail_from=envelope.mail_from or "",
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
        except Reject as exc:
            return Reply.REJECTED.format_reply(reason=exc.reason)
        except Overloaded as exc:
            return Reply.QUEUE_FULL.format_reply(reason=exc.reason)
        except Defer as exc:
            return Reply.DEFERRED.format_reply(reason=exc.reason)
        except StageError:
            return Reply.LOCAL_ERROR.format_reply()
        except StoreError:
            log.exception("message_not_stored")
            return Reply.STORE_UNAVAILABLE.format_reply()
        finally:
            structlog.contextvars.unbind_contextvars("run_id")
        if accepted.status == "dropped":
            return Reply.DROPPED.format_reply(reason=f"run {accepted.run_id}")
        return Reply.QUEUED.format_reply(run_id=accepted.run_id)


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
    """One SMTP connection, counted by its ``Listener``."""

    def __init__(self, listener: Listener, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listener = listener

    def connection_lost(self, error: Exception | None) -> None:
        self._listener.active -= 1
        super().connection_lost(error)


class _Busy(asyncio.Protocol):
    """Greets with 421 and hangs up: the listener is at ``max_connections``."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(transport, asyncio.WriteTransport):
            transport.write(Reply.TOO_BUSY.format_reply().encode() + b"\r\n")
        transport.close()


class Listener:
    """A protocol factory for ``loop.create_server``, on Herald's own loop,
    that holds the number of connections at ``[smtp] max_connections``."""

    def __init__(self, config: Config, intake: Intake) -> None:
        self.config = config
        self.handler = SMTPIngress(intake, config.hostname)
        self.active = 0

    def __call__(self) -> asyncio.BaseProtocol:
        if self.active >= self.config.smtp_max_connections:
            log.warning("smtp_connection_refused", active=self.active)
            return _Busy()
        self.active += 1
        return _Session(
            self,
            self.handler,
            hostname=self.config.hostname,
            ident="Herald ESMTP",
            data_size_limit=self.config.max_message_size,
            enable_SMTPUTF8=True,
            decode_data=False,
        )
