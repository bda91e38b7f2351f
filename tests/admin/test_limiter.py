"""Tests for the admin API's FailureLimiter: wrong tokens are slowed, valid ones served.

The limiter runs on the real event loop and clock, with a window of a second
or less so that the pace it keeps shows in a test.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.admin import FailureLimiter, RateLimitedError

PEER = "192.0.2.7"


class Checks:
    """A token check that records when it ran and answers as told."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def answering(self, value: str | None) -> asyncio.Future[str | None]:
        self.times.append(time.monotonic())
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        future.set_result(value)
        return future


async def fail(limiter: FailureLimiter, checks: Checks, times: int, peer: str = PEER) -> None:
    for _ in range(times):
        assert await limiter.check(peer, lambda: checks.answering(None)) is None


async def test_wrong_tokens_under_the_limit_are_answered_at_once() -> None:
    """Up to the limit, wrong tokens are checked side by side and none waits."""
    limiter, checks = FailureLimiter(limit=3, window=60), Checks()
    started = time.monotonic()
    await asyncio.gather(*(limiter.check(PEER, lambda: checks.answering(None)) for _ in range(3)))
    assert all(at - started < 1 for at in checks.times)
    assert limiter.retry_after(PEER) == 0


async def test_past_the_limit_wrong_tokens_are_checked_one_interval_apart() -> None:
    """However many guesses arrive at once past the limit, they are checked window/limit apart."""
    limiter, checks = FailureLimiter(limit=3, window=0.6, queue=5), Checks()
    await fail(limiter, checks, 3)
    checks.times.clear()
    answers = await asyncio.gather(
        *(limiter.check(PEER, lambda: checks.answering(None)) for _ in range(4))
    )
    assert answers == [None] * 4
    gaps = [later - earlier for earlier, later in zip(checks.times, checks.times[1:], strict=False)]
    # The event loop may wake a timer up to its clock resolution early.
    assert len(gaps) == 3
    assert min(gaps) >= limiter.interval - 0.01


async def test_a_valid_token_is_served_after_wrong_ones_and_holds_no_one_up() -> None:
    """The valid token waits for its turn only, and the request after it is not delayed by it."""
    limiter, checks = FailureLimiter(limit=3, window=60, queue=5), Checks()
    limiter.interval = 0.2
    await fail(limiter, checks, 3)
    assert await limiter.check(PEER, lambda: checks.answering("admin")) == "admin"
    assert await limiter.check(PEER, lambda: checks.answering("admin")) == "admin"
    served = checks.times[-2:]
    assert served[1] - served[0] < limiter.interval


async def test_a_burst_sent_at_once_gets_no_more_than_the_limit_side_by_side() -> None:
    """Checks under way count, so a burst at a fresh address gets only ``limit`` checks at once."""
    limiter, checks = FailureLimiter(limit=3, window=60, queue=20), Checks()
    limiter.interval = 0.1
    started = time.monotonic()
    await asyncio.gather(*(limiter.check(PEER, lambda: checks.answering(None)) for _ in range(6)))
    at_once = [at for at in checks.times if at - started < limiter.interval - 0.01]
    assert len(at_once) == 3
    assert len(checks.times) == 6


async def test_a_full_queue_is_refused_with_when_to_come_back() -> None:
    """With ``queue`` requests of an address waiting, one more is refused with a wait in seconds."""
    limiter, checks = FailureLimiter(limit=2, window=60, queue=2), Checks()
    await fail(limiter, checks, 2)
    waiting = [
        asyncio.ensure_future(limiter.check(PEER, lambda: checks.answering(None))) for _ in range(2)
    ]
    await asyncio.sleep(0)
    with pytest.raises(RateLimitedError) as refused:
        await limiter.check(PEER, lambda: checks.answering("admin"))
    assert refused.value.retry_after >= limiter.interval
    for task in waiting:
        task.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)


async def test_addresses_are_paced_apart_and_forgotten_when_quiet() -> None:
    """Another address is checked at once while one is paced, and quiet addresses are dropped."""
    limiter, checks = FailureLimiter(limit=2, window=0.3, queue=5), Checks()
    await fail(limiter, checks, 3)
    assert limiter.retry_after(PEER) > 0
    started = time.monotonic()
    assert await limiter.check("192.0.2.8", lambda: checks.answering("admin")) == "admin"
    assert checks.times[-1] - started < limiter.interval
    await asyncio.sleep(limiter.window)
    assert limiter.retry_after(PEER) == 0
    assert await limiter.check(PEER, lambda: checks.answering("admin")) == "admin"
    assert PEER not in limiter._addresses
