"""``/v1/runs``: every run, newest first, and one run with its recipients."""

from __future__ import annotations

from aiohttp import web

from gateway.admin import Api, page_limit, query_choice, query_number
from gateway.decisions import ProblemType
from gateway.errors import InvalidInput, NotFoundError
from gateway.openapi import Json, json_body, operation, path_param, query_param, simple
from gateway.presenters import run_json
from gateway.problems import problem
from gateway.store import ITEM_STATUSES, RUN_STATUSES, RunStore, run_filter

MAX_PAGE = 200
# A definition run may have 100,000 items: show the first ones unless asked.
DEFAULT_ITEMS = 1000
MAX_ITEMS = 1_000_000
SCOPE = "runs:read"
OPERATE = "queue:operate"
_STATUS: Json = {"type": "string", "enum": list(RUN_STATUSES)}
_VALUE: Json = {"type": "string", "maxLength": run_filter.MAX_VALUE}
_RUN: Json = {"type": "object", "required": ["id", "status"]}
OPENAPI: dict[str, Json] = {
    "/v1/runs": {
        "get": operation(
            "Runs, newest first",
            scope=SCOPE,
            ok={
                200: json_body(
                    {"type": "object", "properties": {"runs": {"type": "array", "items": _RUN}}},
                    "A page of runs; next links the following one",
                )
            },
            problems=(400,),
            parameters=[
                query_param(
                    "status",
                    "Only runs with this status",
                    {"type": "string", "enum": list(RUN_STATUSES)},
                ),
                query_param("type", "Only runs of this email type", _VALUE),
                query_param("definition", "Only runs of this message definition", _VALUE),
                query_param("to", "Only runs with a recipient at this address (any case)", _VALUE),
                query_param(
                    "after", "Only runs made at or after this date or RFC 3339 time", _VALUE
                ),
                query_param("before", "Only runs made before this date or RFC 3339 time", _VALUE),
                query_param(
                    "q",
                    "A query of key:value terms (to: status: type: definition: after: before:),"
                    " as the console's query box takes it",
                    {"type": "string", "maxLength": run_filter.MAX_QUERY},
                ),
                query_param(
                    "limit", "Page size", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}
                ),
                query_param(
                    "cursor", "From the next_cursor of the previous page", {"type": "string"}
                ),
            ],
        )
    },
    "/v1/runs/{run_id}": {
        "get": operation(
            "One run with its recipients and history",
            scope=SCOPE,
            ok={200: json_body(_RUN, "The run")},
            problems=(404,),
            parameters=[path_param("run_id", "The run id")],
        )
    },
}
OPENAPI |= simple(
    OPERATE,
    ("post", "/v1/runs/{run_id}/retry", "Queue the run's failed items again"),
    ("post", "/v1/runs/{run_id}/cancel", "Cancel the run's pending items"),
    ("post", "/v1/runs/{run_id}/items/{item_id}/resend", "Queue one item again"),
)


def routes(api: Api) -> list[web.RouteDef]:
    store: RunStore = api.store

    async def list_runs(request: web.Request) -> web.Response:
        query = request.query
        limit = page_limit(request, MAX_PAGE)
        if isinstance(limit, web.Response):
            return limit
        try:
            where = run_filter.from_fields(
                ((key, query[key]) for key in run_filter.KEYS if key in query),
                query.get("q", ""),
            )
        except InvalidInput as exc:
            return problem(
                400,
                f"the runs filter is not understood: {exc.detail}",
                kind=ProblemType.INVALID_QUERY,
                errors=[(pointer.removeprefix("#/"), detail) for pointer, detail in exc.errors],
            )
        page = await api.store.list_runs(where=where, limit=limit, cursor=query.get("cursor"))
        body: dict[str, object] = {"runs": [run_json(run) for run in page.runs]}
        if page.next_cursor:
            body["next_cursor"] = page.next_cursor
            body["next"] = str(request.rel_url.update_query(cursor=page.next_cursor))
        return web.json_response(body)

    async def show_run(request: web.Request) -> web.Response:
        limit = query_number(request, "items", default=DEFAULT_ITEMS, minimum=0, maximum=MAX_ITEMS)
        if isinstance(limit, web.Response):
            return limit
        item_status = query_choice(request, "item_status", ITEM_STATUSES)
        if isinstance(item_status, web.Response):
            return item_status
        run = await api.store.get_run(
            request.match_info["run_id"],
            item_status=item_status,
            item_limit=limit,
        )
        return web.json_response(run_json(run))

    async def retry_run(request: web.Request) -> web.Response:
        queued = await api.batches.retry(request.match_info["run_id"], by=api.actor_of(request))
        api.batches.on_queued()
        return web.json_response({"queued": queued})

    async def cancel_run(request: web.Request) -> web.Response:
        skipped = await store.cancel_run(request.match_info["run_id"], by=api.actor_of(request))
        return web.json_response({"skipped": skipped})

    async def resend_item(request: web.Request) -> web.Response:
        item = request.match_info["item_id"]
        if not item.isdigit():
            raise NotFoundError(f"no item {item!r}")
        await api.batches.retry(request.match_info["run_id"], int(item), by=api.actor_of(request))
        api.batches.on_queued()
        return web.json_response({"queued": 1}, status=202)

    return [
        web.get("/v1/runs", api.protect(list_runs, scope=SCOPE)),
        web.get("/v1/runs/{run_id}", api.protect(show_run, scope=SCOPE)),
        web.post("/v1/runs/{run_id}/retry", api.protect(retry_run, scope=OPERATE)),
        web.post("/v1/runs/{run_id}/cancel", api.protect(cancel_run, scope=OPERATE)),
        web.post(
            "/v1/runs/{run_id}/items/{item_id}/resend", api.protect(resend_item, scope=OPERATE)
        ),
    ]
