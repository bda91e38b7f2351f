"""``GET /healthz``: 200 while the store answers and takes writes."""

from __future__ import annotations

import contextlib

from aiohttp import web

from gateway.admin import Api
from gateway.clock import rfc3339
from gateway.decisions import ProblemType
from gateway.errors import StoreError
from gateway.openapi import Json, json_body, operation
from gateway.problems import problem
from gateway.store import HealthStore

OPENAPI: dict[str, Json] = {
    "/healthz": {
        "get": operation(
            "200 while the store answers and takes writes; 503 naming its trouble",
            scope=None,
            ok={200: json_body({"type": "object"}, "Healthy")},
            problems=(503,),
        )
    }
}


def routes(api: Api) -> list[web.RouteDef]:
    store: HealthStore = api.store

    async def health(request: web.Request) -> web.Response:
        try:
            await store.ping()
        except StoreError as exc:
            return problem(
                503, f"the store is unreachable: {exc}", kind=ProblemType.STORE_UNAVAILABLE
            )
        if store.health.probe_due():
            # A store that answers reads may still refuse writes (a full disk).
            # A node that reports trouble may get no traffic whose writes could
            # show that the trouble is over, so this check tries one itself.
            with contextlib.suppress(StoreError):
                await store.probe()
        trouble = store.health.problem()
        if trouble is not None:
            since = store.health.since
            return problem(
                503,
                trouble,
                kind=ProblemType.STORE_TROUBLE,
                since=rfc3339(since) if since is not None else None,
                unrecorded_outcomes=store.health.unrecorded,
            )
        return web.json_response({"status": "ok"})

    return [web.get("/healthz", health)]
