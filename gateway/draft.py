"""The messages Herald writes itself: headers checked as text where they
are set, and MIME written straight to bytes, without the email package.

A ``Draft`` is what ``gateway.content.mime.compose`` makes for every message
Herald composes (templates, definition runs, test sends, failure reports).
It writes what Herald needs and nothing else: multipart/alternative,
related (the inline logo) and mixed (attachments); text parts in UTF-8,
7bit or quoted-printable (RFC 2045 §6.7), binary parts in base64 (§6.8);
headers folded at 78 characters (RFC 5322 §2.2.3), display names and
subjects beyond printable ASCII as RFC 2047 encoded words, file names
beyond it as RFC 2231 parameters; CRLF line ends throughout. So the bytes
it writes are 7-bit clean and need no 8BITMIME of the upstream.

Messages read from outside (the SMTP listener) stay ``EmailMessage``s and
are checked by ``gateway.content.mime.check_headers``.
"""

from __future__ import annotations

import base64
import binascii
import email.policy
import re
import secrets
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser

from gateway.addresses import check_header_text

HeaderValue = str | Address | Sequence[Address]
# The longest line Herald writes in a header it makes (RFC 5322 §2.1.1 asks
# for 78 characters at most, CRLF aside).
_LINE = 78
# The longest display name written as it is: with its address and the
# header's name it stays within RFC 5322's 998 characters to a line.
_LONGEST = 600
# RFC 5322 §3.6.8 ftext: printable ASCII but ":".
_FIELD_NAME = re.compile(r"^[!-9;-~]+$")
# Where a header value may be folded: a single space between two non-space
# characters, so that unfolding gives the value back exactly.
_FOLD_POINT = re.compile(r"(?<=\S) (?=\S)")
# RFC 5322 §3.2.3 atext: a display name made of these and single spaces is
# written as it is.
_ATOMS = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
# Printable ASCII with single spaces: written as it is (unstructured) or as
# a quoted string (a display name).
_PRINTABLE = re.compile(r"^[!-~]+(?: [!-~]+)*$")
# RFC 2047 §5 (3): the characters a "Q" encoded word may carry as they are
# wherever it stands, in a display name too.
_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
# The encoded text of one encoded word; with "=?utf-8?q?" and "?=" the word
# stays within RFC 2047 §2's 75 characters, and its line within 78.
_WORD_TEXT = 48
# RFC 2231 §7 attribute-char: what a parameter value may carry unescaped.
_ATTRIBUTE_SAFE = "!#$&+-.^_`|~"


@dataclass
class Entity:
    """One MIME entity as written: its header lines and its body, CRLF ended."""

    headers: list[str]
    body: bytes

    def write(self) -> bytes:
        return "".join(f"{line}\r\n" for line in self.headers).encode() + b"\r\n" + self.body


class Draft:
    """A message Herald writes itself, headers and MIME, without the email package.

    Headers keep their values (text, or addresses) in order; the body is
    already written, as the MIME entities ``compose`` built. Every value is
    checked as text once, as it is set (``check_header_text``: CR, LF, NUL
    and other breaks, as written and once its encoded words are decoded),
    and a refusal is kept for ``check_headers`` and ``cleanup`` to raise,
    as they do for a message read from outside.

    Reading a header gives its text (``draft["To"]`` is ``"Ada <ada@x>"``),
    as the email package does; ``as_message`` parses the message as a mail
    client would, for anything more.
    """

    def __init__(self) -> None:
        self._headers: list[tuple[str, HeaderValue]] = []
        self.body = Entity([], b"")
        self.problems: list[str] = []

    def __setitem__(self, name: str, value: HeaderValue) -> None:
        """Add a header (as ``EmailMessage`` does: one more, never a replacement)."""
        what = f"the {name} header"
        if not _FIELD_NAME.match(name):
            # RFC 5322 §3.6.8: a field name is printable ASCII without ":".
            self.problems.append(f"{what!r} is not a valid header name")
        if isinstance(value, Address):
            value = [value]
        if isinstance(value, str):
            self._check(value, what)
        else:
            value = list(value)
            for address in value:
                self._check(address.display_name, what)
                self._check(address.addr_spec, what)
        self._headers.append((name, value))

    def text(self, subtype: str, text: str) -> Entity:
        """A text part of this message (``text/plain``, ``text/html``)."""
        return _text_entity(subtype, text)

    def binary(
        self,
        maintype: str,
        subtype: str,
        data: bytes,
        filename: str,
        disposition: str,
        content_id: str | None = None,
    ) -> Entity:
        """A part in base64 with its RFC 2183 disposition and file name,
        which is checked as a header value of this message."""
        self._check(filename, "the Content-Disposition header")
        lines = [
            f"Content-Type: {maintype}/{subtype}",
            "Content-Transfer-Encoding: base64",
            _disposition(disposition, filename),
        ]
        if content_id is not None:
            self._check(content_id, "the Content-ID header")
            lines.append(f"Content-ID: {content_id}")
        return Entity(lines, _base64(data))

    def _check(self, text: str, what: str) -> None:
        try:
            check_header_text(text, what)
            # A lone surrogate (JSON allows "\ud800") has no UTF-8 form.
            text.encode("utf-8")
        except UnicodeEncodeError:
            self.problems.append(f"{what} cannot be written: it is not valid Unicode")
        except ValueError as exc:
            self.problems.append(str(exc))

    def __getitem__(self, name: str) -> str | None:
        return self.get(name)

    def get(self, name: str, default: str | None = None) -> str | None:
        wanted = name.lower()
        for key, value in self._headers:
            if key.lower() == wanted:
                return _display(value)
        # The top-level MIME headers, as written (unfolded).
        if wanted == "mime-version":
            return "1.0"
        lines = "\r\n".join(self.body.headers).replace("\r\n ", " ").split("\r\n")
        for line in lines:
            key, _, value = line.partition(": ")
            if key.lower() == wanted:
                return value
        return default

    def __delitem__(self, name: str) -> None:
        wanted = name.lower()
        self._headers = [(k, v) for k, v in self._headers if k.lower() != wanted]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[str]:
        """The header names in the order they are written, MIME's included."""
        yield from (key for key, _ in self._headers)
        yield "MIME-Version"
        yield from (line.partition(":")[0] for line in self.body.headers if line[0] != " ")

    def as_bytes(self) -> bytes:
        """The message for the wire: RFC 5322 lines, CRLF ended, folded at 78."""
        head = "".join(_fold(key, _wire(value)) for key, value in self._headers)
        return (head + "MIME-Version: 1.0\r\n").encode() + self.body.write()

    def as_message(self) -> EmailMessage:
        """The message as a mail client reads it (the email package, policy.default)."""
        message = BytesParser(policy=email.policy.default).parsebytes(self.as_bytes())
        assert isinstance(message, EmailMessage)
        return message


def _display(value: HeaderValue) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Address):
        return str(value)
    return ", ".join(str(address) for address in value)


def _wire(value: HeaderValue) -> str:
    """A header value as written, before folding (RFC 5322, RFC 2047)."""
    if isinstance(value, str):
        return _unstructured(value)
    if isinstance(value, Address):
        value = [value]
    return ", ".join(_mailbox(address) for address in value)


def _unstructured(text: str) -> str:
    """RFC 5322 §3.2.5 unstructured text: as it is when it is printable
    ASCII with no word too long to fold and nothing that reads as an encoded
    word, else RFC 2047 encoded words."""
    if _PRINTABLE.match(text) and "=?" not in text and _foldable(text):
        return text
    return _encoded_words(text)


def _mailbox(address: Address) -> str:
    spec = address.addr_spec
    name = address.display_name
    if not name:
        return spec
    if _ATOMS.match(name) and "=?" not in name and len(name) < _LONGEST:
        phrase = name
    elif _PRINTABLE.match(name) and "=?" not in name and len(name) < _LONGEST:
        # RFC 5322 §3.2.4: a quoted string, with its quote and backslash escaped.
        phrase = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    else:
        phrase = _encoded_words(name)
    return f"{phrase} <{spec}>"


def _foldable(text: str) -> bool:
    return all(len(word) <= _LINE - 12 for word in text.split(" "))


def _encoded_words(text: str) -> str:
    """``text`` as RFC 2047 encoded words in UTF-8, each of whole characters
    (§5), "Q" when most of it is plain ASCII, else "B". The space between
    two words is not text (§6.2), so spaces are inside the words; a word
    ends after a space where it can, since some readers (the email
    package's among them) put a space between words in a display name."""
    data = text.encode("utf-8", "surrogatepass")
    q = sum(byte in _Q_SAFE or byte == 0x20 for byte in data) * 4 >= len(data) * 3
    room = _WORD_TEXT if q else _WORD_TEXT // 4 * 3
    chunks: list[bytes] = []
    chunk = b""
    cut = 0  # where the chunk may end: after its last space
    size = 0  # the chunk's encoded length (Q) or its length (B)
    for char in text:
        octets = char.encode("utf-8", "surrogatepass")
        width = sum(1 if b in _Q_SAFE or b == 0x20 else 3 for b in octets) if q else len(octets)
        if chunk and size + width > room:
            at = cut or len(chunk)
            chunks.append(chunk[:at])
            chunk = chunk[at:]
            size = _width(chunk) if q else len(chunk)
            cut = 0
        chunk += octets
        size += width
        if char == " ":
            cut = len(chunk)
    chunks.append(chunk)
    if q:
        return " ".join(f"=?utf-8?q?{_q(piece)}?=" for piece in chunks)
    return " ".join(f"=?utf-8?b?{base64.b64encode(piece).decode()}?=" for piece in chunks)


def _width(data: bytes) -> int:
    return sum(1 if b in _Q_SAFE or b == 0x20 else 3 for b in data)


def _q(data: bytes) -> str:
    """RFC 2047 §4.2 "Q" text, with only the characters §5 (3) allows."""
    return "".join(chr(b) if b in _Q_SAFE else "_" if b == 0x20 else f"={b:02X}" for b in data)


def _fold(name: str, value: str) -> str:
    """``name: value`` as header lines of at most 78 characters where the
    value allows (RFC 5322 §2.2.3: a CRLF is put before a space)."""
    line = f"{name}: {value}"
    if len(line) <= _LINE:
        return line + "\r\n"
    lines = []
    current = f"{name}:"
    for word in _FOLD_POINT.split(value):
        if len(current) + 1 + len(word) > _LINE and current.strip() != f"{name}:":
            lines.append(current)
            current = ""
        current += " " + word
    lines.append(current)
    return "\r\n".join(lines) + "\r\n"


def _text_entity(subtype: str, text: str) -> Entity:
    """A text part in UTF-8: 7bit when it is ASCII in short lines, else
    quoted-printable (RFC 2045 §6.7), so what Herald writes is 7-bit clean
    and needs no 8BITMIME of the upstream."""
    lines = text.encode("utf-8").splitlines()
    if all(len(line) <= _LINE for line in lines) and text.isascii():
        encoding, body = "7bit", b"\r\n".join(lines) + b"\r\n"
    else:
        encoding = "quoted-printable"
        qp = binascii.b2a_qp(b"\n".join(lines) + b"\n", istext=True)
        body = qp.replace(b"\n", b"\r\n")
    return Entity(
        [
            f'Content-Type: text/{subtype}; charset="utf-8"',
            f"Content-Transfer-Encoding: {encoding}",
        ],
        body,
    )


def _base64(data: bytes) -> bytes:
    """RFC 2045 §6.8: base64 in lines of 76 characters."""
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def multipart(subtype: str, parts: Sequence[Entity]) -> Entity:
    """RFC 2046 §5.1: ``parts`` between boundaries that none of them holds."""
    written = [part.write() for part in parts]
    boundary = f"=_{secrets.token_hex(16)}"
    while any(boundary.encode() in part for part in written):
        boundary = f"=_{secrets.token_hex(16)}"
    dash = f"--{boundary}\r\n".encode()
    # Each part ends in CRLF; the CRLF before a delimiter belongs to it (§5.1.1).
    body = b"".join(dash + part + b"\r\n" for part in written) + f"--{boundary}--\r\n".encode()
    return Entity([f"Content-Type: multipart/{subtype};", f' boundary="{boundary}"'], body)


def _disposition(kind: str, filename: str) -> str:
    """RFC 2183 Content-Disposition with the file name: a quoted string when
    it is printable ASCII, else RFC 2231 §4 percent-encoded UTF-8, continued
    over lines (§3) when long."""
    if _PRINTABLE.match(filename) and "=?" not in filename and len(filename) <= 50:
        quoted = filename.replace("\\", "\\\\").replace('"', '\\"')
        return f'Content-Disposition: {kind}; filename="{quoted}"'
    encoded = urllib.parse.quote(filename.encode("utf-8", "surrogatepass"), safe=_ATTRIBUTE_SAFE)
    if len(encoded) <= 50:
        return f"Content-Disposition: {kind}; filename*=utf-8''{encoded}"
    # Cut between escapes, never inside one.
    pieces = re.findall(r"(?:%[0-9A-F]{2}|[^%]){1,16}", encoded)
    lines = [f"Content-Disposition: {kind};"]
    for index, piece in enumerate(pieces):
        prefix = "utf-8''" if index == 0 else ""
        end = ";" if index < len(pieces) - 1 else ""
        lines.append(f" filename*{index}*={prefix}{piece}{end}")
    return "\r\n".join(lines)
