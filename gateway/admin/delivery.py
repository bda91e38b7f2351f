"""``/v1/delivery``: who receives each email type, changed at run time, and
the dry run that says who would receive an event."""

from __future__ import annotations

from aiohttp import web

from gateway import json_input
from gateway.admin import Api, read_json
from gateway.entrance import delivery
from gateway.entrance.delivery import DeliveryStore
from gateway.ingress import events
from gateway.openapi import Json, json_body, operation, path_param

SCOPE = "settings:manage"
_OBJECT: Json = {"type": "object"}
OPENAPI: dict[str, Json] = {
    "/v1/delivery": {
        "get": operation(
            "Who receives each email type", scope=SCOPE, ok={200: json_body(_OBJECT, "Policies")}
        )
    },
    "/v1/delivery/types/{type}": {
        "patch": operation(
            "Change who receives one email type",
            scope=SCOPE,
            ok={200: json_body(_OBJECT, "The policy as saved")},
            problems=(400, 404, 422),
            parameters=[path_param("type", "The email type")],
            body=_OBJECT,
        )
    },
    "/v1/delivery/admin": {
        "put": operation(
            "Set the admin's address",
            scope=SCOPE,
            ok={200: json_body(_OBJECT, "The address")},
            problems=(400, 422),
            body=_OBJECT,
        )
    },
    "/v1/delivery/dry-run": {
        "post": operation(
            "Who would receive this event, sending nothing",
            scope=SCOPE,
            ok={200: json_body(_OBJECT, "The recipients and why")},
            problems=(400, 422),
            body=_OBJECT,
        )
    },
}


def routes(api: Api) -> list[web.RouteDef]:
    store: DeliveryStore = api.store

    # Each handler reads the configuration in force when it runs: a reload
    # (SIGHUP) may have replaced it since the routes were built.
    async def show(request: web.Request) -> web.Response:
        services = api.services
        return web.json_response(
            await delivery.overview(store, services.config, services.templates)
        )

    async def change_type(request: web.Request) -> web.Response:
        email_type = request.match_info["type"]
        changes = await read_json(request)
        services = api.services
        policy = await delivery.set_type(
            store,
            services.config,
            services.templates,
            email_type,
            changes,
            actor=api.actor_of(request),
        )
        return web.json_response(
            {
                "type": email_type,
                "customers": policy.customers,
                "bcc_admin": policy.bcc_admin,
                "bcc": list(policy.bcc),
                "ignore_suppressions": policy.ignore_suppressions,
                "source": "saved",
            }
        )

    async def change_admin(request: web.Request) -> web.Response:
        body = await read_json(request)
        address = await delivery.set_admin(store, body.get("address"), actor=api.actor_of(request))
        return web.json_response({"admin": address})

    async def dry_run(request: web.Request) -> web.Response:
        # An event, read as the webhook reads one.
        body = await json_input.read(request, allow_nul=True)
        # An InvalidEvent reaches the problem middleware, which answers it as
        # the webhook does (gateway.decisions).
        answer = await events.dry_run(
            api.pipeline, body, mail_from=api.services.config.sender.address
        )
        return web.json_response(answer)

    return [
        web.get("/v1/delivery", api.protect(show, scope=SCOPE)),
        web.patch("/v1/delivery/types/{type}", api.protect(change_type, scope=SCOPE)),
        web.put("/v1/delivery/admin", api.protect(change_admin, scope=SCOPE)),
        web.post("/v1/delivery/dry-run", api.protect(dry_run, scope=SCOPE)),
    ]
