"""``/v1/brand``: the brand every email wears, and its logo image."""

from __future__ import annotations

from aiohttp import web

from gateway.admin import Api, read_json
from gateway.openapi import Json, json_body, operation

SCOPE = "settings:manage"
_BRAND = json_body({"type": "object"}, "The brand in force")
_LOGO = operation(
    "Save the logo image (PNG, JPEG, GIF or WebP bytes)",
    scope=SCOPE,
    ok={200: _BRAND},
    problems=(400, 413, 422),
)
_LOGO["requestBody"] = {
    "required": True,
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}
OPENAPI: dict[str, Json] = {
    "/v1/brand": {
        "get": operation("The brand every email wears", scope=SCOPE, ok={200: _BRAND}),
        "patch": operation(
            "Change brand values",
            scope=SCOPE,
            ok={200: _BRAND},
            problems=(400, 422),
            body={"type": "object"},
        ),
    },
    "/v1/brand/logo": {
        "put": _LOGO,
        "delete": operation("Forget the saved logo", scope=SCOPE, ok={200: _BRAND}),
    },
}


def routes(api: Api) -> list[web.RouteDef]:
    # The composer in force is read per request: a reload may replace it.

    async def show(request: web.Request) -> web.Response:
        return web.json_response(await api.services.composer.brand())

    async def update(request: web.Request) -> web.Response:
        return web.json_response(
            await api.services.composer.update_brand(
                await read_json(request), actor=api.actor_of(request)
            )
        )

    async def put_logo(request: web.Request) -> web.Response:
        data = await request.read()
        return web.json_response(
            await api.services.composer.update_logo(data, "logo", actor=api.actor_of(request))
        )

    async def delete_logo(request: web.Request) -> web.Response:
        return web.json_response(
            await api.services.composer.update_logo(None, actor=api.actor_of(request))
        )

    return [
        web.get("/v1/brand", api.protect(show, scope=SCOPE)),
        web.patch("/v1/brand", api.protect(update, scope=SCOPE)),
        web.put("/v1/brand/logo", api.protect(put_logo, scope=SCOPE)),
        web.delete("/v1/brand/logo", api.protect(delete_logo, scope=SCOPE)),
    ]
