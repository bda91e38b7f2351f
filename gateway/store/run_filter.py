"""Which runs a listing shows: ``RunFilter``, and the one parser of the
query language that says so, in the words Postal users know
(``to:ap@acme.example status:failed type:invoice.issued after:2026-11-01``).

The console's query box and filter fields, ``GET /v1/runs`` and
``herald runs list`` all go through ``parse_query`` and ``apply_term``, so a
mistake reads the same everywhere: ``InvalidInput`` naming the field (``q``
for the query box, the parameter's own name otherwise) and what is wrong.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from gateway.errors import InvalidInput

# The query box takes at most this much, in at most this many terms, and no
# value longer than an address may be (RFC 5321 §4.5.3.1: 64 + 1 + 255).
MAX_QUERY = 1000
MAX_TERMS = 10
MAX_VALUE = 320
# Each key of the language and the filter field it sets.
KEYS = {
    "to": "recipient",
    "status": "status",
    "type": "email_type",
    "definition": "definition",
    "after": "created_after",
    "before": "created_before",
}


@dataclass(frozen=True)
class RunFilter:
    """Runs with this status, of this email type or message definition, with
    a recipient at this address (any case), made at or after
    ``created_after`` and before ``created_before`` (epoch seconds)."""

    status: str | None = None
    email_type: str | None = None
    definition: str | None = None
    recipient: str | None = None
    created_after: float | None = None
    created_before: float | None = None

    def __bool__(self) -> bool:
        return any(value is not None for value in dataclasses.astuple(self))


def moment(text: str, field: str) -> float:
    """A date (``2026-11-01``, midnight UTC) or an RFC 3339 time, as epoch seconds."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            field, f"{text!r} is not a date (2026-11-01) or a time (2026-11-01T09:30:00Z)"
        ) from None
    if when.tzinfo is None:
        raise InvalidInput(field, f"{text!r} needs its offset from UTC (Z or +01:00)")
    return when.timestamp()


def apply_term(found: RunFilter, key: str, value: str, *, field: str | None = None) -> RunFilter:
    """``found`` narrowed by one term ``key:value``; ``InvalidInput`` on
    ``field`` (default: ``#/key``) for an unknown key, a key given twice, or a
    bad value."""
    where = field or f"#/{key}"
    name = KEYS.get(key)
    if name is None:
        raise InvalidInput(where, f"unknown key {key!r} (known: {', '.join(KEYS)})")
    if getattr(found, name) is not None:
        raise InvalidInput(where, f"{key}: is given twice")
    if not value or len(value) > MAX_VALUE or not value.isprintable():
        raise InvalidInput(where, f"{key}: needs a value of 1 to {MAX_VALUE} printable characters")
    checked: str | float = value
    if key == "status":
        # Imported here: the store's package imports this module for its protocol.
        from gateway.store import RUN_STATUSES, check_status

        check_status(value, RUN_STATUSES, where)
    if key in ("after", "before"):
        checked = moment(value, where)
    changes: dict[str, Any] = {name: checked}
    return dataclasses.replace(found, **changes)


def parse_query(text: str, found: RunFilter | None = None, *, field: str = "#/q") -> RunFilter:
    """The filter the query ``text`` says, on top of ``found``: terms
    ``key:value`` separated by spaces, a value with spaces in quotes
    (``type:"a b"``); a bare address means ``to:`` it."""
    found = found or RunFilter()
    if len(text) > MAX_QUERY:
        raise InvalidInput(field, f"must be at most {MAX_QUERY} characters")
    try:
        terms = shlex.split(text)
    except ValueError:
        raise InvalidInput(field, "has a quote that is not closed") from None
    if len(terms) > MAX_TERMS:
        raise InvalidInput(field, f"may hold at most {MAX_TERMS} terms")
    for term in terms:
        key, colon, value = term.partition(":")
        if not colon:
            if "@" not in term:
                raise InvalidInput(
                    field, f"{term!r} is not a term: write key:value ({', '.join(KEYS)})"
                )
            key, value = "to", term
        found = apply_term(found, key.lower(), value, field=field)
    return found


def from_fields(fields: Iterable[tuple[str, str]], query: str = "") -> RunFilter:
    """The filter of a form or a URL's query: each field named by its key
    (``status``, ``type``, ``to`` ...; empty ones ignored), then the query
    box ``q`` on top."""
    found = RunFilter()
    for key, value in fields:
        if value:
            found = apply_term(found, key, value.strip())
    return parse_query(query, found) if query else found
