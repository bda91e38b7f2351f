"""Tests for gateway/metrics.py: the Prometheus text exposition."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from gateway.metrics import Metrics

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parsed(text: str) -> tuple[dict[str, str], Samples]:
    """The type of each family and the value of each sample, read as Prometheus reads them."""
    families = list(text_string_to_metric_families(text))
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        for sample in family.samples
    }
    return {family.name: family.type for family in families}, samples


def test_counters_histogram_and_gauges_in_text_format() -> None:
    """Counters count by their labels, the histogram is cumulative with +Inf, gauges follow."""
    metrics = Metrics()
    metrics.relayed.inc(email_type="invoice.issued", upstream="mail:25")
    metrics.relayed.inc(email_type="invoice.issued", upstream="mail:25")
    metrics.latency.observe(0.03, upstream="mail:25")
    metrics.latency.observe(7.0, upstream="mail:25")
    text = metrics.exposition(depth=3, held=1, oldest_age=12.5)
    assert "# TYPE herald_relayed_total counter" in text.splitlines()
    types, samples = parsed(text)
    assert types["herald_relayed"] == "counter"
    assert types["herald_relay_seconds"] == "histogram"
    assert (
        samples[
            ("herald_relayed_total", (("email_type", "invoice.issued"), ("upstream", "mail:25")))
        ]
        == 2
    )
    bucket = "herald_relay_seconds_bucket"
    assert samples[(bucket, (("le", "0.025"), ("upstream", "mail:25")))] == 0
    assert samples[(bucket, (("le", "0.05"), ("upstream", "mail:25")))] == 1
    assert samples[(bucket, (("le", "10.0"), ("upstream", "mail:25")))] == 2
    assert samples[(bucket, (("le", "+Inf"), ("upstream", "mail:25")))] == 2
    assert samples[("herald_relay_seconds_count", (("upstream", "mail:25"),))] == 2
    assert samples[("herald_relay_seconds_sum", (("upstream", "mail:25"),))] == 7.03
    assert samples[("herald_queue_depth", ())] == 3
    assert samples[("herald_queue_held", ())] == 1
    assert samples[("herald_queue_oldest_age_seconds", ())] == 12.5
    # The exposition Herald always served: no _created series beside the counters.
    assert not [name for name, _ in samples if name.endswith("_created")]


def test_label_values_are_escaped() -> None:
    """Quotes, backslashes and newlines in a label value cannot break the format."""
    metrics = Metrics()
    metrics.accepted.inc(source="smtp", email_type='a"b\\c\nd')
    text = metrics.exposition(depth=0, held=0, oldest_age=0)
    assert 'herald_accepted_total{email_type="a\\"b\\\\c\\nd",source="smtp"} 1.0' in text
    _, samples = parsed(text)
    assert (
        samples[("herald_accepted_total", (("email_type", 'a"b\\c\nd'), ("source", "smtp")))] == 1
    )


def test_the_store_s_trouble_is_exposed() -> None:
    """Refused writes are a counter; the trouble and the outcomes kept in memory are gauges."""
    metrics = Metrics()
    _, healthy = parsed(metrics.exposition(depth=0, held=0, oldest_age=0))
    assert healthy[("herald_store_write_failures_total", ())] == 0
    assert healthy[("herald_store_trouble", ())] == 0
    text = metrics.exposition(
        depth=0, held=0, oldest_age=0, store_failures=7, store_trouble=True, unrecorded=2
    )
    assert "# TYPE herald_store_write_failures_total counter" in text.splitlines()
    _, samples = parsed(text)
    assert samples[("herald_store_write_failures_total", ())] == 7
    assert samples[("herald_store_trouble", ())] == 1
    assert samples[("herald_unrecorded_outcomes", ())] == 2


def test_each_daemon_counts_in_its_own_registry() -> None:
    """Two Metrics in one process never see each other's counts."""
    first, second = Metrics(), Metrics()
    first.accepted.inc(source="smtp", email_type="legacy")
    _, samples = parsed(second.exposition(depth=0, held=0, oldest_age=0))
    assert not [name for name, _ in samples if name == "herald_accepted_total"]
    _, samples = parsed(first.exposition(depth=0, held=0, oldest_age=0))
    assert samples[("herald_accepted_total", (("email_type", "legacy"), ("source", "smtp")))] == 1
