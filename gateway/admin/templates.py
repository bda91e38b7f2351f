"""``/v1/tags`` and ``/v1/templates``: the tag catalog, template edits,
versions, previews and test sends."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.admin import Api, read_json
from gateway.content import mime
from gateway.content.composer import Composed
from gateway.content.templating import FILES
from gateway.errors import InvalidInput
from gateway.openapi import Json, json_body, operation, path_param
from gateway.presenters import diagnosis_json, template_version_json
from gateway.queue import relay

SCOPE = "templates:manage"
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
    "/v1/templates/{type}/versions": {"get": _op("Every saved version, newest first")},
    "/v1/templates/{type}/rollback": {"post": _op("Put an earlier version back", write=True)},
    "/v1/templates/{type}/reset": {
        "post": _op("Go back to the shipped template", write=True, body=False)
    },
    "/v1/templates/{type}/preview": {"post": _op("Render with sample data", write=True)},
    "/v1/templates/{type}/send-test": {"post": _op("Send a test message", write=True)},
}


def routes(api: Api) -> list[web.RouteDef]:
    # The composer in force is read per request: a reload may replace it.

    async def list_tags(request: web.Request) -> web.Response:
        return web.json_response(
            {"types": [entry.as_json() for entry in api.services.composer.catalog.types.values()]}
        )

    async def type_tags(request: web.Request) -> web.Response:
        return web.json_response(api.services.composer.entry(request.match_info["type"]).as_json())

    async def list_templates(request: web.Request) -> web.Response:
        listed = []
        for name in api.services.composer.catalog.names():
            current = await api.store.current_template(name)
            listed.append(
                {
                    "type": name,
                    "shipped": api.services.composer.templates.has(name),
                    "version": current.version if current else None,
                }
            )
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
        version = await api.services.composer.save(request.match_info["type"], note=note, **draft)
        return web.json_response(template_version_json(version))

    async def versions(request: web.Request) -> web.Response:
        found = await api.services.composer.history(request.match_info["type"])
        return web.json_response(
            {"versions": [template_version_json(version) for version in found]}
        )

    async def rollback(request: web.Request) -> web.Response:
        body = await read_json(request)
        number = body.get("version")
        if isinstance(number, bool) or not isinstance(number, int):
            raise InvalidInput("#/version", "must be a version number")
        version = await api.services.composer.rollback(request.match_info["type"], number)
        return web.json_response(template_version_json(version))

    async def reset(request: web.Request) -> web.Response:
        version = await api.services.composer.reset(request.match_info["type"])
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
        if not isinstance(to, str):
            raise InvalidInput("#/to", "must be an email address")
        composer = api.services.composer
        content = await composer.test_message(request.match_info["type"], to, _supplied(body))
        config = composer.config
        diagnosis = await relay.send_test(
            api.store, config, content, mail_from=config.sender.address, to=to
        )
        return web.json_response(diagnosis_json(to, diagnosis), status=200 if diagnosis.ok else 502)

    return [
        web.get("/v1/tags", api.protect(list_tags, scope=SCOPE)),
        web.get("/v1/tags/{type}", api.protect(type_tags, scope=SCOPE)),
        web.get("/v1/templates", api.protect(list_templates, scope=SCOPE)),
        web.get("/v1/templates/{type}", api.protect(show_template, scope=SCOPE)),
        web.put("/v1/templates/{type}", api.protect(put_template, scope=SCOPE)),
        web.get("/v1/templates/{type}/versions", api.protect(versions, scope=SCOPE)),
        web.post("/v1/templates/{type}/rollback", api.protect(rollback, scope=SCOPE)),
        web.post("/v1/templates/{type}/reset", api.protect(reset, scope=SCOPE)),
        web.post("/v1/templates/{type}/preview", api.protect(preview, scope=SCOPE)),
        web.post("/v1/templates/{type}/send-test", api.protect(send_test, scope=SCOPE)),
    ]


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
