"""Bounces that come back: a return path per message, and the delivery status
notifications (RFC 3464) that reach it.

A 250 from the upstream is not delivery: a server further on may still give
up and send a DSN to the envelope's return path. With ``[bounces]`` on, each
message leaves with a return path of its own (VERP),
``bounces+<message id>.<tag>@<domain>``, whose tag is an HMAC of the message
id under a key derived from the settings key, so that no one can make an
address that names a message Herald did not send. The SMTP listener takes
mail for those addresses from anyone, without relaying it: a DSN is matched
to the items it reports, each failed recipient is marked ``bounced`` with its
diagnostic, the suppression rule is applied and the failure report that
``[notify]`` configures is made, all in one transaction. A DSN that matches
nothing is kept (``bounce_reports``) and dropped; mail that is not a DSN is
refused with ``NotAReport``.
"""

from __future__ import annotations

import email.policy
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.parser import BytesParser
from typing import Any

import structlog

from gateway.config import Config
from gateway.errors import NotAReport
from gateway.queue.qmgr import failure_notices
from gateway.queue.return_path import ReturnPath
from gateway.queue.suppression import mailbox_unknown
from gateway.store import BouncedItem, BounceStore, NewSuppression

log = structlog.get_logger(__name__)

MAX_DIAGNOSTIC = 1000


@dataclass(frozen=True)
class Reported:
    """One recipient a DSN reports on (RFC 3464 §2.3)."""

    address: str
    action: str
    status: str
    diagnostic: str


def parse_report(raw: bytes) -> list[Reported]:
    """The per-recipient fields of a DSN; ``NotAReport`` when ``raw`` is not one."""
    message = BytesParser(policy=email.policy.default).parsebytes(raw)
    if not isinstance(message, EmailMessage) or message.get_content_type() != "multipart/report":
        raise NotAReport("not a multipart/report message")
    if str(message.get_param("report-type", "")).lower() != "delivery-status":
        raise NotAReport("not a delivery status report (report-type=delivery-status)")
    status_part = next((p for p in message.walk() if p.get_content_type() in _STATUS_TYPES), None)
    if status_part is None:
        raise NotAReport("the report has no message/delivery-status part")
    blocks = status_part.get_payload()
    if not isinstance(blocks, list) or len(blocks) < 2:
        raise NotAReport("the delivery-status part reports on no recipient")
    reported = []
    # The first block is about the message; each one after it, a recipient.
    for block in blocks[1:]:
        if not isinstance(block, Message):
            continue
        address = _address(block.get("Final-Recipient")) or _address(
            block.get("Original-Recipient")
        )
        if address is None:
            continue
        diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split())
        reported.append(
            Reported(
                address=address,
                action=str(block.get("Action", "")).strip().lower(),
                status=str(block.get("Status", "")).strip(),
                diagnostic=diagnostic.removeprefix("smtp;").strip()[:MAX_DIAGNOSTIC],
            )
        )
    if not reported:
        raise NotAReport("the report names no recipient (Final-Recipient)")
    return reported


# RFC 6533 adds the internationalised form beside RFC 3464's.
_STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")


def _address(field: Any) -> str | None:
    """The address of a ``Final-Recipient: rfc822; ada@example.com`` field."""
    if field is None:
        return None
    kind, _, address = str(field).partition(";")
    address = address.strip().strip("<>")
    return address if kind.strip().lower() in ("rfc822", "utf-8") and "@" in address else None


class Bounces:
    """Takes a DSN that reached a bounce address; see the module's words."""

    def __init__(self, store: BounceStore, config: Config) -> None:
        self.store = store
        self.config = config
        self.return_path = ReturnPath.for_config(config)

    def configure(self, config: Config) -> None:
        self.config = config
        self.return_path = ReturnPath.for_config(config)

    async def receive(self, message_id: str, raw: bytes) -> int:
        """Match the DSN ``raw`` sent to ``message_id``'s bounce address;
        return how many recipients it marked bounced (0: kept and dropped).
        ``NotAReport`` when ``raw`` is not a DSN: nothing is kept."""
        reported = parse_report(raw)
        detail: dict[str, Any] = {
            "recipients": [
                {
                    "address": r.address,
                    "action": r.action,
                    "status": r.status,
                    "diagnostic": r.diagnostic,
                }
                for r in reported
            ]
        }
        target = await self.store.bounce_target(message_id)
        if target is None:
            detail["unmatched"] = f"no message {message_id} is kept"
            await self.store.record_bounce(
                message_id=message_id, run_id=None, bounced=(), detail=detail
            )
            log.info("bounce_unmatched", message_id=message_id, reason=detail["unmatched"])
            return 0
        items = {address.lower(): (item, status) for item, address, status in target.recipients}
        bounced, failed, suppressions = [], [], []
        for report in reported:
            # RFC 3464 §2.3.3: only "failed" says the message will not arrive.
            match = items.get(report.address.lower())
            if report.action != "failed" or match is None or match[1] != "sent":
                continue
            text = report.diagnostic or f"status {report.status}"
            bounced.append(BouncedItem(match[0], f"bounced: {text}"))
            failed.append({"address": report.address, "reply": text, "error": "bounced"})
            if mailbox_unknown(report.diagnostic, report.status):
                suppressions.append(NewSuppression(report.address, text, "bounce", target.run_id))
        if not bounced:
            detail["unmatched"] = "no failed recipient of the report was sent this message"
        payload = {
            "type": "message.bounced",
            "run_id": target.run_id,
            "email_type": target.email_type,
            "mail_from": target.mail_from,
            "upstream": "the upstream, which accepted it and reported it undeliverable later",
            "attempts": target.attempts,
            "recipients": failed,
        }
        marked = await self.store.record_bounce(
            message_id=message_id,
            run_id=target.run_id,
            bounced=bounced,
            detail=detail,
            notices=failure_notices(self.config.notify, payload) if bounced else (),
            suppressions=suppressions,
        )
        log.info("bounce_received", run_id=target.run_id, message_id=message_id, bounced=marked)
        return marked
