"""Tests for gateway/queue/pool.py: sessions per upstream, their reuse, and the breaker."""

from __future__ import annotations

import asyncio

from gateway.config import Upstream
from gateway.queue.pool import SMTPRelay
from tests.capture import LOOPBACK, Capture, free_port
from tests.queue import CONTENT, MAIL_FROM, relay_to


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


def test_describe_hides_the_password() -> None:
    """describe() names the upstream without its password."""
    relay = SMTPRelay(
        Upstream(
            host="mail.example.com", port=587, security="starttls", username="u", password="pw"
        ),
        local_hostname="herald.test",
    )
    assert relay.describe() == "smtp+starttls://u@mail.example.com:587"


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
