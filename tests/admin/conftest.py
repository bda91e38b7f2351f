"""A real daemon for the admin API's route families, with an upstream each test
module starts when it wants mail to leave."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import Capture, Herald, free_port

# Retries far apart, so that a deferred message waits for the operator.
CONFIG = """
[queue]
retry_initial = "600s"
retry_max = "1h"
poll_interval = "0.1s"

[sender]
address = "notify@herald.test"
"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[Capture]:
    """The upstream, not listening until a test starts it."""
    capture = Capture(free_port())
    yield capture
    capture.stop()


@pytest.fixture(scope="module")
def herald(tmp_path_factory: pytest.TempPathFactory, upstream: Capture) -> Iterator[Herald]:
    workdir: Path = tmp_path_factory.mktemp("herald")
    daemon = Herald(workdir, upstream=upstream.url, config=CONFIG).start()
    yield daemon
    daemon.stop()
