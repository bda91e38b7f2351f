"""Tests for gateway/queue/relay.py: SMTPRelay against a real aiosmtpd server, MaildirCapture,
choosing the upstream per delivery, and what a test transaction came to."""

from __future__ import annotations

import asyncio
import dataclasses
import mailbox
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest

from gateway import config as configuration
from gateway.config import Upstream, UpstreamLimits
from gateway.queue import relay
from gateway.queue.relay import Guards, MaildirCapture, Result, SMTPRelay, Verdict
from gateway.settings import smtp as smtp_settings
from gateway.store import SenderIdentity, Store
from tests.capture import LOOPBACK, Capture, free_port

MAIL_FROM = "herald@herald.test"
CONTENT = (
    b"From: Herald <herald@herald.test>\r\n"
    b"To: ada@example.com\r\n"
    b"Subject: Your invoice\r\n"
    b"Message-ID: <run_1@herald.test>\r\n"
    b"\r\n"
    b"Hello Ada,\r\nyour invoice is ready.\r\n"
)


@pytest.fixture
def upstream() -> Iterator[tuple[Capture, int]]:
    capture = Capture().start()
    try:
        yield capture, capture.port
    finally:
        capture.stop()


_relays: list[SMTPRelay] = []


def relay_to(port: int, **limits: Any) -> SMTPRelay:
    upstream = Upstream(host=LOOPBACK, port=port, timeout=5, limits=UpstreamLimits(**limits))
    relay = SMTPRelay(upstream, local_hostname="herald.test", guards=Guards())
    _relays.append(relay)
    return relay


@pytest.fixture(autouse=True)
async def close_relays() -> AsyncIterator[None]:
    """Sessions kept for reuse are closed after each test."""
    yield
    while _relays:
        await _relays.pop().close()


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


async def test_nothing_listening_defers_everyone() -> None:
    """With no server on the port, every recipient is deferred with the connection error."""
    port = free_port()
    results = await relay_to(port).send(MAIL_FROM, ["ada@example.com", "bob@example.com"], CONTENT)
    assert set(results) == {"ada@example.com", "bob@example.com"}
    for result in results.values():
        assert result.verdict == "deferred"
        assert result.reply is None
        assert result.error is not None
        assert "SMTPConnectError" in result.error
        assert str(port) in result.error


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


async def test_silent_upstream_times_out_and_defers() -> None:
    """An upstream that accepts the connection but never greets defers everyone on timeout."""
    connections: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)

    server = await asyncio.start_server(hold, LOOPBACK, 0)
    port = server.sockets[0].getsockname()[1]
    relay = SMTPRelay(Upstream(host=LOOPBACK, port=port, timeout=0.2), local_hostname="herald.test")
    try:
        results = await relay.send(MAIL_FROM, ["ada@example.com"], CONTENT)
    finally:
        for writer in connections:
            writer.close()
        server.close()
        await server.wait_closed()
    [result] = results.values()
    assert result.verdict == "deferred"
    assert result.error is not None
    assert "Timeout" in result.error


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


def test_describe_hides_the_password() -> None:
    """describe() names the upstream without its password."""
    relay = SMTPRelay(
        Upstream(
            host="mail.example.com", port=587, security="starttls", username="u", password="pw"
        ),
        local_hostname="herald.test",
    )
    assert relay.describe() == "smtp+starttls://u@mail.example.com:587"


# MaildirCapture


async def test_capture_writes_one_file_per_message(tmp_path: Path) -> None:
    """Each message becomes one file in the Maildir's new/, with the envelope in front."""
    outbox = tmp_path / "outbox"
    capture = MaildirCapture(outbox)
    results = await capture.send(MAIL_FROM, ["ada@example.com", "audit@example.com"], CONTENT)
    await capture.send(MAIL_FROM, ["bob@example.com"], CONTENT.replace(b"Ada", b"Bob"))

    files = sorted((outbox / "new").iterdir())
    assert len(files) == 2
    assert (outbox / "cur").is_dir()
    assert (outbox / "tmp").is_dir()
    contents = [f.read_bytes() for f in files]
    first = next(c for c in contents if b"ada@example.com, audit" in c)
    assert first.startswith(
        b"Return-Path: <herald@herald.test>\r\n"
        b"X-Envelope-To: ada@example.com, audit@example.com\r\n"
    )
    assert first.endswith(CONTENT)
    assert any(c.endswith(CONTENT.replace(b"Ada", b"Bob")) for c in contents)

    assert set(results) == {"ada@example.com", "audit@example.com"}
    for result in results.values():
        assert result.verdict == "sent"
        assert result.reply is not None
        assert result.reply.startswith("250 ")


async def test_captured_message_is_readable_as_mail(tmp_path: Path) -> None:
    """A captured file parses as a message with the envelope headers and the original ones."""
    capture = MaildirCapture(tmp_path / "outbox")
    results = await capture.send(MAIL_FROM, ["ada@example.com"], CONTENT)
    box = mailbox.Maildir(tmp_path / "outbox", create=False)
    [(key, message)] = list(box.items())
    reply = results["ada@example.com"].reply
    assert reply is not None
    assert key in reply
    assert message["Return-Path"] == "<herald@herald.test>"
    assert message["X-Envelope-To"] == "ada@example.com"
    assert message["Subject"] == "Your invoice"
    assert "your invoice is ready" in message.get_payload()


def test_capture_describes_its_directory(tmp_path: Path) -> None:
    """describe() names the Maildir that stands in for the upstream."""
    assert MaildirCapture(tmp_path).describe() == f"maildir:{tmp_path}"


async def test_capture_creates_missing_parent_directories(tmp_path: Path) -> None:
    """The Maildir is made even when the folders above it do not exist yet."""
    outbox = tmp_path / "state" / "deeper" / "outbox"
    results = await MaildirCapture(outbox).send(MAIL_FROM, ["ada@example.com"], CONTENT)
    assert results["ada@example.com"].verdict == "sent"
    assert len(list((outbox / "new").iterdir())) == 1


UPSTREAM = Upstream(host="mail.example.test", port=587, security="starttls")


@pytest.fixture
def config(tmp_path: Path) -> configuration.Config:
    return configuration.load(
        None, env={"HERALD_STATE_DIR": str(tmp_path), "HERALD_HOSTNAME": "herald.test"}
    )


def test_an_unresolvable_name_is_named_as_such() -> None:
    """socket.gaierror under aiosmtplib's connect error is 'name-not-resolved'."""
    try:
        try:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        except socket.gaierror as cause:
            raise aiosmtplib.SMTPConnectError("Error connecting") from cause
    except aiosmtplib.SMTPConnectError as exc:
        diagnosis = relay.classify(exc, "connect", UPSTREAM)
    assert diagnosis.outcome == "name-not-resolved"
    assert "'mail.example.test' cannot be resolved" in diagnosis.detail
    assert not diagnosis.ok


@pytest.mark.parametrize(
    ("error", "step", "outcome"),
    [
        (ssl.SSLError(1, "wrong version number"), "starttls", "tls-failed"),
        (aiosmtplib.SMTPException("STARTTLS extension not supported"), "starttls", "tls-failed"),
        (aiosmtplib.SMTPAuthenticationError(535, "5.7.8 bad credentials"), "auth", "auth-refused"),
        (aiosmtplib.SMTPException("AUTH extension not supported"), "auth", "auth-refused"),
        (
            aiosmtplib.SMTPSenderRefused(553, "5.7.1 not yours", "a@b.test"),
            "mail",
            "sender-refused",
        ),
        (aiosmtplib.SMTPDataError(554, "5.6.0 refused"), "data", "message-refused"),
        (aiosmtplib.SMTPConnectResponseError(554, "go away"), "connect", "server-refused"),
        (aiosmtplib.SMTPServerDisconnected("gone"), "mail", "disconnected"),
        (OSError(113, "No route to host"), "connect", "connection-failed"),
    ],
)
def test_each_failure_has_its_own_outcome(error: Exception, step: relay.Step, outcome: str) -> None:
    """Every kind of failure maps to one distinct, readable outcome."""
    diagnosis = relay.classify(error, step, UPSTREAM)
    assert diagnosis.outcome == outcome
    assert diagnosis.step == step
    assert diagnosis.detail


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


async def test_an_upstream_that_never_greets_times_out(silent_port: int) -> None:
    """A server that accepts the connection but never greets is a 'timeout'."""
    upstream = Upstream(host="127.0.0.1", port=silent_port, timeout=0.2, connect_timeout=0.2)
    diagnosis = await relay.diagnose(
        upstream, local_hostname="herald.test", mail_from="a@b.test", to="c@d.test", content=b""
    )
    assert diagnosis.outcome == "timeout"
    assert diagnosis.step == "connect"


async def test_nothing_saved_and_no_upstream_means_the_maildir_capture(
    store: Store, config: configuration.Config
) -> None:
    """Without saved settings or a configured upstream, mail is captured."""
    way = await relay.Router(config, store).relay_for("a@b.test")
    assert isinstance(way, relay.MaildirCapture)


async def test_saved_settings_win_over_the_configuration_at_the_next_delivery(
    store: Store, config: configuration.Config
) -> None:
    """The router reads the settings at each call: a save applies at once."""
    config = dataclasses.replace(config, upstream=UPSTREAM)
    router = relay.Router(config, store)
    assert (await router.relay_for("a@b.test")).describe() == str(UPSTREAM)
    vault = router.vault
    value = smtp_settings.apply(
        smtp_settings.saved_form(None, vault),
        {"host": "relay.example.test", "login": "me", "password": "pw"},
        vault,
    )
    await smtp_settings.save(store, smtp_settings.SETTING, value, actor="test")
    way = await router.relay_for("a@b.test")
    assert isinstance(way, relay.SMTPRelay)
    assert way.upstream.host == "relay.example.test"
    assert way.upstream.password == "pw"


async def test_a_senders_own_upstream_is_picked_by_its_address(
    store: Store, config: configuration.Config
) -> None:
    """Mail whose envelope sender is a sender's address (any case) takes its upstream."""
    router = relay.Router(config, store)
    await store.put_sender(SenderIdentity("billing", "billing@acme.test"), actor="test")
    value = smtp_settings.apply(
        smtp_settings.saved_form(None, router.vault), {"host": "billing-relay.test"}, router.vault
    )
    await smtp_settings.save(store, smtp_settings.sender_setting("billing"), value, actor="t")
    assert (
        await router.relay_for("Billing@ACME.test")
    ).describe() == "smtp://billing-relay.test:25"
    assert isinstance(await router.relay_for("other@acme.test"), relay.MaildirCapture)


async def test_a_missing_ca_file_is_a_tls_failure_not_a_crash(tmp_path: Path) -> None:
    """A CA file removed after it was saved is reported, before any connection."""
    upstream = Upstream(
        host="127.0.0.1", port=1, security="starttls", ca_file=tmp_path / "gone.pem"
    )
    diagnosis = await relay.diagnose(
        upstream, local_hostname="herald.test", mail_from="a@b.test", to="c@d.test", content=b""
    )
    assert diagnosis.outcome == "tls-failed"
    assert "gone.pem cannot be read" in diagnosis.detail


async def test_messages_one_after_another_share_one_session(
    upstream: tuple[Capture, int],
) -> None:
    """An idle session is reused (after RSET) for the next message to the same upstream."""
    handler, port = upstream
    relay = relay_to(port)
    for _ in range(3):
        results = await relay.send(MAIL_FROM, ["ada@example.com"], CONTENT)
        assert results["ada@example.com"].verdict == "sent"
    assert len(handler.received) == 3
    assert handler.sessions == 1


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


async def test_open_breaker_defers_without_connecting() -> None:
    """After breaker_threshold connection failures the relay stops connecting for the
    cooldown; a listener that comes up meanwhile sees no connection."""
    port = free_port()
    relay = relay_to(port, breaker_threshold=2, breaker_cooldown=3600)
    for _ in range(2):
        [result] = (await relay.send(MAIL_FROM, ["ada@example.com"], CONTENT)).values()
        assert result.verdict == "deferred"
    capture = Capture(port).start()
    try:
        [result] = (await relay.send(MAIL_FROM, ["ada@example.com"], CONTENT)).values()
    finally:
        capture.stop()
    assert result.verdict == "deferred"
    assert result.error is not None
    assert "is failing; not tried" in result.error
    assert capture.sessions == 0


async def test_concurrent_captures_into_a_new_maildir_all_land(tmp_path: Path) -> None:
    """Deliveries racing to create the Maildir all succeed, one file each."""
    capture = MaildirCapture(tmp_path / "state" / "outbox")
    sends = [capture.send(MAIL_FROM, [f"u{n}@example.com"], CONTENT) for n in range(8)]
    results = await asyncio.gather(*sends)
    assert all(r[f"u{n}@example.com"].verdict == "sent" for n, r in enumerate(results))
    assert len(list((tmp_path / "state" / "outbox" / "new").iterdir())) == 8
