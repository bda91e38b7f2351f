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

import re
import zoneinfo
from collections.abc import Mapping
from typing import Any, Protocol

from croniter import croniter

from gateway.addresses import check_encoded_words
from gateway.billing.batches import template_name
from gateway.content.templating import TemplateError, Templates
from gateway.errors import InvalidInput, NotFoundError
from gateway.settings.senders import KEY
from gateway.store import BillingStore, Definition, Schedule, SenderStore

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
    for key, value in texts.items():
        try:
            if value is not None:
                templates.render_string(template_name(name, key), value, None)
        except TemplateError as exc:
            raise InvalidInput(f"#/{key}", str(exc)) from exc
    for key in ("subject", "zip_name"):
        # A subject (or a file name) whose own text hides a line break in an
        # encoded word would fail every message of every run; what it
        # renders to is checked again for each message as it is queued.
        try:
            check_encoded_words(texts[key] or "", "the template")
        except ValueError as exc:
            raise InvalidInput(f"#/{key}", str(exc)) from exc
    return checked


class DefinitionStore(BillingStore, SenderStore, Protocol):
    """The definitions, and the senders a definition names."""


async def apply(
    store: DefinitionStore, templates: Templates, data: Mapping[str, Any]
) -> Definition:
    """Validate ``data`` and save it; its from key must name a sender."""
    checked = await templates.run(definition, data, templates)
    try:
        await store.get_sender(checked.from_key)
    except NotFoundError as exc:
        raise InvalidInput(
            "#/from_key", f"{exc}; add it first with `herald senders set {checked.from_key}`"
        ) from exc
    await store.put_definition(checked)
    return checked


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
