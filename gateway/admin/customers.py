"""``/v1/customers``: bulk sync in JSON Lines, and one customer as stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict

from aiohttp import web

from gateway import json_input
from gateway.admin import Api, page_limit
from gateway.billing.customers import sync
from gateway.errors import InvalidInput, NotFoundError
from gateway.openapi import Json, json_body, operation, query_param, simple
from gateway.store import BillingStore

#: JSON Lines under the names in use for it, and JSON for a single customer.
LINES_TYPES = ("application/jsonl", "application/x-ndjson", "application/x-jsonlines")

SCOPE = "settings:manage"
MAX_PAGE = 500
OPENAPI: dict[str, Json] = {
    "/v1/customers": {
        "post": operation(
            "Import customers (newline-delimited JSON), replacing each by id",
            scope=SCOPE,
            ok={200: json_body({"type": "object"}, "How many were imported")},
            problems=(400, 415, 422),
        )
    }
}
OPENAPI["/v1/customers"]["get"] = operation(
    "Customers by id; search matches an id, name, address or field value",
    scope=SCOPE,
    ok={200: json_body({"type": "object"}, "A page of customers")},
    problems=(400,),
    parameters=[
        query_param("search", "Part of an id, name, address or field value", {"type": "string"}),
        query_param("cluster", "Only customers in this cluster", {"type": "string"}),
        query_param("cursor", "The next_cursor of the page before", {"type": "string"}),
        query_param("limit", "At most this many (default 50)", {"type": "integer"}),
    ],
)
OPENAPI |= simple(
    SCOPE,
    ("get", "/v1/customers/{id}", "One customer with its clusters and addresses"),
    ("delete", "/v1/customers/{id}", "Remove a customer"),
)


def routes(api: Api) -> list[web.RouteDef]:
    store: BillingStore = api.store

    async def import_customers(request: web.Request) -> web.Response:
        json_input.check_media_type(request, (*LINES_TYPES, *json_input.JSON_TYPES))

        async def lines() -> AsyncIterator[bytes]:
            # Read line by line: a sync of many customers is never held whole.
            while line := await request.content.readline():
                yield line

        skip_bad = request.query.get("skip_bad", "false")
        if skip_bad not in ("true", "false"):
            raise InvalidInput("skip_bad", "must be true or false")
        imported = await sync(
            api.store, lines(), actor=api.actor_of(request), skip_bad=skip_bad == "true"
        )
        return web.json_response({"imported": imported})

    async def show_customer(request: web.Request) -> web.Response:
        return web.json_response(asdict(await store.get_customer(request.match_info["id"])))

    async def list_customers(request: web.Request) -> web.Response:
        limit = page_limit(request, MAX_PAGE)
        if isinstance(limit, web.Response):
            return limit
        query = request.query
        found = await api.store.list_customers(
            search=query.get("search", ""),
            cluster=query.get("cluster"),
            after=query.get("cursor", ""),
            limit=limit + 1,
        )
        body: dict[str, object] = {"customers": [asdict(c) for c in found[:limit]]}
        if len(found) > limit:
            body["next_cursor"] = found[limit - 1].id
            body["next"] = str(request.rel_url.update_query(cursor=found[limit - 1].id))
        return web.json_response(body)

    async def delete_customer(request: web.Request) -> web.Response:
        customer_id = request.match_info["id"]
        if not await api.store.delete_customers([customer_id], actor=api.actor_of(request)):
            raise NotFoundError(f"no customer {customer_id!r}")
        return web.json_response({"deleted": customer_id})

    return [
        web.post("/v1/customers", api.protect(import_customers, scope=SCOPE)),
        web.get("/v1/customers", api.protect(list_customers, scope=SCOPE)),
        web.get("/v1/customers/{id}", api.protect(show_customer, scope=SCOPE)),
        web.delete("/v1/customers/{id}", api.protect(delete_customer, scope=SCOPE)),
    ]
