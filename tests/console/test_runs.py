"""Tests for gateway/console/runs.py: the totals a run shows and the names of
its attachments, as the list and the run's page render them."""

from __future__ import annotations

import json

from gateway.console.runs import attachment_names, totals
from gateway.store import Item, Run


def a_run(**counts: int) -> Run:
    return Run(
        id="run_1",
        source="webhook",
        email_type="invoice.issued",
        status="queued",
        subject="Hi",
        mail_from="app@example.com",
        created_at=0.0,
        updated_at=0.0,
        error=None,
        idempotency_key=None,
        counts=counts,
    )


def test_totals_count_what_has_not_gone_as_deferred_and_bounces_as_failed() -> None:
    """Queued items are not gone yet (deferred), a bounce is a failure, and a
    status with no items reads 0."""
    assert totals(a_run(queued=2, deferred=1, sent=4, bounced=1, failed=2)) == {
        "sent": 4,
        "deferred": 3,
        "failed": 3,
        "skipped": 0,
    }
    assert totals(a_run()) == {"sent": 0, "deferred": 0, "failed": 0, "skipped": 0}


def test_attachment_names_come_from_what_the_item_recorded() -> None:
    """An item's recorded attachments (name and size) give their names in
    order; an item without any gives none."""
    item = Item(
        id=1,
        address="ap@acme.example",
        role="to",
        rule="customer.addresses.invoice",
        status="sent",
        reply=None,
        attempts=1,
        error=None,
        updated_at=0.0,
        attachments=json.dumps([["invoice.zip", 1200], ["terms.pdf", 300]]),
    )
    assert attachment_names(item) == ["invoice.zip", "terms.pdf"]
    assert attachment_names(Item(**{**item.__dict__, "attachments": None})) == []
