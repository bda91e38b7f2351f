"""Runs: every email Herald took in, newest first, a page at a time (keyset
pagination on the run id), filtered by status, email type, definition, date
and recipient or by a query (``to: status: type: before: after:``, parsed by
``gateway.store.run_filter`` as ``GET /v1/runs`` parses it); and each run's
page with what was sent, to whom, when and every error, its progress kept
live by ``static/runs.js`` through ``/runs/{id}/progress``.

Retry, cancel and resend, for one run, one item or a selection of runs, go
through what ``/v1/runs`` uses (``Batches.retry``, the store's
``cancel_run``) for roles that may operate the queue.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import structlog
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
    session_of,
)
from gateway.decisions import answer
from gateway.errors import GatewayError, InvalidInput, NotFoundError
from gateway.store import RUN_STATUSES, Item, Run, run_filter

log = structlog.get_logger(__name__)

NAV = (Link("Runs", "/runs", "runs:read"),)
PAGE = 50
ITEMS = 200
OPERATE = "queue:operate"
# The totals the list and a run's page show, in this order; "bounced" counts
# with failed, as the run's status does.
TOTALS = ("sent", "deferred", "failed", "skipped")
# The filter fields of the list page, beside the query box ``q``.
FIELDS = ("status", "type", "definition", "to", "after", "before")
# A selection acts on at most one page of runs.
MAX_SELECTED = PAGE


def totals(run: Run) -> dict[str, int]:
    """The run's sent, deferred, failed and skipped recipients; queued ones
    count as deferred (not gone yet) and bounced ones as failed."""
    counts = run.counts
    return {
        "sent": counts.get("sent", 0),
        "deferred": counts.get("deferred", 0) + counts.get("queued", 0),
        "failed": counts.get("failed", 0) + counts.get("bounced", 0),
        "skipped": counts.get("skipped", 0),
    }


def attachment_names(item: Item) -> list[str]:
    """The names of the attachments an item's message carried, as recorded."""
    if not item.attachments:
        return []
    return [str(name) for name, _size in json.loads(item.attachments)]


@requires("runs:read")
async def list_runs(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    query = request.query
    # Cut past what the parser takes, so that it still says the text is too long.
    values = {key: query.get(key, "")[: run_filter.MAX_QUERY + 1] for key in (*FIELDS, "q")}
    errors: dict[str, str] = {}
    try:
        where = run_filter.from_fields(((key, values[key]) for key in FIELDS), values["q"])
    except InvalidInput as exc:
        pointer, detail = exc.errors[0]
        errors[pointer.removeprefix("#/")] = detail
        where = run_filter.RunFilter()
    page = None
    if not errors:
        page = await console.api.store.list_runs(
            where=where, limit=PAGE, cursor=page_after(request, "after_id")
        )
    runs = page.runs if page else []
    # A type asked for by a link (a definition's name) shows as chosen too.
    types = {*console.api.services.templates.types(), values["type"]} - {""}
    return render(
        request,
        "runs.html",
        status=400 if errors else 200,
        runs=[(run, totals(run)) for run in runs],
        next_url=next_page(request, "after_id", page.next_cursor) if page else None,
        values=values,
        errors=errors,
        status_options=[("", "any"), *((status, status) for status in RUN_STATUSES)],
        type_options=[("", "any"), *((name, name) for name in sorted(types))],
        back=request.path_qs,
    )


@requires("runs:read")
async def show_run(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    run = await console.api.store.get_run(request.match_info["run_id"], item_limit=ITEMS)
    items = [(item, attachment_names(item)) for item in run.items]
    subjects = sorted({item.subject for item in run.items if item.subject})
    return render(
        request,
        "run.html",
        run=run,
        items=items,
        totals=totals(run),
        subjects=subjects or [run.subject],
        items_shown=ITEMS,
    )


@requires("runs:read")
async def progress(request: web.Request) -> web.StreamResponse:
    """The run's status and totals as JSON, for ``runs.js`` to poll."""
    console = console_of(request)
    run = await console.api.store.get_run(request.match_info["run_id"], item_limit=0)
    return web.json_response(
        {"status": run.status, "finished": run.finished, "totals": totals(run)},
        headers={"Cache-Control": "no-store"},
    )


async def _retry(console: Console, run_id: str, by: str) -> str:
    queued = await console.api.batches.retry(run_id, by=by)
    console.api.batches.on_queued()
    return f"{queued} recipient(s) queued again"


async def _cancel(console: Console, run_id: str, by: str) -> str:
    skipped = await console.api.store.cancel_run(run_id, by=by)
    return f"cancelled, {skipped} pending recipient(s) skipped"


ACTIONS: dict[str, Callable[[Console, str, str], Awaitable[str]]] = {
    "retry": _retry,
    "cancel": _cancel,
}


async def _act(request: web.Request, action: str, run_id: str) -> str:
    """Do ``action`` to ``run_id`` as the API does, under the user's name."""
    console = console_of(request)
    done = await ACTIONS[action](console, run_id, console.actor(request))
    log.info("console_run_action", action=action, run_id=run_id, actor=console.actor(request))
    return done


def _action_of(request: web.Request) -> str:
    action = request.match_info["action"]
    if action not in ACTIONS:
        raise NotFoundError(f"no action {action!r}")
    return action


@requires(OPERATE)
async def act_on_run(request: web.Request) -> web.StreamResponse:
    run_id = request.match_info["run_id"]
    done = await _act(request, _action_of(request), run_id)
    await flash(request, f"{done[0].upper()}{done[1:]}.")
    return redirect(f"/runs/{run_id}")


@requires(OPERATE)
async def resend_item(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    run_id, item = request.match_info["run_id"], request.match_info["item_id"]
    if not item.isdigit() or len(item) > 18:
        raise NotFoundError(f"no item {item!r}")
    await console.api.batches.retry(run_id, int(item), by=console.actor(request))
    console.api.batches.on_queued()
    log.info("console_item_resent", run_id=run_id, item_id=int(item), actor=console.actor(request))
    await flash(request, f"Item {item} queued again.")
    return redirect(f"/runs/{run_id}")


@requires(OPERATE)
async def act_on_selection(request: web.Request) -> web.StreamResponse:
    """Retry or cancel each selected run, one by one; a run that refuses
    (still being fed, gone) is reported and the others still done."""
    form = await request.post()
    action = form.get("action")
    back = form.get("back")
    target = back if isinstance(back, str) and back.startswith("/runs") else "/runs"
    chosen = [value for value in form.getall("run", []) if isinstance(value, str)]
    if action not in ACTIONS:
        await flash(request, "Choose Retry failed or Cancel.", "error")
        return redirect(target)
    if not chosen:
        await flash(request, "Select at least one run.", "error")
        return redirect(target)
    if len(chosen) > MAX_SELECTED:
        await flash(request, f"Select at most {MAX_SELECTED} runs at a time.", "error")
        return redirect(target)
    outcomes: list[tuple[str, str]] = []
    for run_id in dict.fromkeys(chosen):
        if len(run_id) > 64 or not run_id.isprintable():
            outcomes.append(("error", "a selected run id is not one"))
            continue
        try:
            outcomes.append(("ok", f"{run_id}: {await _act(request, action, run_id)}"))
        except GatewayError as exc:
            outcomes.append(("error", f"{run_id}: {answer(exc).detail_of(exc)}"))
    await console_of(request).api.store.flash_console_session(session_of(request).digest, outcomes)
    return redirect(target)


def routes(console: Console) -> list[web.RouteDef]:
    return [
        web.get("/runs", list_runs),
        web.post("/runs/selection", act_on_selection),
        web.get("/runs/{run_id}", show_run),
        web.get("/runs/{run_id}/progress", progress),
        web.post("/runs/{run_id}/items/{item_id}/resend", resend_item),
        web.post("/runs/{run_id}/{action}", act_on_run),
    ]
