"""``/v1/brand``: the brand every email wears, and its logo image."""

from __future__ import annotations

from aiohttp import web

from gateway.admin import Api, read_json


def routes(api: Api) -> list[web.RouteDef]:
    composer = api.services.composer

    async def show(request: web.Request) -> web.Response:
        return web.json_response(await composer.brand())

    async def update(request: web.Request) -> web.Response:
        return web.json_response(
            await composer.update_brand(await read_json(request), actor=api.actor)
        )

    async def put_logo(request: web.Request) -> web.Response:
        data = await request.read()
        return web.json_response(await composer.update_logo(data, "logo", actor=api.actor))

    async def delete_logo(request: web.Request) -> web.Response:
        return web.json_response(await composer.update_logo(None, actor=api.actor))

    return [
        web.get("/v1/brand", api.protect(show)),
        web.patch("/v1/brand", api.protect(update)),
        web.put("/v1/brand/logo", api.protect(put_logo)),
        web.delete("/v1/brand/logo", api.protect(delete_logo)),
    ]
