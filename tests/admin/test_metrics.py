"""Tests for gateway/admin/metrics.py: ``GET /metrics`` from a real daemon, read
with prometheus-client's own parser as a scraper reads it."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

from tests.integration.harness import Herald, wait_until
from tests.integration.test_faults import smtp_message


def samples(herald: Herald, token: str = Herald.TOKEN) -> dict[tuple[str, tuple[str, ...]], float]:
    """Every sample of /metrics, by name and label values."""
    answer = herald.admin("/metrics", token)
    assert answer.status == 200, answer.body
    return {
        (sample.name, tuple(sorted(sample.labels.values()))): sample.value
        for family in text_string_to_metric_families(answer.body.decode())
        for sample in family.samples
    }


def test_the_exposition_is_prometheus_text_and_not_sniffed(herald: Herald) -> None:
    """The answer is Prometheus text in UTF-8 that a browser may not reinterpret."""
    answer = herald.admin("/metrics")
    assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert ("herald_store_trouble", ()) in samples(herald)


def test_a_deferred_message_is_counted_and_waits_in_the_queue(herald: Herald) -> None:
    """A legacy message the down upstream defers counts as accepted and deferred,
    and the queue depth and the oldest message's age show that it waits."""
    before = samples(herald)
    smtp_message(herald, "counted")

    def deferred() -> dict[tuple[str, tuple[str, ...]], float] | None:
        now = samples(herald)
        counted = [v for (name, _), v in now.items() if name == "herald_deferred_total"]
        return now if sum(counted) > 0 else None

    after = wait_until(deferred, 30, "the upstream's deferral to be counted")
    accepted = {k: v for k, v in after.items() if k[0] == "herald_accepted_total"}
    assert sum(accepted.values()) == 1 + sum(
        v for k, v in before.items() if k[0] == "herald_accepted_total"
    )
    assert after[("herald_queue_depth", ())] >= 1
    assert after[("herald_queue_oldest_age_seconds", ())] > 0
    assert after[("herald_store_trouble", ())] == 0


def test_metrics_need_the_runs_read_scope(herald: Herald) -> None:
    """No token is 401; a token without runs:read is 403 naming the scope; with it, 200."""
    assert herald.admin("/metrics", token=None).status == 401
    created = herald.cli("tokens", "create", "operator", "--scope", "queue:operate")
    operator = re.search(r"secret \(shown once\): (\S+)", created.stdout)
    assert operator is not None, created.stderr
    refused = herald.admin("/metrics", operator[1])
    assert refused.status == 403
    assert "runs:read" in refused.json["detail"]
    created = herald.cli("tokens", "create", "scraper", "--scope", "runs:read")
    scraper = re.search(r"secret \(shown once\): (\S+)", created.stdout)
    assert scraper is not None, created.stderr
    assert ("herald_queue_held", ()) in samples(herald, scraper[1])
