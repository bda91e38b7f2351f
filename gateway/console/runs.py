"""Runs: every email Herald took in, newest first, a page at a time (keyset
pagination on the run id), and each run's page with its recipients and
history; retry and cancel for roles that may operate the queue."""

from __future__ import annotations

from typing import get_args

from aiohttp import web

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
from gateway.store import RunStatus

NAV = (Link("Runs", "/runs", "runs:read"),)
PAGE = 50
ITEMS = 200
STATUSES = get_args(RunStatus)


@requires("runs:read")
async def list_runs(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    status = request.query.get("status") or None
    email_type = request.query.get("type") or None
    if status not in (None, *STATUSES):
        status = None
    if email_type is not None and (len(email_type) > 64 or not email_type.isprintable()):
        email_type = None
    page = await console.api.store.list_runs(
        status=status, email_type=email_type, limit=PAGE, cursor=page_after(request)
    )
    return render(
        request,
        "runs.html",
        runs=page.runs,
        next_url=next_page(request, "after", page.next_cursor),
        chosen_status=status or "",
        email_type=email_type or "",
        statuses=STATUSES,
        types=sorted(console.api.services.templates.types()),
    )


@requires("runs:read")
async def show_run(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    run = await console.api.store.get_run(request.match_info["run_id"], item_limit=ITEMS)
    return render(request, "run.html", run=run, items_shown=ITEMS)


@requires("queue:operate")
async def retry_run(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    run_id = request.match_info["run_id"]
    queued = await console.api.store.retry_run(run_id)
    console.api.batches.on_queued()
    await flash(request, f"{queued} recipient(s) queued again.")
    return redirect(f"/runs/{run_id}")


@requires("queue:operate")
async def cancel_run(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    run_id = request.match_info["run_id"]
    skipped = await console.api.store.cancel_run(run_id)
    await flash(request, f"Cancelled: {skipped} pending recipient(s) skipped.")
    return redirect(f"/runs/{run_id}")


def routes(console: Console) -> list[web.RouteDef]:
    return [
        web.get("/runs", list_runs),
        web.get("/runs/{run_id}", show_run),
        web.post("/runs/{run_id}/retry", retry_run),
        web.post("/runs/{run_id}/cancel", cancel_run),
    ]
