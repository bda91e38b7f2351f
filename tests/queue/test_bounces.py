"""Tests for gateway/queue/bounces.py and return_path.py: the bounce address
names one message and cannot be forged; what counts as a DSN."""

from __future__ import annotations

import pytest

from gateway.errors import NotAReport
from gateway.queue.bounces import parse_report
from gateway.queue.return_path import ReturnPath
from gateway.store import new_id
from tests.integration.test_lifecycle import dsn

KEY = b"k" * 32


def test_a_bounce_address_names_its_message_and_nothing_else() -> None:
    """The address carries the message id and its tag; another key, a changed
    id or tag, or another domain does not read back."""
    paths = ReturnPath(KEY, "bounces", "Herald.Test")
    message_id = new_id("msg")
    address = paths.address_for(message_id)
    local, _, domain = address.partition("@")
    assert domain == "herald.test"
    assert len(local) <= 64  # RFC 5321 §4.5.3.1.1
    assert paths.message_of(address) == message_id
    assert paths.message_of(address.upper()) == message_id
    assert ReturnPath(b"o" * 32, "bounces", "herald.test").message_of(address) is None
    other = new_id("msg")
    assert paths.message_of(address.replace(message_id, other)) is None
    assert paths.message_of(f"{local[:-1]}{'1' if local.endswith('0') else '0'}@{domain}") is None
    assert paths.is_bounce_address(address)
    assert not paths.is_bounce_address(f"{local}@example.com")
    assert not paths.is_bounce_address("bob@herald.test")


def test_a_report_gives_each_recipient_with_its_action_status_and_diagnostic() -> None:
    """The per-recipient fields of an RFC 3464 report, the diagnostic unfolded."""
    [reported] = parse_report(dsn("bounces+x@herald.test", "ada@example.com"))
    assert (reported.address, reported.action, reported.status) == (
        "ada@example.com",
        "failed",
        "5.1.1",
    )
    assert reported.diagnostic == (
        "550 5.1.1 <ada@example.com>: Recipient address rejected:"
        " User unknown in virtual mailbox table"
    )


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"Subject: hi\r\n\r\nhello\r\n", "not a multipart/report"),
        (
            b'Content-Type: multipart/report; report-type=disposition-notification; boundary="B"'
            b"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nread\r\n--B--\r\n",
            "not a delivery status report",
        ),
        (
            b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"'
            b"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nsorry\r\n--B--\r\n",
            "no message/delivery-status part",
        ),
    ],
)
def test_what_is_not_a_dsn_is_refused(raw: bytes, why: str) -> None:
    """Mail without a delivery-status report is refused, saying why."""
    with pytest.raises(NotAReport, match=why):
        parse_report(raw)
