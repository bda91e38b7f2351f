"""Sender identities: the address and display name behind each from key,
checked, saved and removed the same way for the admin API, the CLI and the
console."""

from __future__ import annotations

import re
from typing import Protocol

from gateway.addresses import check_address, check_header_text
from gateway.errors import InvalidInput
from gateway.settings import smtp
from gateway.store import SenderIdentity, SenderStore, SettingsStore

KEY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def sender(key: str, address: str, name: str = "") -> SenderIdentity:
    """A validated ``SenderIdentity``, or ``InvalidInput`` naming the bad field."""
    if not KEY.match(key):
        raise InvalidInput("#/key", "must be 1-64 lower-case letters, digits, '.', '_' or '-'")
    try:
        check_address(address)
    except ValueError as exc:
        raise InvalidInput("#/address", str(exc)) from exc
    try:
        check_header_text(name, "the name")
    except ValueError as exc:
        raise InvalidInput("#/name", str(exc)) from exc
    if len(name) > 200:
        raise InvalidInput("#/name", "must be at most 200 characters")
    return SenderIdentity(key=key, address=address, name=name)


async def save(store: SenderStore, identity: SenderIdentity, *, actor: str) -> None:
    """Create or replace a sender; the store records the change in the audit log."""
    await store.put_sender(identity, actor=actor)


class SenderSettingsStore(SenderStore, SettingsStore, Protocol):
    """Where senders and their own upstreams are kept."""


async def remove(store: SenderSettingsStore, key: str, *, actor: str) -> None:
    """Remove a sender and forget its own upstream, if it had one.

    ``NotFoundError`` when there is no such sender; ``InvalidInput`` naming
    the definitions when any still sends from it (nothing is removed)."""
    await store.delete_sender(key, actor=actor)
    # Its own upstream would otherwise wait, unseen, for a sender of the same key.
    setting = smtp.sender_setting(key)
    if setting in await store.read_settings(setting):
        await smtp.save(store, setting, None, actor=actor)
