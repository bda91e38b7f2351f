"""Tests for gateway/entrance/intake.py: the queue's one entrance, and what the intake
records when it refuses a message."""

from __future__ import annotations

import email.policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import config as config_module
from gateway.content import mime
from gateway.content.mime import cleanup
from gateway.context import Context
from gateway.entrance.intake import Intake
from gateway.entrance.pipeline import InForce, Pipeline
from gateway.errors import Reject, UnsafeHeader
from gateway.ingress.events import context_for, read_event
from gateway.store import Store
from tests.encoded_words import EVIL, Payload, encode, payloads

MESSAGE_ID = "<run_1@herald.test>"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def written_names(content: bytes) -> list[str]:
    """The header names in ``content`` as the next server reads them."""
    head = content.partition(b"\r\n\r\n")[0] + b"\r\n\r\n"
    return [name.lower() for name in BytesHeaderParser().parsebytes(head)]


def spaced(text: str) -> str:
    return " ".join(text.split())


def composed(name: str = "Ada", subject: str = "Hello") -> mime.Draft:
    return mime.compose(
        sender=mime.mailbox("notify@herald.test", "Herald"),
        to=[mime.mailbox("ada@example.com", name)],
        subject=subject,
        text="hi",
        html=None,
        message_id=MESSAGE_ID,
    )


def parsed(headers: bytes) -> EmailMessage:
    message = BytesParser(policy=email.policy.default).parsebytes(headers + b"\r\nbody\r\n")
    assert isinstance(message, EmailMessage)
    return message


COMPOSED = ["from", "to", "subject", "date", "message-id"]
MIME = ["mime-version", "content-type", "content-transfer-encoding"]


def test_cleanup_drops_blind_copies_and_adds_what_is_missing() -> None:
    """Bcc, Resent-Bcc and control headers go; Date and the Message-ID come;
    the bytes hold exactly the rest, in order."""
    message = parsed(
        b"From: app@example.com\r\nTo: bob@example.com\r\nBcc: hidden@example.com\r\n"
        b"Resent-Bcc: resent@example.com\r\nX-Herald-Type: legacy\r\nSubject: hi\r\n"
    )
    content = cleanup(message, message_id=MESSAGE_ID)
    assert written_names(content) == ["from", "to", "subject", "date", "message-id"]
    written = bytes(content)
    assert b"hidden@" not in written
    assert b"resent@" not in written
    assert f"Message-ID: {MESSAGE_ID}".encode() in written


@pytest.mark.parametrize(
    "message",
    [
        composed(name=f"=?utf-8?q?Ada=0D=0ABcc:_{EVIL}?="),
        composed(subject=encode(f"Hi\r\nBcc: {EVIL}".encode(), "b")),
        parsed(
            f"From: app@example.com\r\nTo: =?utf-8?q?Bob=0D=0ABcc:_{EVIL}?= <b@x.test>\r\n".encode()
        ),
    ],
)
def test_cleanup_refuses_an_encoded_break_as_unsafe_header(message: EmailMessage) -> None:
    """A header hiding a break in an encoded word is an UnsafeHeader, which is a Reject."""
    with pytest.raises(UnsafeHeader, match="header must not contain") as info:
        cleanup(message, message_id=MESSAGE_ID)
    assert isinstance(info.value, Reject)


@given(name=payloads(), subject=payloads())
def test_a_composed_message_keeps_exactly_its_headers_or_is_refused(
    name: Payload, subject: Payload
) -> None:
    """Encoded words in a recipient name and a subject: cleanup refuses the
    message exactly when one decodes to a break, and otherwise writes exactly
    the headers composed, with the one recipient and no Bcc."""
    message = composed(name=name.unfolded, subject=subject.unfolded)
    if name.hostile or subject.hostile:
        with pytest.raises(UnsafeHeader):
            cleanup(message, message_id=MESSAGE_ID)
        return
    content = cleanup(message, message_id=MESSAGE_ID)
    assert written_names(content) == COMPOSED + MIME
    received = BytesParser(policy=email.policy.default).parsebytes(content)
    [address] = received["To"].addresses
    # The email package trims the space around a display name or a subject.
    assert (address.addr_spec, spaced(address.display_name)) == (
        "ada@example.com",
        spaced(name.text),
    )
    assert spaced(str(received["Subject"])) == spaced(subject.text)
    assert received["Bcc"] is None


@settings(max_examples=200)
@given(
    header=st.sampled_from(["To", "Cc", "Reply-To", "Subject", "X-Note", "Content-Disposition"]),
    payload=payloads(),
    folded=st.booleans(),
    long=st.booleans(),
)
def test_a_raw_message_keeps_exactly_its_headers_or_is_refused(
    header: str, payload: Payload, folded: bool, long: bool
) -> None:
    """Encoded words in any header of a raw message, folded or not: refused
    exactly when they decode to a break, else written back header for header."""
    words = payload.folded if folded else payload.unfolded
    # A long header is folded again as it is written, the short one is not.
    words = f"{words} {'x' * 80}" if long else words
    value = {
        "To": f"{words} <bob@example.com>",
        "Cc": f"carol@example.com,\r\n {words} <dan@example.com>",
        "Reply-To": f"{words} <reply@example.com>",
        "Content-Disposition": f'attachment; filename="{words}"',
    }.get(header, words)
    message = parsed(
        f"From: app@example.com\r\nTo: bob@example.com\r\n{header}: {value}\r\n".encode()
    )
    if payload.hostile:
        with pytest.raises(UnsafeHeader):
            cleanup(message, message_id=MESSAGE_ID)
        return
    content = cleanup(message, message_id=MESSAGE_ID)
    assert written_names(content) == ["from", "to", header.lower(), "date", "message-id"]
    received = BytesParser(policy=email.policy.default).parsebytes(content)
    for name in ("To", "Cc", "Reply-To"):
        # Written back, every address list names the same mailboxes.
        sent = [[a.addr_spec for a in h.addresses] for h in message.get_all(name, [])]
        assert [[a.addr_spec for a in h.addresses] for h in received.get_all(name, [])] == sent


class Produce:
    """A stage that makes the message it was given."""

    name: ClassVar[str] = "produce"
    description: ClassVar[str] = "test double"

    def __init__(self, message: mime.Message) -> None:
        self.message = message

    async def process(self, ctx: Context) -> None:
        ctx.message = self.message


async def test_a_refused_message_is_recorded_as_rejected_and_never_queued(store: Store) -> None:
    """When the entrance refuses what the stages made, the run is recorded as
    rejected with the reason and the queue stays empty."""
    hostile = composed(subject=f"Hi =?utf-8?q?=0D=0ABcc:_{EVIL}?=")
    pipeline = Pipeline([Produce(hostile)], timeout=5, hostname="herald.test")
    intake = Intake(store, pipeline, on_queued=lambda: None)
    ctx = Context(source="webhook", email_type="account.created", run_id="run_1", mail_from="")
    ctx.add_recipient("ada@example.com", "to", "event.recipient")
    with pytest.raises(UnsafeHeader, match="the Subject header must not contain CR, LF or NUL"):
        await intake.submit(ctx)
    run = await store.get_run("run_1")
    assert run.status == "rejected"
    assert run.error is not None
    assert "Subject header" in run.error
    assert [item.status for item in run.items] == ["skipped"]
    assert (await store.queue_stats()).depth == 0


async def test_an_event_is_answered_before_its_message_is_composed(
    store: Store, tmp_path: Path
) -> None:
    """With the shipped stages, an event's run is committed with what to compose
    and no content; composing it later gives the message its stages described,
    made ready by the same cleanup."""
    config = config_module.load(
        None, env={"HERALD_STATE_DIR": str(tmp_path), "HERALD_HOSTNAME": "herald.test"}
    )
    intake = Intake(store, InForce.build(config, store), on_queued=lambda: None)
    event = read_event((FIXTURES / "events" / "invoice.issued.json").read_bytes())
    ctx = context_for(event, run_id="run_1", mail_from="notify@herald.test")
    accepted = await intake.submit(ctx, idempotency_key=f"event:{event.id}")
    assert accepted.status == "queued"
    [delivery] = await store.claim("host:1", limit=1, lease=60)
    assert delivery.content == b""
    assert delivery.later is not None
    content, subject = await intake.compose(delivery.later)
    message = BytesParser(policy=email.policy.default).parsebytes(bytes(content))
    assert "INV-2026-0042" in subject
    assert message["Subject"] == subject
    assert message["To"] == "Ada Lovelace <ada@example.com>"
    assert message["Message-ID"] == "<run_1@herald.test>"
    assert message.get_content_type() == "multipart/alternative"
