"""Building and cleaning MIME messages: the one place that shapes headers."""

from __future__ import annotations

import email.policy
import email.utils
import mimetypes
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any

from gateway.addresses import check_header_text
from gateway.brand import LOGO_CID, Logo

# Herald's own control headers: a legacy app sets them to steer the pipeline,
# and they never leave Herald.
CONTROL_PREFIX = "x-herald-"

# RFC 5322 §2.1.1 lines, CRLF endings as SMTP requires (RFC 5321 §2.3.8).
WIRE = email.policy.SMTP


def mailbox(address: str, name: str = "") -> Address:
    local, _, domain = address.rpartition("@")
    return Address(display_name=name, username=local, domain=domain)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str = "application"
    subtype: str = "octet-stream"

    @classmethod
    def guess(cls, filename: str, content: bytes) -> Attachment:
        """An attachment typed by its file name (``.pdf`` is application/pdf)."""
        kind, encoding = mimetypes.guess_type(filename)
        if kind is None or encoding is not None:
            kind = "application/octet-stream"
        maintype, _, subtype = kind.partition("/")
        return cls(filename, content, maintype, subtype)


def compose(
    *,
    sender: Address,
    to: Sequence[Address],
    subject: str,
    text: str,
    html: str | None,
    message_id: str,
    logo: Logo | None = None,
    attachments: Sequence[Attachment] = (),
) -> EmailMessage:
    """A new message: a text part, and an HTML alternative when given; with
    ``attachments``, multipart/mixed around them (base64, RFC 2183 filenames).

    With a ``logo`` that the HTML references as ``cid:``, the HTML and the
    image travel together as multipart/related (RFC 2387), so mail clients
    show the logo without fetching anything:
    multipart/alternative [text/plain, multipart/related [text/html, image]].
    """
    message = EmailMessage(policy=email.policy.default)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = message_id
    set_body(message, text=text, html=html, logo=logo)
    for attachment in attachments:
        message.add_attachment(
            attachment.content,
            maintype=attachment.maintype,
            subtype=attachment.subtype,
            filename=attachment.filename,
        )
    return message


def readdress(message: EmailMessage, to: Sequence[Address]) -> None:
    """Address ``message`` to ``to`` alone (an empty group when there is
    nobody to name): To is replaced and Cc removed."""
    del message["To"]
    del message["Cc"]
    message["To"] = to if to else "undisclosed-recipients:;"


def set_body(
    message: EmailMessage, *, text: str, html: str | None, logo: Logo | None = None
) -> None:
    """Replace ``message``'s body with ``text``, an HTML alternative, and the
    inline logo when the HTML uses it."""
    message.set_content(text)
    if html is None:
        return
    message.add_alternative(html, subtype="html")
    if logo is not None and f"cid:{LOGO_CID}" in html:
        html_part = message.get_body(("html",))
        assert isinstance(html_part, EmailMessage)
        html_part.add_related(
            logo.data,
            maintype="image",
            subtype=logo.subtype,
            cid=f"<{LOGO_CID}>",
            filename=logo.filename,
            disposition="inline",
        )


def replace_body(
    message: EmailMessage, *, text: str, html: str | None, logo: Logo | None = None
) -> None:
    """Give ``message`` a new text/HTML body, keeping its headers and attachments."""
    attachments = list(message.iter_attachments()) if message.is_multipart() else []
    message.clear_content()
    set_body(message, text=text, html=html, logo=logo)
    if attachments:
        message.make_mixed()
        for attachment in attachments:
            message.attach(attachment)


def finalize(message: EmailMessage, *, message_id: str) -> None:
    """Prepare ``message`` to leave Herald: drop (Resent-)Bcc and control headers,
    and add the Date and Message-ID that RFC 5322 §3.6 asks for."""
    for name in {key.lower() for key in message}:
        # RFC 5322 §3.6.3 and §3.6.6: Bcc and Resent-Bcc are blind copies.
        if name in ("bcc", "resent-bcc") or name.startswith(CONTROL_PREFIX):
            del message[name]
    if "Date" not in message:
        message["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    if "Message-ID" not in message:
        message["Message-ID"] = message_id


def check_headers(message: EmailMessage) -> None:
    """Raise ``ValueError`` when a header, decoded, carries CR, LF or NUL.

    Whatever the input (an event's data rendered into a subject, an
    encoded-word in a raw message), such a value could split into a second
    header when the message is folded for the wire (CVE-2024-6923), so it is
    refused before the message is queued.
    """
    for name, value in message.items():
        check_header_text(str(value), f"the {name} header")


def to_bytes(message: EmailMessage) -> bytes:
    return message.as_bytes(policy=WIRE)


def bounce(
    *, sender: Address, to: Address, payload: Mapping[str, Any], message_id: str
) -> EmailMessage:
    """A DSN-like report (RFC 3464 in spirit, plain text) of recipients that failed."""
    lines = [
        f"Herald could not deliver run {payload['run_id']} ({payload['email_type']})",
        f"from <{payload['mail_from']}> through {payload['upstream']}",
        f"after {payload['attempts']} attempt(s). These recipients failed for good:",
        "",
    ]
    for recipient in payload["recipients"]:
        lines.append(f"  <{recipient['address']}>: {recipient['reply'] or recipient['error']}")
    message = compose(
        sender=sender,
        to=[to],
        subject=f"Undelivered mail: run {payload['run_id']}",
        text="\n".join(lines) + "\n",
        html=None,
        message_id=message_id,
    )
    # RFC 3834 §5: an automatic report, which no one should answer automatically.
    message["Auto-Submitted"] = "auto-replied"
    return message
