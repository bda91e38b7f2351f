"""Tests for gateway/admin/queue.py: list, hold, release, retry and purge of
waiting messages, through a real daemon."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.harness import Capture, Herald, wait_until
from tests.integration.test_faults import smtp_message


def waiting(herald: Herald, run_id: str, attempts: int = 1) -> dict[str, Any]:
    """The run's message in /v1/queue, once the upstream has deferred it ``attempts`` times."""

    def found() -> dict[str, Any] | None:
        for message in herald.admin("/v1/queue").json["messages"]:
            if (
                message["run_id"] == run_id
                and message["attempts"] >= attempts
                and message["status"] == "queued"
            ):
                return dict(message)
        return None

    entry: dict[str, Any] = wait_until(found, 30, f"{run_id} to be deferred")
    return entry


def test_a_deferred_message_is_listed_with_why_and_can_be_held_and_released(
    herald: Herald,
) -> None:
    """With the upstream down a message waits, listed with its recipients and the
    error; hold keeps it back and counts it held, and release lets it be tried again."""
    run_id = smtp_message(herald, "waits")
    entry = waiting(herald, run_id)
    assert entry["recipients"] == ["bob@example.com"]
    assert entry["last_error"]
    message_id = entry["message_id"]

    held = herald.admin(f"/v1/queue/{message_id}/hold", method="POST")
    assert (held.status, held.json) == (200, {"message_id": message_id, "status": "held"})
    listing = herald.admin("/v1/queue").json
    assert listing["held"] >= 1
    assert {m["message_id"]: m["status"] for m in listing["messages"]}[message_id] == "held"

    released = herald.admin(f"/v1/queue/{message_id}/release", method="POST")
    assert released.json == {"message_id": message_id, "status": "queued"}
    # Released, it is due at once: the down upstream defers it a second time.
    assert waiting(herald, run_id, attempts=2)["message_id"] == message_id


def test_a_purged_message_leaves_the_queue_and_its_run_says_why(herald: Herald) -> None:
    """DELETE removes the message for good, and its run records the reason given."""
    run_id = smtp_message(herald, "purge me")
    message_id = waiting(herald, run_id)["message_id"]
    answer = herald.admin(f"/v1/queue/{message_id}?reason=customer%20left", method="DELETE")
    assert answer.json == {"message_id": message_id, "status": "purged", "reason": "customer left"}
    ids = [m["message_id"] for m in herald.admin("/v1/queue").json["messages"]]
    assert message_id not in ids
    run = herald.wait_for_status(run_id, "failed")
    assert [(i["status"], i["error"]) for i in run["items"]] == [("failed", "customer left")]
    assert run["history"][-1] == run["history"][-1] | {
        "event": "purged",
        "detail": "by admin-api: customer left",
    }


@pytest.mark.parametrize(
    ("method", "path", "status", "where"),
    [
        ("POST", "/v1/queue/run_123/hold", 422, "#/message_id"),
        ("POST", "/v1/queue/msg_x%2F..%2Fy/retry", 422, "#/message_id"),
        ("DELETE", "/v1/queue/msg_abc?reason=" + "x" * 201, 422, "reason"),
        ("GET", "/v1/queue?limit=0", 400, "limit"),
        ("GET", "/v1/queue?limit=lots", 400, "limit"),
    ],
)
def test_bad_requests_get_a_problem_naming_the_field(
    herald: Herald, method: str, path: str, status: int, where: str
) -> None:
    """A malformed message id, reason or limit is refused with a problem that names it."""
    answer = herald.admin(path, method=method)
    assert answer.status == status, answer.body
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert where in answer.body.decode()


def test_the_queue_needs_a_token(herald: Herald) -> None:
    """Without a bearer token the queue is neither shown nor changed."""
    assert herald.admin("/v1/queue", token=None).status == 401
    assert herald.admin("/v1/queue/retry", token=None, method="POST").status == 401


def test_retry_all_sends_what_waits_once_the_upstream_is_back(
    herald: Herald, upstream: Capture
) -> None:
    """POST /v1/queue/retry makes every deferred message due now; with the upstream
    listening again they are sent, long before their backoff ends."""
    run_id = smtp_message(herald, "retry all")
    waiting(herald, run_id)
    upstream.start()
    answer = herald.admin("/v1/queue/retry", method="POST")
    assert answer.status == 200
    assert answer.json["retried"] >= 1
    run = herald.wait_for_status(run_id, "sent", timeout=30)
    assert [item["attempts"] for item in run["items"]] == [2]
    [mail] = upstream.wait_for(lambda c: c.message["Subject"] == "retry all")
    assert mail.rcpt_tos == ["bob@example.com"]
