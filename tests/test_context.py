"""Tests for gateway/context.py: the object that travels through the pipeline
keeps every recipient and why, as its contract with the stages says."""

from __future__ import annotations

from gateway.context import Context


def context() -> Context:
    return Context(source="smtp", email_type="legacy", run_id="run_1", mail_from="a@x.test")


def test_a_recipient_is_added_once_whatever_its_case() -> None:
    """Adding an address already there returns its entry and keeps the first rule."""
    ctx = context()
    first = ctx.add_recipient("Ada@Example.com", "to", "smtp.rcpt")
    again = ctx.add_recipient("ada@example.com", "bcc", "delivery.bcc")
    assert again is first
    assert [(r.address, r.role, r.rule) for r in ctx.recipients] == [
        ("Ada@Example.com", "to", "smtp.rcpt")
    ]


def test_a_suppressed_recipient_stays_on_record_but_is_not_deliverable() -> None:
    """Stages suppress rather than delete, so the run can say why nobody got a copy."""
    ctx = context()
    customer = ctx.add_recipient("ada@example.com", "to", "event.recipient")
    admin = ctx.add_recipient("admin@x.test", "bcc", "delivery.bcc_admin")
    ctx.suppress(customer, "delivery.legacy.customers is off")
    assert ctx.recipients == [customer, admin]
    assert customer.suppressed == "delivery.legacy.customers is off"
    assert ctx.deliverable == [admin]


def test_each_context_has_notes_and_recipients_of_its_own() -> None:
    """Scratch notes and recipients are never shared between two messages."""
    one, two = context(), context()
    one.notes["seen"] = True
    one.add_recipient("a@x.test", "to", "r")
    assert two.notes == {}
    assert two.recipients == []
