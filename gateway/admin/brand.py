"""``/v1/brand``: the brand every email wears."""

from __future__ import annotations

from aiohttp import web

from gateway.admin import Api, read_json


def routes(api: Api) -> list[web.RouteDef]:
    composer = api.services.composer

    async def show(request: web.Request) -> web.Response:
        return web.json_response(await composer.brand())

    async def update(request: web.Request) -> web.Response:
        return web.json_response(await composer.update_brand(await read_json(request)))

    return [
        web.get("/v1/brand", api.protect(show)),
        web.patch("/v1/brand", api.protect(update)),
    ]
