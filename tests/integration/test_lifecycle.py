"""The life of a message after it is sent, end to end with the real daemon and
a real upstream: retention and the store's size, suppressions."""

from __future__ import annotations

import csv
import io
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


def test_a_missing_mailbox_is_suppressed_and_the_next_message_is_skipped(
    herald: Herald, capture: Capture
) -> None:
    """The upstream refuses a recipient with 550 5.1.1: it is suppressed with
    the reply, and the next message to it is recorded skipped and never
    reaches the upstream; listing, search, export, removal and additions
    over the CLI and the API are each audited."""
    capture.rcpt_replies = {"gone@": "550 5.1.1 <gone@example.com>: User unknown"}
    try:
        first = smtp_message(herald, "to a mailbox that is gone", to="gone@example.com")
        herald.wait_for_status(first, "failed")
        second = smtp_message(herald, "to it again", to="gone@example.com")
        run = herald.wait_for_status(second, "dropped")
    finally:
        capture.rcpt_replies = {}
    [item] = run["items"]
    assert item["status"] == "skipped"
    assert item["error"].startswith("suppressed since ")
    assert "550 5.1.1" in item["error"]
    assert not [c for c in capture.received if "gone@example.com" in c.rcpt_tos]

    listing = herald.cli("suppressions", "list", "--search", "GONE", "--json")
    assert listing.returncode == 0, listing.stderr
    [entry] = [json.loads(line) for line in listing.stdout.splitlines()]
    assert (entry["address"], entry["source"], entry["run_id"]) == (
        "gone@example.com",
        "upstream",
        first,
    )
    answer = herald.admin("/v1/suppressions?search=gone")
    assert answer.status == 200
    assert [s["address"] for s in answer.json["suppressions"]] == ["gone@example.com"]

    added = herald.cli("suppressions", "add", "Left@Example.com", "--reason", "asked to leave")
    assert added.returncode == 0, added.stderr
    answer = herald.admin(
        "/v1/suppressions", method="POST", body={"address": "api@example.com", "reason": "test"}
    )
    assert answer.status == 201, answer.body
    assert answer.json["source"] == "operator"
    bad = herald.admin("/v1/suppressions", method="POST", body={"address": "not an address"})
    assert bad.status == 422
    assert bad.json["errors"][0]["pointer"] == "#/address"

    export = herald.cli("suppressions", "export")
    assert export.returncode == 0, export.stderr
    rows = list(csv.DictReader(io.StringIO(export.stdout)))
    assert [row["address"] for row in rows] == [
        "api@example.com",
        "gone@example.com",
        "left@example.com",
    ]
    assert rows[2]["reason"] == "asked to leave"
    exported = herald.admin("/v1/suppressions/export")
    assert exported.status == 200
    assert exported.headers["Content-Type"].startswith("text/csv")
    assert exported.body.startswith(b"address,reason,source,run_id,created_at\r\n")
    assert list(csv.DictReader(io.StringIO(exported.body.decode(), newline=""))) == rows

    removed = herald.cli("suppressions", "remove", "gone@example.com")
    assert removed.returncode == 0, removed.stderr
    assert herald.admin("/v1/suppressions/api@example.com", method="DELETE").status == 204
    missing = herald.cli("suppressions", "remove", "gone@example.com")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "herald: gone@example.com is not suppressed"

    audit = herald.cli("audit", "--setting", "suppressions", "--json", "--limit", "50")
    changes = [json.loads(line) for line in audit.stdout.splitlines()]
    assert [(c["setting"], c["new"] is None) for c in reversed(changes)] == [
        ("suppressions/gone@example.com", False),
        ("suppressions/left@example.com", False),
        ("suppressions/api@example.com", False),
        ("suppressions/gone@example.com", True),
        ("suppressions/api@example.com", True),
    ]
    third = smtp_message(herald, "welcome back", to="gone@example.com")
    herald.wait_for_status(third, "sent")
