"""Unit properties of the SMTP listener's input handling."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from gateway.config import SMTPSettings, load
from gateway.ingress.smtpd import normalise_line_endings

_BARE = re.compile(rb"\r(?!\n)|(?<!\r)\n")


@given(st.binary(max_size=500))
def test_normalised_data_has_crlf_line_endings_only(raw: bytes) -> None:
    """After normalising, no bare CR or bare LF is left and nothing else changes."""
    out = normalise_line_endings(raw)
    assert not _BARE.search(out)
    assert out.replace(b"\r\n", b"") == raw.replace(b"\r\n", b"").replace(b"\r", b"").replace(
        b"\n", b""
    )
    assert normalise_line_endings(out) == out


def test_allow_list_matches_networks_and_mapped_addresses() -> None:
    """Loopback is allowed by default; v4-mapped v6 peers count as their v4 address."""
    default = SMTPSettings()
    assert default.allows("127.0.0.1")
    assert default.allows("::1")
    assert default.allows("::ffff:127.0.0.5")
    assert not default.allows("192.0.2.1")
    assert not default.allows("not an address")
    narrow = load(env={"HERALD_SMTP_ALLOW": "127.0.0.1/32, 10.0.0.0/8"}).smtp
    assert narrow.allows("127.0.0.1")
    assert narrow.allows("10.1.2.3")
    assert not narrow.allows("127.0.0.2")
    assert not load(env={"HERALD_SMTP_ALLOW": ""}).smtp.allows("127.0.0.1")
