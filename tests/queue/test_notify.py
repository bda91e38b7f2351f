"""Tests for gateway/queue/notify.py: failure reports go out as signed callbacks
to a real HTTP server, retried when it fails, and as bounces through the queue's
one entrance, from a real store."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gateway import config as configuration
from gateway.config import Config, NotifySettings
from gateway.queue.notify import Notifier
from gateway.signing import verify
from gateway.store import NewNotice, NoticeKind, Outcome, Store
from tests.integration.harness import CallbackServer, wait_until
from tests.queue.test_qmgr import queue_one

SECRET = "whsec_bm90aWZ5LXRlc3Qtc2VjcmV0LTAxMjM0NTY3ODk="
# What the queue manager reports of a permanent failure (``QueueManager._notices``).
PAYLOAD = {
    "type": "message.failed",
    "run_id": "run_reported",
    "email_type": "account.created",
    "mail_from": "app@example.com",
    "upstream": "smtp://127.0.0.1:25",
    "attempts": 1,
    "recipients": [{"address": "a@x.test", "reply": None, "error": "550 no"}],
}


@pytest.fixture
def callbacks() -> Iterator[CallbackServer]:
    server = CallbackServer().start()
    yield server
    server.stop()


def settings(tmp_path: Path, notify: NotifySettings) -> Config:
    loaded = configuration.load(
        None, env={"HERALD_STATE_DIR": str(tmp_path / "state"), "HERALD_HOSTNAME": "herald.test"}
    )
    return dataclasses.replace(
        loaded,
        notify=notify,
        queue=dataclasses.replace(loaded.queue, poll_interval=0.05, retry_initial=0.1),
    )


async def failed(store: Store, *kinds: NoticeKind) -> str:
    """A run whose one recipient failed for good, with a notice of each kind."""
    run_id = await queue_one(store, "a@x.test")
    [delivery] = await store.claim("test:1", limit=1, lease=60)
    await store.record_attempt(
        delivery,
        [Outcome(delivery.recipients[0][0], "failed", error="550 no")],
        retry_at=None,
        notices=[NewNotice(kind, PAYLOAD) for kind in kinds],
    )
    return run_id


@contextlib.asynccontextmanager
async def running(notifier: Notifier) -> AsyncIterator[Notifier]:
    task = asyncio.create_task(notifier.run())
    try:
        yield notifier
    finally:
        notifier.stop()
        await asyncio.wait_for(task, 10)


async def settled(store: Store) -> None:
    """Until no notice is due any more."""
    for _ in range(400):
        if not await store.due_notices(limit=10):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("notices stayed due")


async def test_a_callback_is_posted_signed_and_then_done(
    store: Store, tmp_path: Path, callbacks: CallbackServer
) -> None:
    """The platform gets the payload with a Standard Webhooks signature it can verify."""
    await failed(store, "callback")
    config = settings(
        tmp_path, NotifySettings(callback_url=callbacks.url, callback_secrets=(SECRET,))
    )
    async with running(Notifier(store, config, on_queued=lambda: None)):
        await asyncio.to_thread(wait_until, lambda: callbacks.received, 10, "the callback")
        await settled(store)
    [callback] = callbacks.received
    assert json.loads(callback.body) == PAYLOAD
    headers = {key.lower(): value for key, value in callback.headers.items()}
    verify([SECRET], headers, callback.body)


async def test_a_failed_callback_is_tried_again(
    store: Store, tmp_path: Path, callbacks: CallbackServer
) -> None:
    """A 500 from the platform defers the report; the next try is made and succeeds."""
    callbacks.statuses.append(500)
    await failed(store, "callback")
    config = settings(tmp_path, NotifySettings(callback_url=callbacks.url))
    async with running(Notifier(store, config, on_queued=lambda: None)):
        await asyncio.to_thread(
            wait_until, lambda: len(callbacks.received) >= 2, 15, "the second try"
        )
        await settled(store)
    assert [json.loads(c.body) for c in callbacks.received] == [PAYLOAD, PAYLOAD]


async def test_a_bounce_is_queued_once_with_the_null_sender(store: Store, tmp_path: Path) -> None:
    """The bounce is a run of its own to bounce_to, from the null reverse-path (RFC 5321
    §4.5.5), keyed by its notice so that it is never queued twice."""
    await failed(store, "bounce")
    queued: list[None] = []
    config = settings(tmp_path, NotifySettings(bounce_to="postmaster@acme.test"))
    async with running(Notifier(store, config, on_queued=lambda: queued.append(None))):
        await settled(store)
    assert queued == [None]
    [bounce] = (await store.list_runs(email_type="bounce")).runs
    run = await store.get_run(bounce.id)
    assert (run.mail_from, [item.address for item in run.items]) == ("", ["postmaster@acme.test"])


async def test_a_report_nobody_is_configured_for_any_more_is_closed(
    store: Store, tmp_path: Path
) -> None:
    """Notices made while [notify] said so are closed, not retried, once it says nothing."""
    await failed(store, "callback", "bounce")
    async with running(
        Notifier(store, settings(tmp_path, NotifySettings()), on_queued=lambda: None)
    ):
        await settled(store)
    assert (await store.list_runs(email_type="bounce")).runs == []
