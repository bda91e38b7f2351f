"""Tests for gateway/cli/queue.py: ``herald queue`` lists and controls what waits,
run as ``python -m gateway`` against the store of a real daemon."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from tests.integration.harness import Capture, Herald, wait_until
from tests.integration.test_faults import smtp_message


def queued(herald: Herald) -> list[dict[str, Any]]:
    """``herald queue list --json``, one object per waiting message."""
    listing = herald.cli("queue", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    return [json.loads(line) for line in listing.stdout.splitlines()]


def deferred(herald: Herald, subject: str) -> dict[str, Any]:
    """Send a message the down upstream defers; its entry in ``queue list``."""
    run_id = smtp_message(herald, subject)

    def found() -> dict[str, Any] | None:
        for entry in queued(herald):
            if entry["run_id"] == run_id and entry["attempts"] >= 1:
                return entry
        return None

    entry: dict[str, Any] = wait_until(found, 30, f"{run_id} to be deferred")
    return entry


def test_list_says_what_waits_and_why(herald: Herald) -> None:
    """The plain listing counts what waits and shows each message's recipients and error."""
    entry = deferred(herald, "listed")
    listing = herald.cli("queue", "list")
    assert listing.returncode == 0, listing.stderr
    assert "waiting" in listing.stdout.splitlines()[0]
    assert entry["message_id"] in listing.stdout
    assert "to: bob@example.com" in listing.stdout
    assert "why: " in listing.stdout


def test_hold_then_purge_with_a_reason(herald: Herald) -> None:
    """hold marks a message held; purge removes it and its run keeps the reason."""
    entry = deferred(herald, "held then purged")
    message_id = entry["message_id"]
    held = herald.cli("queue", "hold", message_id)
    assert (held.returncode, held.stdout) == (0, f"{message_id}: hold done\n")
    assert {e["message_id"]: e["status"] for e in queued(herald)}[message_id] == "held"
    purged = herald.cli("queue", "purge", message_id, "--reason", "sent by hand")
    assert purged.returncode == 0, purged.stderr
    assert message_id not in [e["message_id"] for e in queued(herald)]
    run = herald.wait_for_status(entry["run_id"], "failed")
    assert [item["error"] for item in run["items"]] == ["sent by hand"]
    # The run's history names who held and purged it: the CLI's user.
    held_at, purged_at = run["history"][-2:]
    assert (held_at["event"], purged_at["event"]) == ("held", "purged")
    assert held_at["detail"].startswith("held by cli:")
    assert purged_at["detail"].startswith("by cli:")
    assert purged_at["detail"].endswith(": sent by hand")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("queue", "hold", "run_123"), "expected a message id"),
        (("queue", "retry", "msg_../x"), "expected a message id"),
        (("queue", "purge", "msg_abc", "--reason", "x" * 201), "200"),
    ],
)
def test_bad_arguments_get_a_one_line_error(
    herald: Herald, args: tuple[str, ...], message: str
) -> None:
    """A malformed id or reason exits 1 with one line on stderr naming the problem, no traceback."""
    done = herald.cli(*args)
    assert done.returncode == 1
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("herald: ")
    assert message in line


def test_retry_all_sends_what_waits_once_the_upstream_is_back(
    herald: Herald, upstream: Capture
) -> None:
    """``queue retry --all`` makes the deferred messages due now; they are sent."""
    entry = deferred(herald, "retried from the shell")
    upstream.start()
    done = herald.cli("queue", "retry", "--all")
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("message(s) due now\n")
    assert int(done.stdout.split()[0]) >= 1
    run = herald.wait_for_status(entry["run_id"], "sent", timeout=30)
    assert [item["attempts"] for item in run["items"]] == [2]
    upstream.wait_for(lambda c: c.message["Subject"] == "retried from the shell")


def test_the_listing_is_empty_once_everything_is_sent(herald: Herald, upstream: Capture) -> None:
    """With every message delivered the queue is empty, and says so."""
    wait_until(lambda: queued(herald) == [], 30, "the queue to drain")
    listing: subprocess.CompletedProcess[str] = herald.cli("queue", "list")
    assert listing.stdout.startswith("0 waiting (0 held)")
