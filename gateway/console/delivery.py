"""Delivery configuration: per email type, whether the customer or reseller
receives it, whether the admin gets a BCC, and which other addresses do; and
for any type, who a sample email would reach and by which rule.

The checks and the saving are ``gateway.entrance.delivery``'s and the sample
is run through ``gateway.ingress.events.dry_run``, as ``herald delivery`` and
``/v1/delivery`` do. "BCC to me" is the admin's own address: when an admin
saves this page, the admin address becomes theirs.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway.config import TypePolicy
from gateway.console import (
    Console,
    Link,
    console_of,
    flash,
    redirect,
    render,
    requires,
    session_of,
)
from gateway.content.catalog import EmailType
from gateway.entrance import delivery
from gateway.errors import InvalidInput, NotFoundError
from gateway.ingress import events
from gateway.settings import users

SCOPE = "settings:manage"
NAV = (Link("Delivery", "/delivery", SCOPE),)
_SEPARATORS = re.compile(r"[\s,;]+")


def bcc_list(text: str) -> list[str]:
    """The addresses of a "BCC to" field: separated by commas, semicolons or spaces."""
    return [part for part in _SEPARATORS.split(text.strip()) if part]


def check_bcc(text: str) -> tuple[str, ...]:
    """The checked addresses of a "BCC to" field, by ``delivery.apply``'s rules;
    ``InvalidInput`` on ``#/bcc`` naming the first bad one."""
    if len(text) > 20_000:
        raise InvalidInput("#/bcc", "is too long")
    try:
        return delivery.apply(TypePolicy(), {"bcc": bcc_list(text)}).bcc
    except InvalidInput as exc:
        raise InvalidInput("#/bcc", exc.detail) from None


async def _rows(console: Console) -> tuple[dict[str, Any], dict[str, str]]:
    services = console.api.services
    shown = await delivery.overview(console.api.store, services.config, services.templates)
    catalog = services.composer.catalog
    descriptions = {name: entry.description for name, entry in catalog.types.items()}
    return shown, descriptions


async def _page(
    request: web.Request,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    posted: dict[str, Any] | None = None,
) -> web.Response:
    console = console_of(request)
    shown, descriptions = await _rows(console)
    rows = []
    for row in shown["types"]:
        email_type = row["type"]
        if posted is not None:
            row = {
                **row,
                "customers": posted.get(f"customers:{email_type}") == "on",
                "bcc_admin": posted.get(f"bcc_admin:{email_type}") == "on",
                "ignore_suppressions": posted.get(f"ignore_suppressions:{email_type}") == "on",
                "bcc_text": posted.get(f"bcc:{email_type}", ""),
            }
        else:
            row = {**row, "bcc_text": ", ".join(row["bcc"])}
        rows.append({**row, "description": descriptions.get(email_type, "")})
    user = session_of(request).user
    return render(
        request,
        "delivery.html",
        status=status,
        rows=rows,
        admin=shown["admin"],
        me=user.email if user.role == users.ADMIN else None,
        errors=errors or {},
    )


@requires(SCOPE)
async def show(request: web.Request) -> web.StreamResponse:
    return await _page(request)


@requires(SCOPE)
async def save(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    services = console.api.services
    form = await request.post()
    posted = {name: value for name, value in form.items() if isinstance(value, str)}
    shown, _ = await _rows(console)
    changes: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    for row in shown["types"]:
        email_type = row["type"]
        try:
            bcc = check_bcc(posted.get(f"bcc:{email_type}", ""))
        except InvalidInput as exc:
            errors[f"bcc:{email_type}"] = exc.detail
            continue
        wanted = {
            "customers": posted.get(f"customers:{email_type}") == "on",
            "bcc_admin": posted.get(f"bcc_admin:{email_type}") == "on",
            "bcc": list(bcc),
            "ignore_suppressions": posted.get(f"ignore_suppressions:{email_type}") == "on",
        }
        if any(wanted[name] != row[name] for name in delivery.CHANGEABLE):
            changes[email_type] = wanted
    if errors:
        return await _page(request, status=422, errors=errors, posted=posted)
    actor = console.actor(request)
    user = session_of(request).user
    # "BCC to me": the admin who ticks it is the admin the copies go to.
    if (
        user.role == users.ADMIN
        and shown["admin"] != user.email
        and any(policy["bcc_admin"] for policy in changes.values())
    ):
        await delivery.set_admin(console.api.store, user.email, actor=actor)
    for email_type, wanted in changes.items():
        await delivery.set_type(
            console.api.store, services.config, services.templates, email_type, wanted, actor=actor
        )
    if changes:
        await flash(request, f"Saved: {', '.join(sorted(changes))}.")
    else:
        await flash(request, "Nothing changed.")
    return redirect("/delivery")


@requires(SCOPE)
async def check(request: web.Request) -> web.StreamResponse:
    """What the "BCC to" field's value would be refused for, as it is typed."""
    try:
        check_bcc(request.query.get("value", ""))
    except InvalidInput as exc:
        return web.json_response({"error": exc.detail})
    return web.json_response({"error": None})


def sample_event(entry: EmailType) -> dict[str, Any]:
    """An event of ``entry``'s type made of the catalog's example values."""
    sample = entry.sample()
    recipient = {
        "kind": "customer",
        "id": "cus_sample",
        "name": "",
        "email": "customer@example.com",
        **{k: v for k, v in sample["recipient"].items() if isinstance(v, str)},
    }
    return {
        "id": f"evt_sample_{int(time.time())}",
        "type": entry.name,
        "occurred_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "recipient": recipient,
        "data": sample["data"],
    }


@requires(SCOPE)
async def recipients(request: web.Request) -> web.StreamResponse:
    """Who a sample email of one type would reach, and the rule for each."""
    console = console_of(request)
    services = console.api.services
    email_type = request.match_info["type"]
    delivery.check_type(email_type, services.templates)
    try:
        entry = services.composer.catalog.get(email_type)
    except NotFoundError:
        entry = EmailType(email_type, "", ())
    event = sample_event(entry)
    answer = await events.dry_run(
        console.api.pipeline, event, mail_from=services.config.sender.address
    )
    return render(
        request, "delivery_recipients.html", email_type=email_type, event=event, answer=answer
    )


def routes(console: Console) -> list[web.RouteDef]:
    return [
        web.get("/delivery", show),
        web.post("/delivery", save),
        web.get("/delivery/check-bcc", check),
        web.get("/delivery/types/{type}/recipients", recipients),
    ]
