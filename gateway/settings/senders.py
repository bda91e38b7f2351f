"""Sender identities: the address and display name behind each from key."""

from __future__ import annotations

import re

from gateway.addresses import check_address, check_header_text
from gateway.errors import InvalidInput
from gateway.store import SenderIdentity, SenderStore

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
