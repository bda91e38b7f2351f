"""Console users and sessions in the store: expiry, disabling, the audit, and pages."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.errors import InvalidInput, NotFoundError
from gateway.settings import users
from gateway.store._sql import SQLStore
from tests import stores
from tests.store.test_store import store

__all__ = ["store"]  # the store's fixture, a real store on a movable clock (``clock``)

IDLE, ABSOLUTE = 1800.0, 43200.0


async def _ada(store: SQLStore) -> None:
    user = users.new_user("ada", "ada@example.com", "admin", "correct horse battery")
    await store.add_console_user(user, actor="cli:root")


async def test_a_session_ends_when_idle_and_at_its_absolute_expiry(
    store: SQLStore, clock: stores.MovableClock
) -> None:
    """A session seen within the idle time lives on, up to its absolute expiry, and not after."""
    await _ada(store)
    await store.add_console_session("d1", "ada", "csrf1")
    step = IDLE - 60
    # Seen every step, it lives as long as the last step stays within the absolute expiry.
    for _ in range(int(ABSOLUTE // step)):
        clock.advance(step)
        assert await store.find_console_session("d1", idle=IDLE, absolute=ABSOLUTE) is not None
    clock.advance(step)
    assert await store.find_console_session("d1", idle=IDLE, absolute=ABSOLUTE) is None

    await store.add_console_session("d2", "ada", "csrf2")
    clock.advance(IDLE + 1)
    assert await store.find_console_session("d2", idle=IDLE, absolute=ABSOLUTE) is None
    # Gone for good, not only hidden.
    clock.offset = 0
    assert await store.find_console_session("d2", idle=IDLE, absolute=ABSOLUTE) is None


async def test_disabling_a_user_or_changing_the_password_ends_their_sessions(
    store: SQLStore,
) -> None:
    """Disabled, or with a new password, a user's existing sessions are found no more."""
    await _ada(store)
    await store.add_console_session("d1", "ada", "c")
    user = await store.get_console_user("ada")
    await store.update_console_user(users.disabled(user), actor="cli:root")
    assert await store.find_console_session("d1", idle=IDLE, absolute=ABSOLUTE) is None
    await store.update_console_user(users.disabled(user, False), actor="cli:root")
    await store.add_console_session("d2", "ada", "c")
    changed = users.with_password(user, "another long password")
    await store.update_console_user(changed, actor="cli:root")
    assert await store.find_console_session("d2", idle=IDLE, absolute=ABSOLUTE) is None
    assert users.password_matches(await store.get_console_user("ada"), "another long password")


async def test_flash_messages_are_shown_once(store: SQLStore) -> None:
    """A flash message reaches the next page of the session and no page after it."""
    await _ada(store)
    await store.add_console_session("d1", "ada", "c")
    await store.flash_console_session("d1", [("ok", "Saved.")])
    await store.flash_console_session("d1", [("error", "<b>not</b> markup")])
    found = await store.find_console_session("d1", idle=IDLE, absolute=ABSOLUTE)
    assert found is not None
    assert found.flash == (("ok", "Saved."), ("error", "<b>not</b> markup"))
    again = await store.find_console_session("d1", idle=IDLE, absolute=ABSOLUTE)
    assert again is not None
    assert again.flash == ()


async def test_users_are_audited_without_their_secrets(store: SQLStore) -> None:
    """Adding and changing a user is audited by name, never with the hash or the TOTP key."""
    await _ada(store)
    user = await store.get_console_user("ada")
    with pytest.raises(InvalidInput, match="exists"):
        await store.add_console_user(user, actor="cli:root")
    with pytest.raises(NotFoundError):
        await store.get_console_user("bob")
    await store.update_console_user(dataclasses.replace(user, role="read-only"), actor="console:x")
    page = await store.audit_page(limit=10)
    assert [(e.actor, e.setting) for e in page.entries] == [
        ("console:x", "users/ada"),
        ("cli:root", "users/ada"),
    ]
    assert page.entries[0].old is not None
    assert page.entries[0].old["role"] == "admin"
    assert page.entries[0].new is not None
    assert page.entries[0].new["role"] == "read-only"
    text = repr([(e.old, e.new) for e in page.entries])
    assert user.password_hash not in text
    assert "scrypt$" not in text


async def test_audit_pages_follow_the_id_downwards(store: SQLStore) -> None:
    """Pages of the audit log meet without a gap or an overlap, and filter by who."""
    for index in range(7):
        await store.write_setting(f"k/{index}", {"v": index}, actor=f"a{index % 2}")
    seen: list[int] = []
    before = None
    while True:
        page = await store.audit_page(limit=3, before=before)
        seen += [entry.id for entry in page.entries]
        if page.next_before is None:
            break
        before = page.next_before
    assert len(seen) == 7
    assert seen == sorted(seen, reverse=True)
    only = await store.audit_page(limit=10, actor="a1")
    assert {entry.actor for entry in only.entries} == {"a1"}
    assert len(only.entries) == 3


async def test_audit_pages_filter_by_what_changed(store: SQLStore) -> None:
    """``setting`` keeps the entries of that setting and of those under it, by whoever."""
    for key in ("smtp", "smtp/extra", "smtpx", "users/ada", "users/bob"):
        await store.write_setting(key, {"v": 1}, actor="cli:root")
    smtp = await store.audit_page(limit=10, setting="smtp")
    assert [entry.setting for entry in smtp.entries] == ["smtp/extra", "smtp"]
    users = await store.audit_page(limit=10, setting="users", actor="cli:root")
    assert [entry.setting for entry in users.entries] == ["users/bob", "users/ada"]
    assert (await store.audit_page(limit=10, setting="users", actor="console:x")).entries == []


async def test_a_totp_step_is_taken_once(store: SQLStore) -> None:
    """A time step is taken once; an earlier one after it never; a later one is."""
    await _ada(store)
    assert await store.take_totp_step("ada", 100)
    assert not await store.take_totp_step("ada", 100)
    assert not await store.take_totp_step("ada", 99)
    assert await store.take_totp_step("ada", 101)
    assert (await store.get_console_user("ada")).totp_step == 101
    assert not await store.take_totp_step("nobody", 5)


async def test_a_customers_runs_are_newest_first_with_only_its_items(store: SQLStore) -> None:
    """The runs that wrote to a customer come newest first, a page at a time,
    each holding that customer's items and no other customer's; a run that
    never wrote to it is not among them."""
    from gateway.store import NewItem, NewMessage
    from tests.store.test_store import batch_run, customer_message

    for number, batch in enumerate(("b1", "b2", "b3", "b4"), start=1):
        run_id = f"run_{number}"
        await store.start_batch_run(batch_run(run_id, batch))
        messages = [customer_message("cus_other", "other@x.test")]
        if batch != "b3":
            messages.insert(0, customer_message("cus_1", "a@x.test", "b@x.test"))
        if batch == "b4":
            skipped = NewItem("", "to", "customer", "skipped", "no address")
            messages.insert(0, NewMessage("cus_1", None, [skipped]))
        await store.feed_run(run_id, messages, after=None, cursor="cus_other")
    first = await store.customer_runs("cus_1", limit=2)
    assert [run.id for run in first] == ["run_4", "run_2"]
    assert [(i.address, i.status) for i in first[0].items] == [
        ("", "skipped"),
        ("a@x.test", "queued"),
        ("b@x.test", "queued"),
    ]
    assert {i.customer_id for run in first for i in run.items} == {"cus_1"}
    older = await store.customer_runs("cus_1", before=first[-1].id, limit=2)
    assert [run.id for run in older] == ["run_1"]
    assert first[0].definition == "monthly"
    assert await store.customer_runs("cus_nobody") == []
