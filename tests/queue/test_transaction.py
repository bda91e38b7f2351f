"""Tests for gateway/queue/transaction.py: one SMTP transaction against a real
aiosmtpd upstream, answered per recipient."""

from __future__ import annotations

import pytest

from gateway.queue.transaction import Result, Verdict
from tests.capture import Capture
from tests.queue import CONTENT, MAIL_FROM, relay_to


async def test_all_recipients_accepted(upstream: tuple[Capture, int]) -> None:
    """When the upstream accepts everyone, every recipient is 'sent' with the 250 reply."""
    handler, port = upstream
    recipients = ["ada@example.com", "bob@example.com", "ops@example.net"]
    results = await relay_to(port).send(MAIL_FROM, recipients, CONTENT)
    expected = Result("sent", reply="250 2.0.0 Ok: captured")
    assert results == dict.fromkeys(recipients, expected)
    [message] = handler.received
    assert message.mail_from == MAIL_FROM
    assert message.rcpt_tos == recipients
    assert message.content == CONTENT


async def test_relay_greets_with_its_local_hostname(upstream: tuple[Capture, int]) -> None:
    """The relay introduces itself with the configured local host name."""
    handler, port = upstream
    await relay_to(port).send(MAIL_FROM, ["ada@example.com"], CONTENT)
    assert handler.received[0].helo == "herald.test"


async def test_one_recipient_refused_permanently(upstream: tuple[Capture, int]) -> None:
    """A 5xx RCPT reply fails that recipient only; the others are sent."""
    handler, port = upstream
    handler.rcpt_replies["ghost@example.com"] = "550 5.1.1 no such user"
    recipients = ["ada@example.com", "ghost@example.com", "bob@example.com"]
    results = await relay_to(port).send(MAIL_FROM, recipients, CONTENT)
    assert results["ghost@example.com"] == Result("failed", error="550 5.1.1 no such user")
    assert results["ada@example.com"].verdict == "sent"
    assert results["bob@example.com"].verdict == "sent"
    assert set(results) == set(recipients)
    assert handler.received[0].rcpt_tos == ["ada@example.com", "bob@example.com"]


async def test_one_recipient_refused_temporarily(upstream: tuple[Capture, int]) -> None:
    """A 4xx RCPT reply defers that recipient only; the others are sent."""
    handler, port = upstream
    handler.rcpt_replies["busy@example.com"] = "451 4.2.0 try later"
    results = await relay_to(port).send(MAIL_FROM, ["ada@example.com", "busy@example.com"], CONTENT)
    assert results["busy@example.com"] == Result("deferred", error="451 4.2.0 try later")
    assert results["ada@example.com"] == Result("sent", reply="250 2.0.0 Ok: captured")


async def test_every_recipient_refused_sends_no_data(
    upstream: tuple[Capture, int],
) -> None:
    """When every RCPT is refused, each keeps its own answer and no message is transferred."""
    handler, port = upstream
    handler.rcpt_replies["ghost@example.com"] = "550 5.1.1 no such user"
    handler.rcpt_replies["busy@example.com"] = "452 4.2.2 mailbox full"
    results = await relay_to(port).send(
        MAIL_FROM, ["ghost@example.com", "busy@example.com"], CONTENT
    )
    assert results == {
        "ghost@example.com": Result("failed", error="550 5.1.1 no such user"),
        "busy@example.com": Result("deferred", error="452 4.2.2 mailbox full"),
    }
    assert handler.received == []


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [("553 5.7.1 sender not allowed", "failed"), ("451 4.7.1 greylisted", "deferred")],
)
async def test_sender_refused_applies_to_everyone(
    upstream: tuple[Capture, int], reply: str, verdict: Verdict
) -> None:
    """A refused MAIL FROM gives every recipient that reply: 5xx fails, 4xx defers."""
    handler, port = upstream
    handler.mail_reply = reply
    recipients = ["ada@example.com", "bob@example.com"]
    results = await relay_to(port).send(MAIL_FROM, recipients, CONTENT)
    assert results == dict.fromkeys(recipients, Result(verdict, error=reply))
    assert handler.received == []


async def test_data_refused_permanently_fails_everyone(
    upstream: tuple[Capture, int],
) -> None:
    """A 5xx reply to DATA fails every recipient with that reply."""
    handler, port = upstream
    handler.data_reply = "554 5.6.0 rejected"
    recipients = ["ada@example.com", "bob@example.com"]
    results = await relay_to(port).send(MAIL_FROM, recipients, CONTENT)
    assert results == dict.fromkeys(recipients, Result("failed", error="554 5.6.0 rejected"))


async def test_a_reply_is_kept_as_one_line_of_valid_text(
    upstream: tuple[Capture, int],
) -> None:
    """A reply carrying NUL or bytes that are not UTF-8 is recorded with those replaced,
    so the store can always keep the outcome."""
    handler, port = upstream
    # Bytes, as a broken upstream sends them: aiosmtpd writes them unchanged.
    handler.mail_replies.append(b"451 4.3.0 busy\x00now \xff\xfe")
    results = await relay_to(port).send(MAIL_FROM, ["ada@example.com"], CONTENT)
    assert results == {"ada@example.com": Result("deferred", error="451 4.3.0 busy now ??")}


async def test_data_refused_temporarily_defers_everyone(
    upstream: tuple[Capture, int],
) -> None:
    """A 4xx reply to DATA defers every recipient with that reply."""
    handler, port = upstream
    handler.data_reply = "451 4.3.0 queue full"
    recipients = ["ada@example.com", "bob@example.com"]
    results = await relay_to(port).send(MAIL_FROM, recipients, CONTENT)
    assert results == dict.fromkeys(recipients, Result("deferred", error="451 4.3.0 queue full"))


async def test_refused_recipient_keeps_its_verdict_when_data_fails(
    upstream: tuple[Capture, int],
) -> None:
    """A recipient refused at RCPT keeps that answer when DATA then fails for the others."""
    handler, port = upstream
    handler.rcpt_replies["ghost@example.com"] = "550 5.1.1 no such user"
    handler.data_reply = "451 4.3.0 queue full"
    results = await relay_to(port).send(
        MAIL_FROM, ["ada@example.com", "ghost@example.com"], CONTENT
    )
    assert results["ada@example.com"] == Result("deferred", error="451 4.3.0 queue full")
    # Permanently refused: retrying it would only be refused again.
    assert results["ghost@example.com"] == Result("failed", error="550 5.1.1 no such user")


async def test_eight_bit_body_is_announced(upstream: tuple[Capture, int]) -> None:
    """A body with 8-bit bytes is sent with BODY=8BITMIME and arrives byte for byte."""
    handler, port = upstream
    content = CONTENT.replace(b"Hello Ada", "Grüße, Zoë".encode())
    results = await relay_to(port).send(MAIL_FROM, ["ada@example.com"], content)
    assert results["ada@example.com"].verdict == "sent"
    [message] = handler.received
    assert "BODY=8BITMIME" in message.mail_options
    assert message.content == content


async def test_seven_bit_body_needs_no_body_option(
    upstream: tuple[Capture, int],
) -> None:
    """A plain ASCII message is sent without a BODY= option."""
    handler, port = upstream
    await relay_to(port).send(MAIL_FROM, ["ada@example.com"], CONTENT)
    assert not any(o.upper().startswith("BODY=") for o in handler.received[0].mail_options)


async def test_a_failing_before_data_sends_nothing(upstream: tuple[Capture, int]) -> None:
    """When the hook before DATA raises (say, the lease is lost), the message is not sent
    and every accepted recipient is deferred."""
    handler, port = upstream

    async def lease_lost() -> None:
        raise OSError("the lease was lost")

    results = await relay_to(port).send(
        MAIL_FROM, ["ada@example.com"], CONTENT, before_data=lease_lost
    )
    assert results["ada@example.com"] == Result("deferred", error="not sent: the lease was lost")
    assert handler.received == []
