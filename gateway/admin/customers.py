"""``/v1/customers``: bulk sync in JSON Lines, and one customer as stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict

from aiohttp import web

from gateway import json_input
from gateway.admin import Api
from gateway.billing.customers import sync
from gateway.openapi import Json, json_body, operation, simple
from gateway.store import BillingStore

#: JSON Lines under the names in use for it, and JSON for a single customer.
LINES_TYPES = ("application/jsonl", "application/x-ndjson", "application/x-jsonlines")

SCOPE = "settings:manage"
OPENAPI: dict[str, Json] = {
    "/v1/customers": {
        "post": operation(
            "Import customers (newline-delimited JSON), replacing each by id",
            scope=SCOPE,
            ok={200: json_body({"type": "object"}, "How many were imported")},
            problems=(400, 415, 422),
        )
    }
} | simple(SCOPE, ("get", "/v1/customers/{id}", "One customer with its clusters and addresses"))


def routes(api: Api) -> list[web.RouteDef]:
    store: BillingStore = api.store

    async def import_customers(request: web.Request) -> web.Response:
        json_input.check_media_type(request, (*LINES_TYPES, *json_input.JSON_TYPES))

        async def lines() -> AsyncIterator[bytes]:
            # Read line by line: a sync of many customers is never held whole.
            while line := await request.content.readline():
                yield line

        return web.json_response({"imported": await sync(store, lines())})

    async def show_customer(request: web.Request) -> web.Response:
        return web.json_response(asdict(await store.get_customer(request.match_info["id"])))

    return [
        web.post("/v1/customers", api.protect(import_customers, scope=SCOPE)),
        web.get("/v1/customers/{id}", api.protect(show_customer, scope=SCOPE)),
    ]
