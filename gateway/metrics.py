"""Counters and a latency histogram, exposed in the Prometheus text format.

Herald keeps its own small registry rather than a client library: a few
labelled counters, one histogram, and gauges read from the store when
``/metrics`` is scraped.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

Labels = tuple[tuple[str, str], ...]

# Seconds: a local relay answers in milliseconds, a slow one in tens of seconds.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    # The text format escapes backslash, double quote and newline in values.
    escaped = (
        name + '="' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
        for name, value in labels
    )
    return "{" + ",".join(escaped) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf"
    return repr(float(value)) if value != int(value) else str(int(value))


class Counter:
    def __init__(self, name: str, help_text: str) -> None:
        self.name = name
        self.help = help_text
        self.values: defaultdict[Labels, float] = defaultdict(float)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        self.values[tuple(sorted(labels.items()))] += amount

    def lines(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        for labels, value in sorted(self.values.items()):
            yield f"{self.name}{_labels(labels)} {_number(value)}"


class Histogram:
    def __init__(self, name: str, help_text: str, buckets: tuple[float, ...]) -> None:
        self.name = name
        self.help = help_text
        self.buckets = (*buckets, math.inf)
        self.counts: dict[Labels, list[int]] = {}
        self.sums: defaultdict[Labels, float] = defaultdict(float)

    def observe(self, value: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        counts = self.counts.setdefault(key, [0] * len(self.buckets))
        for index, bound in enumerate(self.buckets):
            if value <= bound:
                counts[index] += 1
        self.sums[key] += value

    def lines(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        for labels, counts in sorted(self.counts.items()):
            for bound, count in zip(self.buckets, counts, strict=True):
                yield f"{self.name}_bucket{_labels((*labels, ('le', _number(bound))))} {count}"
            yield f"{self.name}_sum{_labels(labels)} {_number(self.sums[labels])}"
            yield f"{self.name}_count{_labels(labels)} {counts[-1]}"


def gauge(name: str, help_text: str, value: float) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {_number(value)}"]


class Metrics:
    """Everything Herald counts, one instance per daemon."""

    def __init__(self) -> None:
        self.accepted = Counter(
            "herald_accepted_total", "Messages accepted (202/250), by source and email type."
        )
        self.refused = Counter(
            "herald_refused_total", "Submissions refused for lack of room, by source and reason."
        )
        self.relayed = Counter(
            "herald_relayed_total", "Recipients the upstream accepted, by email type and upstream."
        )
        self.deferred = Counter(
            "herald_deferred_total",
            "Recipients deferred for a retry, by email type and upstream.",
        )
        self.failed = Counter(
            "herald_failed_total", "Recipients failed for good, by email type and upstream."
        )
        self.latency = Histogram(
            "herald_relay_seconds",
            "Time to relay one message to the upstream, by upstream.",
            LATENCY_BUCKETS,
        )

    def exposition(
        self,
        *,
        depth: int,
        held: int,
        oldest_age: float,
        store_failures: int = 0,
        store_trouble: bool = False,
        unrecorded: int = 0,
    ) -> str:
        lines: list[str] = []
        for family in (self.accepted, self.refused, self.relayed, self.deferred, self.failed):
            lines.extend(family.lines())
        lines.extend(self.latency.lines())
        lines += gauge("herald_queue_depth", "Messages waiting in the queue, held included.", depth)
        lines += gauge("herald_queue_held", "Messages held by an operator.", held)
        lines += gauge(
            "herald_queue_oldest_age_seconds", "Age of the oldest waiting message.", oldest_age
        )
        # A counter read from the store's health rather than kept here: the
        # store counts its own failed writes, whoever asked for them.
        lines += [
            "# HELP herald_store_write_failures_total Writes the store refused"
            " (disk full, size cap, I/O or connection errors).",
            "# TYPE herald_store_write_failures_total counter",
            f"herald_store_write_failures_total {store_failures}",
        ]
        lines += gauge(
            "herald_store_trouble", "1 while the store cannot write, else 0.", int(store_trouble)
        )
        lines += gauge(
            "herald_unrecorded_outcomes",
            "Delivery attempts whose outcomes wait in memory for the store.",
            unrecorded,
        )
        return "\n".join(lines) + "\n"
