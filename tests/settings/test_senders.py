"""Tests for gateway/settings/senders.py: a sender identity is checked before it
is saved, and saved with its audit entry, in a real store."""

from __future__ import annotations

import pytest

from gateway.errors import InvalidInput
from gateway.settings.senders import save, sender
from gateway.store import SenderIdentity, Store


def test_a_valid_sender_is_kept_as_given() -> None:
    """Key, address and display name come back unchanged, the name may be empty."""
    assert sender("billing", "billing@acme.test", "Acme Billing") == SenderIdentity(
        "billing", "billing@acme.test", "Acme Billing"
    )
    assert sender("a.b-c_1", "x@acme.test").name == ""


@pytest.mark.parametrize(
    ("key", "address", "name", "pointer"),
    [
        ("Billing", "b@acme.test", "", "#/key"),
        ("-billing", "b@acme.test", "", "#/key"),
        ("b" * 65, "b@acme.test", "", "#/key"),
        ("billing", "not an address", "", "#/address"),
        ("billing", "b@acme.test\r\nBcc: x@evil.test", "", "#/address"),
        ("billing", "b@acme.test", "Acme\r\nBcc: x@evil.test", "#/name"),
        ("billing", "b@acme.test", "=?utf-8?q?A=0D=0ABcc:_x@evil.test?=", "#/name"),
        ("billing", "b@acme.test", "n" * 201, "#/name"),
    ],
)
def test_a_bad_field_is_named(key: str, address: str, name: str, pointer: str) -> None:
    """A key that is not a lower-case name, an address that is none or carries a header,
    and a display name that breaks a line or runs long are each refused by name."""
    with pytest.raises(InvalidInput) as refused:
        sender(key, address, name)
    assert refused.value.field == pointer


async def test_save_replaces_by_key_and_audits_each_change(store: Store) -> None:
    """A second save with the same key replaces the first; each real change is audited
    with who made it, and saving the same sender again is no change."""
    first = sender("billing", "old@acme.test", "Old")
    await save(store, first, actor="alice")
    await save(store, first, actor="alice")
    await save(store, sender("billing", "new@acme.test", "New"), actor="bob")
    assert await store.get_sender("billing") == SenderIdentity("billing", "new@acme.test", "New")
    entries = await store.list_audit(setting="senders/billing")
    assert [e.actor for e in entries] == ["bob", "alice"]
