"""The queue manager: claims due messages, relays them, records every outcome.

Outcomes are per recipient. A transient failure (connection error, timeout,
4yz) retries that recipient with exponential backoff and jitter until the
message's lifetime runs out; a permanent one (5yz) fails it at once.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import time

import structlog

from gateway.config import QueueSettings
from gateway.errors import GatewayError
from gateway.relay import Result, Router
from gateway.store import Delivery, Outcome, Store

log = structlog.get_logger(__name__)

_LOG_EVENTS = {
    "sent": "message_relayed",
    "deferred": "message_deferred",
    "failed": "message_failed",
}


def backoff(settings: QueueSettings, attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failed try: doubling from
    ``retry_initial`` up to ``retry_max``, with ±20% jitter so that a burst
    deferred together does not come back together."""
    delay: float = min(settings.retry_max, settings.retry_initial * 2.0 ** max(attempts - 1, 0))
    jitter: float = random.uniform(0.8, 1.2)  # noqa: S311 -- jitter, not cryptography
    return delay * jitter


class QueueManager:
    def __init__(self, store: Store, router: Router, settings: QueueSettings) -> None:
        self.store = store
        self.router = router
        self.settings = settings
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.workers)
        self._inflight: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        """Tell the manager that a message was queued."""
        self._wakeup.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            self._wakeup.clear()
            try:
                free = self.settings.workers - len(self._inflight)
                deliveries = (
                    await self.store.claim(self.owner, limit=free, lease=self.settings.lease)
                    if free > 0
                    else []
                )
            except Exception:
                log.exception("queue_claim_failed")
                deliveries = []
            for delivery in deliveries:
                task = asyncio.create_task(self._deliver(delivery))
                self._inflight.add(task)
                task.add_done_callback(self._finished)
            if deliveries and len(self._inflight) < self.settings.workers:
                continue
            await self._sleep()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._wakeup.set()

    async def _sleep(self) -> None:
        timeout = self.settings.poll_interval
        if not self._inflight:
            try:
                due = await self.store.next_due()
            except Exception:
                due = None
            if due is not None:
                timeout = min(timeout, max(due - time.time(), 0.01))
        waiters = [
            asyncio.ensure_future(self._wakeup.wait()),
            asyncio.ensure_future(self._stopping.wait()),
        ]
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()

    async def stop(self, grace: float) -> None:
        """Stop claiming and give in-flight deliveries ``grace`` seconds.

        A delivery cut short keeps its lease; it expires and the message is
        claimed again, so nothing accepted is lost.
        """
        self._stopping.set()
        if self._inflight:
            await asyncio.wait(self._inflight, timeout=grace)
        for task in self._inflight:
            task.cancel()

    async def _deliver(self, delivery: Delivery) -> None:
        log_ = log.bind(run_id=delivery.run_id, message_id=delivery.message_id)
        addresses = [address for _, address in delivery.recipients]
        if not addresses:
            await self.store.record_attempt(delivery, [], retry_at=None)
            return
        started = time.monotonic()
        upstream = "unknown"
        try:
            relay = await self.router.relay_for(delivery.mail_from)
            upstream = relay.describe()
            results = await relay.send(delivery.mail_from, addresses, delivery.content)
        except GatewayError as exc:
            # The settings cannot be read or their password opened: the
            # operator fixes them and the retry goes through.
            log_.warning("relay_unavailable", error=str(exc))
            results = {a: Result("deferred", error=str(exc)) for a in addresses}
        except Exception as exc:
            log_.exception("relay_crashed")
            results = {a: Result("deferred", error=f"relay error: {exc}") for a in addresses}
        now = time.time()
        attempts = delivery.attempts + 1
        retry_at = now + backoff(self.settings, attempts)
        expired = retry_at > delivery.queued_at + self.settings.lifetime
        outcomes = []
        for item_id, address in delivery.recipients:
            result = results.get(address) or Result("deferred", error="no answer from the relay")
            status = result.verdict
            error = result.error
            if status == "deferred" and expired:
                status = "failed"
                error = f"gave up after {attempts} attempts: {error}"
            outcomes.append(Outcome(item_id, status, reply=result.reply, error=error))
        pending = any(o.status == "deferred" for o in outcomes)
        await self.store.record_attempt(delivery, outcomes, retry_at=retry_at if pending else None)
        for outcome, (_, address) in zip(outcomes, delivery.recipients, strict=True):
            log_.info(
                _LOG_EVENTS.get(outcome.status, "message_attempted"),
                recipient=address,
                upstream=upstream,
                reply=outcome.reply,
                error=outcome.error,
                attempt=attempts,
                seconds=round(time.monotonic() - started, 3),
            )
