"""Customers as the platform synced them: a search over ids, names,
addresses and field values, a page at a time by id (keyset pagination);
each customer's page with its clusters, addresses, fields and runs; an
import of a JSON Lines file from the browser; and a confirmed delete.

The import is ``gateway.billing.customers.sync``, the same all-or-nothing
check ``herald customers import`` and ``POST /v1/customers`` make, so a bad
line reads the same everywhere. The form is a plain multipart POST whose
answer page holds the report; with scripts on, ``static/customers.js``
sends it in the background with a progress bar and shows the report in place.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import IO

from aiohttp import web

from gateway.billing.customers import BadLines, sync
from gateway.console import (
    Console,
    Link,
    console_of,
    flash,
    next_page,
    page_after,
    redirect,
    render,
    requires,
)
from gateway.errors import NotFoundError

SCOPE = "settings:manage"
NAV = (Link("Customers", "/customers", SCOPE),)
PAGE = 50
RUNS = 20
SEARCH_LIMIT = 200
# A file the browser sends is held whole before it is read (the form's CSRF
# field travels with it), so it is bounded below the listener's own limit;
# a larger sync goes through the API or the CLI, which read line by line.
MAX_IMPORT = 8 * 1024 * 1024


@requires(SCOPE)
async def list_customers(request: web.Request) -> web.StreamResponse:
    store = console_of(request).api.store
    search = request.query.get("q", "").strip()
    errors: dict[str, str] = {}
    if len(search) > SEARCH_LIMIT:
        errors["q"] = f"must be at most {SEARCH_LIMIT} characters"
        search = ""
    found = await store.list_customers(
        search=search, after=page_after(request) or "", limit=PAGE + 1
    )
    shown = found[:PAGE]
    more = shown[-1].id if len(found) > PAGE else None
    return render(
        request,
        "customers.html",
        status=422 if errors else 200,
        customers=shown,
        search=search,
        errors=errors,
        next_url=next_page(request, "after", more),
    )


@requires(SCOPE)
async def show_customer(request: web.Request) -> web.StreamResponse:
    store = console_of(request).api.store
    customer = await store.get_customer(request.match_info["id"])
    runs = await store.customer_runs(
        customer.id, before=page_after(request, "before"), limit=RUNS + 1
    )
    shown = runs[:RUNS]
    older = shown[-1].id if len(runs) > RUNS else None
    return render(
        request,
        "customer.html",
        customer=customer,
        runs=shown,
        older_url=next_page(request, "before", older),
    )


@requires(SCOPE)
async def import_form(request: web.Request) -> web.StreamResponse:
    return _import_page(request)


def _import_page(
    request: web.Request,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    imported: int | None = None,
    refused: BadLines | None = None,
    filename: str = "",
) -> web.Response:
    return render(
        request,
        "customers_import.html",
        status=status,
        errors=errors or {},
        imported=imported,
        refused=refused,
        filename=filename,
        limit_mib=MAX_IMPORT // (1024 * 1024),
    )


@requires(SCOPE)
async def import_customers(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        return _import_page(request, status=422, errors={"file": "choose a JSON Lines file"})
    stream = upload.file
    size = stream.seek(0, 2)
    stream.seek(0)
    filename = upload.filename[:200]
    if size == 0:
        errors = {"file": f"{filename} is empty"}
        return _import_page(request, status=422, errors=errors, filename=filename)
    if size > MAX_IMPORT:
        errors = {
            "file": f"{filename} is larger than {MAX_IMPORT // (1024 * 1024)} MiB;"
            " import it with `herald customers import` or POST /v1/customers"
        }
        return _import_page(request, status=413, errors=errors, filename=filename)
    try:
        imported = await sync(console.api.store, _lines(stream), actor=console.actor(request))
    except BadLines as exc:
        return _import_page(request, status=422, refused=exc, filename=filename)
    return _import_page(request, imported=imported, filename=filename)


async def _lines(stream: IO[bytes]) -> AsyncIterator[bytes]:
    for line in stream:
        yield line


@requires(SCOPE)
async def confirm_delete(request: web.Request) -> web.StreamResponse:
    customer = await console_of(request).api.store.get_customer(request.match_info["id"])
    return render(request, "customer_delete.html", customer=customer)


@requires(SCOPE)
async def delete_customer(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    store = console.api.store
    customer = await store.get_customer(request.match_info["id"])
    form = await request.post()
    if form.get("confirm") != "on":
        errors = {"confirm": "tick the box to confirm that this customer is to be deleted"}
        return render(request, "customer_delete.html", status=422, customer=customer, errors=errors)
    if not await store.delete_customers([customer.id], actor=console.actor(request)):
        raise NotFoundError(f"no customer {customer.id!r}")
    await flash(request, f"Customer {customer.id} is deleted.")
    return redirect("/customers")


def routes(console: Console) -> list[web.RouteDef]:
    return [
        web.get("/customers", list_customers),
        # Before /customers/{id}: "import" is not a customer id.
        web.get("/customers/import", import_form),
        web.post("/customers/import", import_customers),
        web.get("/customers/{id}", show_customer),
        web.get("/customers/{id}/delete", confirm_delete),
        web.post("/customers/{id}/delete", delete_customer),
    ]
