"""Operator control of the queue (CLI and admin API) and the /metrics endpoint."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.integration.harness import LOOPBACK, Capture, Herald, free_port, wait_until
from tests.integration.test_end_to_end import accepted, event

# Retries are an hour apart: only the operator's "retry now" can send in time.
SLOW = """
[queue]
retry_initial = "1h"
retry_max = "1h"
poll_interval = "0.2s"

[upstream]
breaker_threshold = 1000
"""


def test_operator_lists_holds_releases_retries_and_purges(tmp_path: Path) -> None:
    """`herald queue` and /v1/queue show what waits and why; hold keeps a message back,
    retry sends it now, purge fails it with the operator's reason."""
    port = free_port()
    herald = Herald(tmp_path, upstream=f"smtp://{LOOPBACK}:{port}", config=SLOW).start()
    upstream = Capture(port)
    try:
        keep, drop = (accepted(herald, event("account.created")) for _ in range(2))
        herald.wait_for_status(keep, "deferred")
        herald.wait_for_status(drop, "deferred")

        listing = herald.cli("queue", "list")
        assert listing.returncode == 0, listing.stderr
        assert listing.stdout.startswith("2 waiting (0 held)")
        assert "why: SMTPConnectError" in listing.stdout
        queue = herald.admin("/v1/queue").json
        assert queue["depth"] == 2
        ids = {m["run_id"]: m["message_id"] for m in queue["messages"]}
        assert queue["messages"][0]["recipients"] == ["ada@example.com"]

        assert herald.cli("queue", "hold", ids[keep]).returncode == 0
        held = herald.admin("/v1/queue").json
        assert held["held"] == 1
        purged = herald.cli("queue", "purge", ids[drop], "--reason", "customer left")
        assert purged.returncode == 0, purged.stderr

        upstream.start()
        answer = herald.admin(f"/v1/queue/{ids[keep]}/retry", method="POST")
        assert answer.status == 200, answer.body
        run = herald.wait_for_status(keep, "sent", timeout=15)
        assert [e["event"] for e in run["history"]][:3] == ["accepted", "deferred", "held"]
        dropped = herald.run(drop)
        assert dropped["status"] == "failed"
        assert dropped["items"][0]["error"] == "customer left"
        assert upstream.for_run(drop) == []
        assert herald.admin("/v1/queue").json["depth"] == 0
    finally:
        upstream.stop()
        herald.stop()


def test_queue_commands_refuse_bad_or_unknown_ids(tmp_path: Path) -> None:
    """A malformed id is named as the faulty input; an unknown one is a 404 / exit 1."""
    herald = Herald(tmp_path, upstream=None, config=SLOW).start()
    try:
        result = herald.cli("queue", "hold", "run_123")
        assert result.returncode == 1
        assert result.stderr.startswith("herald: ID: expected a message id")
        assert "Traceback" not in result.stderr
        answer = herald.admin("/v1/queue/nonsense!/hold", method="POST")
        assert answer.status == 422
        assert answer.json["errors"][0]["pointer"] == "#/message_id"
        missing = herald.admin("/v1/queue/msg_0000/release", method="POST")
        assert missing.status == 404
        assert herald.admin("/v1/queue", token="wrong").status == 401
    finally:
        herald.stop()


def test_metrics_count_accepted_relayed_and_failed(tmp_path: Path) -> None:
    """GET /metrics (admin token) reports counters by type and upstream, the queue
    depth and a relay latency histogram, in the Prometheus text format."""
    capture = Capture().start()
    capture.rcpt_replies["nobody@"] = "550 5.1.1 no such user"
    herald = Herald(tmp_path, upstream=capture.url, config=SLOW).start()
    upstream = f"{LOOPBACK}:{capture.port}"
    try:
        sent = accepted(herald, event("account.created"))
        failed = accepted(
            herald,
            event(
                "account.created",
                recipient={
                    "kind": "customer",
                    "id": "c2",
                    "name": "No Body",
                    "email": "nobody@example.com",
                },
            ),
        )
        herald.wait_for_status(sent, "sent")
        herald.wait_for_status(failed, "failed")
        answer = wait_until(
            lambda: (a := herald.admin("/metrics")).status == 200 and a, 10, "/metrics"
        )
        assert herald.admin("/metrics", token=None).status == 401
    finally:
        herald.stop()
        capture.stop()
    assert answer.headers["Content-Type"].startswith("text/plain")
    # Read as Prometheus reads it: the samples, whatever their number format.
    families = {f.name: f for f in text_string_to_metric_families(answer.body.decode())}
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families.values()
        for sample in family.samples
    }
    labels = (("email_type", "account.created"), ("upstream", upstream))
    webhook = (("email_type", "account.created"), ("source", "webhook"))
    assert samples[("herald_accepted_total", webhook)] == 2
    assert samples[("herald_relayed_total", labels)] == 1
    assert samples[("herald_failed_total", labels)] == 1
    assert samples[("herald_queue_depth", ())] == 0
    assert samples[("herald_relay_seconds_count", (("upstream", upstream),))] == 2
    assert families["herald_relay_seconds"].type == "histogram"
