from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import Capture, CertificateAuthority, Herald

# Fast retries so that tests see a deferral turn into a delivery in seconds.
CONFIG = """
[queue]
retry_initial = "0.3s"
retry_max = "1s"
poll_interval = "0.2s"
lifetime = "20s"

[sender]
address = "notify@herald.test"
name = "Herald Test"

[delivery]
admin = "admin@herald.test"

[delivery.types."invoice.issued"]
bcc_admin = true
bcc = ["finance@herald.test", "audit@herald.test"]

[delivery.types."system.alert"]
customers = false
bcc_admin = true

[delivery.types."legacy"]
bcc = ["archive@herald.test"]
"""


@pytest.fixture(scope="module")
def capture() -> Iterator[Capture]:
    server = Capture().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def herald(tmp_path_factory: pytest.TempPathFactory, capture: Capture) -> Iterator[Herald]:
    workdir: Path = tmp_path_factory.mktemp("herald")
    daemon = Herald(workdir, upstream=capture.url, config=CONFIG).start()
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    """A CA made for this test run, and a certificate it signed for 127.0.0.1."""
    return CertificateAuthority.make(tmp_path_factory.mktemp("ca"))
