"""Counters and a latency histogram, exposed in the Prometheus text format.

The families are prometheus-client's, each daemon with its own
``CollectorRegistry`` so that two daemons in one process (tests, a bench)
never count into each other. The queue's and the store's state are read
from the store when ``/metrics`` is scraped, not kept here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# Seconds: a local relay answers in milliseconds, a slow one in tens of seconds.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class LabelledCounter:
    """A counter family whose labels are given by name at each count."""

    def __init__(
        self, name: str, help_text: str, labels: Sequence[str], registry: CollectorRegistry
    ) -> None:
        # prometheus-client adds the ``_total`` suffix itself, and wants the
        # name without it; the label names are fixed when the family is made.
        self.family = Counter(
            name.removesuffix("_total"), help_text, sorted(labels), registry=registry
        )

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        self.family.labels(**labels).inc(amount)


class LabelledHistogram:
    """A histogram family whose labels are given by name at each observation."""

    def __init__(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str],
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        self.family = Histogram(name, help_text, sorted(labels), buckets=buckets, registry=registry)

    def observe(self, value: float, **labels: str) -> None:
        self.family.labels(**labels).observe(value)


class _Scraped(Collector):
    """What the store tells at each scrape: the queue and the store's health."""

    def __init__(self) -> None:
        self.depth = 0
        self.held = 0
        self.oldest_age = 0.0
        self.store_failures = 0
        self.store_trouble = False
        self.unrecorded = 0
        self.store_size = 0
        self.oldest_body_age = 0.0

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(
            "herald_queue_depth", "Messages waiting in the queue, held included.", self.depth
        )
        yield GaugeMetricFamily("herald_queue_held", "Messages held by an operator.", self.held)
        yield GaugeMetricFamily(
            "herald_queue_oldest_age_seconds",
            "Age of the oldest waiting message.",
            self.oldest_age,
        )
        # A counter read from the store's health rather than kept here: the
        # store counts its own failed writes, whoever asked for them.
        yield CounterMetricFamily(
            "herald_store_write_failures",
            "Writes the store refused (disk full, size cap, I/O or connection errors).",
            self.store_failures,
        )
        yield GaugeMetricFamily(
            "herald_store_trouble", "1 while the store cannot write, else 0.", self.store_trouble
        )
        yield GaugeMetricFamily(
            "herald_unrecorded_outcomes",
            "Delivery attempts whose outcomes wait in memory for the store.",
            self.unrecorded,
        )
        yield GaugeMetricFamily(
            "herald_store_size_bytes",
            "The store on disk: the SQLite file and its WAL, or the schema's tables.",
            self.store_size,
        )
        yield GaugeMetricFamily(
            "herald_store_oldest_body_age_seconds",
            "Age of the oldest message whose bytes the store still keeps ([retention] bodies).",
            self.oldest_body_age,
        )


class Metrics:
    """Everything Herald counts, one instance (and one registry) per daemon."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.accepted = LabelledCounter(
            "herald_accepted_total",
            "Messages accepted (202/250), by source and email type.",
            ("source", "email_type"),
            self.registry,
        )
        self.refused = LabelledCounter(
            "herald_refused_total",
            "Submissions refused, by source and reason (busy, queue_full, rejected, failed).",
            ("source", "reason"),
            self.registry,
        )
        self.relayed = LabelledCounter(
            "herald_relayed_total",
            "Recipients the upstream accepted, by email type and upstream.",
            ("email_type", "upstream"),
            self.registry,
        )
        self.deferred = LabelledCounter(
            "herald_deferred_total",
            "Recipients deferred for a retry, by email type and upstream.",
            ("email_type", "upstream"),
            self.registry,
        )
        self.failed = LabelledCounter(
            "herald_failed_total",
            "Recipients failed for good, by email type and upstream.",
            ("email_type", "upstream"),
            self.registry,
        )
        self.latency = LabelledHistogram(
            "herald_relay_seconds",
            "Time to relay one message to the upstream, by upstream.",
            ("upstream",),
            LATENCY_BUCKETS,
            self.registry,
        )
        self._scraped = _Scraped()
        self.registry.register(self._scraped)

    def exposition(
        self,
        *,
        depth: int,
        held: int,
        oldest_age: float,
        store_failures: int = 0,
        store_trouble: bool = False,
        unrecorded: int = 0,
        store_size: int = 0,
        oldest_body_age: float = 0.0,
    ) -> str:
        scraped = self._scraped
        # Set and rendered with no await between: one event loop, so no other
        # scrape can interleave its values with these.
        scraped.depth, scraped.held, scraped.oldest_age = depth, held, oldest_age
        scraped.store_failures, scraped.store_trouble = store_failures, store_trouble
        scraped.unrecorded = unrecorded
        scraped.store_size, scraped.oldest_body_age = store_size, oldest_body_age
        return generate_latest(_WithoutCreated(self.registry)).decode("utf-8")


class _WithoutCreated(Collector):
    """A registry's metrics without the ``_created`` series of its counters and
    histograms: no dashboard of Herald's reads them, and leaving them out here
    (rather than with prometheus-client's process-wide switch) touches no
    other registry in the process."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        for metric in self.registry.collect():
            # Each collect builds its Metric objects anew: trimming them is safe.
            metric.samples = [s for s in metric.samples if not s.name.endswith("_created")]
            yield metric
