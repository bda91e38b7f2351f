"""``/v1/smtp-users``: SMTP AUTH logins. Passwords go in, never come out."""

from __future__ import annotations

import asyncio

from aiohttp import web

from gateway.admin import Api, read_json
from gateway.errors import InvalidInput
from gateway.openapi import Json, json_body, operation, path_param, ref
from gateway.settings.smtp_users import check_name, describe, remove, save, smtp_user
from gateway.store import AccountStore

SCOPE = "settings:manage"
_DOMAINS: Json = {"type": "array", "items": {"type": "string"}}
SCHEMAS: dict[str, Json] = {
    "SMTPUser": {
        "type": "object",
        "required": ["name", "sender_domains", "recipient_domains"],
        "properties": {
            "name": {"type": "string"},
            "sender_domains": _DOMAINS,
            "recipient_domains": _DOMAINS,
        },
    }
}
_NAME = path_param("name", "The login name")
OPENAPI: dict[str, Json] = {
    "/v1/smtp-users": {
        "get": operation(
            "Every SMTP login, never a password",
            scope=SCOPE,
            ok={
                200: json_body(
                    {
                        "type": "object",
                        "properties": {"smtp_users": {"type": "array", "items": ref("SMTPUser")}},
                    },
                    "The logins",
                )
            },
        )
    },
    "/v1/smtp-users/{name}": {
        "put": operation(
            "Create or replace an SMTP login; the password is kept as an scrypt hash",
            scope=SCOPE,
            ok={200: json_body(ref("SMTPUser"), "The login as saved")},
            problems=(400, 422),
            parameters=[_NAME],
            body={
                "type": "object",
                "required": ["password"],
                "properties": {
                    "password": {"type": "string", "minLength": 12},
                    "sender_domains": _DOMAINS,
                    "recipient_domains": _DOMAINS,
                },
            },
        ),
        "delete": operation(
            "Remove an SMTP login",
            scope=SCOPE,
            ok={204: {"description": "Removed"}},
            problems=(404, 422),
            parameters=[_NAME],
        ),
    },
}


def _list(body: dict[str, object], key: str) -> list[object]:
    value = body.get(key, [])
    if not isinstance(value, list):
        raise InvalidInput(f"#/{key}", "must be a list of domain names")
    return value


def routes(api: Api) -> list[web.RouteDef]:
    store: AccountStore = api.store

    async def list_users(request: web.Request) -> web.Response:
        users = await store.list_smtp_users()
        return web.json_response({"smtp_users": [describe(user) for user in users]})

    async def put_user(request: web.Request) -> web.Response:
        body = await read_json(request)
        password = body.get("password")
        if not isinstance(password, str):
            raise InvalidInput("#/password", "must be a string")
        # scrypt is slow on purpose: hash in a thread, not on the event loop.
        user = await asyncio.to_thread(
            smtp_user,
            request.match_info["name"],
            password,
            _list(body, "sender_domains"),
            _list(body, "recipient_domains"),
        )
        await save(store, user, actor=api.actor_of(request))
        return web.json_response(describe(user))

    async def delete_user(request: web.Request) -> web.Response:
        await remove(store, check_name(request.match_info["name"]), actor=api.actor_of(request))
        return web.Response(status=204)

    return [
        web.get("/v1/smtp-users", api.protect(list_users, scope=SCOPE)),
        web.put("/v1/smtp-users/{name}", api.protect(put_user, scope=SCOPE)),
        web.delete("/v1/smtp-users/{name}", api.protect(delete_user, scope=SCOPE)),
    ]
