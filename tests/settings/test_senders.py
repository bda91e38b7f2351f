"""Tests for gateway/settings/senders.py: a sender identity is checked before it
is saved, and saved or removed with its audit entry, in a real store."""

from __future__ import annotations

import pytest

from gateway.errors import InvalidInput, NotFoundError
from gateway.settings import smtp
from gateway.settings.senders import remove, save, sender
from gateway.store import Definition, SenderIdentity, Store


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


def _definition(name: str, from_key: str) -> Definition:
    return Definition(
        name=name,
        from_key=from_key,
        recipient_key="invoice",
        clusters=("eu",),
        subject="Invoice",
        text="Dear {{ customer.name }}",
    )


async def test_remove_deletes_the_sender_audited_and_forgets_its_own_upstream(
    store: Store,
) -> None:
    """A removed sender is gone, the audit names who removed it, and its own
    upstream setting goes with it; another sender's stays."""
    await save(store, sender("gone", "gone@acme.test", "Gone"), actor="alice")
    await save(store, sender("kept", "kept@acme.test"), actor="alice")
    for key in ("gone", "kept"):
        await smtp.save(store, smtp.sender_setting(key), {"host": "mx.acme.test"}, actor="alice")
    await remove(store, "gone", actor="bob")
    with pytest.raises(NotFoundError):
        await store.get_sender("gone")
    assert [s.key for s in await store.list_senders()] == ["kept"]
    [entry, *_] = await store.list_audit(setting="senders/gone")
    assert (entry.actor, entry.new) == ("bob", None)
    assert entry.old == {"key": "gone", "address": "gone@acme.test", "name": "Gone"}
    saved = await store.read_settings(smtp.SETTING)
    assert smtp.sender_setting("gone") not in saved
    assert smtp.sender_setting("kept") in saved


async def test_remove_refuses_a_sender_a_definition_sends_from(store: Store) -> None:
    """While definitions name the sender as their from key, removing it is
    refused naming each of them, and the sender stays."""
    await save(store, sender("billing", "billing@acme.test"), actor="alice")
    await save(store, sender("other", "other@acme.test"), actor="alice")
    await store.put_definition(_definition("monthly", "billing"))
    await store.put_definition(_definition("yearly", "billing"))
    await store.put_definition(_definition("notices", "other"))
    with pytest.raises(InvalidInput) as refused:
        await remove(store, "billing", actor="bob")
    assert refused.value.field == "#/key"
    assert "monthly, yearly" in refused.value.detail
    assert "notices" not in refused.value.detail
    assert await store.get_sender("billing") == SenderIdentity("billing", "billing@acme.test")


async def test_removing_an_unknown_sender_is_not_found(store: Store) -> None:
    """There is nothing to remove under a key no sender has."""
    with pytest.raises(NotFoundError, match="nobody"):
        await remove(store, "nobody", actor="bob")
