"""``/v1/tags`` and ``/v1/templates``: the tag catalog, template edits,
versions, previews and test sends."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.admin import Api, query_number, read_json
from gateway.content import mime
from gateway.content.composer import Composed
from gateway.content.templating import FILES
from gateway.errors import InvalidInput
from gateway.openapi import Json, json_body, operation, path_param, query_param
from gateway.presenters import (
    diagnosis_json,
    part_diff_json,
    template_summary_json,
    template_version_json,
)
from gateway.queue import relay
from gateway.queue.routing import RoutingStore

SCOPE = "templates:manage"
# The most versions one page of /v1/templates/{type}/versions holds.
MAX_VERSIONS = 500
_OBJECT: Json = {"type": "object"}
_TYPE = path_param("type", "The email type")


def _op(summary: str, *, write: bool = False, typed: bool = True, body: bool = True) -> Json:
    return operation(
        summary,
        scope=SCOPE,
        ok={200: json_body(_OBJECT, summary)},
        problems=(400, 404, 422) if write else (404,),
        parameters=[_TYPE] if typed else [],
        body=_OBJECT if write and body else None,
    )


OPENAPI: dict[str, Json] = {
    "/v1/tags": {"get": _op("The tag catalog", typed=False)},
    "/v1/tags/{type}": {"get": _op("The tags one email type may use")},
    "/v1/templates": {"get": _op("Every email type and the template in force", typed=False)},
    "/v1/templates/{type}": {
        "get": _op("The template in force for one email type"),
        "put": _op("Save a new version of a template", write=True),
    },
    "/v1/templates/{type}/versions": {
        "get": {
            **_op("Every saved version, newest first; with limit, a page of them"),
            "parameters": [
                _TYPE,
                query_param(
                    "limit",
                    f"At most this many versions (1 to {MAX_VERSIONS}); all when absent",
                    {"type": "integer", "minimum": 1, "maximum": MAX_VERSIONS},
                ),
                query_param(
                    "before",
                    "Only versions older than this one (the last version of the previous page)",
                    {"type": "integer", "minimum": 1},
                ),
            ],
        }
    },
    "/v1/templates/{type}/versions/{version}/diff": {
        "get": {
            **_op("What a version changed from the one before it, part by part"),
            "parameters": [
                _TYPE,
                path_param("version", "The version number"),
                query_param(
                    "against",
                    "Compare with this version instead (0: the shipped default)",
                    {"type": "integer", "minimum": 0},
                ),
            ],
        }
    },
    "/v1/templates/{type}/rollback": {"post": _op("Put an earlier version back", write=True)},
    "/v1/templates/{type}/reset": {
        "post": _op("Go back to the shipped template", write=True, body=False)
    },
    "/v1/templates/{type}/preview": {"post": _op("Render with sample data", write=True)},
    "/v1/templates/{type}/send-test": {"post": _op("Send a test message", write=True)},
}


def routes(api: Api) -> list[web.RouteDef]:
    routing: RoutingStore = api.store
    # The composer in force is read per request: a reload may replace it.

    async def list_tags(request: web.Request) -> web.Response:
        return web.json_response(
            {"types": [entry.as_json() for entry in api.services.composer.catalog.types.values()]}
        )

    async def type_tags(request: web.Request) -> web.Response:
        return web.json_response(api.services.composer.entry(request.match_info["type"]).as_json())

    async def list_templates(request: web.Request) -> web.Response:
        listed = [
            template_summary_json(summary) for summary in await api.services.composer.summaries()
        ]
        return web.json_response({"templates": listed})

    async def show_template(request: web.Request) -> web.Response:
        email_type = request.match_info["type"]
        api.services.composer.entry(email_type)
        parts, version = await api.services.composer.parts(email_type)
        body = {"type": email_type, "version": version, **{p: getattr(parts, p) for p in FILES}}
        return web.json_response(body)

    async def put_template(request: web.Request) -> web.Response:
        body = await read_json(request)
        draft = _draft(body)
        note = body.get("note", "")
        if not isinstance(note, str):
            raise InvalidInput("#/note", "must be a string")
        version = await api.services.composer.save(
            request.match_info["type"], note=note, actor=api.actor_of(request), **draft
        )
        return web.json_response(template_version_json(version))

    async def versions(request: web.Request) -> web.Response:
        # Absent, both mean "every version", as before paging existed.
        bounds: dict[str, int | None] = {"limit": None, "before": None}
        for name, maximum in (("limit", MAX_VERSIONS), ("before", 10**9)):
            if name in request.query:
                number = query_number(request, name, default=1, maximum=maximum)
                if isinstance(number, web.Response):
                    return number
                bounds[name] = number
        found = await api.services.composer.history(
            request.match_info["type"], before=bounds["before"], limit=bounds["limit"]
        )
        return web.json_response(
            {"versions": [template_version_json(version) for version in found]}
        )

    async def diff(request: web.Request) -> web.Response:
        version = _version_number(request.match_info["version"], "version")
        against = request.query.get("against")
        found = await api.services.composer.compare(
            request.match_info["type"],
            version,
            None if against is None else _version_number(against, "against"),
        )
        return web.json_response({"parts": [part_diff_json(d) for d in found]})

    async def rollback(request: web.Request) -> web.Response:
        body = await read_json(request)
        number = body.get("version")
        if isinstance(number, bool) or not isinstance(number, int):
            raise InvalidInput("#/version", "must be a version number")
        version = await api.services.composer.rollback(
            request.match_info["type"], number, actor=api.actor_of(request)
        )
        return web.json_response(template_version_json(version))

    async def reset(request: web.Request) -> web.Response:
        version = await api.services.composer.reset(
            request.match_info["type"], actor=api.actor_of(request)
        )
        return web.json_response(template_version_json(version))

    async def preview(request: web.Request) -> web.Response:
        body = await read_json(request)
        composed = await api.services.composer.preview(
            request.match_info["type"], _supplied(body), draft=_draft(body)
        )
        return web.json_response(_preview_json(composed))

    async def send_test(request: web.Request) -> web.Response:
        body = await read_json(request)
        to = body.get("to")
        diagnosis = await relay.template_test(
            routing, api.services.composer, request.match_info["type"], to, _supplied(body)
        )
        return web.json_response(
            diagnosis_json(str(to), diagnosis), status=200 if diagnosis.ok else 502
        )

    return [
        web.get("/v1/tags", api.protect(list_tags, scope=SCOPE)),
        web.get("/v1/tags/{type}", api.protect(type_tags, scope=SCOPE)),
        web.get("/v1/templates", api.protect(list_templates, scope=SCOPE)),
        web.get("/v1/templates/{type}", api.protect(show_template, scope=SCOPE)),
        web.put("/v1/templates/{type}", api.protect(put_template, scope=SCOPE)),
        web.get("/v1/templates/{type}/versions", api.protect(versions, scope=SCOPE)),
        web.get("/v1/templates/{type}/versions/{version}/diff", api.protect(diff, scope=SCOPE)),
        web.post("/v1/templates/{type}/rollback", api.protect(rollback, scope=SCOPE)),
        web.post("/v1/templates/{type}/reset", api.protect(reset, scope=SCOPE)),
        web.post("/v1/templates/{type}/preview", api.protect(preview, scope=SCOPE)),
        web.post("/v1/templates/{type}/send-test", api.protect(send_test, scope=SCOPE)),
    ]


def _version_number(text: str, name: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise InvalidInput(name, f"must be a version number, got {text!r}")
    return int(text)


def _draft(body: dict[str, Any]) -> dict[str, str]:
    """The template parts a request changes."""
    draft = {}
    for part in FILES:
        value = body.get(part)
        if value is not None and not isinstance(value, str):
            raise InvalidInput(f"#/{part}", "must be a string")
        if value is not None:
            draft[part] = value
    return draft


def _supplied(body: dict[str, Any]) -> dict[str, Any] | None:
    """Event-shaped sample values from a request, or None for the catalog's."""
    event = body.get("event")
    if event is not None and not isinstance(event, dict):
        raise InvalidInput("#/event", "must be an object with data and recipient")
    return event


def _preview_json(composed: Composed) -> dict[str, Any]:
    return {
        "type": composed.email_type,
        "version": composed.version,
        "subject": composed.subject,
        "html": composed.html,
        "text": composed.text,
        "mime": mime.to_bytes(composed.message).decode("utf-8", "replace"),
    }
