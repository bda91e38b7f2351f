"""Tests for gateway/queue/diagnosis.py: what a test transaction came to, step by step."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import aiosmtplib
import pytest

from gateway.config import Upstream
from gateway.queue import diagnosis as diagnosing
from gateway.queue.transaction import Step

UPSTREAM = Upstream(host="mail.example.test", port=587, security="starttls")


def test_an_unresolvable_name_is_named_as_such() -> None:
    """socket.gaierror under aiosmtplib's connect error is 'name-not-resolved'."""
    try:
        try:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        except socket.gaierror as cause:
            raise aiosmtplib.SMTPConnectError("Error connecting") from cause
    except aiosmtplib.SMTPConnectError as exc:
        diagnosis = diagnosing.classify(exc, "connect", UPSTREAM)
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
def test_each_failure_has_its_own_outcome(error: Exception, step: Step, outcome: str) -> None:
    """Every kind of failure maps to one distinct, readable outcome."""
    diagnosis = diagnosing.classify(error, step, UPSTREAM)
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
    diagnosis = await diagnosing.diagnose(
        upstream, local_hostname="herald.test", mail_from="a@b.test", to="c@d.test", content=b""
    )
    assert diagnosis.outcome == "timeout"
    assert diagnosis.step == "connect"


async def test_a_missing_ca_file_is_a_tls_failure_not_a_crash(tmp_path: Path) -> None:
    """A CA file removed after it was saved is reported, before any connection."""
    upstream = Upstream(
        host="127.0.0.1", port=1, security="starttls", ca_file=tmp_path / "gone.pem"
    )
    diagnosis = await diagnosing.diagnose(
        upstream, local_hostname="herald.test", mail_from="a@b.test", to="c@d.test", content=b""
    )
    assert diagnosis.outcome == "tls-failed"
    assert "gone.pem cannot be read" in diagnosis.detail


@pytest.mark.parametrize(
    ("error", "step", "verdict"),
    [
        (aiosmtplib.SMTPRecipientRefused(550, "5.1.1 no such user", "a@b.test"), "rcpt", "failed"),
        (aiosmtplib.SMTPRecipientRefused(451, "4.3.0 busy", "a@b.test"), "rcpt", "deferred"),
        (aiosmtplib.SMTPAuthenticationError(535, "5.7.8 bad credentials"), "auth", "deferred"),
        (OSError(113, "No route to host"), "connect", "deferred"),
    ],
)
def test_a_failed_test_says_what_the_queue_would_record(
    error: Exception, step: Step, verdict: str
) -> None:
    """A permanent refusal is 'failed'; a refused login, a 4xx and a failed
    connection are 'deferred', as the queue retries them; the error is the
    upstream's reply when it gave one."""
    diagnosis = diagnosing.classify(error, step, UPSTREAM)
    assert diagnosis.verdict == verdict
    assert diagnosis.error == (diagnosis.reply or diagnosis.detail)
    assert diagnosis.error
