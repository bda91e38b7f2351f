"""``/v1/senders``: sender identities by from key."""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from gateway import smtp_settings
from gateway.admin import Api, read_json
from gateway.senders import sender


def routes(api: Api) -> list[web.RouteDef]:
    async def list_senders(request: web.Request) -> web.Response:
        upstreams = await smtp_settings.sender_upstreams(api.store)
        return web.json_response(
            {
                "senders": [
                    {**asdict(s), "upstream": upstreams.get(s.key)}
                    for s in await api.store.list_senders()
                ]
            }
        )

    async def put_sender(request: web.Request) -> web.Response:
        body = await read_json(request)
        identity = sender(
            request.match_info["key"], str(body.get("address", "")), str(body.get("name", ""))
        )
        await api.store.put_sender(identity)
        return web.json_response(asdict(identity))

    return [
        web.get("/v1/senders", api.protect(list_senders)),
        web.put("/v1/senders/{key}", api.protect(put_sender)),
    ]
