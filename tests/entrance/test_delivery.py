"""Tests for gateway/entrance/delivery.py: known types, checked policies, settings in force."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway import config as configuration
from gateway.config import SHIPPED_TEMPLATES, TypePolicy
from gateway.content.templating import Templates
from gateway.entrance import delivery
from gateway.errors import InvalidInput
from gateway.store import Store

TEMPLATES = Templates(SHIPPED_TEMPLATES)


def test_known_types_are_the_templated_ones_and_legacy() -> None:
    """Every type with a template folder, plus legacy, and nothing else."""
    assert delivery.known_types(TEMPLATES) == [
        "account.created",
        "billing.updated",
        "invoice.issued",
        "legacy",
        "resource.provisioned",
        "subscription.activated",
        "system.alert",
    ]
    with pytest.raises(InvalidInput, match=r"unknown email type 'x\.y'"):
        delivery.check_type("x.y", TEMPLATES)


def test_bcc_addresses_are_checked_and_deduplicated() -> None:
    """Addresses are kept once, whatever their case; the first bad one is named."""
    policy = delivery.apply(TypePolicy(), {"bcc": ["a@x.test", "A@X.test", "b@x.test"]})
    assert policy.bcc == ("a@x.test", "b@x.test")
    with pytest.raises(InvalidInput) as refused:
        delivery.apply(TypePolicy(), {"bcc": ["a@x.test", "b@x.test\nBcc: c@x.test"]})
    assert refused.value.field == "#/bcc/1"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"customers": "off"}, "#/customers"),
        ({"bcc_admin": 1}, "#/bcc_admin"),
        ({"bcc": "a@x.test"}, "#/bcc"),
        ({"bcc": ["a@x.test"] * 51}, "#/bcc"),
        ({"cc": []}, "#/cc"),
    ],
)
def test_invalid_policies_name_the_field(changes: dict[str, Any], field: str) -> None:
    """Each invalid change raises InvalidInput naming its field."""
    with pytest.raises(InvalidInput) as refused:
        delivery.apply(TypePolicy(), changes)
    assert refused.value.field == field


async def test_saved_settings_win_over_the_configuration(store: Store, tmp_path: Path) -> None:
    """A saved type policy and admin replace the configured ones; others stay."""
    toml = tmp_path / "herald.toml"
    toml.write_text(
        '[delivery]\nadmin = "cfg@x.test"\n'
        '[delivery.types."invoice.issued"]\nbcc = ["f@x.test"]\n'
        '[delivery.types."system.alert"]\ncustomers = false\n'
    )
    config = configuration.load(toml, env={"HERALD_STATE_DIR": str(tmp_path)})
    await delivery.set_type(
        store, config, TEMPLATES, "invoice.issued", {"bcc_admin": True}, actor="t"
    )
    await delivery.set_admin(store, "ops@x.test", actor="t")
    settings, sources = await delivery.current(store, config)
    assert settings.admin == "ops@x.test"
    assert settings.policy("invoice.issued") == TypePolicy(bcc_admin=True, bcc=("f@x.test",))
    assert settings.policy("system.alert") == TypePolicy(customers=False)
    assert sources == {"invoice.issued": "saved", "system.alert": "configuration"}
    [admin, invoice] = await store.list_audit()
    assert (admin.actor, admin.setting, admin.old, admin.new) == (
        "t",
        "delivery/admin",
        None,
        {"address": "ops@x.test"},
    )
    assert invoice.setting == "delivery/types/invoice.issued"


async def test_saving_the_same_value_again_is_no_change(store: Store, tmp_path: Path) -> None:
    """Only real changes reach the audit log."""
    config = configuration.load(None, env={"HERALD_STATE_DIR": str(tmp_path)})
    for _ in range(2):
        await delivery.set_type(store, config, TEMPLATES, "legacy", {"customers": False}, actor="t")
    assert len(await store.list_audit()) == 1
