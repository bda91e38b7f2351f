"""``/v1/queue``: what waits and why; retry now, hold, release, purge."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.admin import Api, query_number
from gateway.openapi import Json, simple
from gateway.presenters import queue_entry_json
from gateway.problems import Handler
from gateway.queue.qmgr import check_message_id, check_reason
from gateway.store import OperatorQueueStore

MAX_PAGE = 1000

SCOPE = "queue:operate"
OPENAPI: dict[str, Json] = simple(
    SCOPE,
    ("get", "/v1/queue", "Waiting messages"),
    ("post", "/v1/queue/retry", "Retry every deferred message now"),
    ("post", "/v1/queue/{message_id}/retry", "Retry one message now"),
    ("post", "/v1/queue/{message_id}/hold", "Hold one message"),
    ("post", "/v1/queue/{message_id}/release", "Release a held message"),
    ("delete", "/v1/queue/{message_id}", "Purge one message"),
)


def routes(api: Api) -> list[web.RouteDef]:
    store: OperatorQueueStore = api.store

    async def list_queue(request: web.Request) -> web.Response:
        limit = query_number(request, "limit", default=100, maximum=MAX_PAGE)
        if isinstance(limit, web.Response):
            return limit
        stats = await store.queue_stats()
        entries = await store.list_queue(limit=limit)
        oldest = stats.oldest_queued_at
        return web.json_response(
            {
                "depth": stats.depth,
                "held": stats.held,
                "oldest_age_seconds": round(time.time() - oldest, 3) if oldest else 0,
                "messages": [queue_entry_json(entry) for entry in entries],
            }
        )

    async def retry_all(request: web.Request) -> web.Response:
        count = await store.retry_now(None)
        api.wake()
        return web.json_response({"retried": count})

    def change(action: Callable[[str, str], Awaitable[object]], status: str) -> Handler:
        """A handler applying ``action`` to the message named in the path, on
        behalf of the request's actor."""

        async def handler(request: web.Request) -> web.StreamResponse:
            message_id = check_message_id(request.match_info["message_id"])
            await action(message_id, api.actor_of(request))
            api.wake()
            return web.json_response({"message_id": message_id, "status": status})

        return handler

    async def purge(request: web.Request) -> web.Response:
        message_id = check_message_id(request.match_info["message_id"])
        reason = check_reason(request.query.get("reason"), "reason")
        await store.purge(message_id, reason, actor=api.actor_of(request))
        return web.json_response({"message_id": message_id, "status": "purged", "reason": reason})

    return [
        web.get("/v1/queue", api.protect(list_queue, scope=SCOPE)),
        web.post("/v1/queue/retry", api.protect(retry_all, scope=SCOPE)),
        web.post(
            "/v1/queue/{message_id}/retry",
            api.protect(change(lambda m, _: store.retry_now(m), "queued"), scope=SCOPE),
        ),
        web.post(
            "/v1/queue/{message_id}/hold",
            api.protect(change(lambda m, a: store.hold(m, actor=a), "held"), scope=SCOPE),
        ),
        web.post(
            "/v1/queue/{message_id}/release",
            api.protect(change(lambda m, a: store.release(m, actor=a), "queued"), scope=SCOPE),
        ),
        web.delete("/v1/queue/{message_id}", api.protect(purge, scope=SCOPE)),
    ]
