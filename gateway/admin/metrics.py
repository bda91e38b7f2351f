"""``GET /metrics``: Prometheus text exposition, behind the admin token."""

from __future__ import annotations

import time
from typing import Protocol

from aiohttp import web

from gateway.admin import Api
from gateway.openapi import Json, operation
from gateway.store import HealthStore, RetentionStore

SCOPE = "runs:read"
OPENAPI: dict[str, Json] = {
    "/metrics": {
        "get": operation(
            "Prometheus metrics",
            scope=SCOPE,
            ok={
                200: {
                    "description": "Metrics",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        )
    }
}


class MetricsStore(HealthStore, RetentionStore, Protocol):
    """The queue's depth and the store's health, and its size."""


def routes(api: Api) -> list[web.RouteDef]:
    store: MetricsStore = api.store

    async def metrics(request: web.Request) -> web.Response:
        stats = await store.queue_stats()
        oldest = stats.oldest_queued_at
        health = store.health
        stored = await store.store_stats()
        now = time.time()
        text = api.metrics.exposition(
            depth=stats.depth,
            held=stats.held,
            oldest_age=max(now - oldest, 0.0) if oldest else 0.0,
            store_failures=health.write_failures,
            store_trouble=health.trouble is not None,
            unrecorded=health.unrecorded,
            store_size=stored.size_bytes,
            oldest_body_age=(
                max(now - stored.oldest_body_at, 0.0) if stored.oldest_body_at else 0.0
            ),
        )
        return web.Response(
            text=text,
            content_type="text/plain",
            charset="utf-8",
            headers={"X-Content-Type-Options": "nosniff"},
        )

    return [web.get("/metrics", api.protect(metrics, scope=SCOPE))]
