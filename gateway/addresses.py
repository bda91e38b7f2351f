"""Email addresses and header values from outside input, checked before use.

Every address or display name that reaches a header or an SMTP envelope
passes through here first, so that no input can inject a header or a
second command: CR, LF, NUL and the other line breaks are refused, as
written and as any RFC 2047 encoded word in the text decodes.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import ipaddress
import re
from collections.abc import Iterator

_FORBIDDEN = re.compile(r"[\r\n\x00]")
# What str.splitlines() also breaks on; the email package refuses these in
# header values, so they must be caught as input, not as a crash later.
_OTHER_BREAKS = re.compile("[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
# RFC 5321 §4.1.2 Mailbox, restricted to the dot-atom form that real mail
# systems accept; quoted local parts are refused rather than half-supported.
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])"
_MAILBOX = re.compile(rf"^{_LOCAL}@{_DOMAIN}$")
_HOST = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")


def check_header_text(value: str, what: str = "value") -> str:
    """Return ``value`` when it is safe inside one header line, as written
    and once its encoded words are decoded."""
    if _FORBIDDEN.search(value):
        raise ValueError(f"{what} must not contain CR, LF or NUL")
    if _OTHER_BREAKS.search(value):
        raise ValueError(f"{what} must not contain line breaks")
    return check_encoded_words(value, what)


def check_encoded_words(value: str, what: str = "value") -> str:
    """Return ``value`` when no RFC 2047 encoded word in it decodes to CR,
    LF, NUL or another line break.

    This is the check for text that may span lines where it is meant to be
    (a footer, a template's data) but may also be placed in a header: its
    line breaks are folded away there, but an encoded word is decoded by
    the email package and by mail readers, and the break it carries would
    split the header in two (CVE-2024-6923).
    """
    _check_decoded(value, what, _DEPTH)
    return value


def check_address(value: str, what: str = "address") -> str:
    """Return ``value`` when it is a plain ``local@domain`` mailbox."""
    check_header_text(value, what)
    # RFC 5321 §4.5.3.1.3: a path is at most 256 octets, so a mailbox 254.
    if len(value) > 254 or not _MAILBOX.match(value):
        raise ValueError(f"{what} {value!r} is not a valid email address")
    if _has_encoded_word(value):
        # RFC 2047 §5: an encoded word MUST NOT appear in an addr-spec; mail
        # systems that decode one anyway read a different address.
        raise ValueError(
            f"{what} {value!r} is not a valid email address (it holds an encoded word)"
        )
    return value


def check_host(value: str, what: str = "host") -> str:
    """Return ``value`` when it is a host name or an IP address, nothing more."""
    check_header_text(value, what)
    try:
        ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        if len(value) > 253 or not _HOST.match(value):
            raise ValueError(
                f"{what} {value!r} is not a host name or an IP address (give no scheme or port)"
            ) from None
        return value
    return value.strip("[]")


# RFC 2047 §2: =?charset?encoding?encoded-text?=. Readers find encoded words
# in more places than §5 allows (inside quoted strings, glued to other text,
# longer than 75 characters), so a word is looked for at every "=?".
_WORD_START = "=?"
_WORD_END = "?="
# Longer than any registered charset name (RFC 2978 §2.3 allows 40).
_MAX_CHARSET = 64
# How deep a word may hide inside the decoded text of another one.
_DEPTH = 3
# The bytes of a line break or NUL in every ASCII-compatible charset; the
# decoded text is also checked, for charsets (UTF-7, UTF-16...) that are not.
_BREAK_BYTES = re.compile(rb"[\r\n\x00\x0b\x0c\x1c\x1d\x1e]")
_Q_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")


def _check_decoded(value: str, what: str, depth: int) -> None:
    if _WORD_START not in value:
        return
    hidden = "(an RFC 2047 encoded word in it decodes to one)"
    for charset, data in _decodings(value, what):
        text = _as_text(data, charset)
        if _BREAK_BYTES.search(data) or _FORBIDDEN.search(text):
            raise ValueError(f"{what} must not contain CR, LF or NUL {hidden}")
        if _OTHER_BREAKS.search(text):
            raise ValueError(f"{what} must not contain line breaks {hidden}")
        if depth > 1:
            _check_decoded(text, what, depth - 1)


def _decodings(value: str, what: str) -> Iterator[tuple[str, bytes]]:
    """(charset, bytes) for every way a reader could decode the encoded words
    in ``value``: each word alone, however it is cut out, and each run of
    adjacent words in one charset joined, as RFC 2047 §6.2 lets readers join
    them (a character may be split across two words)."""
    # Words that overlap share their text; hostile text could make that
    # quadratic, so the work is bounded by the value's length.
    budget = 4 * len(value) + 4096
    run: list[bytes] = []
    run_charset = ""
    run_end = -1
    for start, charset, encoding, text_start, text_end in _words(value):
        budget -= text_end - text_start
        if budget < 0:
            raise ValueError(f"{what} holds more RFC 2047 encoded words than can be checked")
        text = value[text_start:text_end]
        variants = _q_bytes(text) if encoding == "q" else _b_bytes(text)
        for data in variants:
            yield charset, data
        gap = value[run_end:start] if run_end >= 0 and start >= run_end else None
        if run and gap is not None and not gap.strip() and charset == run_charset:
            run.append(variants[0])
        else:
            if len(run) > 1:
                yield run_charset, b"".join(run)
            run, run_charset = [variants[0]], charset
        run_end = text_end + len(_WORD_END)
    if len(run) > 1:
        yield run_charset, b"".join(run)


def _has_encoded_word(value: str) -> bool:
    return next(_words(value), None) is not None


def _words(value: str) -> Iterator[tuple[int, str, str, int, int]]:
    """The start, charset, encoding and text span of every encoded word a
    reader could find in ``value``, one for each "=?" that begins one."""
    ends = [m.start() for m in re.finditer(re.escape(_WORD_END), value)]
    start = value.find(_WORD_START)
    while start != -1:
        mark = value.find("?", start + 2, start + 3 + _MAX_CHARSET)
        if mark != -1 and value[mark + 1 : mark + 3].lower() in ("q?", "b?"):
            text_start = mark + 3
            # The text runs to the first "?=" after it, as the email package reads it.
            index = bisect.bisect_left(ends, text_start)
            if index < len(ends):
                # RFC 2231 §5: a charset may carry a language after "*".
                charset = value[start + 2 : mark].partition("*")[0].strip().lower()
                yield start, charset, value[mark + 1].lower(), text_start, ends[index]
        start = value.find(_WORD_START, start + 1)


def _q_bytes(text: str) -> list[bytes]:
    # RFC 2047 §4.2: "_" is a space, "=XX" a byte, anything else itself.
    raw = _raw(text).replace(b"_", b" ")
    return [_Q_ESCAPE.sub(lambda m: bytes([int(m[1], 16)]), raw)]


def _raw(text: str) -> bytes:
    """The bytes behind ``text``: a header read from 8-bit input carries its
    undecodable bytes as lone surrogates (``surrogateescape``)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _b_bytes(text: str) -> list[bytes]:
    """The bytes of a B-encoded text as lenient readers decode it: without
    the characters base64 does not use, and chunk by chunk between padding."""
    raw = text.encode("ascii", "ignore")
    chunks = [_NOT_BASE64.sub(b"", chunk) for chunk in raw.split(b"=")]
    variants = [_base64(b"".join(chunks)), b"".join(_base64(chunk) for chunk in chunks)]
    return list(dict.fromkeys(variants))


def _base64(data: bytes) -> bytes:
    # One character over a multiple of four is no byte at all; readers drop it.
    data = data[: len(data) - 1] if len(data) % 4 == 1 else data
    try:
        return base64.b64decode(data + b"=" * (-len(data) % 4))
    except binascii.Error:
        return b""


def _as_text(data: bytes, charset: str) -> str:
    """``data`` decoded as ``charset``, or as Latin-1 when Python does not
    know it as a text encoding (every byte is then a character)."""
    try:
        return data.decode(charset or "latin-1", "replace")
    except (LookupError, ValueError, TypeError):
        return data.decode("latin-1")
