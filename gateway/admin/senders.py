"""``/v1/senders``: sender identities by from key."""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from gateway.admin import Api, read_json
from gateway.openapi import Json, json_body, operation, path_param, ref
from gateway.queue.routing import RoutingStore
from gateway.settings import smtp as smtp_settings
from gateway.settings.senders import remove, save, sender

SCOPE = "settings:manage"
SCHEMAS: dict[str, Json] = {
    "Sender": {
        "type": "object",
        "required": ["key", "address", "name"],
        "properties": {
            "key": {"type": "string"},
            "address": {"type": "string"},
            "name": {"type": "string"},
        },
    }
}
OPENAPI: dict[str, Json] = {
    "/v1/senders": {
        "get": operation(
            "Every sender identity",
            scope=SCOPE,
            ok={
                200: json_body(
                    {
                        "type": "object",
                        "properties": {"senders": {"type": "array", "items": ref("Sender")}},
                    },
                    "The senders",
                )
            },
        )
    },
    "/v1/senders/{key}": {
        "put": operation(
            "Create or replace the sender with this from key",
            scope=SCOPE,
            ok={200: json_body(ref("Sender"), "The sender as saved")},
            problems=(400, 422),
            parameters=[path_param("key", "The from key")],
            body={
                "type": "object",
                "required": ["address"],
                "properties": {"address": {"type": "string"}, "name": {"type": "string"}},
            },
        ),
        "delete": operation(
            "Remove the sender with this from key, and its own upstream;"
            " refused while a definition sends from it",
            scope=SCOPE,
            ok={200: json_body({"type": "object"}, "The from key removed")},
            problems=(404, 422),
            parameters=[path_param("key", "The from key")],
        ),
    },
}


def routes(api: Api) -> list[web.RouteDef]:
    store: RoutingStore = api.store

    async def list_senders(request: web.Request) -> web.Response:
        upstreams = await smtp_settings.sender_upstreams(store)
        return web.json_response(
            {
                "senders": [
                    {**asdict(s), "upstream": upstreams.get(s.key)}
                    for s in await store.list_senders()
                ]
            }
        )

    async def put_sender(request: web.Request) -> web.Response:
        body = await read_json(request)
        identity = sender(
            request.match_info["key"], str(body.get("address", "")), str(body.get("name", ""))
        )
        await save(store, identity, actor=api.actor_of(request))
        return web.json_response(asdict(identity))

    async def delete_sender(request: web.Request) -> web.Response:
        key = request.match_info["key"]
        await remove(api.store, key, actor=api.actor_of(request))
        return web.json_response({"deleted": key})

    return [
        web.get("/v1/senders", api.protect(list_senders, scope=SCOPE)),
        web.put("/v1/senders/{key}", api.protect(put_sender, scope=SCOPE)),
        web.delete("/v1/senders/{key}", api.protect(delete_sender, scope=SCOPE)),
    ]
