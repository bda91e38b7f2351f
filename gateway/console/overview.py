"""The overview: what flowed in the last 24 hours, the queue, the upstream in
force and its breaker, and the newest failures, each linked to its run."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

from aiohttp import web

from gateway.console import Console, Link, console_of, render, requires
from gateway.errors import GatewayError
from gateway.queue.pool import SMTPRelay

NAV = (Link("Overview", "/", "runs:read"),)
DAY = 24 * 3600
# Run statuses as the overview's columns name them.
COLUMNS = ("accepted", "sent", "deferred", "failed")
_COLUMN_OF = {"sent": "sent", "partial": "sent", "deferred": "deferred", "failed": "failed"}


@dataclass(frozen=True)
class Upstream:
    describe: str
    breaker_open_for: float
    error: str | None = None


async def upstream_in_force(console: Console) -> Upstream:
    """The way out a message from the default sender would take now, and
    whether its breaker is open."""
    config = console.api.services.config
    try:
        relay = await console.router().relay_for(config.sender.address)
    except GatewayError as exc:
        return Upstream("unusable", 0.0, str(exc))
    closed = relay.guard.closed_for() if isinstance(relay, SMTPRelay) else 0.0
    return Upstream(relay.describe(), closed)


@requires("runs:read")
async def overview(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    store = console.api.store
    now = time.time()
    flow: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COLUMNS, 0))
    for row in await store.flow_since(now - DAY):
        counts = flow[row.email_type]
        counts["accepted"] += row.count
        column = _COLUMN_OF.get(row.status)
        if column:
            counts[column] += row.count
    totals = {column: sum(counts[column] for counts in flow.values()) for column in COLUMNS}
    stats = await store.queue_stats()
    failures = await store.list_runs(status="failed", limit=10)
    return render(
        request,
        "overview.html",
        flow=sorted(flow.items()),
        columns=COLUMNS,
        totals=totals,
        stats=stats,
        oldest_age=(now - stats.oldest_queued_at) if stats.oldest_queued_at else None,
        upstream=await upstream_in_force(console),
        failures=failures.runs,
    )


def routes(console: Console) -> list[web.RouteDef]:
    return [web.get("/", overview)]
