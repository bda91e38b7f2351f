"""Tests for gateway/queue/qmgr.py: backoff, lease recovery, failure notices."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.config import NotifySettings, QueueSettings
from gateway.errors import InvalidInput
from gateway.queue.capture import MaildirCapture
from gateway.queue.qmgr import QueueManager, backoff, check_message_id, check_reason
from gateway.store import Delivery, NewItem, NewRun, Outcome, new_id
from gateway.store._sqlite import SQLiteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = SQLiteStore(str(tmp_path / "herald.db"))
    await opened.open()
    yield opened
    await opened.close()


async def queue_one(store: SQLiteStore) -> None:
    await store.record_run(
        NewRun(
            id=new_id("run"),
            source="test",
            email_type="account.created",
            idempotency_key=None,
            subject="hi",
            mail_from="app@example.com",
            items=[NewItem("ada@example.com", "to", "test")],
            content=b"Subject: hi\r\n\r\nhello\r\n",
        )
    )


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_backoff_doubles_to_the_cap_with_jitter() -> None:
    """The n-th retry waits retry_initial * 2^(n-1), capped at retry_max, within ±20%."""
    settings = QueueSettings(retry_initial=300, retry_max=3600)
    for attempts, base in [(1, 300), (2, 600), (4, 2400), (5, 3600), (12, 3600)]:
        assert base * 0.8 <= backoff(settings, attempts) <= base * 1.2


async def test_recover_releases_only_leases_of_dead_workers_on_this_host(
    store: SQLiteStore, tmp_path: Path
) -> None:
    """After a kill -9, the next start takes back that process's leases at once;
    leases of live processes and of other hosts are left to expire."""
    for _ in range(3):
        await queue_one(store)
    host = socket.gethostname()
    dead = f"{host}:{dead_pid()}"
    await store.claim(dead, limit=1, lease=300)
    await store.claim("elsewhere.example:1", limit=1, lease=300)
    manager = QueueManager(store, MaildirCapture(tmp_path / "outbox"), QueueSettings())
    await store.claim(manager.owner, limit=1, lease=300)
    await manager.recover()
    assert sorted(await store.lease_owners()) == sorted(["elsewhere.example:1", manager.owner])


def test_failures_are_reported_as_configured_and_bounces_never_bounce(tmp_path: Path) -> None:
    """A failed recipient makes a callback and a bounce notice, but a message sent
    with the null reverse-path only makes the callback (RFC 5321 §4.5.5)."""
    manager = QueueManager(
        SQLiteStore(":memory:"),
        MaildirCapture(tmp_path / "outbox"),
        QueueSettings(),
        notify=NotifySettings(callback_url="http://127.0.0.1:9/hook", bounce_to="pm@example.com"),
    )
    outcomes = [Outcome(1, "failed", error="550 5.1.1 no"), Outcome(2, "sent")]

    def delivery(mail_from: str) -> Delivery:
        return Delivery("msg_1", "run_1", mail_from, b"", [(1, "a@x.test"), (2, "b@x.test")], 0, 0)

    notices = manager._notices(delivery("app@example.com"), outcomes, "smtp://up:25")
    assert [n.kind for n in notices] == ["callback", "bounce"]
    assert notices[0].payload["recipients"] == [
        {"address": "a@x.test", "reply": None, "error": "550 5.1.1 no"}
    ]
    assert [n.kind for n in manager._notices(delivery(""), outcomes, "smtp://up:25")] == [
        "callback"
    ]
    assert manager._notices(delivery("app@example.com"), [Outcome(1, "sent")], "x") == []


@pytest.mark.parametrize("value", ["run_123", "msg_", "msg_12 34", "msg_../x", ""])
def test_bad_message_ids_are_refused(value: str) -> None:
    """Only msg_ followed by letters and digits is a message id."""
    with pytest.raises(InvalidInput, match="expected a message id"):
        check_message_id(value)


def test_purge_reason_is_one_line_and_bounded() -> None:
    """A purge reason is folded to one line and defaults to the operator."""
    assert check_reason(None) == "purged by the operator"
    assert check_reason("customer\r\nleft") == "customer left"
    with pytest.raises(InvalidInput, match="200"):
        check_reason("x" * 201)
