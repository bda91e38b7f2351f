"""The queue manager: claims due messages, relays them, records every outcome.

Outcomes are per recipient. A transient failure (connection error, timeout,
4yz) retries that recipient with exponential backoff and jitter until the
message's lifetime runs out; a permanent one (5yz) fails it at once, and
is reported (a signed callback, a bounce) when ``[notify]`` says so.

Crash safety: a claim is a lease; just before DATA the store notes that the
message is being sent, and the attempt's outcome clears that note. A message
claimed with the note still set was cut off mid-send, so its run says the
recipients may receive it twice. Leases of a dead worker on this host are
released at start-up.

A store that cannot write (a full disk, say) does not make the upstream see a
message twice: an attempt's outcomes that the store refuses stay in memory,
their leases renewed, and are written as soon as it takes them again; until
then nothing more is claimed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Literal, Protocol

import structlog

from gateway.config import NotifySettings, QueueSettings
from gateway.context import Later
from gateway.errors import (
    GatewayError,
    InvalidInput,
    LeaseLostError,
    StoreDataError,
    StoreError,
)
from gateway.metrics import Metrics
from gateway.queue import suppression
from gateway.queue.return_path import ReturnPath
from gateway.queue.routing import Relay, Router
from gateway.queue.transaction import Result
from gateway.store import (
    Cleaned,
    Delivery,
    NewNotice,
    NewSuppression,
    Outcome,
    QueueStore,
    SettingsStore,
    SuppressionStore,
)

# What composes a message queued to be composed after the commit (the intake's
# ``compose``): the message as cleanup made it ready, and its subject.
Compose = Callable[[Later], Awaitable[tuple[Cleaned, str]]]


class ManagerStore(QueueStore, SuppressionStore, SettingsStore, Protocol):
    """What the queue manager uses: claim, record and release, and the
    suppressions (with the delivery settings that may ignore them) it checks
    each delivery against."""


log = structlog.get_logger(__name__)

# One event name for each outcome of an attempt. A delivery deferred here had
# a temporary failure on the way upstream; a refusal at intake is another
# event (``intake_deferred``), since nothing was queued then.
_LOG_EVENTS = {
    "sent": "message_relayed",
    "deferred": "delivery_deferred",
    "failed": "message_failed",
    "skipped": "recipient_suppressed",
}


def backoff(settings: QueueSettings, attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failed try: doubling from
    ``retry_initial`` up to ``retry_max``, with ±20% jitter so that a burst
    deferred together does not come back together."""
    delay: float = min(settings.retry_max, settings.retry_initial * 2.0 ** max(attempts - 1, 0))
    jitter: float = random.uniform(0.8, 1.2)  # noqa: S311 -- jitter, not cryptography
    return delay * jitter


class _NotComposed(GatewayError):
    """A message queued to be composed after the commit could not be."""


@dataclass
class _Attempt:
    """One delivery attempt's outcomes, with what to report once they are recorded."""

    delivery: Delivery
    outcomes: list[Outcome]
    retry_at: float | None
    notices: list[NewNotice]
    identity: str
    upstream: str
    seconds: float
    # Recipients whose mailbox the upstream said does not exist.
    suppressions: list[NewSuppression] = field(default_factory=list)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class QueueManager:
    def __init__(
        self,
        store: ManagerStore,
        router: Router,
        settings: QueueSettings,
        *,
        notify: NotifySettings | None = None,
        metrics: Metrics | None = None,
        on_notice: Callable[[], None] = lambda: None,
        compose: Compose | None = None,
    ) -> None:
        self.store = store
        self.compose = compose
        self.router = router
        self.settings = settings
        self.notify = notify or NotifySettings()
        self.metrics = metrics or Metrics()
        self.on_notice = on_notice
        self.host = socket.gethostname()
        self.owner = f"{self.host}:{os.getpid()}"
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._sending: set[str] = set()  # message ids of the deliveries under way
        # Attempts whose outcomes the store refused, by message id, oldest first.
        self._unrecorded: dict[str, _Attempt] = {}
        # With [bounces] on, each message's own envelope sender (VERP).
        self.return_path = ReturnPath.for_config(router.config)
        self._suppressions = suppression.Check(store)

    def wake(self) -> None:
        """Tell the manager that a message was queued."""
        self._wakeup.set()

    def configure(self, settings: QueueSettings, notify: NotifySettings, router: Router) -> None:
        """Take new settings (SIGHUP); deliveries under way finish with the old router."""
        self.settings = settings
        self.notify = notify
        self.router = router
        self.return_path = ReturnPath.for_config(router.config)
        self._wakeup.set()

    async def recover(self) -> None:
        """Return the leases of dead workers on this host to the queue.

        A kill -9 leaves its leases behind; waiting for them to expire would
        hold those messages back for ``lease`` seconds after a restart.
        """
        for owner in await self.store.lease_owners():
            host, _, pid = owner.rpartition(":")
            if host == self.host and pid.isdigit() and owner != self.owner and not _alive(int(pid)):
                count = await self.store.release_leases(owner)
                log.info("leases_recovered", owner=owner, messages=count)

    async def run(self) -> None:
        try:
            await self.recover()
        except Exception:
            log.exception("lease_recovery_failed")
        while not self._stopping.is_set():
            self._wakeup.clear()
            try:
                if self._unrecorded:
                    await self._record_kept()
                free = self.settings.workers - len(self._inflight)
                # While the store refuses outcomes, a new delivery would only
                # add one more outcome it cannot keep: claim nothing. Claims
                # come in batches: a delivery that ends frees its worker, but
                # the next claim waits until a quarter of them are free (or
                # none is busy), so a burst costs one claim for many messages
                # instead of one write per message.
                worth = free >= self._batch or (free > 0 and not self._inflight)
                deliveries = (
                    await self.store.claim(self.owner, limit=free, lease=self.settings.lease)
                    if worth and not self._unrecorded
                    else []
                )
            except Exception:
                log.exception("queue_claim_failed")
                deliveries = []
            for delivery in deliveries:
                if delivery.message_id in self._sending:
                    # Our own lease ran out while this delivery waited for its
                    # upstream's pace; the claim renewed it. One sender only.
                    continue
                self._sending.add(delivery.message_id)
                task = asyncio.create_task(self._deliver(delivery))
                self._inflight.add(task)
                task.add_done_callback(partial(self._finished, delivery.message_id))
            if deliveries and len(self._inflight) < self.settings.workers:
                continue
            await self._sleep()

    @property
    def _batch(self) -> int:
        """The fewest free workers worth a claim while others are busy."""
        return max(1, self.settings.workers // 4)

    def _finished(self, message_id: str, task: asyncio.Task[None]) -> None:
        self._sending.discard(message_id)
        self._inflight.discard(task)
        self._wakeup.set()

    async def _sleep(self) -> None:
        timeout = self.settings.poll_interval
        # With outcomes kept, the next try to write them is a poll away;
        # nothing is claimed until then, so a due message need not wake us.
        if not self._inflight and not self._unrecorded:
            try:
                due = await self.store.next_due()
            except Exception:
                # Without the next due time the loop waits one poll interval,
                # which loses nothing; the failure is still the operator's to see.
                log.exception("queue_next_due_failed")
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

        A delivery cut short keeps its lease; the next start returns it to
        the queue (``recover``), so nothing accepted is lost.
        """
        self._stopping.set()
        if self._inflight:
            await asyncio.wait(self._inflight, timeout=grace)
        for task in self._inflight:
            task.cancel()
        if self._inflight:
            log.warning("deliveries_cut_short", count=len(self._inflight))
            await asyncio.wait(self._inflight, timeout=1)
        if self._unrecorded:
            await self._record_kept()
        if self._unrecorded:
            # Their leases stay: the next start returns them to the queue, and
            # the runs say that the recipients may receive them twice.
            log.error("outcomes_not_recorded_at_stop", messages=list(self._unrecorded))

    async def _deliver(self, delivery: Delivery) -> None:
        log_ = log.bind(run_id=delivery.run_id, message_id=delivery.message_id)
        if delivery.interrupted:
            log_.warning("possible_duplicate", reason="an earlier attempt was cut off after DATA")
        skipped = await self._suppressed(delivery)
        addresses = [address for item, address in delivery.recipients if item not in skipped]
        if not addresses:
            outcomes = [skipped[item] for item, _ in delivery.recipients]
            await self._settle(_Attempt(delivery, outcomes, None, [], "unknown", "unknown", 0.0))
            return
        relay: Relay | None = None
        composed: tuple[Cleaned, str] | None = None

        async def before_data() -> None:
            # Durably note that DATA begins, so a crash from here on shows
            # as a possible duplicate instead of a silent one; a message
            # composed for this attempt is kept with the note.
            await self.store.mark_sending(delivery, lease=self.settings.lease, composed=composed)

        started = time.monotonic()
        try:
            if delivery.later is not None:
                composed = await self._compose(delivery.later)
                delivery = replace(delivery, content=bytes(composed[0]))
            # The claim read the saved version: neither reads it again.
            version = delivery.saved_version
            relay = await self.router.relay_for(delivery.mail_from, version=version)
            content = await self.router.signer.sign(delivery.content, version=version)
            results = await relay.send(
                self._envelope_sender(delivery), addresses, content, before_data=before_data
            )
        except _NotComposed as exc:
            log_.warning("message_not_composed", error=str(exc))
            results = {a: Result("failed", error=str(exc)) for a in addresses}
        except GatewayError as exc:
            # The settings cannot be read or their password opened: the
            # operator fixes them and the retry goes through.
            log_.warning("relay_unavailable", error=str(exc))
            results = {a: Result("deferred", error=str(exc)) for a in addresses}
        except Exception as exc:
            log_.exception("relay_crashed")
            results = {a: Result("deferred", error=f"relay error: {exc}") for a in addresses}
        seconds = time.monotonic() - started
        # Settings that cannot be read leave no relay: counted as "unknown".
        identity = relay.identity if relay is not None else "unknown"
        upstream = relay.describe() if relay is not None else "unknown"
        self.metrics.latency.observe(seconds, upstream=identity)
        now = time.time()
        attempts = delivery.attempts + 1
        retry_at = now + backoff(self.settings, attempts)
        expired = retry_at > delivery.queued_at + self.settings.lifetime
        outcomes = []
        for item_id, address in delivery.recipients:
            if item_id in skipped:
                outcomes.append(skipped[item_id])
                continue
            result = results.get(address) or Result("deferred", error="no answer from the relay")
            status = result.verdict
            error = result.error
            if status == "deferred" and expired:
                status = "failed"
                error = f"gave up after {attempts} attempts: {error}"
            outcomes.append(Outcome(item_id, status, reply=result.reply, error=error))
        pending = any(o.status == "deferred" for o in outcomes)
        attempt = _Attempt(
            delivery,
            outcomes,
            retry_at if pending else None,
            self._notices(delivery, outcomes, upstream),
            identity,
            upstream,
            seconds,
            suppression.learned(delivery, outcomes),
        )
        await self._settle(attempt)

    async def _compose(self, later: Later) -> tuple[Cleaned, str]:
        """Compose a message queued to be composed after the commit.

        A store that cannot be read now defers the attempt like any other
        trouble on the way out; anything else (a template failing on the
        event's values, an unsafe header) fails the run's recipients for good.
        """
        if self.compose is None:
            raise StoreError("nothing here composes messages queued to be composed")
        try:
            return await self.compose(later)
        except StoreError:
            raise
        except Exception as exc:
            if not isinstance(exc, GatewayError):
                log.exception("compose_crashed", email_type=later.email_type)
            raise _NotComposed(f"the message could not be composed: {exc}") from exc

    def _envelope_sender(self, delivery: Delivery) -> str:
        """The MAIL FROM of ``delivery``: its own bounce address with [bounces]
        on; the null reverse-path stays null (RFC 5321 §4.5.5: a bounce is
        never bounced)."""
        if self.return_path is None or not delivery.mail_from:
            return delivery.mail_from
        return self.return_path.address_for(delivery.message_id)

    async def _suppressed(self, delivery: Delivery) -> dict[int, Outcome]:
        """The recipients of ``delivery`` not to send to: suppressed, unless
        its email type ignores suppressions. A list that cannot be read holds
        nothing back: the message goes to everyone."""
        try:
            return await self._suppressions.skipped(self.router.config, delivery)
        except Exception:
            log.exception("suppressions_unreadable", run_id=delivery.run_id)
            return {}

    async def _settle(self, attempt: _Attempt) -> None:
        """Record ``attempt``, or keep it until the store takes it."""
        if await self._record(attempt) != "refused":
            return
        # Claimed again when its lease ran out, the message would go to the
        # upstream a second time: its outcomes wait here for the store.
        delivery = attempt.delivery
        log.error(
            "attempt_kept",
            run_id=delivery.run_id,
            message_id=delivery.message_id,
            error=self.store.health.trouble,
        )
        self._unrecorded[delivery.message_id] = attempt
        self.store.health.unrecorded = len(self._unrecorded)

    async def _record(self, attempt: _Attempt) -> Literal["recorded", "refused", "dropped"]:
        """Record ``attempt`` and report it; "refused" when the store could not
        take it, "dropped" when it must not be recorded at all."""
        delivery = attempt.delivery
        log_ = log.bind(run_id=delivery.run_id, message_id=delivery.message_id)
        try:
            await self.store.record_attempt(
                delivery,
                attempt.outcomes,
                retry_at=attempt.retry_at,
                notices=attempt.notices,
                suppressions=attempt.suppressions,
            )
        except LeaseLostError:
            # Another worker holds the message now: its outcome is the one that counts.
            log_.warning("attempt_not_recorded", reason="the lease was lost")
            return "dropped"
        except StoreDataError:
            # Not the store's trouble but these outcomes': waiting would hold
            # the queue back for ever. The lease runs out and the message is
            # sent again, its run flagged interrupted.
            log_.exception("attempt_not_recorded", reason="the store cannot hold these outcomes")
            return "dropped"
        except StoreError:
            return "refused"
        except Exception:
            log_.exception("attempt_not_recorded", reason="the outcomes cannot be stored")
            return "dropped"
        if attempt.notices:
            self.on_notice()
        for outcome, (_, address) in zip(attempt.outcomes, delivery.recipients, strict=True):
            counter = {
                "sent": self.metrics.relayed,
                "deferred": self.metrics.deferred,
                "failed": self.metrics.failed,
            }.get(outcome.status)
            if counter is not None:
                counter.inc(email_type=delivery.email_type, upstream=attempt.identity)
            log_.info(
                _LOG_EVENTS.get(outcome.status, "message_attempted"),
                recipient=address,
                upstream=attempt.upstream,
                reply=outcome.reply,
                error=outcome.error,
                attempt=delivery.attempts + 1,
                seconds=round(attempt.seconds, 3),
            )
        return "recorded"

    async def _record_kept(self) -> None:
        """Write the outcomes the store refused before, oldest first, renewing
        the leases of those it still refuses so that no one claims them."""
        for message_id, attempt in list(self._unrecorded.items()):
            run_id = attempt.delivery.run_id
            done = await self._record(attempt)
            if done == "refused":
                break  # the store still cannot write: keep waiting
            if done == "recorded":
                log.info("attempt_recorded_late", run_id=run_id, message_id=message_id)
            del self._unrecorded[message_id]
        self.store.health.unrecorded = len(self._unrecorded)
        if self._unrecorded:
            with contextlib.suppress(StoreError):
                await self.store.renew_leases(
                    self.owner, list(self._unrecorded), lease=self.settings.lease
                )

    def _notices(
        self, delivery: Delivery, outcomes: list[Outcome], upstream: str
    ) -> list[NewNotice]:
        """Reports of this attempt's permanent failures, as configured."""
        addresses = dict(delivery.recipients)
        failed = [
            {"address": addresses[o.item_id], "reply": o.reply, "error": o.error}
            for o in outcomes
            if o.status == "failed"
        ]
        if not failed:
            return []
        payload = {
            "type": "message.failed",
            "run_id": delivery.run_id,
            "email_type": delivery.email_type,
            "mail_from": delivery.mail_from,
            "upstream": upstream,
            "attempts": delivery.attempts + 1,
            "recipients": failed,
        }
        return failure_notices(self.notify, payload)


def failure_notices(notify: NotifySettings, payload: dict[str, Any]) -> list[NewNotice]:
    """The reports ``[notify]`` asks for of the failure ``payload`` describes."""
    notices = []
    if notify.callback_url:
        notices.append(NewNotice("callback", payload))
    # RFC 5321 §4.5.5: never bounce a message sent with the null reverse-path.
    if notify.bounce_to and payload["mail_from"]:
        notices.append(NewNotice("bounce", payload))
    return notices


def check_message_id(value: str, field: str = "#/message_id") -> str:
    """A queued message's id as the API and the CLI take it."""
    value = value.strip()
    if not value.startswith("msg_") or not value[4:].isalnum():
        raise InvalidInput(field, f"expected a message id such as msg_0190ab…, got {value!r}")
    return value


def check_reason(value: str | None, field: str = "#/reason") -> str:
    """Why an operator purges a message, kept on the run; one line, at most 200 characters."""
    reason = " ".join((value or "purged by the operator").split())
    if len(reason) > 200:
        raise InvalidInput(field, "must be at most 200 characters")
    return reason
