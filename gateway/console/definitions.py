"""The Message definitions pages: every definition with its schedule and last
run; the form that creates or edits one; the preview of the email a chosen
customer would get, with a test send; and "run now" for a batch waiting in
the invoice spool.

A save is ``gateway.billing.definitions.apply``, as for ``herald definitions
apply`` and ``PUT /v1/definitions/{name}``, so a refusal reads the same
everywhere; here each error stands at its field (a template's with its line
and did-you-mean). A preview and a test send are ``Batches.draft`` and
``Batches.send_test``; run now is ``Batches.begin``, as for
``POST /v1/definitions/{name}/runs``, and leads to the run's page. The
preview's HTML is a document of its own under the email templates' preview
policy (``email_templates.preview_response``), shown in a sandboxed frame;
the zip's password is never part of a preview.
"""

from __future__ import annotations

import asyncio
import base64
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web
from markupsafe import escape

from gateway.billing.batches import Draft, spooled, spooled_batch
from gateway.billing.definitions import NAME, apply
from gateway.billing.scheduler import next_fire, utc_now
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
from gateway.console.email_templates import (
    Answer,
    fault_document,
    form_text_raw,
    place,
    preview_response,
)
from gateway.errors import InvalidInput, NotFoundError
from gateway.presenters import draft_json
from gateway.store import Definition, Run

log = structlog.get_logger(__name__)

SCOPE = "settings:manage"
OPERATE = "queue:operate"
NAV = (Link("Definitions", "/definitions", SCOPE),)
# The template fields, posted as typed but for the line endings.
TEMPLATES = ("subject", "text", "html")
# The most batches "run now" offers, the newest by name; the most customers
# the preview's list suggests (any other id may be typed).
BATCHES = 200
CUSTOMERS = 50
ZONES = sorted(zoneinfo.available_timezones())
_SPLIT = re.compile(r"[\s,]+")
# The form's one-line fields; with ``zip`` and ``TEMPLATES``, every field an
# error may stand at (any other error stands above the form).
FIELDS = (
    "name",
    "from_key",
    "recipient_key",
    "clusters",
    "attach",
    "zip_name",
    "zip_password",
    "schedule_cron",
    "schedule_timezone",
)
_AT = {*FIELDS, *TEMPLATES, "zip"}


@dataclass(frozen=True)
class Row:
    """One definition as the list shows it."""

    definition: Definition
    next_fire: str
    last_run: Run | None


def _batches(request: web.Request, name: str) -> list[str]:
    spool = console_of(request).api.services.config.runs.spool_dir
    return [p.name for p in reversed(spooled(spool, name)[-BATCHES:])]


def _spool(request: web.Request) -> Path:
    return console_of(request).api.services.config.runs.spool_dir


def form_of(definition: Definition | None) -> dict[str, str]:
    """The form's fields for ``definition`` (empty for a new one)."""
    if definition is None:
        return {"zip_name": "invoices.zip", "schedule_timezone": "UTC"}
    schedule = definition.schedule
    return {
        "name": definition.name,
        "from_key": definition.from_key,
        "recipient_key": definition.recipient_key,
        "clusters": ", ".join(definition.clusters),
        "attach": ", ".join(definition.attach),
        "zip": "on" if definition.zip else "",
        "zip_name": definition.zip_name,
        "zip_password": definition.zip_password or "",
        "subject": definition.subject,
        "text": definition.text,
        "html": definition.html or "",
        "schedule_cron": schedule.cron if schedule else "",
        "schedule_timezone": schedule.timezone if schedule else "UTC",
    }


def posted(form: Mapping[str, Any]) -> dict[str, str]:
    """The fields of a posted definition form, bounded; a template exactly
    as typed, with LF line ends (browsers post a textarea's in CR LF)."""
    values = {key: form_text(form, key, limit=2000) for key in FIELDS}
    values["zip"] = "on" if form.get("zip") == "on" else ""
    for key in TEMPLATES:
        values[key] = form_text_raw(form, key).replace("\r\n", "\n")
    return values


def document(values: Mapping[str, str]) -> dict[str, Any]:
    """The definition document the form's ``values`` stand for, as a TOML
    file for ``herald definitions apply`` would hold it."""
    data: dict[str, Any] = {
        "name": values["name"],
        "from_key": values["from_key"],
        "recipient_key": values["recipient_key"],
        "clusters": [c for c in _SPLIT.split(values["clusters"]) if c],
        "attach": [a for a in _SPLIT.split(values["attach"]) if a],
        "zip": values["zip"] == "on",
        "subject": values["subject"],
        "text": values["text"],
    }
    if values["html"].strip():
        data["html"] = values["html"]
    if values["zip_name"]:
        data["zip_name"] = values["zip_name"]
    if values["zip_password"]:
        data["zip_password"] = values["zip_password"]
    if values["schedule_cron"] or values["schedule_timezone"] not in ("", "UTC"):
        data["schedule"] = {
            "cron": values["schedule_cron"],
            "timezone": values["schedule_timezone"] or "UTC",
        }
    return data


def errors_at_fields(error: InvalidInput) -> dict[str, str]:
    """``error``'s messages at the form's fields: ``#/schedule/cron`` is the
    field ``schedule_cron``, ``#/clusters/2`` the field ``clusters``; a
    template's several faults stand together at its field."""
    fields = {}
    for pointer, _ in error.errors:
        key = pointer.removeprefix("#/")
        head, _, rest = key.partition("/")
        field = f"schedule_{rest or 'cron'}" if head == "schedule" else head
        fields[key] = field if field in _AT else "_form"
    found = field_errors(error, fields)
    for field in TEMPLATES:
        details = [d for p, d in error.errors if fields.get(p.removeprefix("#/")) == field]
        if len(details) > 1:
            found[field] = " · ".join(details)
    return found


async def _form_page(
    request: web.Request,
    definition: Definition | None,
    *,
    status: int = 200,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
) -> web.Response:
    console = console_of(request)
    senders = await console.api.store.list_senders()
    name = definition.name if definition else None
    return render(
        request,
        "definition.html",
        status=status,
        definition=definition,
        values=values or form_of(definition),
        errors=errors or {},
        senders=senders,
        zones=ZONES,
        batches=_batches(request, name) if name else [],
        customers=await _customers(request, definition) if definition else [],
        versions=await console.api.store.definition_versions(name) if name else [],
    )


async def _customers(request: web.Request, definition: Definition) -> list[str]:
    store = console_of(request).api.store
    found = await store.select_customers(definition.clusters, after=None, limit=CUSTOMERS)
    return [customer.id for customer in found]


async def _save(
    request: web.Request, definition: Definition | None, values: dict[str, str]
) -> web.StreamResponse:
    console = console_of(request)
    composer = console.api.services.composer
    try:
        saved = await apply(
            console.api.store,
            composer.templates,
            document(values),
            brand=await composer.brand(),
            actor=console.actor(request),
        )
    except InvalidInput as exc:
        return await _form_page(
            request, definition, status=422, values=values, errors=errors_at_fields(exc)
        )
    await flash(request, f"Saved {saved.name} as version {saved.version}.")
    return redirect(f"/definitions/{saved.name}")


def _local(at: datetime, definition: Definition) -> str:
    """A cron time as the schedule says it: in the definition's time zone."""
    zone = definition.schedule.timezone if definition.schedule else "UTC"
    return at.astimezone(zoneinfo.ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


# Pages


@requires(SCOPE)
async def list_page(request: web.Request) -> web.StreamResponse:
    store = console_of(request).api.store
    now = utc_now()
    rows = []
    for definition in await store.list_definitions():
        fire = next_fire(definition, now)
        # A definition's runs carry its name as their email type.
        last = await store.list_runs(email_type=definition.name, limit=1)
        rows.append(
            Row(
                definition,
                _local(fire, definition) if fire else "",
                last.runs[0] if last.runs else None,
            )
        )
    return render(request, "definitions.html", rows=rows)


@requires(SCOPE)
async def new_page(request: web.Request) -> web.StreamResponse:
    return await _form_page(request, None)


@requires(SCOPE)
async def create(request: web.Request) -> web.StreamResponse:
    values = posted(await request.post())
    existing = None
    if NAME.match(values["name"]):
        try:
            existing = await console_of(request).api.store.get_definition(values["name"])
        except NotFoundError:
            existing = None
    if existing is not None:
        errors = {"name": f"a definition {values['name']} exists already; edit it instead"}
        return await _form_page(request, None, status=422, values=values, errors=errors)
    return await _save(request, None, values)


@requires(SCOPE)
async def edit_page(request: web.Request) -> web.StreamResponse:
    definition = await _definition(request)
    return await _form_page(request, definition)


@requires(SCOPE)
async def save(request: web.Request) -> web.StreamResponse:
    definition = await _definition(request)
    values = posted(await request.post())
    # The name is the page's: a definition is renamed by making a new one.
    values["name"] = definition.name
    return await _save(request, definition, values)


@dataclass(frozen=True)
class Chosen:
    """The customer and batch a preview or a test send is for."""

    customer: str
    batch: str
    invoices: Path | None


async def _chosen(request: web.Request, source: Mapping[str, Any], name: str) -> Chosen:
    customer = form_text(source, "customer", limit=200)
    batch = form_text(source, "batch", limit=200)
    if not customer:
        raise InvalidInput("#/customer", "choose a customer")
    try:
        await console_of(request).api.store.get_customer(customer)
    except NotFoundError as exc:
        # Said at the field: the customer is what to change.
        raise InvalidInput("#/customer", str(exc)) from exc
    invoices = None
    if batch:
        invoices = await asyncio.to_thread(spooled_batch, _spool(request), name, batch)
    return Chosen(customer, batch, invoices)


async def _draft(request: web.Request, definition: Definition, source: Mapping[str, Any]) -> Draft:
    chosen = await _chosen(request, source, definition.name)
    return await console_of(request).api.batches.draft(
        definition.name, chosen.customer, chosen.invoices
    )


async def _preview_page(
    request: web.Request,
    definition: Definition,
    source: Mapping[str, Any],
    *,
    answer: Answer | None = None,
    status: int = 200,
) -> web.Response:
    values = {key: str(source.get(key, ""))[:320] for key in ("customer", "batch", "to")}
    shown: dict[str, Any] | None = None
    errors: dict[str, str] = {}
    if values["customer"]:
        try:
            shown = draft_json(await _draft(request, definition, source))
        except InvalidInput as exc:
            errors = field_errors(exc)
            status = 422
    return render(
        request,
        "definition_preview.html",
        status=status,
        definition=definition,
        values=values,
        errors=errors,
        shown=shown,
        answer=answer,
        customers=await _customers(request, definition),
        batches=_batches(request, definition.name),
    )


@requires(SCOPE)
async def preview_page(request: web.Request) -> web.StreamResponse:
    return await _preview_page(request, await _definition(request), request.query)


@requires(SCOPE)
async def preview_html(request: web.Request) -> web.StreamResponse:
    """The preview's HTML part, for the sandboxed frame."""
    definition = await _definition(request)
    try:
        draft = await _draft(request, definition, request.query)
    except InvalidInput as exc:
        return preview_response(
            fault_document(place(exc, {}), "This email cannot be shown:"), status=422
        )
    return preview_response(viewable(draft))


@requires(SCOPE)
async def send_test(request: web.Request) -> web.StreamResponse:
    definition = await _definition(request)
    form = await request.post()
    to = form_text(form, "to", limit=320)
    console = console_of(request)
    try:
        chosen = await _chosen(request, form, definition.name)
        diagnosis = await console.api.batches.send_test(
            console.api.store,
            console.api.services.config,
            definition.name,
            chosen.customer,
            to,
            chosen.invoices,
        )
    except InvalidInput as exc:
        answer = Answer(False, f"Not sent: {exc.detail}")
        return await _preview_page(request, definition, form, answer=answer, status=422)
    log.info("console_definition_test_sent", definition=definition.name, ok=diagnosis.ok)
    answer = Answer.of(diagnosis, to)
    return await _preview_page(
        request, definition, form, answer=answer, status=200 if diagnosis.ok else 502
    )


@requires(OPERATE)
async def run_now(request: web.Request) -> web.StreamResponse:
    definition = await _definition(request)
    form = await request.post()
    batch = form_text(form, "batch", limit=200)
    console = console_of(request)
    try:
        invoices = await asyncio.to_thread(spooled_batch, _spool(request), definition.name, batch)
    except InvalidInput as exc:
        return await _form_page(request, definition, status=422, errors={"run_batch": exc.detail})
    run_id, created = await console.api.batches.begin(definition.name, batch, invoices)
    log.info(
        "console_definition_run",
        definition=definition.name,
        batch=batch,
        run_id=run_id,
        created=created,
        actor=console.actor(request),
    )
    if created:
        await flash(request, f"Started {definition.name} for batch {batch}.")
    else:
        await flash(request, f"Batch {batch} already ran: this is its run; nothing more is sent.")
    return redirect(f"/runs/{run_id}")


async def _definition(request: web.Request) -> Definition:
    name = request.match_info["name"]
    if not NAME.match(name):
        raise NotFoundError(f"no message definition {name[:64]!r}")
    return await console_of(request).api.store.get_definition(name)


def viewable(draft: Draft) -> str:
    """The draft's HTML as a browser shows it outside a mail client: each
    ``cid:`` reference (RFC 2392) to an inline part becomes a ``data:`` URL
    of it. A draft without HTML shows its text."""
    message = draft.message.as_message()
    body = message.get_body(("html", "plain"))
    if not isinstance(body, EmailMessage):
        return ""
    if body.get_content_type() == "text/plain":
        return f"<!doctype html><pre>{escape(body.get_content())}</pre>"
    html = str(body.get_content())
    for part in message.walk():
        cid = part.get("Content-ID")
        payload = part.get_payload(decode=True)
        if cid and isinstance(payload, bytes) and part.get_content_maintype() == "image":
            encoded = base64.b64encode(payload).decode()
            html = html.replace(
                f"cid:{cid.strip('<>')}", f"data:{part.get_content_type()};base64,{encoded}"
            )
    return html


def routes(console: Console) -> list[web.RouteDef]:
    return [
        web.get("/definitions", list_page),
        web.get("/definitions/new", new_page),
        web.post("/definitions", create),
        web.get("/definitions/{name}", edit_page),
        web.post("/definitions/{name}", save),
        web.get("/definitions/{name}/preview", preview_page),
        web.get("/definitions/{name}/preview/html", preview_html),
        web.post("/definitions/{name}/send-test", send_test),
        web.post("/definitions/{name}/runs", run_now),
    ]
