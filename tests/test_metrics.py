"""Tests for gateway/metrics.py: the Prometheus text exposition."""

from __future__ import annotations

from gateway.metrics import Metrics


def test_counters_histogram_and_gauges_in_text_format() -> None:
    """Counters carry sorted labels, the histogram is cumulative with +Inf, gauges follow."""
    metrics = Metrics()
    metrics.relayed.inc(email_type="invoice.issued", upstream="mail:25")
    metrics.relayed.inc(email_type="invoice.issued", upstream="mail:25")
    metrics.latency.observe(0.03, upstream="mail:25")
    metrics.latency.observe(7.0, upstream="mail:25")
    lines = metrics.exposition(depth=3, held=1, oldest_age=12.5).splitlines()
    assert "# TYPE herald_relayed_total counter" in lines
    assert 'herald_relayed_total{email_type="invoice.issued",upstream="mail:25"} 2' in lines
    assert 'herald_relay_seconds_bucket{upstream="mail:25",le="0.025"} 0' in lines
    assert 'herald_relay_seconds_bucket{upstream="mail:25",le="0.05"} 1' in lines
    assert 'herald_relay_seconds_bucket{upstream="mail:25",le="10"} 2' in lines
    assert 'herald_relay_seconds_bucket{upstream="mail:25",le="+Inf"} 2' in lines
    assert 'herald_relay_seconds_count{upstream="mail:25"} 2' in lines
    assert 'herald_relay_seconds_sum{upstream="mail:25"} 7.03' in lines
    assert "herald_queue_depth 3" in lines
    assert "herald_queue_oldest_age_seconds 12.5" in lines


def test_label_values_are_escaped() -> None:
    """Quotes, backslashes and newlines in a label value cannot break the format."""
    metrics = Metrics()
    metrics.accepted.inc(source="smtp", email_type='a"b\\c\nd')
    text = metrics.exposition(depth=0, held=0, oldest_age=0)
    assert 'herald_accepted_total{email_type="a\\"b\\\\c\\nd",source="smtp"} 1' in text


def test_the_store_s_trouble_is_exposed() -> None:
    """Refused writes are a counter; the trouble and the outcomes kept in memory are gauges."""
    metrics = Metrics()
    healthy = metrics.exposition(depth=0, held=0, oldest_age=0).splitlines()
    assert "herald_store_write_failures_total 0" in healthy
    assert "herald_store_trouble 0" in healthy
    lines = metrics.exposition(
        depth=0, held=0, oldest_age=0, store_failures=7, store_trouble=True, unrecorded=2
    ).splitlines()
    assert "# TYPE herald_store_write_failures_total counter" in lines
    assert "herald_store_write_failures_total 7" in lines
    assert "herald_store_trouble 1" in lines
    assert "herald_unrecorded_outcomes 2" in lines
