"""The life of a message after it is sent, end to end with the real daemon and
a real upstream: retention and the store's size."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import Capture, Herald, wait_until
from tests.integration.test_faults import smtp_message

# A body clock of a second, so that a sent message's body may go at once; the
# daemon's own pass waits an hour, so the tests prune when they mean to.
CONFIG = """
[retention]
bodies = "1s"
interval = "1h"
"""


@pytest.fixture(scope="module")
def herald(tmp_path_factory: pytest.TempPathFactory, capture: Capture) -> Iterator[Herald]:
    workdir: Path = tmp_path_factory.mktemp("herald")
    daemon = Herald(workdir, upstream=capture.url, config=CONFIG).start()
    yield daemon
    daemon.stop()


def test_prune_removes_a_sent_body_and_a_resend_says_why(herald: Herald) -> None:
    """``herald store prune --dry-run`` names the body that would go and removes
    nothing; ``prune`` removes it, the run keeps its record, and a resend over
    the CLI or the API says that retention removed the message."""
    run_id = smtp_message(herald, "kept for a second")
    run = herald.wait_for_status(run_id, "sent")
    item = run["items"][0]["id"]

    def would_go() -> str | None:
        dry = herald.cli("store", "prune", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        return dry.stdout if not dry.stdout.startswith("would remove: 0 ") else None

    assert "message bodies" in wait_until(would_go, 30, "the body clock to run out")
    assert json.loads(herald.cli("store", "stats", "--json").stdout)["pruned"] == 0

    pruned = herald.cli("store", "prune")
    assert pruned.returncode == 0, pruned.stderr
    assert pruned.stdout.startswith("removed: ")
    stats = json.loads(herald.cli("store", "stats", "--json").stdout)
    assert stats["pruned"] >= 1

    assert herald.run(run_id)["status"] == "sent"
    resend = herald.cli("runs", "resend", run_id, str(item))
    assert resend.returncode == 1
    assert "retention removed its message" in resend.stderr
    assert "Traceback" not in resend.stderr
    answer = herald.admin(f"/v1/runs/{run_id}/items/{item}/resend", method="POST")
    assert answer.status == 410, answer.body
    assert answer.json["type"] == "urn:herald:problem:pruned"


def test_metrics_show_the_store_size_and_its_oldest_body(herald: Herald) -> None:
    """/metrics carries the store's size and the age of its oldest kept body."""
    smtp_message(herald, "measured")
    text = herald.admin("/metrics").body.decode()
    samples = dict(
        line.split(" ", 1) for line in text.splitlines() if line and not line.startswith("#")
    )
    assert float(samples["herald_store_size_bytes"]) > 0
    assert float(samples["herald_store_oldest_body_age_seconds"]) >= 0
