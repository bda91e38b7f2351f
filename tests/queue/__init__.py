"""Tests for gateway/queue/, and what they share: a message and a relay to a test upstream."""

from __future__ import annotations

from typing import Any

from gateway.config import Upstream, UpstreamLimits
from gateway.queue.pool import Guards, SMTPRelay
from tests.capture import LOOPBACK

MAIL_FROM = "herald@herald.test"
CONTENT = (
    b"From: Herald <herald@herald.test>\r\n"
    b"To: ada@example.com\r\n"
    b"Subject: Your invoice\r\n"
    b"Message-ID: <run_1@herald.test>\r\n"
    b"\r\n"
    b"Hello Ada,\r\nyour invoice is ready.\r\n"
)

# Relays made by relay_to, closed after each test by the close_relays fixture.
opened_relays: list[SMTPRelay] = []


def relay_to(port: int, **limits: Any) -> SMTPRelay:
    """A relay to the test upstream on ``port`` that keeps its sessions for reuse."""
    upstream = Upstream(host=LOOPBACK, port=port, timeout=5, limits=UpstreamLimits(**limits))
    relay = SMTPRelay(upstream, local_hostname="herald.test", guards=Guards())
    opened_relays.append(relay)
    return relay
