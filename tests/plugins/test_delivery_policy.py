"""Tests for plugins/delivery_policy.py: the ``delivery-policy`` stage."""

from __future__ import annotations

import copy
from pathlib import Path

from gateway.context import Context, Recipient
from plugins.delivery_policy import DeliveryPolicy
from tests.plugins import make_services

POLICIES = """
[delivery]
admin = "ops@example.com"

[delivery.types."invoice.issued"]
bcc_admin = true
bcc = ["finance@example.com", "audit@example.com"]

[delivery.types."account.created"]
bcc_admin = true

[delivery.types."system.alert"]
customers = false
bcc_admin = true

[delivery.types."billing.updated"]
bcc = ["Ada@Example.com", "billing@example.com"]
"""


def make_stage(tmp_path: Path, toml: str = POLICIES) -> DeliveryPolicy:
    return DeliveryPolicy(make_services(tmp_path, toml))


def event_context(email_type: str) -> Context:
    ctx = Context(
        source="webhook", email_type=email_type, run_id="run_0001", mail_from="herald@herald.test"
    )
    ctx.add_recipient("ada@example.com", "to", "event.recipient (customer)")
    return ctx


async def test_bcc_admin_adds_the_admin(tmp_path: Path) -> None:
    """bcc_admin adds [delivery] admin as a bcc recipient with rule delivery.bcc_admin."""
    ctx = event_context("account.created")
    await make_stage(tmp_path).process(ctx)
    assert ctx.recipients == [
        Recipient("ada@example.com", "to", "event.recipient (customer)"),
        Recipient("ops@example.com", "bcc", "delivery.bcc_admin"),
    ]
    assert [r.address for r in ctx.deliverable] == ["ada@example.com", "ops@example.com"]


async def test_bcc_admin_without_an_admin_adds_nobody(tmp_path: Path) -> None:
    """bcc_admin without a configured admin address adds no recipient."""
    stage = make_stage(tmp_path, '[delivery.types."account.created"]\nbcc_admin = true\n')
    ctx = event_context("account.created")
    await stage.process(ctx)
    assert [r.address for r in ctx.recipients] == ["ada@example.com"]


async def test_bcc_adds_extra_addresses(tmp_path: Path) -> None:
    """bcc adds each listed address as a bcc recipient with rule delivery.bcc, after the admin."""
    ctx = event_context("invoice.issued")
    await make_stage(tmp_path).process(ctx)
    assert [(r.address, r.role, r.rule) for r in ctx.recipients] == [
        ("ada@example.com", "to", "event.recipient (customer)"),
        ("ops@example.com", "bcc", "delivery.bcc_admin"),
        ("finance@example.com", "bcc", "delivery.bcc"),
        ("audit@example.com", "bcc", "delivery.bcc"),
    ]
    assert all(r.suppressed is None for r in ctx.recipients)


async def test_bcc_of_an_existing_recipient_is_not_duplicated(tmp_path: Path) -> None:
    """A bcc address already among the recipients (in any case) is not added twice."""
    ctx = event_context("billing.updated")
    await make_stage(tmp_path).process(ctx)
    assert [(r.address, r.role) for r in ctx.recipients] == [
        ("ada@example.com", "to"),
        ("billing@example.com", "bcc"),
    ]


async def test_customers_off_suppresses_the_event_recipient(tmp_path: Path) -> None:
    """customers = false suppresses the event's recipient with a reason; the admin still gets it."""
    ctx = event_context("system.alert")
    await make_stage(tmp_path).process(ctx)
    ada, ops = ctx.recipients
    assert ada.address == "ada@example.com"
    assert ada.suppressed == "delivery.system.alert.customers is off"
    assert ops == Recipient("ops@example.com", "bcc", "delivery.bcc_admin")
    assert ctx.deliverable == [ops]


async def test_customers_off_suppresses_every_envelope_recipient(tmp_path: Path) -> None:
    """customers = false also suppresses SMTP envelope recipients, Bcc ones included."""
    ctx = Context(
        source="smtp", email_type="system.alert", run_id="run_0002", mail_from="app@example.com"
    )
    ctx.add_recipient("bob@example.com", "to", "envelope")
    ctx.add_recipient("carol@example.com", "cc", "envelope")
    ctx.add_recipient("hidden@example.com", "bcc", "envelope")
    ctx.add_recipient("compliance@example.com", "bcc", "stage.archive")
    await make_stage(tmp_path).process(ctx)
    suppressed = {r.address: r.suppressed for r in ctx.recipients}
    assert suppressed == {
        "bob@example.com": "delivery.system.alert.customers is off",
        "carol@example.com": "delivery.system.alert.customers is off",
        "hidden@example.com": "delivery.system.alert.customers is off",
        "compliance@example.com": None,
        "ops@example.com": None,
    }


async def test_customers_off_without_bcc_leaves_nobody(tmp_path: Path) -> None:
    """With customers = false and no bcc, no recipient is left to deliver to."""
    stage = make_stage(tmp_path, '[delivery.types."system.alert"]\ncustomers = false\n')
    ctx = event_context("system.alert")
    await stage.process(ctx)
    assert len(ctx.recipients) == 1
    assert ctx.deliverable == []


async def test_type_without_policy_changes_nothing(tmp_path: Path) -> None:
    """An email type with no [delivery.types] entry keeps its recipients exactly as they were."""
    ctx = event_context("subscription.activated")
    ctx.add_recipient("bob@example.com", "cc", "envelope")
    before = copy.deepcopy(ctx.recipients)
    await make_stage(tmp_path).process(ctx)
    assert ctx.recipients == before


async def test_policy_applies_to_its_own_type_only(tmp_path: Path) -> None:
    """The invoice policy's bcc list is not applied to another type."""
    ctx = event_context("account.created")
    await make_stage(tmp_path).process(ctx)
    assert "finance@example.com" not in [r.address for r in ctx.recipients]


async def test_stage_leaves_the_message_alone(tmp_path: Path) -> None:
    """The stage decides recipients only; it neither composes nor changes the message."""
    ctx = event_context("invoice.issued")
    await make_stage(tmp_path).process(ctx)
    assert ctx.message is None
    assert ctx.subject == ""


def test_stage_identity() -> None:
    """The stage's name matches its module and its entry point."""
    assert DeliveryPolicy.name == "delivery-policy"
    assert DeliveryPolicy.description
