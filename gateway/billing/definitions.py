"""Message definitions: what a run sends, to whom, from whom, and when.

A definition is written in TOML for ``herald definitions apply`` and as the
same document in JSON for ``PUT /v1/definitions/{name}``::

    name = "monthly-invoice"
    from_key = "billing"
    recipient_key = "invoice"
    clusters = ["eu"]
    attach = ["pdf", "csv"]
    zip = true
    zip_password = "{{ customer.fields.vat_id }}"
    subject = "Your invoice {{ invoice.number }}"
    text = "..."
    html = "..."
    [schedule]
    cron = "0 6 1 * *"
    timezone = "Europe/Amsterdam"
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Protocol

import jinja2
import structlog
from croniter import croniter
from jinja2 import nodes

from gateway.addresses import check_encoded_words
from gateway.billing.batches import (
    FIELDS,
    PARTS,
    ROOTS,
    parsed,
    sample_invoice,
    template_name,
    template_values,
)
from gateway.brand import DEFAULTS
from gateway.content.composer import inline_css
from gateway.content.templating import InvalidTemplate, TemplateError, Templates
from gateway.errors import InvalidInput, NotFoundError
from gateway.settings.senders import KEY
from gateway.store import BillingStore, Customer, Definition, Schedule, SenderStore

log = structlog.get_logger(__name__)

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_KEYS = {
    "name",
    "from_key",
    "recipient_key",
    "clusters",
    "subject",
    "text",
    "html",
    "attach",
    "zip",
    "zip_name",
    "zip_password",
    "schedule",
}
_NAMING = "must be 1-64 lower-case letters, digits, '.', '_' or '-'"


def definition(data: Mapping[str, Any], templates: Templates) -> Definition:
    """A validated ``Definition``, or ``InvalidInput`` naming the bad key."""
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise InvalidInput(f"#/{unknown[0]}", "is not a definition key")
    name = _named(data, "name", NAME)
    from_key = _named(data, "from_key", KEY)
    recipient_key = _named(data, "recipient_key", NAME)
    clusters = _names(data, "clusters")
    if not clusters:
        raise InvalidInput("#/clusters", "must name at least one customer cluster")
    attach = _names(data, "attach")
    zipped = data.get("zip", False)
    if not isinstance(zipped, bool):
        raise InvalidInput("#/zip", "must be true or false")
    password = data.get("zip_password")
    if password is not None and not (zipped and isinstance(password, str) and password.strip()):
        raise InvalidInput("#/zip_password", "must be a template string, and needs zip = true")
    if zipped and not attach:
        raise InvalidInput("#/zip", "needs documents to zip: name them in attach")
    zip_name = data.get("zip_name", "invoices.zip")
    if not isinstance(zip_name, str) or not zip_name.strip() or "\n" in zip_name:
        raise InvalidInput("#/zip_name", "must be a one-line file name template")
    texts = {}
    for key in ("subject", "text", "html", "zip_password", "zip_name"):
        value = data.get(key, zip_name if key == "zip_name" else None)
        if value is None and key in ("subject", "text"):
            raise InvalidInput(f"#/{key}", "is required")
        if value is not None and not isinstance(value, str):
            raise InvalidInput(f"#/{key}", "must be a template string")
        texts[key] = value
    checked = Definition(
        name=name,
        from_key=from_key,
        recipient_key=recipient_key,
        clusters=clusters,
        subject=texts["subject"] or "",
        text=texts["text"] or "",
        html=texts["html"],
        attach=attach,
        zip=zipped,
        zip_name=zip_name,
        zip_password=password,
        schedule=_schedule(data.get("schedule")),
    )
    for key in ("subject", "zip_name"):
        # A subject (or a file name) whose own text hides a line break in an
        # encoded word would fail every message of every run; what it
        # renders to is checked again for each message as it is queued.
        try:
            check_encoded_words(texts[key] or "", "the template")
        except ValueError as exc:
            raise InvalidInput(f"#/{key}", str(exc)) from exc
    lint(checked, templates)
    return checked


def lint(checked: Definition, templates: Templates) -> None:
    """Refuse ``checked`` with ``InvalidTemplate`` listing every fault of its
    templates: syntax errors with the line, missing layouts, and tags a
    definition's templates cannot see (with a did-you-mean)."""
    errors: list[tuple[str, str]] = []
    sources = {part: getattr(checked, part) for part in PARTS if getattr(checked, part)}
    for part, source in sources.items():
        name = template_name(checked.name, part)
        try:
            tree = templates.env.parse(source, name=name)
            templates.render_string(name, source, None)
        except jinja2.TemplateSyntaxError as exc:
            errors.append((f"#/{part}", f"{name}, line {exc.lineno}: {exc.message}"))
            continue
        except TemplateError as exc:
            errors.append((f"#/{part}", str(exc)))
            continue
        for tag, line in templates.tags(tree, ROOTS):
            hint = _unknown(tag)
            if hint is not None:
                errors.append((f"#/{part}", f"{name}, line {line}: unknown tag {tag}{hint}"))
    if errors:
        raise InvalidTemplate(errors)


def trial(
    checked: Definition, templates: Templates, brand: Mapping[str, Any], customer: Customer
) -> None:
    """Refuse ``checked`` with ``InvalidTemplate`` when its templates fail to
    render for ``customer`` with sample invoice data and the brand in force."""
    errors: list[tuple[str, str]] = []
    sources = {part: getattr(checked, part) for part in PARTS if getattr(checked, part)}
    key = checked.recipient_key
    addresses = customer.addresses.get(key) or ("customer@example.com",)
    invoice = sample_invoice(templates, checked)
    values = template_values(
        customer,
        addresses,
        invoice,
        batch="sample",
        definition=checked.name,
        brand={**DEFAULTS, "logo": "", **brand},
    )
    with templates.budget():
        for part, source in sources.items():
            try:
                rendered = templates.render_string(
                    template_name(checked.name, part), source, values
                )
                if part == "html":
                    inline_css(rendered)
            except TemplateError as exc:
                # Sample invoice values are text: a number filter on one fails
                # here and not with a batch's data, so such a failure passes.
                if invoice and isinstance(exc.__cause__, TypeError | ValueError | ArithmeticError):
                    continue
                errors.append((f"#/{part}", f"{exc} (a trial render for {customer.id})"))
    if errors:
        raise InvalidTemplate(errors)


def _unknown(tag: str) -> str | None:
    """None when a definition's templates can see ``tag``; else the hint to
    add to "unknown tag" (a did-you-mean, or nothing)."""
    root, dot, field = tag.partition(".")
    if root not in ROOTS:
        candidates = list(ROOTS)
    elif not dot or root == "invoice":
        return None
    elif root == "brand":
        known = {*DEFAULTS, "logo"}
        if field in known:
            return None
        candidates = [f"brand.{k}" for k in sorted(known)]
    elif root in FIELDS:
        if field in FIELDS[root]:
            return None
        candidates = [f"{root}.{k}" for k in FIELDS[root]]
    else:
        candidates = list(ROOTS)
    close = difflib.get_close_matches(tag, candidates, n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else f" (known: {', '.join(candidates)})"


def sample_customer(
    definition: Definition, templates: Templates, real: Customer | None
) -> Customer:
    """The customer a trial render is for: ``real`` (a customer the definition
    selects) with a value for each ``customer.fields.NAME`` the templates use."""
    fields: dict[str, Any] = {}
    for tree in parsed(templates, definition):
        for node in tree.find_all(nodes.Getattr):
            holder = node.node
            if (
                isinstance(holder, nodes.Getattr)
                and holder.attr == "fields"
                and isinstance(holder.node, nodes.Name)
                and holder.node.name == "customer"
            ):
                fields[node.attr] = node.attr.upper()
    if real is not None:
        return Customer(
            real.id,
            real.name,
            real.locale,
            {**fields, **real.fields},
            real.clusters,
            real.addresses,
        )
    return Customer(
        "sample-customer",
        "Sample Customer",
        "en",
        fields,
        tuple(definition.clusters),
        {definition.recipient_key: ("customer@example.com",)},
    )


class DefinitionStore(BillingStore, SenderStore, Protocol):
    """The definitions, and the senders a definition names."""


async def apply(
    store: DefinitionStore,
    templates: Templates,
    data: Mapping[str, Any],
    *,
    brand: Mapping[str, Any] | None = None,
    actor: str = "",
) -> Definition:
    """Validate ``data`` (its templates too, by a trial render) and save it
    as a new version; its from key must name a sender. Nothing is saved when
    anything is wrong."""
    checked = await templates.run(definition, data, templates)
    await check(store, templates, checked, brand or {})
    try:
        await store.get_sender(checked.from_key)
    except NotFoundError as exc:
        raise InvalidInput(
            "#/from_key", f"{exc}; add it first with `herald senders set {checked.from_key}`"
        ) from exc
    version = await store.put_definition(checked, actor=actor)
    log.info("definition_applied", definition=checked.name, version=version)
    return replace(checked, version=version)


async def check(
    store: BillingStore, templates: Templates, checked: Definition, brand: Mapping[str, Any]
) -> None:
    """``trial`` for the first customer ``checked`` selects, else a sample one."""
    real = await store.select_customers(checked.clusters, after=None, limit=1)
    customer = sample_customer(checked, templates, real[0] if real else None)
    await templates.run(trial, checked, templates, brand, customer)


async def rollback(
    store: DefinitionStore,
    templates: Templates,
    name: str,
    version: int,
    *,
    brand: Mapping[str, Any] | None = None,
    actor: str = "",
) -> Definition:
    """Bring back ``version`` of definition ``name`` as a new version, checked
    again first (the brand or the senders may have changed since)."""
    old = (await store.definition_version(name, version)).definition
    await check(store, templates, old, brand or {})
    await store.get_sender(old.from_key)
    saved = await store.put_definition(old, actor=actor, action="rollback")
    log.info("definition_rolled_back", definition=name, version=saved, to=version)
    return replace(old, version=saved)


def _named(data: Mapping[str, Any], key: str, pattern: re.Pattern[str]) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not pattern.match(value):
        raise InvalidInput(f"#/{key}", _NAMING)
    return value


def _names(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise InvalidInput(f"#/{key}", "must be a list of names")
    for number, item in enumerate(value):
        if not isinstance(item, str) or not NAME.match(item):
            raise InvalidInput(f"#/{key}/{number}", _NAMING)
    return tuple(dict.fromkeys(value))


def _schedule(value: Any) -> Schedule | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"cron", "timezone"}:
        raise InvalidInput("#/schedule", "must be a table with cron and timezone")
    cron = value.get("cron")
    if not isinstance(cron, str) or not croniter.is_valid(cron):
        raise InvalidInput("#/schedule/cron", 'must be a cron expression such as "0 6 1 * *"')
    timezone = value.get("timezone", "UTC")
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise InvalidInput(
            "#/schedule/timezone", 'must be an IANA time zone such as "Europe/Amsterdam"'
        ) from exc
    return Schedule(cron=cron, timezone=timezone)
