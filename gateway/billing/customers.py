"""Customers as the platform syncs them, one JSON object per line.

A line looks like::

    {"id": "cus_1", "name": "Acme", "locale": "nl-NL", "fields": {"vat_id": "NL1"},
     "clusters": ["eu"], "addresses": {"invoice": ["billing@acme.example"]}}

The same checks serve ``herald customers import`` and ``POST /v1/customers``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, Callable, Mapping
from typing import Any

from gateway import json_input
from gateway.addresses import check_address, check_encoded_words, check_header_text
from gateway.errors import InvalidInput
from gateway.store import BillingStore, Customer

# Customer ids name folders in a batch of invoices, so they stay path-safe.
ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_FIELDS = ("id", "name", "locale", "fields", "clusters", "addresses")
CHUNK = 500


def customer(data: Any) -> Customer:
    """A validated ``Customer`` from one decoded line, or ``InvalidInput``."""
    if not isinstance(data, dict):
        raise InvalidInput("#", "must be a JSON object")
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise InvalidInput(
            f"#/{unknown[0]}", f"is not a customer field (known: {', '.join(_FIELDS)})"
        )
    ident = data.get("id")
    if not isinstance(ident, str) or not ID.match(ident) or ".." in ident:
        raise InvalidInput("#/id", "must be 1-128 letters, digits, '_', '.' or '-'")
    name = _text(data, "name", 200)
    locale = _text(data, "locale", 35)
    fields = data.get("fields", {})
    if not isinstance(fields, dict):
        raise InvalidInput("#/fields", "must be an object")
    for key, value in fields.items():
        if value is not None and not isinstance(value, str | int | float | bool):
            raise InvalidInput(f"#/fields/{key}", "must be a string, number, true/false or null")
        if isinstance(value, str):
            # A field may reach a subject or a file name: its line breaks are
            # folded there, but one hidden in an encoded word would split it.
            try:
                check_encoded_words(value, "the value")
            except ValueError as exc:
                raise InvalidInput(f"#/fields/{key}", str(exc)) from exc
    clusters = data.get("clusters", [])
    if not isinstance(clusters, list):
        raise InvalidInput("#/clusters", "must be a list of cluster names")
    for number, cluster in enumerate(clusters):
        if not isinstance(cluster, str) or not _NAME.match(cluster):
            raise InvalidInput(
                f"#/clusters/{number}", "must be 1-64 lower-case letters, digits, '.', '_' or '-'"
            )
    return Customer(
        id=ident,
        name=name,
        locale=locale,
        fields=fields,
        clusters=tuple(dict.fromkeys(clusters)),
        addresses=_addresses(data.get("addresses", {})),
    )


def _text(data: Mapping[str, Any], key: str, limit: int) -> str:
    value = data.get(key, "")
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidInput(f"#/{key}", f"must be one line of at most {limit} characters")
    # The name is the display name of every address a run sends to.
    try:
        return check_header_text(value, f"the {key}")
    except ValueError as exc:
        raise InvalidInput(f"#/{key}", str(exc)) from exc


def _addresses(value: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise InvalidInput("#/addresses", "must be an object of recipient key: addresses")
    addresses: dict[str, tuple[str, ...]] = {}
    for key, listed in value.items():
        if not _NAME.match(key):
            raise InvalidInput(
                f"#/addresses/{key}",
                "the recipient key must be lower-case letters, digits, '.', '_' or '-'",
            )
        listed = [listed] if isinstance(listed, str) else listed
        if not isinstance(listed, list):
            raise InvalidInput(f"#/addresses/{key}", "must be an address or a list of addresses")
        for number, address in enumerate(listed):
            try:
                check_address(address if isinstance(address, str) else repr(address))
            except ValueError as exc:
                raise InvalidInput(f"#/addresses/{key}/{number}", str(exc)) from exc
        addresses[key] = tuple(dict.fromkeys(listed))
    return addresses


MAX_NAMED = 100


async def sync(
    store: BillingStore,
    lines: AsyncIterable[bytes],
    *,
    actor: str = "",
    progress: Callable[[int], None] = lambda n: None,
    skip_bad: bool = False,
) -> int:
    """Create or replace the customers in ``lines`` (JSON Lines), all in one
    transaction, and return how many. Every line is checked first: when any
    is bad, nothing is imported and ``InvalidInput`` names each bad line (the
    first ``MAX_NAMED``). With ``skip_bad`` the good lines are imported all
    the same, and then the bad ones are named."""
    customers: dict[str, Customer] = {}
    errors: list[tuple[int, str, str]] = []
    bad = 0
    number = 0
    async for line in lines:
        number += 1
        if number % CHUNK == 0:
            progress(number)
        if not line.strip():
            continue
        try:
            checked = customer(json_input.loads(line))
        except (json_input.MalformedJsonError, InvalidInput) as exc:
            bad += 1
            if len(errors) < MAX_NAMED:
                if isinstance(exc, InvalidInput):
                    errors.append((number, exc.field, exc.detail))
                else:
                    errors.append((number, "", f"is not valid JSON ({exc})"))
            continue
        customers[checked.id] = checked
    progress(number)
    if errors and not skip_bad:
        raise BadLines(errors, bad, f"{bad} bad line(s); nothing was imported")
    await store.import_customers(list(customers.values()), actor=actor)
    if errors:
        raise BadLines(
            errors, bad, f"{bad} bad line(s) skipped; the other {len(customers)} were imported"
        )
    return len(customers)


class BadLines(InvalidInput):
    """A customers file with bad lines: ``lines`` are (line number, JSON
    pointer or '', detail) for the first ``MAX_NAMED`` of the ``bad`` ones,
    ``errors`` the same as pointers (``line 3 #/id``) and ``summary`` says
    what was imported."""

    def __init__(self, lines: list[tuple[int, str, str]], bad: int, summary: str) -> None:
        errors = [(f"line {number} {field}".rstrip(), detail) for number, field, detail in lines]
        super().__init__(*errors[0])
        self.errors = errors
        self.lines = lines
        self.bad = bad
        self.summary = summary
        self.args = (
            "; ".join(f"{pointer}: {detail}" for pointer, detail in errors) + f" ({summary})",
        )
