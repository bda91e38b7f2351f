"""``GET /healthz``: 200 while the store answers."""

from __future__ import annotations

from aiohttp import web

from gateway.admin import Api
from gateway.errors import StoreError
from gateway.openapi import Json, json_body, operation
from gateway.problems import problem

OPENAPI: dict[str, Json] = {
    "/healthz": {
        "get": operation(
            "200 while the store answers",
            scope=None,
            ok={200: json_body({"type": "object"}, "Healthy")},
            problems=(503,),
        )
    }
}


def routes(api: Api) -> list[web.RouteDef]:
    async def health(request: web.Request) -> web.Response:
        try:
            await api.store.ping()
        except StoreError as exc:
            return problem(503, f"the store is unreachable: {exc}", kind="store-unavailable")
        return web.json_response({"status": "ok"})

    return [web.get("/healthz", health)]
