"""Suppressions: recipients whose mailbox does not exist are not sent to again.

A permanent refusal that says the mailbox does not exist, from the upstream
(``550 5.1.1``) or in a bounce that comes back later (``Status: 5.1.1``),
puts the recipient on the list with the reply and the time. Only the
address statuses of RFC 3463 §3.2 that mean "no such mailbox" count
(X.1.1 bad mailbox, X.1.2 bad destination system, X.1.10 null MX, RFC
7505), and X.1.0 when its text says the user is unknown; a refusal for
policy (X.7.x), content (X.6.x) or a full mailbox (X.2.2) says nothing about
the address and suppresses nothing.

Later messages to a suppressed recipient are recorded ``skipped`` with
``suppressed since ...`` at delivery time, so that messages already queued
are covered too; an email type whose delivery setting says
``ignore_suppressions`` is sent regardless.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Protocol

import structlog

from gateway.addresses import check_address
from gateway.clock import rfc3339
from gateway.config import Config
from gateway.entrance import delivery as delivery_settings
from gateway.errors import InvalidInput
from gateway.store import (
    Delivery,
    NewSuppression,
    Outcome,
    SettingsStore,
    Suppression,
    SuppressionSource,
    SuppressionStore,
)

log = structlog.get_logger(__name__)

# RFC 3463 §2: class.subject.detail; the class must say "permanent" (5).
_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_NO_MAILBOX = frozenset({(1, 1), (1, 2), (1, 10)})
# What a server without enhanced codes (or with X.1.0) says of a missing mailbox.
_UNKNOWN_USER = re.compile(
    r"user unknown|unknown user|no such (user|mailbox|recipient)|mailbox (not found|unavailable"
    r"|does not exist)|(user|mailbox|address|recipient) does not exist|invalid recipient"
    r"|recipient (address )?rejected: user unknown|unknown (mailbox|recipient)",
    re.IGNORECASE,
)
MAX_REASON = 500


def mailbox_unknown(reply: str | None, status: str | None = None) -> bool:
    """Whether a permanent refusal says that the recipient's mailbox does not
    exist: ``reply`` is the server's reply (``550 5.1.1 ...``) or a DSN's
    diagnostic, ``status`` a DSN's own ``Status`` field."""
    text = reply or ""
    basic = re.match(r"\s*(?:smtp;\s*)?([245])\d\d\b", text, re.IGNORECASE)
    if basic is not None and basic[1] != "5":
        return False
    found = _STATUS.search(status or "") or _STATUS.search(text)
    if found is not None:
        klass, subject, detail = found[1], int(found[2]), int(found[3])
        if klass != "5":
            return False
        if (subject, detail) in _NO_MAILBOX:
            return True
        return (subject, detail) == (1, 0) and bool(_UNKNOWN_USER.search(text))
    # No enhanced code: a 5yz reply that says so in words.
    return basic is not None and bool(_UNKNOWN_USER.search(text))


def learned(delivery: Delivery, outcomes: Iterable[Outcome]) -> list[NewSuppression]:
    """The suppressions an attempt's permanent failures teach."""
    addresses = dict(delivery.recipients)
    # A refusal at RCPT is the outcome's error; one after DATA, its reply.
    return [
        NewSuppression(addresses[o.item_id], _reason(text), "upstream", delivery.run_id)
        for o in outcomes
        for text in [o.reply or o.error]
        if o.status == "failed" and o.item_id in addresses and mailbox_unknown(text)
    ]


class _Stores(SuppressionStore, SettingsStore, Protocol):
    """What the check reads: the list, and the delivery settings in force."""


async def skipped(store: _Stores, config: Config, delivery: Delivery) -> dict[int, Outcome]:
    """The outcome of each recipient of ``delivery`` that is suppressed, by
    item id; none when its email type ignores suppressions."""
    found = await store.suppressions_for([address for _, address in delivery.recipients])
    if not found:
        return {}
    settings, _ = await delivery_settings.current(store, config)
    if settings.policy(delivery.email_type).ignore_suppressions:
        return {}
    outcomes = {}
    for item_id, address in delivery.recipients:
        entry = found.get(address.lower())
        if entry is not None:
            outcomes[item_id] = Outcome(item_id, "skipped", error=suppressed_reason(entry))
    return outcomes


class Check:
    """The suppression check of the queue's deliveries, which reads the list
    only while it holds anyone.

    The store's suppression counter moves with every change of the list, in
    the change's transaction, and each claimed delivery carries the counter
    as its claim read it. Once the list was seen empty at a count, the
    deliveries claimed at that count (or before it: the list was seen empty
    later than they were claimed, as a read at delivery would have seen it)
    need no read at all; a delivery claimed after a change reads it again.
    """

    def __init__(self, store: _Stores) -> None:
        self.store = store
        self._known: tuple[int, bool] | None = None  # (counter, anyone on the list)

    async def skipped(self, config: Config, delivery: Delivery) -> dict[int, Outcome]:
        """As ``skipped``, without a read of the list while it is known empty."""
        claimed = delivery.suppression_version
        known = self._known
        if claimed is None or known is None or claimed > known[0]:
            # Read after the claim: what is read is at least as new as it.
            known = self._known = await self.store.suppression_state()
        if not known[1]:
            return {}
        return await skipped(self.store, config, delivery)


def suppressed_reason(entry: Suppression) -> str:
    """What a skipped recipient's run says."""
    return f"suppressed since {rfc3339(entry.created_at)}: {entry.reason}"


def _reason(reply: str | None) -> str:
    text = " ".join((reply or "the mailbox does not exist").split())
    return text[:MAX_REASON]


# The operator's side: the same checks for the CLI and the admin API.


def check_suppressed_address(value: object, field: str = "#/address") -> str:
    if not isinstance(value, str):
        raise InvalidInput(field, "must be an email address")
    try:
        return check_address(value.strip(), "the address").lower()
    except ValueError as exc:
        raise InvalidInput(field, str(exc)) from exc


def check_reason(value: object, field: str = "#/reason") -> str:
    if value is None:
        return "added by the operator"
    if not isinstance(value, str):
        raise InvalidInput(field, "must be a string")
    reason = " ".join(value.split())
    if not reason:
        return "added by the operator"
    if len(reason) > MAX_REASON:
        raise InvalidInput(field, f"must be at most {MAX_REASON} characters")
    return reason


def operator_suppression(address: object, reason: object) -> NewSuppression:
    source: SuppressionSource = "operator"
    return NewSuppression(check_suppressed_address(address), check_reason(reason), source)


EXPORT_COLUMNS = ("address", "reason", "source", "run_id", "created_at")


def export_csv(entries: Sequence[Suppression], *, header: bool = True) -> str:
    """Suppressions as CSV (RFC 4180), one line each."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(EXPORT_COLUMNS)
    for entry in entries:
        writer.writerow(
            [
                entry.address,
                entry.reason,
                entry.source,
                entry.run_id or "",
                rfc3339(entry.created_at),
            ]
        )
    return out.getvalue()


async def export_pages(store: SuppressionStore, *, page: int = 1000) -> AsyncIterator[str]:
    """Every suppression as CSV, ``page`` rows at a time, so that memory stays bounded."""
    after: str | None = None
    while True:
        entries = await store.list_suppressions(after=after, limit=page)
        yield export_csv(entries, header=after is None)
        if len(entries) < page:
            return
        after = entries[-1].address
