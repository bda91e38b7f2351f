"""Customers as the platform synced them (``POST /v1/customers``), a page at
a time by id (keyset pagination), and each customer's page."""

from __future__ import annotations

from aiohttp import web

from gateway.console import (
    Console,
    Link,
    console_of,
    next_page,
    page_after,
    render,
    requires,
)

SCOPE = "settings:manage"
NAV = (Link("Customers", "/customers", SCOPE),)
PAGE = 50


@requires(SCOPE)
async def list_customers(request: web.Request) -> web.StreamResponse:
    store = console_of(request).api.store
    found = await store.customer_page(after=page_after(request), limit=PAGE + 1)
    shown = found[:PAGE]
    more = shown[-1].id if len(found) > PAGE else None
    next_url = next_page(request, "after", more)
    return render(request, "customers.html", customers=shown, next_url=next_url)


@requires(SCOPE)
async def show_customer(request: web.Request) -> web.StreamResponse:
    store = console_of(request).api.store
    customer = await store.get_customer(request.match_info["id"])
    return render(request, "customer.html", customer=customer)


def routes(console: Console) -> list[web.RouteDef]:
    return [
        web.get("/customers", list_customers),
        web.get("/customers/{id}", show_customer),
    ]
