"""Tests for gateway/queue/retention.py: the daemon's pruner, with a real queue
manager relaying to a real upstream and the store's clock moved forward."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import QueueSettings, RetentionSettings
from gateway.errors import PrunedError
from gateway.queue.qmgr import QueueManager
from gateway.queue.retention import Pruner
from gateway.store import Store
from gateway.store._sql import SQLStore
from tests import stores
from tests.capture import Capture
from tests.queue.test_qmgr import queue_one, router_for, serving, settled

DAY = 86400.0


@pytest.fixture
def store(clocked_store: SQLStore) -> Store:
    return clocked_store


async def test_a_sent_run_loses_its_body_while_a_deferred_one_is_kept_and_delivered(
    store: Store, tmp_path: Path, clock: stores.MovableClock, upstream: tuple[Capture, int]
) -> None:
    """Past the body clock, a sent run keeps its record and loses its body;
    a deferred message of the same age is untouched and still delivered."""
    capture = upstream[0]
    capture.rcpt_replies = {"later@": "451 4.3.0 try again later"}
    manager = QueueManager(
        store, router_for(store, tmp_path, capture.url), QueueSettings(poll_interval=0.05)
    )
    pruner = Pruner(store, RetentionSettings())
    async with serving(manager):
        sent = await queue_one(store, "ada@example.com")
        deferred = await queue_one(store, "later@example.com")
        manager.wake()
        await settled(store, sent, "sent")
        await settled(store, deferred, "deferred")

        clock.advance(31 * DAY)
        report = await pruner.prune_once()
        assert report is not None
        assert report.bodies == 1

        run = await store.get_run(sent)
        assert run.status == "sent"
        assert (run.items[0].reply or "").startswith("250")
        with pytest.raises(PrunedError):
            await store.resend_item(sent, run.items[0].id)

        capture.rcpt_replies = {}
        await store.retry_now(None)
        manager.wake()
        await settled(store, deferred, "sent")
    [message] = [c for c in capture.received if c.rcpt_tos == ["later@example.com"]]
    assert message.message.get_content().strip() == "hello"
