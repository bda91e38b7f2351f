"""``/v1/smtp``: how Herald reaches the mail server, changed at run time,
and ``/v1/senders/{key}/smtp``: a sender's own upstream."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aiohttp import web

from gateway.admin import Api, read_json
from gateway.errors import InvalidInput
from gateway.openapi import Json, json_body, operation, path_param
from gateway.queue import relay
from gateway.queue.routing import RoutingStore
from gateway.settings import smtp as smtp_settings

SCOPE = "settings:manage"
_SETTINGS = json_body({"type": "object"}, "The settings, secrets masked, and where they come from")
_KEY = path_param("key", "The sender's from key")


def _smtp_operations(whose: str, parameters: list[Json]) -> Json:
    return {
        "get": operation(
            f"{whose} SMTP settings", scope=SCOPE, ok={200: _SETTINGS}, parameters=parameters
        ),
        "patch": operation(
            f"Change {whose.lower()} SMTP settings",
            scope=SCOPE,
            ok={200: _SETTINGS},
            problems=(400, 422),
            parameters=parameters,
            body={"type": "object"},
        ),
        "delete": operation(
            f"Forget {whose.lower()} saved SMTP settings",
            scope=SCOPE,
            ok={200: _SETTINGS},
            parameters=parameters,
        ),
    }


OPENAPI: dict[str, Json] = {
    "/v1/smtp": _smtp_operations("The upstream", []),
    "/v1/smtp/test": {
        "post": operation(
            "Send a test message through the saved or proposed settings",
            scope=SCOPE,
            ok={200: json_body({"type": "object"}, "What the upstream answered")},
            problems=(400, 422),
            body={"type": "object"},
        )
    },
    "/v1/senders/{key}/smtp": _smtp_operations("A sender's own upstream", [_KEY]),
}


def routes(api: Api) -> list[web.RouteDef]:
    store: RoutingStore = api.store
    # The key file needs a restart to change, so the vault is opened once; the
    # rest of the configuration is read per request, as a reload leaves it.
    vault = smtp_settings.vault_for(api.services.config)

    async def setting_key(request: web.Request) -> str:
        key = request.match_info.get("key")
        if key is None:
            return smtp_settings.SETTING
        await store.get_sender(key)  # 404 for an unknown sender
        return smtp_settings.sender_setting(key)

    async def show(request: web.Request) -> web.Response:
        key = await setting_key(request)
        saved = await store.read_settings(key)
        if key in saved:
            return web.json_response(smtp_settings.public(saved[key], "saved"))
        if key != smtp_settings.SETTING:
            return web.json_response(smtp_settings.public(None, "none"))
        form, source = smtp_settings.chosen(saved, api.services.config, [])
        return web.json_response(smtp_settings.public(form, source))

    async def change(request: web.Request) -> web.Response:
        key = await setting_key(request)
        changes = await read_json(request)
        base = await smtp_settings.editable(store, api.services.config, vault, key)
        value = smtp_settings.apply(base, changes, vault)
        await smtp_settings.save(store, key, value, actor=api.actor_of(request))
        return web.json_response(smtp_settings.public(value, "saved"))

    async def reset(request: web.Request) -> web.Response:
        key = await setting_key(request)
        await smtp_settings.save(store, key, None, actor=api.actor_of(request))
        return await show(request)

    async def test(request: web.Request) -> web.Response:
        body = await read_json(request)
        proposed: Any = body.get("settings")
        if proposed is not None and not isinstance(proposed, dict):
            raise InvalidInput("#/settings", "must be an object of SMTP settings")
        try:
            diagnosis = await relay.smtp_test(
                store,
                api.services.config,
                mail_from=body.get("from"),
                to=body.get("to"),
                subject=body.get("subject", "Herald test message"),
                text=body.get("text", "This is a test message from Herald."),
                proposed=proposed,
            )
        except InvalidInput as exc:
            if exc.field.removeprefix("#/") in smtp_settings.CHANGEABLE:
                raise InvalidInput(f"#/settings/{exc.field[2:]}", exc.detail) from exc
            raise
        return web.json_response({"ok": diagnosis.ok, **asdict(diagnosis)})

    return [
        web.get("/v1/smtp", api.protect(show, scope=SCOPE)),
        web.patch("/v1/smtp", api.protect(change, scope=SCOPE)),
        web.delete("/v1/smtp", api.protect(reset, scope=SCOPE)),
        web.post("/v1/smtp/test", api.protect(test, scope=SCOPE)),
        web.get("/v1/senders/{key}/smtp", api.protect(show, scope=SCOPE)),
        web.patch("/v1/senders/{key}/smtp", api.protect(change, scope=SCOPE)),
        web.delete("/v1/senders/{key}/smtp", api.protect(reset, scope=SCOPE)),
    ]
