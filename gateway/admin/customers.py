"""``/v1/customers``: bulk sync in JSON Lines, and one customer as stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict

from aiohttp import web

from gateway.admin import Api
from gateway.customers import sync
from gateway.openapi import Json, simple

SCOPE = "settings:manage"
OPENAPI: dict[str, Json] = simple(
    SCOPE,
    ("post", "/v1/customers", "Import customers (newline-delimited JSON), replacing each by id"),
    ("get", "/v1/customers/{id}", "One customer with its clusters and addresses"),
)


def routes(api: Api) -> list[web.RouteDef]:
    async def import_customers(request: web.Request) -> web.Response:
        async def lines() -> AsyncIterator[bytes]:
            # Read line by line: a sync of many customers is never held whole.
            while line := await request.content.readline():
                yield line

        return web.json_response({"imported": await sync(api.store, lines())})

    async def show_customer(request: web.Request) -> web.Response:
        return web.json_response(asdict(await api.store.get_customer(request.match_info["id"])))

    return [
        web.post("/v1/customers", api.protect(import_customers, scope=SCOPE)),
        web.get("/v1/customers/{id}", api.protect(show_customer, scope=SCOPE)),
    ]
