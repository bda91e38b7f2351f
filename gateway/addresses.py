"""Email addresses and header values from outside input, checked before use.

Every address or display name that reaches a header or an SMTP envelope
passes through here first, so that no input can inject a header or a
second command (CR, LF and NUL are refused outright).
"""

from __future__ import annotations

import ipaddress
import re

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
    """Return ``value`` when it is safe inside one header line."""
    if _FORBIDDEN.search(value):
        raise ValueError(f"{what} must not contain CR, LF or NUL")
    if _OTHER_BREAKS.search(value):
        raise ValueError(f"{what} must not contain line breaks")
    return value


def check_address(value: str, what: str = "address") -> str:
    """Return ``value`` when it is a plain ``local@domain`` mailbox."""
    check_header_text(value, what)
    # RFC 5321 §4.5.3.1.3: a path is at most 256 octets, so a mailbox 254.
    if len(value) > 254 or not _MAILBOX.match(value):
        raise ValueError(f"{what} {value!r} is not a valid email address")
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
