"""Building and cleaning MIME messages: the one place that shapes headers."""

from __future__ import annotations

import email.policy
import email.utils
from collections.abc import Sequence
from email.headerregistry import Address
from email.message import EmailMessage

# Herald's own control headers: a legacy app sets them to steer the pipeline,
# and they never leave Herald.
CONTROL_PREFIX = "x-herald-"

# RFC 5322 §2.1.1 lines, CRLF endings as SMTP requires (RFC 5321 §2.3.8).
WIRE = email.policy.SMTP


def mailbox(address: str, name: str = "") -> Address:
    local, _, domain = address.rpartition("@")
    return Address(display_name=name, username=local, domain=domain)


def compose(
    *,
    sender: Address,
    to: Sequence[Address],
    subject: str,
    text: str,
    html: str | None,
    message_id: str,
) -> EmailMessage:
    """A new message: a text part, and an HTML alternative when given."""
    message = EmailMessage(policy=email.policy.default)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = message_id
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def readdress(message: EmailMessage, to: Sequence[Address]) -> None:
    """Address ``message`` to ``to`` alone (an empty group when there is
    nobody to name): To is replaced and Cc removed."""
    del message["To"]
    del message["Cc"]
    message["To"] = to if to else "undisclosed-recipients:;"


def finalize(message: EmailMessage, *, message_id: str) -> None:
    """Prepare ``message`` to leave Herald: drop Bcc and control headers,
    and add the Date and Message-ID that RFC 5322 §3.6 asks for."""
    for name in {key.lower() for key in message}:
        if name == "bcc" or name.startswith(CONTROL_PREFIX):
            del message[name]
    if "Date" not in message:
        message["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    if "Message-ID" not in message:
        message["Message-ID"] = message_id


def to_bytes(message: EmailMessage) -> bytes:
    return message.as_bytes(policy=WIRE)
