"""Senders: every from key with its address, display name and own upstream,
and the forms that add, change and remove one.

The checks, the saving and the removal are ``gateway.settings.senders``'s,
the same ``/v1/senders`` and ``herald senders`` use: a sender that a
definition sends from is not removed, and the refusal names the definitions.
A sender's own upstream is edited on the SMTP page (``/smtp/senders/KEY``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from gateway.console import (
    Console,
    Link,
    console_of,
    field_errors,
    flash,
    form_text,
    redirect,
    render,
    requires,
)
from gateway.errors import InvalidInput
from gateway.settings import senders as sender_settings
from gateway.settings import smtp as smtp_settings

SCOPE = "settings:manage"
NAV = (Link("Senders", "/senders", SCOPE),)


async def _page(
    request: web.Request,
    *,
    status: int = 200,
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
) -> web.Response:
    """The senders page, or one sender's (``/senders/{key}``)."""
    store = console_of(request).api.store
    key = request.match_info.get("key")
    sender = await store.get_sender(key) if key is not None else None
    return render(
        request,
        "senders.html",
        status=status,
        senders=await store.list_senders(),
        own=await smtp_settings.sender_upstreams(store),
        sender=sender,
        errors=dict(errors or {}),
        values=dict(values or {}),
    )


@requires(SCOPE)
async def show(request: web.Request) -> web.StreamResponse:
    return await _page(request)


@requires(SCOPE)
async def save(request: web.Request) -> web.StreamResponse:
    """Add a sender (``/senders``) or change one (``/senders/{key}``)."""
    console = console_of(request)
    form = await request.post()
    values = {name: value for name, value in form.items() if name != "csrf"}
    key = request.match_info.get("key")
    try:
        identity = sender_settings.sender(
            key if key is not None else form_text(form, "key", limit=64),
            form_text(form, "address", limit=254),
            form_text(form, "name", limit=200),
        )
        if key is not None:
            await console.api.store.get_sender(key)  # NotFoundError: a 404 page
        await sender_settings.save(console.api.store, identity, actor=console.actor(request))
    except InvalidInput as exc:
        return await _page(request, status=422, errors=field_errors(exc), values=values)
    await flash(request, f"Saved: sender {identity.key} is {identity.name} <{identity.address}>.")
    return redirect("/senders")


@requires(SCOPE)
async def remove(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    key = request.match_info["key"]
    try:
        await sender_settings.remove(console.api.store, key, actor=console.actor(request))
    except InvalidInput as exc:
        return await _page(request, status=422, errors={"remove": exc.detail})
    await flash(request, f"Sender {key} is removed.")
    return redirect("/senders")


def routes(console: Console) -> list[web.RouteDef]:
    return [
        web.get("/senders", show),
        web.post("/senders", save),
        web.get("/senders/{key}", show),
        web.post("/senders/{key}", save),
        web.post("/senders/{key}/remove", remove),
    ]
