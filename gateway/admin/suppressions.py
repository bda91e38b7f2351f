"""``/v1/suppressions``: recipients Herald no longer sends to; list, search,
add, remove and export, every change audited."""

from __future__ import annotations

from aiohttp import web

from gateway.admin import Api, page_limit, read_json
from gateway.openapi import Json, json_body, operation, path_param, query_param, ref
from gateway.presenters import suppression_json
from gateway.queue.suppression import check_suppressed_address, export_pages, operator_suppression

READ = "runs:read"
CHANGE = "settings:manage"
MAX_PAGE = 1000
SCHEMAS: dict[str, Json] = {
    "Suppression": {
        "type": "object",
        "required": ["address", "reason", "source", "created_at"],
        "properties": {
            "address": {"type": "string"},
            "reason": {"type": "string"},
            "source": {"type": "string", "enum": ["upstream", "bounce", "operator"]},
            "run_id": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
        },
    }
}
_LIST: Json = {
    "type": "object",
    "properties": {
        "suppressions": {"type": "array", "items": ref("Suppression")},
        "next": {"type": ["string", "null"]},
    },
}
OPENAPI: dict[str, Json] = {
    "/v1/suppressions": {
        "get": operation(
            "Suppressed recipients by address; ?search= narrows, ?after= pages",
            scope=READ,
            ok={200: json_body(_LIST, "Suppressions")},
            problems=(400,),
            parameters=[
                query_param("search", "Only addresses containing this", {"type": "string"}),
                query_param("after", "The last address of the previous page", {"type": "string"}),
                query_param(
                    "limit", "How many", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}
                ),
            ],
        ),
        "post": operation(
            "Stop sending to an address",
            scope=CHANGE,
            ok={
                201: json_body(ref("Suppression"), "Suppressed"),
                200: json_body(ref("Suppression"), "Already suppressed"),
            },
            problems=(400, 422),
            body={
                "type": "object",
                "required": ["address"],
                "properties": {"address": {"type": "string"}, "reason": {"type": "string"}},
            },
        ),
    },
    "/v1/suppressions/export": {
        "get": operation(
            "Every suppression as CSV",
            scope=READ,
            ok={
                200: {
                    "description": "address, reason, source, run_id, created_at",
                    "content": {"text/csv": {"schema": {"type": "string"}}},
                }
            },
        )
    },
    "/v1/suppressions/{address}": {
        "delete": operation(
            "Send to an address again",
            scope=CHANGE,
            ok={204: {"description": "No longer suppressed"}},
            problems=(404, 422),
            parameters=[path_param("address", "The suppressed address")],
        )
    },
}


def routes(api: Api) -> list[web.RouteDef]:
    async def list_suppressions(request: web.Request) -> web.Response:
        limit = page_limit(request, MAX_PAGE)
        if isinstance(limit, web.Response):
            return limit
        entries = await api.store.list_suppressions(
            search=request.query.get("search"), after=request.query.get("after"), limit=limit
        )
        return web.json_response(
            {
                "suppressions": [suppression_json(entry) for entry in entries],
                "next": entries[-1].address if len(entries) == limit else None,
            }
        )

    async def add(request: web.Request) -> web.Response:
        body = await read_json(request)
        new = operator_suppression(body.get("address"), body.get("reason"))
        added = await api.store.add_suppression(new, actor=api.actor_of(request))
        [entry] = (await api.store.suppressions_for([new.address])).values()
        return web.json_response(suppression_json(entry), status=201 if added else 200)

    async def export(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/csv; charset=utf-8",
                "Content-Disposition": 'attachment; filename="suppressions.csv"',
            }
        )
        await response.prepare(request)
        async for chunk in export_pages(api.store):
            await response.write(chunk.encode())
        await response.write_eof()
        return response

    async def remove(request: web.Request) -> web.Response:
        address = check_suppressed_address(request.match_info["address"], "#/address")
        await api.store.remove_suppression(address, actor=api.actor_of(request))
        return web.Response(status=204)

    return [
        web.get("/v1/suppressions", api.protect(list_suppressions, scope=READ)),
        web.post("/v1/suppressions", api.protect(add, scope=CHANGE)),
        web.get("/v1/suppressions/export", api.protect(export, scope=READ)),
        web.delete("/v1/suppressions/{address}", api.protect(remove, scope=CHANGE)),
    ]
