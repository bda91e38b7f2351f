"""Tests for gateway/queue/qmgr.py: backoff, retries, expiry, lease recovery and
failure notices, with a real store, a real router and a real upstream."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gateway import config as configuration
from gateway.config import NotifySettings, QueueSettings
from gateway.errors import InvalidInput
from gateway.queue.qmgr import QueueManager, backoff, check_message_id, check_reason
from gateway.queue.routing import Router
from gateway.store import Cleaned, Delivery, NewItem, NewRun, Outcome, Run, Store, new_id
from tests.capture import Capture

# Generous: only a machine under heavy load needs more than a second.
WAIT = 30.0


@pytest.fixture
def upstream() -> Iterator[Capture]:
    capture = Capture().start()
    yield capture
    capture.stop()


def router_for(store: Store, tmp_path: Path, upstream: str | None = None) -> Router:
    """The router the daemon builds, sending to ``upstream`` (or the Maildir capture)."""
    env = {"HERALD_STATE_DIR": str(tmp_path / "state"), "HERALD_HOSTNAME": "herald.test"}
    if upstream is not None:
        env["HERALD_UPSTREAM"] = upstream
    return Router(configuration.load(None, env=env), store)


async def queue_one(
    store: Store, *recipients: str, content: bytes = b"Subject: hi\r\n\r\nhello\r\n"
) -> str:
    run_id = new_id("run")
    await store.record_run(
        NewRun(
            id=run_id,
            source="test",
            email_type="account.created",
            idempotency_key=None,
            subject="hi",
            mail_from="app@example.com",
            items=[NewItem(address, "to", "test") for address in recipients or ["ada@example.com"]],
            content=Cleaned(content),
        )
    )
    return run_id


@contextlib.asynccontextmanager
async def serving(manager: QueueManager) -> AsyncIterator[QueueManager]:
    """``manager`` running its loop, as the daemon runs it, until the block ends."""
    task = asyncio.create_task(manager.run())
    try:
        yield manager
    finally:
        await manager.stop(grace=5)
        await asyncio.wait_for(task, WAIT)
        await manager.router.close()


async def settled(store: Store, run_id: str, *statuses: str) -> Run:
    """The run once its status is one of ``statuses``."""
    deadline = time.monotonic() + WAIT
    while (run := await store.get_run(run_id)).status not in statuses:
        assert time.monotonic() < deadline, f"{run_id} stayed {run.status}"
        await asyncio.sleep(0.05)
    return run


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
    store: Store, tmp_path: Path
) -> None:
    """After a kill -9, the next start takes back that process's leases at once;
    leases of live processes and of other hosts are left to expire."""
    for _ in range(3):
        await queue_one(store)
    host = socket.gethostname()
    dead = f"{host}:{dead_pid()}"
    await store.claim(dead, limit=1, lease=300)
    await store.claim("elsewhere.example:1", limit=1, lease=300)
    manager = QueueManager(store, router_for(store, tmp_path), QueueSettings())
    await store.claim(manager.owner, limit=1, lease=300)
    await manager.recover()
    assert sorted(await store.lease_owners()) == sorted(["elsewhere.example:1", manager.owner])


async def test_failures_are_reported_as_configured_and_bounces_never_bounce(
    store: Store, tmp_path: Path
) -> None:
    """A failed recipient makes a callback and a bounce notice, but a message sent
    with the null reverse-path only makes the callback (RFC 5321 §4.5.5)."""
    manager = QueueManager(
        store,
        router_for(store, tmp_path),
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


def fast(
    *, retry_initial: float = 300.0, retry_max: float = 3600.0, lifetime: float = 86400.0
) -> QueueSettings:
    """Queue settings that poll often; retries and lifetime as each test needs."""
    return QueueSettings(
        poll_interval=0.05,
        lease=30.0,
        retry_initial=retry_initial,
        retry_max=retry_max,
        lifetime=lifetime,
    )


async def test_a_temporary_failure_waits_its_backoff_then_is_sent(
    store: Store, tmp_path: Path, upstream: Capture
) -> None:
    """A 4xx from the upstream defers the message by the first backoff step, with the
    reply recorded; the next attempt sends it and counts two attempts."""
    upstream.data_replies.append("451 4.3.0 try again later")
    settings = fast(retry_initial=600, retry_max=3600)
    manager = QueueManager(store, router_for(store, tmp_path, upstream.url), settings)
    async with serving(manager):
        started = time.time()
        run_id = await queue_one(store)
        manager.wake()
        deferred = await settled(store, run_id, "deferred")
        [item] = deferred.items
        assert (item.status, item.attempts) == ("deferred", 1)
        assert "451 4.3.0 try again later" in (item.error or "")
        [entry] = await store.list_queue()
        # retry_initial within its ±20% jitter, counted from the attempt.
        assert started + 600 * 0.8 <= entry.next_attempt_at <= time.time() + 600 * 1.2
        assert upstream.received == []
        # The operator's "retry now" stands in for the ten minutes of backoff.
        assert await store.retry_now(entry.message_id) == 1
        manager.wake()
        sent = await settled(store, run_id, "sent")
    [item] = sent.items
    assert (item.status, item.attempts) == ("sent", 2)
    [mail] = upstream.received
    assert mail.rcpt_tos == ["ada@example.com"]
    assert mail.message["Subject"] == "hi"
    assert await store.list_queue() == []


async def test_only_the_deferred_recipients_are_tried_again(
    store: Store, tmp_path: Path, upstream: Capture
) -> None:
    """When one recipient is deferred and another accepted, the retry goes to the
    deferred one alone, so nobody receives the message twice."""
    upstream.rcpt_replies["later"] = "450 4.2.1 mailbox busy"
    manager = QueueManager(store, router_for(store, tmp_path, upstream.url), fast())
    async with serving(manager):
        run_id = await queue_one(store, "now@example.com", "later@example.com")
        manager.wake()
        await settled(store, run_id, "deferred")
        del upstream.rcpt_replies["later"]
        [entry] = await store.list_queue()
        assert list(entry.recipients) == ["later@example.com"]
        await store.retry_now(entry.message_id)
        manager.wake()
        run = await settled(store, run_id, "sent")
    assert [mail.rcpt_tos for mail in upstream.received] == [
        ["now@example.com"],
        ["later@example.com"],
    ]
    assert {(i.address, i.status, i.attempts) for i in run.items} == {
        ("now@example.com", "sent", 1),
        ("later@example.com", "sent", 2),
    }


async def test_a_deferral_past_the_lifetime_fails_for_good_and_is_reported(
    store: Store, tmp_path: Path, upstream: Capture
) -> None:
    """When the next retry would fall after the message's lifetime, a 4xx becomes a
    permanent failure that names the attempts, and a bounce notice is queued."""
    upstream.data_reply = "451 4.3.0 still busy"
    manager = QueueManager(
        store,
        router_for(store, tmp_path, upstream.url),
        fast(retry_initial=60, lifetime=30),
        notify=NotifySettings(bounce_to="postmaster@example.com"),
    )
    async with serving(manager):
        run_id = await queue_one(store)
        manager.wake()
        run = await settled(store, run_id, "failed")
    [item] = run.items
    assert (item.status, item.attempts) == ("failed", 1)
    assert item.error == "gave up after 1 attempts: 451 4.3.0 still busy"
    assert await store.list_queue() == []
    [notice] = await store.due_notices(limit=10)
    assert (notice.kind, notice.run_id) == ("bounce", run_id)


async def test_a_permanent_refusal_is_not_retried(
    store: Store, tmp_path: Path, upstream: Capture
) -> None:
    """A 5xx for a recipient fails it at once with the upstream's reply, and the
    message leaves the queue while its other recipient is sent."""
    upstream.rcpt_replies["gone"] = "550 5.1.1 no such mailbox"
    manager = QueueManager(store, router_for(store, tmp_path, upstream.url), fast())
    async with serving(manager):
        run_id = await queue_one(store, "gone@example.com", "here@example.com")
        manager.wake()
        run = await settled(store, run_id, "partial")
    outcomes = {i.address: (i.status, i.attempts) for i in run.items}
    assert outcomes == {"gone@example.com": ("failed", 1), "here@example.com": ("sent", 1)}
    assert "550 5.1.1 no such mailbox" in str(
        next(i for i in run.items if i.address == "gone@example.com").error
    )
    assert await store.list_queue() == []
    assert [mail.rcpt_tos for mail in upstream.received] == [["here@example.com"]]


async def test_an_upstream_that_is_down_defers_and_keeps_the_message(
    store: Store, tmp_path: Path
) -> None:
    """With nothing listening at the upstream, the message is deferred with the
    connection error and stays queued for its next attempt."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    manager = QueueManager(
        store, router_for(store, tmp_path, f"smtp://127.0.0.1:{port}"), fast(retry_initial=600)
    )
    async with serving(manager):
        run_id = await queue_one(store)
        manager.wake()
        run = await settled(store, run_id, "deferred")
    [item] = run.items
    assert (item.status, item.attempts) == ("deferred", 1)
    assert item.error
    [entry] = await store.list_queue()
    assert entry.run_id == run_id
