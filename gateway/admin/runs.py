"""``/v1/runs``: every run, newest first, and one run with its recipients."""

from __future__ import annotations

from aiohttp import web

from gateway.admin import Api, page_limit
from gateway.store import as_json

MAX_PAGE = 200


def routes(api: Api) -> list[web.RouteDef]:
    async def list_runs(request: web.Request) -> web.Response:
        query = request.query
        limit = page_limit(request, MAX_PAGE)
        if isinstance(limit, web.Response):
            return limit
        page = await api.store.list_runs(
            status=query.get("status"),
            email_type=query.get("type"),
            limit=limit,
            cursor=query.get("cursor"),
        )
        body: dict[str, object] = {"runs": [as_json(run) for run in page.runs]}
        if page.next_cursor:
            body["next_cursor"] = page.next_cursor
            body["next"] = str(request.rel_url.update_query(cursor=page.next_cursor))
        return web.json_response(body)

    async def show_run(request: web.Request) -> web.Response:
        run = await api.store.get_run(request.match_info["run_id"])
        return web.json_response(as_json(run))

    return [
        web.get("/v1/runs", api.protect(list_runs)),
        web.get("/v1/runs/{run_id}", api.protect(show_run)),
    ]
