"""SMTP configuration: the upstream Herald sends through, each sender's own
upstream, and a test send that shows what ``herald smtp test`` diagnoses.

The checks and the saving are ``gateway.settings.smtp``'s, the same the
admin API and the CLI use; the password is write-only: the page only says
whether one is set, and an empty password field keeps it.
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
    session_of,
)
from gateway.errors import InvalidInput
from gateway.queue import relay
from gateway.queue.diagnosis import Diagnosis
from gateway.settings import smtp as smtp_settings

SCOPE = "settings:manage"
NAV = (Link("SMTP", "/smtp", SCOPE),)
SECURITY_CHOICES = (
    ("none", "None (plain SMTP)"),
    ("starttls", "STARTTLS"),
    ("tls", "Implicit TLS (SMTPS)"),
)


async def _key(request: web.Request) -> tuple[str, str | None]:
    """The setting this page edits, and the sender whose it is (None: the main one)."""
    sender = request.match_info.get("key")
    if sender is None:
        return smtp_settings.SETTING, None
    await console_of(request).api.store.get_sender(sender)  # NotFoundError: a 404 page
    return smtp_settings.sender_setting(sender), sender


async def _page(
    request: web.Request,
    *,
    status: int = 200,
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
    diagnosis: Diagnosis | None = None,
    test_open: bool = False,
) -> web.Response:
    console = console_of(request)
    store = console.api.store
    config = console.api.services.config
    key, sender = await _key(request)
    saved = await store.read_settings(key)
    if key in saved:
        shown = smtp_settings.public(saved[key], "saved")
    elif sender is None:
        form, source = smtp_settings.chosen(saved, config, [])
        shown = smtp_settings.public(form, source)
    else:
        shown = smtp_settings.public(None, "none")
    senders = await store.list_senders()
    own = await smtp_settings.sender_upstreams(store)
    sender_identity = next((s for s in senders if s.key == sender), None)
    return render(
        request,
        "smtp.html",
        status=status,
        settings=shown,
        sender=sender,
        action=f"/smtp/senders/{sender}" if sender else "/smtp",
        security_choices=SECURITY_CHOICES,
        senders=senders,
        own=own,
        errors=dict(errors or {}),
        values=dict(values or {}),
        diagnosis=diagnosis,
        test_open=test_open or diagnosis is not None,
        test_from=sender_identity.address if sender_identity else config.sender.address,
        test_to=session_of(request).user.email,
    )


@requires(SCOPE)
async def show(request: web.Request) -> web.StreamResponse:
    return await _page(request)


def changes_of(form: Mapping[str, Any]) -> dict[str, Any]:
    """The form's fields as ``smtp_settings.apply`` takes them."""
    auth = form.get("auth") == "on"
    changes: dict[str, Any] = {
        "host": form_text(form, "host", limit=255),
        "port": form_text(form, "port", limit=8),
        "security": form_text(form, "security", limit=16),
        "verify": form.get("verify") == "on",
        "auth": auth,
    }
    if auth:
        changes["login"] = form_text(form, "login", limit=512)
        password = form_text(form, "password", limit=512)
        # Write-only: an empty field keeps the password that is saved.
        if password:
            changes["password"] = password
    return changes


@requires(SCOPE)
async def save(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    form = await request.post()
    key, sender = await _key(request)
    values = {name: value for name, value in form.items() if name not in ("password", "csrf")}
    try:
        vault = console.vault
        base = await smtp_settings.editable(
            console.api.store, console.api.services.config, vault, key
        )
        value = smtp_settings.apply(base, changes_of(form), vault)
        await smtp_settings.save(console.api.store, key, value, actor=console.actor(request))
    except InvalidInput as exc:
        return await _page(request, status=422, errors=field_errors(exc), values=values)
    whose = f"mail from sender {sender}" if sender else "mail"
    await flash(request, f"Saved: {whose} now goes through {smtp_settings.describe(value)}.")
    return redirect(f"/smtp/senders/{sender}" if sender else "/smtp")


@requires(SCOPE)
async def reset(request: web.Request) -> web.StreamResponse:
    """Forget the saved settings: the configuration's upstream (or, for a
    sender, the main one) applies again."""
    console = console_of(request)
    key, sender = await _key(request)
    await smtp_settings.save(console.api.store, key, None, actor=console.actor(request))
    await flash(request, "The saved settings are forgotten.")
    return redirect(f"/smtp/senders/{sender}" if sender else "/smtp")


@requires(SCOPE)
async def test(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    form = await request.post()
    values = {name: value for name, value in form.items() if name != "csrf"}
    try:
        diagnosis = await relay.smtp_test(
            console.api.store,
            console.api.services.config,
            mail_from=form_text(form, "from", limit=254),
            to=form_text(form, "to", limit=254),
            subject=form_text(form, "subject", limit=998) or "Herald test message",
            text=form_text(form, "text", limit=100_000) or "This is a test message from Herald.",
        )
    except InvalidInput as exc:
        errors = {f"test_{name}": text for name, text in field_errors(exc).items()}
        return await _page(request, status=422, errors=errors, values=values, test_open=True)
    return await _page(request, values=values, diagnosis=diagnosis)


def routes(console: Console) -> list[web.RouteDef]:
    return [
        web.get("/smtp", show),
        web.post("/smtp", save),
        web.post("/smtp/test", test),
        web.post("/smtp/reset", reset),
        web.get("/smtp/senders/{key}", show),
        web.post("/smtp/senders/{key}", save),
        web.post("/smtp/senders/{key}/reset", reset),
    ]
