"""Users and API tokens (admins only), and each user's own account page
(password and the optional TOTP second factor).

Users are checked by ``gateway.settings.users`` and tokens made by
``gateway.settings.tokens``, as ``herald users`` and ``herald tokens`` do;
every change is audited under the admin's name.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping

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
    session_of,
)
from gateway.errors import InvalidInput
from gateway.settings import tokens, users

NAV = (Link("Users & tokens", "/users", users.ADMIN), Link("My account", "/account", None))


async def _page(
    request: web.Request,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    secret: str | None = None,
    made: str | None = None,
) -> web.Response:
    store = console_of(request).api.store
    return render(
        request,
        "users.html",
        status=status,
        users=await store.list_console_users(),
        tokens=await store.list_admin_tokens(),
        roles=users.ROLE_TEXT,
        role_scopes=users.ROLES,
        scopes=tokens.SCOPES,
        errors=errors or {},
        values=values or {},
        secret=secret,
        made=made,
    )


@requires(users.ADMIN)
async def show(request: web.Request) -> web.StreamResponse:
    return await _page(request)


def _values(form: Mapping[str, object]) -> dict[str, str]:
    """What a refused form keeps: every text field but the secrets."""
    return {k: v for k, v in form.items() if isinstance(v, str) and k not in ("csrf", "password")}


@requires(users.ADMIN)
async def add_user(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    form = await request.post()
    try:
        user = users.new_user(
            form_text(form, "name", limit=64),
            form_text(form, "email", limit=254),
            form_text(form, "role", limit=32),
            form_text(form, "password", limit=users.MAX_PASSWORD),
        )
        await console.api.store.add_console_user(user, actor=console.actor(request))
    except InvalidInput as exc:
        return await _page(request, status=422, errors=field_errors(exc), values=_values(form))
    await flash(request, f"User {user.name} added as {user.role}.")
    return redirect("/users")


@requires(users.ADMIN)
async def change_user(request: web.Request) -> web.StreamResponse:
    """One change to one user: ``action`` is role, disable, enable or password."""
    console = console_of(request)
    store = console.api.store
    form = await request.post()
    name = request.match_info["name"]
    user = await store.get_console_user(name)
    action = form_text(form, "action", limit=16)
    me = session_of(request).user
    try:
        if action == "role":
            role = users.check_role(form_text(form, "role", limit=32))
            if user.name == me.name and role != users.ADMIN:
                raise InvalidInput("#/role", "you cannot take the admin role from yourself")
            changed, message = dataclasses.replace(user, role=role), f"{name} is now {role}."
        elif action in ("disable", "enable"):
            if user.name == me.name:
                raise InvalidInput("#/action", "you cannot disable yourself")
            changed = users.disabled(user, action == "disable")
            message = f"{name} is {action}d."
        elif action == "password":
            password = form_text(form, "password", limit=users.MAX_PASSWORD)
            changed, message = users.with_password(user, password), f"{name}'s password is reset."
        else:
            raise InvalidInput("#/action", "must be role, disable, enable or password")
        await store.update_console_user(changed, actor=console.actor(request))
    except InvalidInput as exc:
        errors = {f"{name}:{field}": text for field, text in field_errors(exc).items()}
        return await _page(request, status=422, errors=errors)
    await flash(request, message)
    return redirect("/users")


@requires(users.ADMIN)
async def make_token(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    form = await request.post()
    scopes = [value for value in form.getall("scope", []) if isinstance(value, str)]
    try:
        record, secret = tokens.new_token(form_text(form, "token_name", limit=64), scopes)
        await console.api.store.add_admin_token(
            record, tokens.digest(secret), actor=console.actor(request)
        )
    except InvalidInput as exc:
        errors = field_errors(exc, {"name": "token_name", "scopes": "scope"})
        errors = {("scope" if k.startswith("scopes/") else k): v for k, v in errors.items()}
        return await _page(request, status=422, errors=errors, values=_values(form))
    # Shown once, on this answer, never again: no redirect keeps it anywhere.
    return await _page(request, secret=secret, made=record.name)


@requires(users.ADMIN)
async def revoke_token(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    record = await console.api.store.revoke_admin_token(
        request.match_info["name"], actor=console.actor(request)
    )
    await flash(request, f"Token {record.name} revoked.")
    return redirect("/users")


async def _account(
    request: web.Request,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    totp_secret: str | None = None,
) -> web.Response:
    user = session_of(request).user
    return render(
        request,
        "account.html",
        status=status,
        errors=errors or {},
        totp_secret=totp_secret,
        totp_uri=users.totp_uri(user, totp_secret) if totp_secret else None,
        scopes=users.scopes_of(user.role),
    )


@requires(None)
async def account(request: web.Request) -> web.StreamResponse:
    return await _account(request)


@requires(None)
async def change_account(request: web.Request) -> web.StreamResponse:
    """The user's own password, and turning the second factor on or off."""
    console = console_of(request)
    store = console.api.store
    form = await request.post()
    user = await store.get_console_user(session_of(request).user.name)
    action = form_text(form, "action", limit=16)
    actor = console.actor(request)
    if action == "totp-start":
        return await _account(request, totp_secret=users.new_totp_secret())
    current = form_text(form, "current", limit=users.MAX_PASSWORD)
    if not await asyncio.to_thread(users.password_matches, user, current):
        errors = {"current": "is not your password"}
        secret = form_text(form, "totp_secret", limit=64) or None
        return await _account(request, status=422, errors=errors, totp_secret=secret)
    try:
        if action == "password":
            changed = users.with_password(
                user, form_text(form, "password", limit=users.MAX_PASSWORD)
            )
            await store.update_console_user(changed, actor=actor)
            # A new password ends every session; the user signs in again.
            return redirect("/sign-in")
        if action == "totp-on":
            secret = form_text(form, "totp_secret", limit=64)
            if not users.totp_matches(secret, form_text(form, "code", limit=16)):
                errors = {"code": "does not match; check the clock of your device"}
                return await _account(request, status=422, errors=errors, totp_secret=secret)
            await store.update_console_user(
                users.with_totp(user, console.vault, secret), actor=actor
            )
            await flash(request, "The second factor is on: sign-ins now ask for a code.")
        elif action == "totp-off":
            changed = users.with_totp(user, console.vault, None)
            await store.update_console_user(changed, actor=actor)
            await flash(request, "The second factor is off.")
        else:
            raise InvalidInput("#/action", "must be password, totp-start, totp-on or totp-off")
    except InvalidInput as exc:
        return await _account(request, status=422, errors=field_errors(exc))
    return redirect("/account")


def routes(console: Console) -> list[web.RouteDef]:
    return [
        web.get("/users", show),
        web.post("/users", add_user),
        web.post("/users/{name}", change_user),
        web.post("/tokens", make_token),
        web.post("/tokens/{name}/revoke", revoke_token),
        web.get("/account", account),
        web.post("/account", change_account),
    ]
