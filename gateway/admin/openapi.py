"""``GET /v1/openapi.json``: the OpenAPI 3.1 document of every route, public."""

from __future__ import annotations

from types import ModuleType

from aiohttp import web

from gateway import openapi
from gateway.admin import Api
from gateway.ingress import webhook
from gateway.openapi import Json, json_body, operation

OPENAPI: dict[str, Json] = {
    "/v1/openapi.json": {
        "get": operation(
            "This document", scope=None, ok={200: json_body({"type": "object"}, "OpenAPI 3.1")}
        )
    }
}


def build(modules: list[ModuleType]) -> Json:
    """The document for the webhook and the admin route ``modules``."""
    sources = [webhook, *modules]
    return openapi.document(
        (getattr(m, "OPENAPI", {}) for m in sources), (getattr(m, "SCHEMAS", {}) for m in sources)
    )


def routes(api: Api) -> list[web.RouteDef]:
    from gateway.admin import modules

    body = build(modules())

    async def document(request: web.Request) -> web.Response:
        return web.json_response(body)

    return [web.get("/v1/openapi.json", document)]
