"""The one typed object that travels through the pipeline.

Both ways in build a ``Context``: the webhook from a platform event, the SMTP
listener from a raw message. Stages then work on it in configured order.

The contract for stages, in the words of RFC 2119:

- A stage MAY read and replace ``message`` (the content) and MAY set
  ``subject`` for the run record.
- A stage MAY add recipients with ``add_recipient`` and MAY suppress one with
  ``suppress``; it MUST NOT delete recipients, so the run can say why each
  address did or did not receive the message.
- A stage MAY keep scratch data for later stages in ``notes``.
- A stage MUST NOT talk to the upstream or write the queue: relaying and
  recording the run are core steps that no configuration can skip. The
  services a stage is built with (``StageServices``) hold no relay and no
  store writes, so this holds by construction.
- A stage decides by raising ``Reject``, ``Defer`` or ``Drop``
  (``gateway.errors``), never by returning a code.
- When the way in sets ``compose_later``, a stage that composes the message
  MAY describe it in ``later`` instead of building it, after checking
  everything the sender can act on (required tags, a known email type); the
  queue composes it after the commit. A stage that changes the message MUST
  then change ``later`` instead. Only a pipeline whose every stage says so
  (``later_aware``) composes later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Any, Literal

from gateway.draft import Draft

Source = Literal["webhook", "smtp", "definition", "test"]
Role = Literal["to", "cc", "bcc"]
RecipientKind = Literal["customer", "reseller"]


@dataclass(frozen=True)
class EventRecipient:
    kind: RecipientKind
    id: str
    email: str
    name: str = ""


@dataclass(frozen=True)
class Event:
    """A platform event as the webhook received it, already validated."""

    id: str
    type: str
    occurred_at: datetime
    recipient: EventRecipient
    data: dict[str, Any]


@dataclass
class Recipient:
    """One envelope recipient and the rule that put it there."""

    address: str
    role: Role
    rule: str
    suppressed: str | None = None


@dataclass
class Later:
    """A message to compose after the commit: the template of ``email_type``
    rendered with ``variables`` (plain JSON), addressed to ``to`` (address,
    display name); ``readdress``, when set, replaces To and Cc with those
    addresses (none: an empty group)."""

    email_type: str
    variables: dict[str, Any]
    to: list[tuple[str, str]]
    message_id: str
    readdress: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "email_type": self.email_type,
            "variables": self.variables,
            "to": [list(pair) for pair in self.to],
            "message_id": self.message_id,
            "readdress": self.readdress,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Later:
        return cls(
            email_type=str(value["email_type"]),
            variables=dict(value["variables"]),
            to=[(str(address), str(name)) for address, name in value["to"]],
            message_id=str(value["message_id"]),
            readdress=None if value.get("readdress") is None else list(value["readdress"]),
        )


@dataclass
class Context:
    source: Source
    email_type: str
    run_id: str
    mail_from: str
    event: Event | None = None
    # A raw message as the SMTP listener parsed it, or one Herald wrote
    # itself (``gateway.draft.Draft``: the same header reading API).
    message: EmailMessage | Draft | None = None
    subject: str = ""
    recipients: list[Recipient] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    # The way in asks for the message to be composed after the commit.
    compose_later: bool = False
    later: Later | None = None

    def add_recipient(self, address: str, role: Role, rule: str) -> Recipient:
        """Add ``address`` unless it is already there; return its entry."""
        for recipient in self.recipients:
            if recipient.address.lower() == address.lower():
                return recipient
        recipient = Recipient(address, role, rule)
        self.recipients.append(recipient)
        return recipient

    def suppress(self, recipient: Recipient, reason: str) -> None:
        recipient.suppressed = reason

    @property
    def deliverable(self) -> list[Recipient]:
        return [r for r in self.recipients if r.suppressed is None]
