"""Tests for gateway/store/_suppressions.py: the suppression list, each change
audited in its own transaction."""

from __future__ import annotations

import pytest

from gateway.errors import NotFoundError
from gateway.store import NewSuppression
from gateway.store._sql import SQLStore


@pytest.fixture
def store(clocked_store: SQLStore) -> SQLStore:
    return clocked_store


async def test_an_address_is_suppressed_once_whatever_its_case(store: SQLStore) -> None:
    """Adding is audited; adding the same mailbox again in other letters changes nothing."""
    new = NewSuppression("Ada@Example.com", "550 5.1.1 user unknown", "operator")
    assert await store.add_suppression(new, actor="cli:ops")
    assert not await store.add_suppression(new, actor="cli:ops")
    found = await store.suppressions_for(["ADA@example.COM", "bob@example.com"])
    assert list(found) == ["ada@example.com"]
    [entry] = await store.list_audit(setting="suppressions")
    assert (entry.actor, entry.setting, entry.old) == (
        "cli:ops",
        "suppressions/ada@example.com",
        None,
    )
    assert entry.new == {"reason": "550 5.1.1 user unknown", "source": "operator", "run_id": None}


async def test_every_change_of_the_list_moves_its_own_counter(store: SQLStore) -> None:
    """Adding and removing move the suppression counter and say whether the
    list holds anyone; the settings' ``saved_version`` stays where it was, so
    a learned suppression sends no process back to its settings."""
    saved = await store.saved_version()
    empty_at, anyone = await store.suppression_state()
    assert not anyone
    await store.add_suppression(NewSuppression("ada@example.com", "gone", "operator"), actor="t")
    added_at, anyone = await store.suppression_state()
    assert anyone
    assert added_at > empty_at
    await store.remove_suppression("ada@example.com", actor="t")
    removed_at, anyone = await store.suppression_state()
    assert not anyone
    assert removed_at > added_at
    assert await store.saved_version() == saved


async def test_removing_is_audited_and_an_unknown_address_is_not_found(store: SQLStore) -> None:
    """Removal answers what was removed and is audited; removing again is NotFoundError."""
    await store.add_suppression(NewSuppression("ada@example.com", "gone", "bounce"), actor="bounce")
    removed = await store.remove_suppression("ADA@example.com", actor="admin-api")
    assert removed.source == "bounce"
    assert await store.suppressions_for(["ada@example.com"]) == {}
    latest = (await store.list_audit(setting="suppressions"))[0]
    assert (latest.actor, latest.new) == ("admin-api", None)
    with pytest.raises(NotFoundError, match=r"ada@example\.com is not suppressed"):
        await store.remove_suppression("ada@example.com", actor="admin-api")


async def test_search_matches_what_was_typed_and_pages_by_address(store: SQLStore) -> None:
    """A search finds addresses containing its text (``_`` and ``%`` as
    themselves); ``after`` pages through the list in address order."""
    for address in ("a_b@example.com", "axb@example.com", "c%d@example.com", "zed@example.org"):
        await store.add_suppression(NewSuppression(address, "gone", "operator"), actor="t")
    assert [s.address for s in await store.list_suppressions(search="A_B")] == ["a_b@example.com"]
    assert [s.address for s in await store.list_suppressions(search="%")] == ["c%d@example.com"]
    first = await store.list_suppressions(limit=2)
    rest = await store.list_suppressions(after=first[-1].address, limit=10)
    assert [s.address for s in first + rest] == [
        "a_b@example.com",
        "axb@example.com",
        "c%d@example.com",
        "zed@example.org",
    ]
