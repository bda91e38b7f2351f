"""Sessions per upstream: connection slots, pacing, reuse and a circuit breaker.

Each upstream, named by ``host:port``, has a ``Guard`` that outlives the
settings being re-read: at most ``max_connections`` sessions at once, an
optional pace (messages per second), idle sessions kept for reuse, and a
circuit breaker that stops connecting for a while after consecutive
connection failures. ``SMTPRelay`` is the way out through one upstream: it
takes a session under its guard and runs the transaction on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

import aiosmtplib
import structlog

from gateway.config import Upstream, UpstreamLimits
from gateway.queue.transaction import (
    BeforeData,
    Result,
    Session,
    Verdict,
    deliver,
    for_all,
    reply_text,
    verdict_of,
)

log = structlog.get_logger(__name__)


class Guard:
    """What Herald keeps about one upstream (``host:port``): its connection
    slots, its pace, its idle connections and its circuit breaker."""

    def __init__(self, identity: str, limits: UpstreamLimits) -> None:
        self.identity = identity
        self.limits = limits
        self.slots = asyncio.Semaphore(limits.max_connections)
        self.failures = 0
        self.open_until = 0.0
        self._next_send = 0.0
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []

    def configure(self, limits: UpstreamLimits) -> None:
        if limits.max_connections != self.limits.max_connections:
            # Holders of the old semaphore release into it; new sends use this one.
            self.slots = asyncio.Semaphore(limits.max_connections)
        self.limits = limits

    def closed_for(self) -> float:
        """Seconds the breaker stays open; 0 when sending may go ahead."""
        return max(self.open_until - time.monotonic(), 0.0)

    def succeeded(self) -> None:
        if self.failures >= self.limits.breaker_threshold:
            log.info("upstream_breaker_closed", upstream=self.identity)
        self.failures = 0

    def failed(self) -> None:
        self.failures += 1
        if self.failures >= self.limits.breaker_threshold:
            # Half-open after the cooldown: the next send probes, and one more
            # failure opens the breaker again at once.
            self.open_until = time.monotonic() + self.limits.breaker_cooldown
            log.warning(
                "upstream_breaker_opened",
                upstream=self.identity,
                failures=self.failures,
                seconds=self.limits.breaker_cooldown,
            )

    async def pace(self) -> None:
        """Wait for this upstream's next send slot under ``rate``."""
        if self.limits.rate is None:
            return
        now = time.monotonic()
        at = max(now, self._next_send)
        self._next_send = at + 1.0 / self.limits.rate
        if at > now:
            await asyncio.sleep(at - now)

    def take_idle(self) -> aiosmtplib.SMTP | None:
        now = time.monotonic()
        while self._idle:
            client, since = self._idle.pop()
            if now - since < self.limits.idle_timeout and client.is_connected:
                return client
            client.close()
        return None

    def put_idle(self, client: aiosmtplib.SMTP) -> None:
        if len(self._idle) >= self.limits.max_connections:
            client.close()
            return
        self._idle.append((client, time.monotonic()))
        asyncio.get_running_loop().call_later(self.limits.idle_timeout, self._sweep)

    def _sweep(self) -> None:
        now = time.monotonic()
        keep = []
        for client, since in self._idle:
            if now - since >= self.limits.idle_timeout:
                client.close()
            else:
                keep.append((client, since))
        self._idle = keep

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client, _ in idle:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await client.quit()
            client.close()


class Guards:
    """One ``Guard`` per upstream identity, kept across configuration reloads."""

    def __init__(self) -> None:
        self._guards: dict[str, Guard] = {}

    def for_upstream(self, upstream: Upstream) -> Guard:
        guard = self._guards.get(upstream.identity)
        if guard is None:
            guard = self._guards[upstream.identity] = Guard(upstream.identity, upstream.limits)
        else:
            guard.configure(upstream.limits)
        return guard

    async def close(self) -> None:
        for guard in self._guards.values():
            await guard.close()


class SMTPRelay:
    """The way out through one upstream, under that upstream's guard."""

    def __init__(
        self, upstream: Upstream, *, local_hostname: str, guards: Guards | None = None
    ) -> None:
        self.upstream = upstream
        self.local_hostname = local_hostname
        # Idle sessions are kept only in a registry that someone will close.
        self.reuse = guards is not None
        self.guard = (guards or Guards()).for_upstream(upstream)

    def describe(self) -> str:
        return str(self.upstream)

    @property
    def identity(self) -> str:
        return self.upstream.identity

    async def close(self) -> None:
        await self.guard.close()

    async def _connection(self) -> aiosmtplib.SMTP:
        """An idle session to reuse (after RSET, as Postfix does), else a new one."""
        client = self.guard.take_idle()
        if client is not None:
            try:
                await client.rset()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()
            else:
                return client
        return await Session(self.upstream, self.local_hostname).__aenter__()

    async def send(
        self,
        mail_from: str,
        recipients: Sequence[str],
        content: bytes,
        *,
        before_data: BeforeData | None = None,
    ) -> dict[str, Result]:
        guard = self.guard
        if wait := guard.closed_for():
            # The breaker is open: defer without connecting, so a down
            # upstream is not hammered by every queued message.
            return for_all(
                recipients,
                Result(
                    "deferred",
                    error=f"upstream {guard.identity} is failing; not tried for {wait:.0f}s more",
                ),
            )
        async with guard.slots:
            await guard.pace()
            client: aiosmtplib.SMTP | None = None
            try:
                client = await self._connection()
                results = await deliver(client, mail_from, recipients, content, before_data)
            except aiosmtplib.SMTPResponseException as exc:
                # Refused sender, refused data, refused login: the same for everyone.
                # A refused login is the operator's to fix; retry as Postfix does.
                if client is not None:
                    client.close()
                if exc.code == 421:
                    # RFC 5321 §3.8: 421 means the service is shutting the channel.
                    guard.failed()
                else:
                    guard.succeeded()
                verdict: Verdict = (
                    "deferred"
                    if isinstance(exc, aiosmtplib.SMTPAuthenticationError)
                    else verdict_of(exc.code)
                )
                return for_all(recipients, Result(verdict, error=reply_text(exc.code, exc.message)))
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                # Refused connections, timeouts, TLS failures and dropped sessions
                # are transient: the message may well go through next time.
                if client is not None:
                    client.close()
                guard.failed()
                return for_all(recipients, Result("deferred", error=f"{type(exc).__name__}: {exc}"))
            guard.succeeded()
            if self.reuse:
                guard.put_idle(client)
            else:
                with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                    await client.quit()
                client.close()
            return results
