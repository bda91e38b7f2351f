"""``/v1/audit``: every change of a setting, newest first."""

from __future__ import annotations

from aiohttp import web

from gateway.admin import Api, page_limit
from gateway.store import audit_json

MAX_PAGE = 500


def routes(api: Api) -> list[web.RouteDef]:
    async def list_changes(request: web.Request) -> web.Response:
        limit = page_limit(request, MAX_PAGE)
        if isinstance(limit, web.Response):
            return limit
        entries = await api.store.list_audit(limit=limit, setting=request.query.get("setting"))
        return web.json_response({"changes": [audit_json(entry) for entry in entries]})

    return [web.get("/v1/audit", api.protect(list_changes))]
