"""Tests for gateway/queue/relay.py: the one test-send path that ``smtp test``
and the template test sends take, against a real upstream or the capture."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import mailbox
from email.message import EmailMessage

import pytest

from gateway import config as configuration
from gateway.config import Upstream
from gateway.content import mime
from gateway.content.mime import cleanup
from gateway.errors import InvalidInput
from gateway.queue import relay
from gateway.queue.diagnosis import Diagnosis
from gateway.store import Cleaned, Store
from tests.capture import LOOPBACK, Capture

TO = "qa@example.com"


def sample_content(config: configuration.Config) -> Cleaned:
    """A message made ready to queue, as a template test send hands it over."""
    message = mime.compose(
        sender=mime.mailbox(config.sender.address),
        to=[mime.mailbox(TO)],
        subject="Grüße from the test send",
        text="Hello.",
        html=None,
        message_id="<test_1@herald.test>",
    )
    return cleanup(message, message_id="<test_1@herald.test>")


def with_upstream(config: configuration.Config, port: int) -> configuration.Config:
    return dataclasses.replace(
        config,
        upstream=dataclasses.replace(
            config.upstream, server=Upstream(host=LOOPBACK, port=port, timeout=5)
        ),
    )


def parsed(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


async def test_with_no_upstream_a_test_send_lands_in_the_capture(
    store: Store, config: configuration.Config
) -> None:
    """With nothing saved or configured, a template test send goes to the
    Maildir the queue would use, and the answer names that Maildir."""
    diagnosis = await relay.send_test(
        store, config, sample_content(config), mail_from=config.sender.address, to=TO
    )
    assert (diagnosis.ok, diagnosis.verdict, diagnosis.error) == (True, "sent", None)
    assert diagnosis.upstream == f"maildir:{config.upstream.capture_dir}"
    [(key, captured)] = list(mailbox.Maildir(config.upstream.capture_dir, create=False).items())
    assert diagnosis.reply == f"250 2.0.0 captured as {key}"
    message = parsed(captured.as_bytes())
    assert message["X-Envelope-To"] == TO
    assert message["Subject"] == "Grüße from the test send"


async def test_a_test_send_reaches_the_upstream_the_queue_would_use(
    store: Store, config: configuration.Config, upstream: tuple[Capture, int]
) -> None:
    """With an upstream configured, a test send is one transaction with it and
    the answer carries the upstream's reply."""
    handler, port = upstream
    config = with_upstream(config, port)
    diagnosis = await relay.send_test(
        store, config, sample_content(config), mail_from=config.sender.address, to=TO
    )
    assert diagnosis == Diagnosis(
        "accepted",
        "the upstream accepted the message: 250 2.0.0 Ok: captured",
        "data",
        f"smtp://{LOOPBACK}:{port}",
        "250 2.0.0 Ok: captured",
    )
    [received] = handler.received
    assert (received.mail_from, received.rcpt_tos) == (config.sender.address, [TO])
    assert received.message["Subject"] == "Grüße from the test send"


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [("550 5.1.1 no such user", "failed"), ("452 4.2.2 mailbox full", "deferred")],
)
async def test_a_refused_test_send_answers_the_refusal_as_the_queue_would_record_it(
    store: Store,
    config: configuration.Config,
    upstream: tuple[Capture, int],
    reply: str,
    verdict: str,
) -> None:
    """A recipient refused by the upstream is named as such, with the
    upstream's exact reply and the verdict the queue would give (5xx failed,
    4xx deferred), and no message is transferred."""
    handler, port = upstream
    handler.rcpt_replies[TO] = reply
    config = with_upstream(config, port)
    diagnosis = await relay.send_test(
        store, config, sample_content(config), mail_from=config.sender.address, to=TO
    )
    assert (diagnosis.outcome, diagnosis.step) == ("recipient-refused", "rcpt")
    assert (diagnosis.verdict, diagnosis.error, diagnosis.reply) == (verdict, reply, reply)
    assert handler.received == []


async def test_smtp_test_needs_an_upstream_and_sends_nothing_without_one(
    store: Store, config: configuration.Config
) -> None:
    """``smtp test`` with no upstream set and none proposed is refused with the
    field named, and nothing reaches the capture."""
    with pytest.raises(InvalidInput) as refused:
        await relay.smtp_test(store, config, mail_from="notify@herald.test", to=TO)
    assert refused.value.field == "#/host"
    assert not config.upstream.capture_dir.exists()


async def test_smtp_test_with_proposed_settings_takes_the_same_path(
    store: Store, config: configuration.Config, upstream: tuple[Capture, int]
) -> None:
    """Settings proposed but not saved are tried as the upstream, and the
    plain test message arrives there as a mail client would read it."""
    handler, port = upstream
    diagnosis = await relay.smtp_test(
        store,
        config,
        mail_from="notify@herald.test",
        to=TO,
        subject="Über the wire",
        proposed={"host": LOOPBACK, "port": port},
    )
    assert diagnosis.ok, diagnosis
    assert diagnosis.upstream == f"smtp://{LOOPBACK}:{port}"
    [received] = handler.received
    assert received.message["Subject"] == "Über the wire"
    assert received.message.get_content().strip() == "This is a test message from Herald."
    assert await store.read_settings("smtp") == {}


async def test_smtp_test_refuses_a_bad_field_before_connecting(
    store: Store, config: configuration.Config, upstream: tuple[Capture, int]
) -> None:
    """A sender that is not an address is refused with its field named, and
    the upstream sees no connection."""
    handler, port = upstream
    with pytest.raises(InvalidInput) as refused:
        await relay.smtp_test(store, with_upstream(config, port), mail_from="not an address", to=TO)
    assert refused.value.field == "#/from"
    assert handler.sessions == 0
