"""``/v1/audit``: every change of a setting, a login or a token, newest first."""

from __future__ import annotations

from aiohttp import web

from gateway.admin import Api, page_limit
from gateway.openapi import Json, json_body, operation, query_param
from gateway.presenters import audit_json
from gateway.store import SettingsStore

MAX_PAGE = 500
OPENAPI: dict[str, Json] = {
    "/v1/audit": {
        "get": operation(
            "The newest changes: who changed which setting, from what to what",
            scope="audit:read",
            ok={
                200: json_body(
                    {"type": "object", "properties": {"changes": {"type": "array"}}}, "Changes"
                )
            },
            problems=(400,),
            parameters=[
                query_param(
                    "limit", "How many", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}
                ),
                query_param("setting", "Only this setting and its sub-keys", {"type": "string"}),
            ],
        )
    }
}


def routes(api: Api) -> list[web.RouteDef]:
    store: SettingsStore = api.store

    async def list_changes(request: web.Request) -> web.Response:
        limit = page_limit(request, MAX_PAGE)
        if isinstance(limit, web.Response):
            return limit
        entries = await store.list_audit(limit=limit, setting=request.query.get("setting"))
        return web.json_response({"changes": [audit_json(entry) for entry in entries]})

    return [web.get("/v1/audit", api.protect(list_changes, scope="audit:read"))]
