"""Building and cleaning MIME messages: the one place that shapes headers."""

from __future__ import annotations

import email.header
import email.policy
import email.utils
import functools
import mimetypes
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from typing import Any

from gateway.addresses import check_header_text
from gateway.brand import LOGO_CID, Logo
from gateway.draft import Draft as Draft
from gateway.draft import multipart
from gateway.errors import UnsafeHeader
from gateway.store import Cleaned

# A message as a stage holds it: read from outside, or written by Herald.
Message = EmailMessage | Draft

# Herald's own control headers: a legacy app sets them to steer the pipeline,
# and they never leave Herald.
CONTROL_PREFIX = "x-herald-"

# RFC 5322 §2.1.1 lines, CRLF endings as SMTP requires (RFC 5321 §2.3.8).
# Headers read from a raw message are written back as they came: they were
# within the line limit when they arrived, and the email package, refolding
# one, decodes its encoded words and can leave what they carry (a ";", a
# "<") unquoted, changing the address list. Headers Herald sets are folded.
WIRE = email.policy.SMTP.clone(refold_source="none")
# RFC 5322 §2.2.3: a header is folded by a CRLF followed by white space.
_FOLD = re.compile(r"\r?\n(?=[ \t])")


def mailbox(address: str, name: str = "") -> Address:
    """``address`` shown as ``name``, whose encoded words are decoded first.

    The email package decodes an RFC 2047 encoded word in a display name as
    it writes the header, and can put what the word carries (a ``;``, a
    ``,``, a ``<``) there unquoted, changing the address list. Decoded
    here, the text is quoted as a display name must be (RFC 5322 §3.4).
    """
    local, _, domain = address.rpartition("@")
    return Address(display_name=decoded(name), username=local, domain=domain)


def decoded(text: str) -> str:
    """``text`` with its encoded words decoded until none is left (a decoded
    word may hold another). Text that would decode to a line break is
    returned as it is, for ``check_headers`` to refuse with the reason."""
    original = text
    # Each round makes the text shorter, so this ends; the bound is for clarity.
    for _ in range(len(text) // 8 + 1):
        if "=?" not in text:
            break
        plain = _decode_words(text)
        if plain == text:
            break
        text = plain
    try:
        return check_header_text(text)
    except ValueError:
        return original


def _decode_words(text: str) -> str:
    try:
        # RFC 2047 §6.2: adjacent words in one charset are joined before they
        # are decoded, so a character cut across two still comes out whole.
        joined = str(email.header.make_header(email.header.decode_header(text)))
    except (ValueError, LookupError, MessageError):
        joined = text
    if joined != text:
        return joined
    # What decode_header leaves, the email package may still decode as it
    # writes the header (a word inside a quoted string, say).
    return str(email.policy.default.header_factory("X-Text", text))


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
) -> Draft:
    """A new message: a text part, and an HTML alternative when given; with
    ``attachments``, multipart/mixed around them (base64, RFC 2183 filenames).

    With a ``logo`` that the HTML references as ``cid:``, the HTML and the
    image travel together as multipart/related (RFC 2387), so mail clients
    show the logo without fetching anything:
    multipart/alternative [text/plain, multipart/related [text/html, image]].

    The message is written here, by Herald's own writer (``Draft``), and
    every header value is checked as text as it is set; a value that would
    break a header makes the draft refused at the queue's entrance.
    """
    draft = Draft()
    draft["From"] = sender
    draft["To"] = list(to)
    # Decoded as display names are: a character cut across two encoded words
    # (which RFC 2047 §5 forbids, but a template's data may carry) is whole.
    draft["Subject"] = decoded(subject)
    draft["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    draft["Message-ID"] = message_id
    entity = draft.text("plain", text)
    if html is not None:
        html_entity = draft.text("html", html)
        if logo is not None and f"cid:{LOGO_CID}" in html:
            image = draft.binary(
                "image", logo.subtype, logo.data, logo.filename, "inline", f"<{LOGO_CID}>"
            )
            html_entity = multipart("related", [html_entity, image])
        entity = multipart("alternative", [entity, html_entity])
    if attachments:
        files = [
            draft.binary(a.maintype, a.subtype, a.content, a.filename, "attachment")
            for a in attachments
        ]
        entity = multipart("mixed", [entity, *files])
    draft.body = entity
    return draft


def readdress(message: Message, to: Sequence[Address]) -> None:
    """Address ``message`` to ``to`` alone (an empty group when there is
    nobody to name): To is replaced and Cc removed."""
    del message["To"]
    del message["Cc"]
    if isinstance(message, Draft):
        message["To"] = list(to) if to else "undisclosed-recipients:;"
    else:
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


def finalize(message: Message, *, message_id: str) -> None:
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


def check_headers(message: Message) -> None:
    """Raise ``ValueError`` when a header of ``message`` or of one of its
    parts carries CR, LF, NUL or another line break, as written or decoded.

    Whatever the input (an event's data rendered into a subject, an
    encoded word in a raw message, an RFC 2231 parameter), such a value
    could split into a second header when the message is folded for the
    wire (CVE-2024-6923), so it is refused before the message is queued.
    Each value is checked as it stands (encoded words decoded by
    ``check_header_text``) and as the email package reads it, since that
    reading is what the generator writes back.

    A ``Draft`` had every value checked as text when it was set; its first
    refusal is raised here.
    """
    if isinstance(message, Draft):
        if message.problems:
            raise ValueError(message.problems[0])
        return
    for part in message.walk():
        for name, value in part.raw_items():
            if type(value) is str and len(value) <= _REMEMBERED_LENGTH:
                # A value read from the input: the same text under the same
                # name and policy is checked once (cleanup checks again what
                # the listener checked, and mail repeats its From and To).
                _raw_header_safe(part.policy, name, value)
            else:
                _check_header(part.policy, name, value)


# Raw header values longer than this are checked each time, not remembered.
_REMEMBERED_LENGTH = 998  # RFC 5322 §2.1.1: the longest line


@functools.lru_cache(maxsize=1024)  # at most about 1 MB of remembered text
def _raw_header_safe(policy: email.policy.Policy, name: str, value: str) -> None:
    """``_check_header`` of a raw value, remembered when it passes (a refusal
    raises, and an exception is never cached)."""
    _check_header(policy, name, value)


def _check_header(policy: email.policy.Policy, name: str, value: Any) -> None:
    what = f"the {name} header"
    check_header_text(unfold(str(value)), what)
    try:
        parsed = policy.header_fetch_parse(name, value)
    except (ValueError, LookupError, TypeError, AttributeError, MessageError) as exc:
        # The email package's parser fails on some hostile values
        # (an address part carrying a decoded CR LF, say).
        raise ValueError(f"{what} cannot be read: {exc}") from exc
    if parsed is not value:
        # A header Herald set is already parsed; one read from the
        # input is parsed now, and decoded as the generator will.
        check_header_text(str(parsed), what)


def unfold(value: str) -> str:
    """``value`` with its folding undone (RFC 5322 §2.2.3): a CRLF before
    white space is removed; any other CR or LF stays, to be refused."""
    return _FOLD.sub("", value)


def check_written(message: Message, content: bytes) -> None:
    """Raise ``ValueError`` unless ``content``, ``message`` written for the
    wire, starts with exactly the headers ``message`` holds, in order, each
    of them one header once unfolded and safe once decoded.

    This reads the header block back as the next server will: whatever the
    generator did with a value, no header can appear that was not meant.
    """
    head = content.partition(b"\r\n\r\n")[0] + b"\r\n\r\n"
    written = BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)
    names = [name.lower() for name in written]
    meant = [name.lower() for name in message]
    if names != meant or written.defects:
        extra = sorted(set(names) - set(meant))
        raise ValueError(
            "the message would not keep its headers on the wire"
            + (f" (it would gain {', '.join(extra)})" if extra else "")
        )
    for name, value in written.items():
        check_header_text(unfold(value), f"the {name} header as written")


def to_bytes(message: Message) -> bytes:
    if isinstance(message, Draft):
        return message.as_bytes()
    return message.as_bytes(policy=WIRE)


def bounce(*, sender: Address, to: Address, payload: Mapping[str, Any], message_id: str) -> Draft:
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


def cleanup(message: Message, *, message_id: str) -> Cleaned:
    """``message`` made ready to queue, as the bytes the queue keeps; the
    queue's one entrance, which every producer passes.

    Bcc, Resent-Bcc and Herald's control headers are dropped, and Date and
    ``message_id`` added where missing (``mime.finalize``). Every header of
    every part is then checked as written and decoded, the message is
    written for the wire, and its header block is read back: it must hold
    exactly the headers meant, each safe. Raises ``UnsafeHeader`` (a
    ``Reject``) otherwise, and nothing is queued.
    """
    finalize(message, message_id=message_id)
    try:
        check_headers(message)
    except ValueError as exc:
        raise UnsafeHeader(str(exc)) from exc
    if isinstance(message, Draft):
        # Herald wrote every line itself from values checked as they were
        # set: there is nothing to read back.
        return Cleaned(message.as_bytes())
    try:
        content = to_bytes(message)
    except (ValueError, MessageError) as exc:
        # The generator refuses some values itself: text it cannot encode,
        # and (HeaderWriteError, on Pythons with the CVE-2024-6923 fix) a
        # header that would break.
        raise UnsafeHeader(f"the message cannot be written for the wire: {exc}") from exc
    try:
        check_written(message, content)
    except ValueError as exc:
        raise UnsafeHeader(str(exc)) from exc
    return Cleaned(content)
