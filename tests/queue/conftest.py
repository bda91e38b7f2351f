from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gateway import config as configuration
from tests.capture import Capture
from tests.queue import opened_relays


@pytest.fixture
def upstream() -> Iterator[tuple[Capture, int]]:
    """A real aiosmtpd upstream on 127.0.0.1 that records what it accepts."""
    capture = Capture().start()
    try:
        yield capture, capture.port
    finally:
        capture.stop()


@pytest.fixture(autouse=True)
async def close_relays() -> AsyncIterator[None]:
    """Sessions kept for reuse are closed after each test."""
    yield
    while opened_relays:
        await opened_relays.pop().close()


@pytest.fixture
def config(tmp_path: Path) -> configuration.Config:
    """The embedded defaults, with state in this test's folder."""
    return configuration.load(
        None, env={"HERALD_STATE_DIR": str(tmp_path), "HERALD_HOSTNAME": "herald.test"}
    )
