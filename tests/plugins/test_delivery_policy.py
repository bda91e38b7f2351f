"""Tests for plugins/delivery_policy.py: the ``delivery-policy`` stage."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from herald_plugins.delivery_policy import DeliveryPolicy

from gateway.content import mime
from gateway.content.templating import Templates
from gateway.context import Context, Later, Recipient
from gateway.entrance import delivery
from gateway.store import Store
from tests.plugins import make_services

MakeStage = Callable[..., Awaitable[DeliveryPolicy]]

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


@pytest.fixture
async def make_stage(tmp_path: Path) -> AsyncIterator[MakeStage]:
    """Builds the stage on a configuration holding ``toml``, its store open
    (the stage reads the saved settings at every message)."""
    stores: list[Store] = []

    async def make(toml: str = POLICIES) -> DeliveryPolicy:
        services = make_services(tmp_path, toml)
        await services.store.open()
        stores.append(services.store)
        return DeliveryPolicy(services.for_stages())

    yield make
    for store in stores:
        await store.close()


def event_context(email_type: str) -> Context:
    ctx = Context(
        source="webhook", email_type=email_type, run_id="run_0001", mail_from="herald@herald.test"
    )
    ctx.add_recipient("ada@example.com", "to", "event.recipient (customer)")
    return ctx


async def test_bcc_admin_adds_the_admin(make_stage: MakeStage) -> None:
    """bcc_admin adds [delivery] admin as a bcc recipient with rule delivery.bcc_admin."""
    ctx = event_context("account.created")
    await (await make_stage()).process(ctx)
    assert ctx.recipients == [
        Recipient("ada@example.com", "to", "event.recipient (customer)"),
        Recipient("ops@example.com", "bcc", "delivery.bcc_admin"),
    ]
    assert [r.address for r in ctx.deliverable] == ["ada@example.com", "ops@example.com"]


async def test_bcc_admin_without_an_admin_adds_nobody(make_stage: MakeStage) -> None:
    """bcc_admin without a configured admin address adds no recipient."""
    stage = await make_stage('[delivery.types."account.created"]\nbcc_admin = true\n')
    ctx = event_context("account.created")
    await stage.process(ctx)
    assert [r.address for r in ctx.recipients] == ["ada@example.com"]


async def test_bcc_adds_extra_addresses(make_stage: MakeStage) -> None:
    """bcc adds each listed address as a bcc recipient with rule delivery.bcc, after the admin."""
    ctx = event_context("invoice.issued")
    await (await make_stage()).process(ctx)
    assert [(r.address, r.role, r.rule) for r in ctx.recipients] == [
        ("ada@example.com", "to", "event.recipient (customer)"),
        ("ops@example.com", "bcc", "delivery.bcc_admin"),
        ("finance@example.com", "bcc", "delivery.bcc"),
        ("audit@example.com", "bcc", "delivery.bcc"),
    ]
    assert all(r.suppressed is None for r in ctx.recipients)


async def test_bcc_of_an_existing_recipient_is_not_duplicated(make_stage: MakeStage) -> None:
    """A bcc address already among the recipients (in any case) is not added twice."""
    ctx = event_context("billing.updated")
    await (await make_stage()).process(ctx)
    assert [(r.address, r.role) for r in ctx.recipients] == [
        ("ada@example.com", "to"),
        ("billing@example.com", "bcc"),
    ]


async def test_customers_off_suppresses_the_event_recipient(make_stage: MakeStage) -> None:
    """customers = false suppresses the event's recipient with a reason; the admin still gets it."""
    ctx = event_context("system.alert")
    await (await make_stage()).process(ctx)
    ada, ops = ctx.recipients
    assert ada.address == "ada@example.com"
    assert ada.suppressed == "delivery.system.alert.customers is off"
    assert ops == Recipient("ops@example.com", "bcc", "delivery.bcc_admin")
    assert ctx.deliverable == [ops]


async def test_customers_off_suppresses_every_envelope_recipient(make_stage: MakeStage) -> None:
    """customers = false also suppresses SMTP envelope recipients, Bcc ones included."""
    ctx = Context(
        source="smtp", email_type="system.alert", run_id="run_0002", mail_from="app@example.com"
    )
    ctx.add_recipient("bob@example.com", "to", "envelope")
    ctx.add_recipient("carol@example.com", "cc", "envelope")
    ctx.add_recipient("hidden@example.com", "bcc", "envelope")
    ctx.add_recipient("compliance@example.com", "bcc", "stage.archive")
    await (await make_stage()).process(ctx)
    suppressed = {r.address: r.suppressed for r in ctx.recipients}
    assert suppressed == {
        "bob@example.com": "delivery.system.alert.customers is off",
        "carol@example.com": "delivery.system.alert.customers is off",
        "hidden@example.com": "delivery.system.alert.customers is off",
        "compliance@example.com": None,
        "ops@example.com": None,
    }


async def test_customers_off_without_bcc_leaves_nobody(make_stage: MakeStage) -> None:
    """With customers = false and no bcc, no recipient is left to deliver to."""
    stage = await make_stage('[delivery.types."system.alert"]\ncustomers = false\n')
    ctx = event_context("system.alert")
    await stage.process(ctx)
    assert len(ctx.recipients) == 1
    assert ctx.deliverable == []


async def test_type_without_policy_changes_nothing(make_stage: MakeStage) -> None:
    """An email type with no [delivery.types] entry keeps its recipients exactly as they were."""
    ctx = event_context("subscription.activated")
    ctx.add_recipient("bob@example.com", "cc", "envelope")
    before = copy.deepcopy(ctx.recipients)
    await (await make_stage()).process(ctx)
    assert ctx.recipients == before


async def test_policy_applies_to_its_own_type_only(make_stage: MakeStage) -> None:
    """The invoice policy's bcc list is not applied to another type."""
    ctx = event_context("account.created")
    await (await make_stage()).process(ctx)
    assert "finance@example.com" not in [r.address for r in ctx.recipients]


async def test_stage_leaves_the_message_alone(make_stage: MakeStage) -> None:
    """The stage decides recipients only; it neither composes nor changes the message."""
    ctx = event_context("invoice.issued")
    await (await make_stage()).process(ctx)
    assert ctx.message is None
    assert ctx.subject == ""


def test_stage_identity() -> None:
    """The stage's name matches its module and its entry point."""
    assert DeliveryPolicy.name == "delivery-policy"
    assert DeliveryPolicy.description


def with_message(ctx: Context) -> Context:
    ctx.message = mime.compose(
        sender=mime.mailbox("herald@herald.test"),
        to=[mime.mailbox("ada@example.com", "Ada")],
        subject="s",
        text="t",
        html=None,
        message_id="<m@herald.test>",
    )
    return ctx


async def test_a_saved_change_applies_to_the_next_message(tmp_path: Path) -> None:
    """The same stage instance sees settings saved after it was built, and the
    copies that still go out with customers off are addressed to the admin."""
    services = make_services(tmp_path, "")
    store, config = services.store, services.config
    await store.open()
    try:
        stage = DeliveryPolicy(services.for_stages())
        first = with_message(event_context("invoice.issued"))
        await stage.process(first)
        assert [r.address for r in first.deliverable] == ["ada@example.com"]

        await delivery.set_admin(store, "ops@x.test", actor="t")
        await delivery.set_type(
            store, config, Templates(config.templates_dir), "invoice.issued",
            {"customers": False, "bcc_admin": True}, actor="t",
        )  # fmt: skip
        second = with_message(event_context("invoice.issued"))
        await stage.process(second)
    finally:
        await store.close()
    [admin] = second.deliverable
    assert (admin.address, admin.rule) == ("ops@x.test", "delivery.bcc_admin")
    assert second.recipients[0].suppressed == "delivery.invoice.issued.customers is off"
    assert second.message is not None
    assert second.message["To"] == "ops@x.test"


async def test_customers_off_without_an_admin_names_nobody(make_stage: MakeStage) -> None:
    """With no admin address, the copies go out to an empty group, not to the customer."""
    stage = await make_stage(
        '[delivery.types."invoice.issued"]\ncustomers = false\nbcc = ["audit@x.test"]\n'
    )
    ctx = with_message(event_context("invoice.issued"))
    await stage.process(ctx)
    assert [r.address for r in ctx.deliverable] == ["audit@x.test"]
    assert ctx.message is not None
    assert ctx.message["To"] == "undisclosed-recipients:;"


@pytest.mark.parametrize(
    ("toml", "readdress"),
    [
        (POLICIES, ["ops@example.com"]),
        ('[delivery.types."system.alert"]\ncustomers = false\nbcc = ["audit@x.test"]\n', []),
    ],
)
async def test_customers_off_readdresses_a_message_composed_later(
    make_stage: MakeStage, toml: str, readdress: list[str]
) -> None:
    """A message still to be composed after the commit is readdressed as a built one
    would be: to the admin, or to nobody without one; with customers on, it is left alone."""
    ctx = event_context("system.alert")
    ctx.later = Later("system.alert", {}, [("ada@example.com", "Ada")], "<run_0001@herald.test>")
    await (await make_stage(toml)).process(ctx)
    assert ctx.later.readdress == readdress
    kept = event_context("invoice.issued")
    kept.later = Later("invoice.issued", {}, [("ada@example.com", "")], "<run_0002@herald.test>")
    await (await make_stage()).process(kept)
    assert kept.later.readdress is None
