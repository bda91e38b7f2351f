"""Tests for gateway/ingress/webhook.py: ``POST /v1/events`` over a real daemon,
202 only once the run is committed, idempotent by event and delivery id."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from tests.integration.harness import Herald, standard_webhooks_headers
from tests.integration.harness import operator_herald as operator_herald
from tests.integration.harness import operator_upstream as operator_upstream

EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "events"


def event() -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EVENTS / "account.created.json").read_text("utf-8"))
    body["id"] = f"evt_{uuid.uuid4().hex}"
    return body


def test_a_signed_event_is_202_with_its_committed_run(herald: Herald) -> None:
    """The answer names a run the store already holds, queued for the upstream."""
    answer = herald.post_event(event())
    assert answer.status == 202, answer.body
    assert (answer.json["status"], answer.json["duplicate"]) == ("queued", False)
    run = herald.run(answer.json["run_id"])
    assert run["email_type"] == "account.created"
    assert run["status"] in ("queued", "deferred")


def test_the_same_event_or_delivery_again_answers_the_first_run(herald: Herald) -> None:
    """A resent event id, or a retried webhook-id with a new event id, gets the first run
    back, marked duplicate, and no second run is made."""
    body = event()
    first = herald.post_event(body)
    again = herald.post_event(body)
    assert (again.status, again.json["run_id"], again.json["duplicate"]) == (
        202,
        first.json["run_id"],
        True,
    )
    raw = json.dumps(event()).encode()
    headers = {"Content-Type": "application/json"}
    headers |= standard_webhooks_headers(Herald.SECRET, raw, "msg_retried", int(time.time()))
    delivered = herald.request("POST", "/v1/events", raw, headers)
    retried = json.dumps({**json.loads(raw), "id": f"evt_{uuid.uuid4().hex}"}).encode()
    headers |= standard_webhooks_headers(Herald.SECRET, retried, "msg_retried", int(time.time()))
    redelivered = herald.request("POST", "/v1/events", retried, headers)
    assert redelivered.json["run_id"] == delivered.json["run_id"]
    assert redelivered.json["duplicate"] is True


def test_an_unsigned_event_is_refused_and_makes_no_run(herald: Herald) -> None:
    """Without a signature the answer is a 401 problem and the runs are as they were."""
    before = [run["id"] for run in herald.admin("/v1/runs?limit=200").json["runs"]]
    answer = herald.post_event(event(), signed=False)
    assert answer.status == 401
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert [run["id"] for run in herald.admin("/v1/runs?limit=200").json["runs"]] == before


def test_an_event_of_an_unknown_type_is_answered_and_recorded_as_rejected(
    herald: Herald,
) -> None:
    """The pipeline's refusal is the answer, and the run says so."""
    answer = herald.post_event({**event(), "type": "no.such.type"})
    assert answer.status == 422, answer.body
    assert herald.run(answer.json["run_id"])["status"] == "rejected"
