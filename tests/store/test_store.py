"""Tests for the store (gateway/store/_sql.py on SQLite files or PostgreSQL, as
``HERALD_TEST_STORE`` says) and gateway/store/__init__.py."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sqlite3
import stat
import time
import types
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from gateway import store as store_module
from gateway.context import Later
from gateway.errors import (
    InvalidInput,
    LeaseLostError,
    NotFoundError,
    StoreDataError,
    StoreError,
)
from gateway.store import (
    AdminToken,
    Cleaned,
    Customer,
    NewBatchRun,
    NewItem,
    NewMessage,
    NewNotice,
    NewRun,
    NewSuppression,
    Outcome,
    RunPage,
    RunStatus,
    SenderIdentity,
    SMTPUser,
    TemplateParts,
    new_id,
    open_store,
    run_status,
)
from gateway.store._sql import SQLStore, migrations
from gateway.store._sqlite import WAL_SIZE_LIMIT, SQLiteStore
from gateway.store.run_filter import RunFilter
from tests import stores

CONTENT = Cleaned(b"From: app@example.com\r\nTo: ada@example.com\r\nSubject: Hi\r\n\r\nHello\r\n")


def new_run(
    run_id: str,
    *,
    addresses: Sequence[str] = ("ada@example.com",),
    key: str | None = None,
    email_type: str = "invoice.issued",
    status: RunStatus = "queued",
    content: Cleaned | None = CONTENT,
    items: Sequence[NewItem] | None = None,
) -> NewRun:
    return NewRun(
        id=run_id,
        source="test",
        email_type=email_type,
        idempotency_key=key,
        subject="Hi",
        mail_from="app@example.com",
        items=list(items) if items is not None else [NewItem(a, "to", "test") for a in addresses],
        content=content,
        status=status,
    )


@pytest.fixture
def store(clocked_store: SQLStore) -> SQLStore:
    return clocked_store


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = SQLiteStore(str(tmp_path / "state" / "herald.db"))
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


# Opening and migrations


async def test_migrations_are_applied(sqlite_store: SQLiteStore, tmp_path: Path) -> None:
    """Opening a new file creates it and records every shipped migration in schema_version."""
    store = sqlite_store
    assert (tmp_path / "state" / "herald.db").is_file()
    cursor = await store.db.execute("SELECT version FROM schema_version ORDER BY version")
    versions = [row[0] for row in await cursor.fetchall()]
    assert versions == [version for version, _ in migrations("sqlite")]
    assert versions[0] == 1
    cursor = await store.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    tables = {row[0] for row in await cursor.fetchall()}
    assert {"runs", "messages", "items", "history"} <= tables


async def test_reopening_keeps_data_and_reapplies_nothing(tmp_path: Path) -> None:
    """A second open of the same file keeps its runs and applies no migration twice."""
    path = str(tmp_path / "herald.db")
    first = SQLiteStore(path)
    await first.open()
    await first.record_run(new_run("run_1"))
    cursor = await first.db.execute("SELECT version, applied_at FROM schema_version")
    before = [tuple(row) for row in await cursor.fetchall()]
    await first.close()

    second = SQLiteStore(path)
    await second.open()
    try:
        cursor = await second.db.execute("SELECT version, applied_at FROM schema_version")
        assert [tuple(row) for row in await cursor.fetchall()] == before
        assert (await second.get_run("run_1")).id == "run_1"
    finally:
        await second.close()


async def test_unopened_store_raises_store_error(tmp_path: Path) -> None:
    """Using a store before open() is a StoreError, not an AttributeError."""
    unopened = SQLiteStore(str(tmp_path / "herald.db"))
    with pytest.raises(StoreError, match="not open"):
        await unopened.ping()


async def test_read_only_directory_fails_to_open(tmp_path: Path) -> None:
    """A store in a directory Herald cannot write is a StoreError naming the path."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: chmod does not stop writes")
        path = str(locked / "herald.db")
        with pytest.raises(StoreError, match="cannot open the store at") as info:
            await SQLiteStore(path).open()
        assert path in str(info.value)
    finally:
        locked.chmod(stat.S_IRWXU)


async def test_path_under_a_regular_file_fails_to_open(tmp_path: Path) -> None:
    """A store whose parent is a regular file is a StoreError, also when running as root."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("", encoding="utf-8")
    path = str(blocker / "herald.db")
    with pytest.raises(StoreError, match="cannot open the store at") as info:
        await SQLiteStore(path).open()
    assert path in str(info.value)
    assert isinstance(info.value, OSError)


def test_open_store_accepts_a_sqlite_url(tmp_path: Path) -> None:
    """open_store takes a plain path or a sqlite:// URL and yields a SQLiteStore on that path."""
    plain = open_store(str(tmp_path / "a.db"))
    url = open_store(f"sqlite://{tmp_path}/b.db")
    assert isinstance(plain, SQLiteStore)
    assert plain.path == str(tmp_path / "a.db")
    assert isinstance(url, SQLiteStore)
    assert url.path == f"{tmp_path}/b.db"


# Recording runs


async def test_record_run_stores_items_and_history(store: SQLStore) -> None:
    """A new run is recorded with its items and an 'accepted' history entry."""
    await store.record_run(new_run("run_1", addresses=["a@example.com", "b@example.com"]))
    run = await store.get_run("run_1")
    assert run.status == "queued"
    assert run.subject == "Hi"
    assert [(i.address, i.status) for i in run.items] == [
        ("a@example.com", "queued"),
        ("b@example.com", "queued"),
    ]
    assert [(h.event, h.detail) for h in run.history] == [("accepted", "2 recipient(s)")]


async def test_record_run_is_new(store: SQLStore) -> None:
    """record_run returns the run's id and True the first time."""
    assert await store.record_run(new_run("run_1", key="event:evt_1")) == ("run_1", True)


async def test_same_idempotency_key_returns_first_run(store: SQLStore) -> None:
    """A second run with a taken idempotency key returns the first run's id and False."""
    await store.record_run(new_run("run_1", key="event:evt_1"))
    assert await store.record_run(new_run("run_2", key="event:evt_1")) == ("run_1", False)
    with pytest.raises(NotFoundError):
        await store.get_run("run_2")
    assert await store.find_run_id("event:evt_1") == "run_1"
    # The duplicate queued nothing: only the first run's message can be claimed.
    claimed = await store.claim("worker", limit=10, lease=60)
    assert [d.run_id for d in claimed] == ["run_1"]


async def test_runs_without_key_are_never_duplicates(store: SQLStore) -> None:
    """Runs without an idempotency key are all recorded."""
    assert await store.record_run(new_run("run_1")) == ("run_1", True)
    assert await store.record_run(new_run("run_2")) == ("run_2", True)


async def test_reused_run_id_without_key_is_a_store_error(store: SQLStore) -> None:
    """Recording a run id twice without an idempotency key is a StoreError."""
    await store.record_run(new_run("run_1"))
    with pytest.raises(StoreError, match="run_1"):
        await store.record_run(new_run("run_1"))


async def test_run_without_content_queues_nothing(store: SQLStore) -> None:
    """A dropped run is recorded with its status and reason but leaves nothing to claim."""
    run = NewRun(
        id="run_1",
        source="test",
        email_type="invoice.issued",
        idempotency_key=None,
        subject="",
        mail_from="app@example.com",
        items=[NewItem("ada@example.com", "to", "test", status="skipped", error="customers off")],
        content=None,
        status="dropped",
        error="customers off",
    )
    await store.record_run(run)
    recorded = await store.get_run("run_1")
    assert recorded.status == "dropped"
    assert recorded.error == "customers off"
    assert [(h.event, h.detail) for h in recorded.history] == [("dropped", "customers off")]
    assert await store.claim("worker", limit=10, lease=60) == []
    assert await store.next_due() is None


# Claiming


async def test_claim_leases_due_messages(store: SQLStore) -> None:
    """claim returns each due message with its content and pending recipients."""
    await store.record_run(new_run("run_1", addresses=["a@example.com", "b@example.com"]))
    [delivery] = await store.claim("worker-1", limit=10, lease=60)
    assert delivery.run_id == "run_1"
    assert delivery.content == CONTENT
    assert delivery.mail_from == "app@example.com"
    assert [address for _, address in delivery.recipients] == ["a@example.com", "b@example.com"]
    assert delivery.attempts == 0


async def test_a_claim_carries_the_counters_of_the_settings_and_the_list(store: SQLStore) -> None:
    """Each claimed delivery carries ``saved_version`` and the suppression
    counter as they stood when it was claimed, so its delivery reads neither."""
    await store.write_setting("smtp", {"host": "mail.test"}, actor="test")
    await store.add_suppression(NewSuppression("gone@example.com", "gone", "operator"), actor="t")
    await store.record_run(new_run("run_1"))
    [delivery] = await store.claim("worker-1", limit=10, lease=60)
    assert delivery.saved_version == await store.saved_version()
    assert delivery.suppression_version == (await store.suppression_state())[0]


async def test_second_claim_gets_nothing_while_leased(store: SQLStore) -> None:
    """A leased message is not handed to another claim until the lease runs out."""
    await store.record_run(new_run("run_1"))
    assert len(await store.claim("worker-1", limit=10, lease=60)) == 1
    assert await store.claim("worker-2", limit=10, lease=60) == []


async def test_claim_respects_limit(store: SQLStore) -> None:
    """claim hands out at most `limit` messages; the rest stay for the next claim."""
    for n in range(3):
        await store.record_run(new_run(f"run_{n}"))
    assert len(await store.claim("worker-1", limit=2, lease=60)) == 2
    assert len(await store.claim("worker-2", limit=2, lease=60)) == 1


async def test_expired_lease_is_claimable_again(
    store: SQLStore, clock: stores.MovableClock
) -> None:
    """When a lease expires without an attempt being recorded, the message is claimed again."""
    await store.record_run(new_run("run_1"))
    [first] = await store.claim("worker-1", limit=10, lease=60)
    clock.advance(59)
    assert await store.claim("worker-2", limit=10, lease=60) == []
    clock.advance(2)
    [again] = await store.claim("worker-2", limit=10, lease=60)
    assert again.message_id == first.message_id


async def test_skipped_items_are_not_delivered(store: SQLStore) -> None:
    """Only queued items of a run are recipients of its message; skipped ones are left out."""
    items = [
        NewItem("a@example.com", "to", "test"),
        NewItem("b@example.com", "to", "test", status="skipped", error="suppressed"),
    ]
    await store.record_run(new_run("run_1", items=items))
    [delivery] = await store.claim("worker", limit=10, lease=60)
    assert [address for _, address in delivery.recipients] == ["a@example.com"]


# Recording attempts


async def test_mixed_outcome_keeps_only_the_deferred_recipient_queued(store: SQLStore) -> None:
    """After one recipient is sent and one deferred, only the deferred one is delivered again."""
    await store.record_run(new_run("run_1", addresses=["a@example.com", "b@example.com"]))
    [delivery] = await store.claim("worker", limit=10, lease=60)
    (a_id, _), (b_id, _) = delivery.recipients
    await store.record_attempt(
        delivery,
        [
            Outcome(a_id, "sent", reply="250 2.0.0 Ok"),
            Outcome(b_id, "deferred", error="451 4.2.0 try later"),
        ],
        retry_at=time.time(),
    )
    run = await store.get_run("run_1")
    assert run.status == "deferred"
    assert [(i.address, i.status, i.attempts) for i in run.items] == [
        ("a@example.com", "sent", 1),
        ("b@example.com", "deferred", 1),
    ]
    assert run.items[0].reply == "250 2.0.0 Ok"
    assert run.items[1].error == "451 4.2.0 try later"
    assert [h.event for h in run.history] == ["accepted", "sent", "deferred"]

    [retry] = await store.claim("worker", limit=10, lease=60)
    assert retry.message_id == delivery.message_id
    assert retry.recipients == [(b_id, "b@example.com")]
    assert retry.attempts == 1

    await store.record_attempt(retry, [Outcome(b_id, "sent", reply="250 ok")], retry_at=None)
    assert (await store.get_run("run_1")).status == "sent"
    assert await store.claim("worker", limit=10, lease=60) == []


async def test_deferred_message_waits_until_retry_at(store: SQLStore) -> None:
    """A deferred message is not due before retry_at, and next_due reports that time."""
    await store.record_run(new_run("run_1"))
    [delivery] = await store.claim("worker", limit=10, lease=60)
    retry_at = time.time() + 600
    [(item_id, _)] = delivery.recipients
    await store.record_attempt(delivery, [Outcome(item_id, "deferred")], retry_at=retry_at)
    assert await store.claim("worker", limit=10, lease=60) == []
    assert await store.next_due() == pytest.approx(retry_at)


async def test_failed_recipient_ends_the_message(store: SQLStore) -> None:
    """When every recipient is sent or failed, the run is partial and nothing is left to claim."""
    await store.record_run(new_run("run_1", addresses=["a@example.com", "b@example.com"]))
    [delivery] = await store.claim("worker", limit=10, lease=60)
    (a_id, _), (b_id, _) = delivery.recipients
    await store.record_attempt(
        delivery,
        [Outcome(a_id, "sent"), Outcome(b_id, "failed", error="550 5.1.1 no such user")],
        retry_at=None,
    )
    assert (await store.get_run("run_1")).status == "partial"
    assert await store.claim("worker", limit=10, lease=60) == []
    assert await store.next_due() is None


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["sent"], "sent"),
        (["sent", "sent"], "sent"),
        (["sent", "skipped"], "sent"),
        (["sent", "failed"], "partial"),
        (["failed", "sent", "skipped"], "partial"),
        (["failed"], "failed"),
        (["failed", "skipped"], "failed"),
        (["skipped"], "dropped"),
        (["skipped", "skipped"], "dropped"),
        ([], "dropped"),
        (["sent", "deferred"], "deferred"),
        (["failed", "deferred"], "deferred"),
        (["queued", "deferred"], "deferred"),
        (["queued", "sent"], "queued"),
        (["queued"], "queued"),
    ],
)
def test_run_status(statuses: list[str], expected: str) -> None:
    """A run's status follows from its recipients: any deferred wins, then queued, then sent."""
    assert run_status(statuses) == expected
    assert run_status(iter(statuses)) == expected


# Listing and reading runs


@pytest.fixture
async def five_runs(store: SQLStore) -> SQLStore:
    """Five runs with ids in creation order, of two types and two statuses."""
    runs: list[tuple[str, RunStatus]] = [
        ("invoice.issued", "queued"),
        ("account.created", "dropped"),
        ("invoice.issued", "dropped"),
        ("account.created", "queued"),
        ("invoice.issued", "queued"),
    ]
    for n, (email_type, status) in enumerate(runs, start=1):
        await store.record_run(
            new_run(
                f"run_{n:04d}",
                email_type=email_type,
                status=status,
                content=CONTENT if status == "queued" else None,
            )
        )
    return store


async def test_list_runs_newest_first(five_runs: SQLStore) -> None:
    """list_runs returns the newest run first and no cursor when everything fits."""
    page = await five_runs.list_runs()
    assert [r.id for r in page.runs] == ["run_0005", "run_0004", "run_0003", "run_0002", "run_0001"]
    assert page.next_cursor is None


async def test_list_runs_filters(five_runs: SQLStore) -> None:
    """list_runs filters by status, by email type, and by both."""
    by_status = await five_runs.list_runs(status="dropped")
    assert [r.id for r in by_status.runs] == ["run_0003", "run_0002"]
    by_type = await five_runs.list_runs(email_type="invoice.issued")
    assert [r.id for r in by_type.runs] == ["run_0005", "run_0003", "run_0001"]
    both = await five_runs.list_runs(status="queued", email_type="account.created")
    assert [r.id for r in both.runs] == ["run_0004"]
    assert (await five_runs.list_runs(status="sent")).runs == []


async def test_list_runs_by_recipient_and_date(store: SQLStore, clock: stores.MovableClock) -> None:
    """list_runs finds the runs with a recipient at an address, in any case,
    made at or after one moment and before another."""
    await store.record_run(new_run("run_0001", addresses=("Ada@Example.com", "bob@example.com")))
    clock.advance(3600)
    middle = clock()
    await store.record_run(new_run("run_0002", addresses=("bob@example.com",)))
    clock.advance(3600)
    await store.record_run(new_run("run_0003", addresses=("ada@example.com",)))

    def ids(page: RunPage) -> list[str]:
        return [run.id for run in page.runs]

    to_ada = RunFilter(recipient="ada@EXAMPLE.com")
    assert ids(await store.list_runs(where=to_ada)) == ["run_0003", "run_0001"]
    made_since = RunFilter(created_after=middle - 1)
    assert ids(await store.list_runs(where=made_since)) == ["run_0003", "run_0002"]
    window = RunFilter(created_after=middle - 1, created_before=middle + 1)
    assert ids(await store.list_runs(where=window)) == ["run_0002"]
    ada_before = dataclasses.replace(to_ada, created_before=middle)
    assert ids(await store.list_runs(where=ada_before)) == ["run_0001"]
    assert ids(await store.list_runs(where=RunFilter(recipient="nobody@example.com"))) == []
    assert ids(await store.list_runs(where=RunFilter(definition="monthly"))) == []


async def test_list_runs_cursor_pagination(five_runs: SQLStore) -> None:
    """Following next_cursor visits every run once, newest first, and ends with None."""
    seen: list[str] = []
    pages = 0
    cursor = None
    while True:
        page = await five_runs.list_runs(limit=2, cursor=cursor)
        pages += 1
        seen.extend(r.id for r in page.runs)
        assert len(page.runs) <= 2
        if page.next_cursor is None:
            break
        assert page.next_cursor == page.runs[-1].id
        cursor = page.next_cursor
    assert pages == 3
    assert seen == ["run_0005", "run_0004", "run_0003", "run_0002", "run_0001"]


async def test_list_runs_exact_page_has_no_cursor(five_runs: SQLStore) -> None:
    """A page that holds exactly the remaining runs has no next cursor."""
    page = await five_runs.list_runs(limit=3, email_type="invoice.issued")
    assert [r.id for r in page.runs] == ["run_0005", "run_0003", "run_0001"]
    assert page.next_cursor is None


async def test_list_runs_cursor_with_filter(five_runs: SQLStore) -> None:
    """A cursor combines with a filter."""
    first = await five_runs.list_runs(limit=1, email_type="invoice.issued")
    assert first.next_cursor == "run_0005"
    second = await five_runs.list_runs(limit=5, email_type="invoice.issued", cursor="run_0005")
    assert [r.id for r in second.runs] == ["run_0003", "run_0001"]


async def test_get_unknown_run_raises_not_found(store: SQLStore) -> None:
    """get_run of an id that was never recorded raises NotFoundError."""
    with pytest.raises(NotFoundError, match="run_missing"):
        await store.get_run("run_missing")


def test_new_ids_are_unique_and_prefixed() -> None:
    """new_id gives distinct ids that start with the prefix."""
    ids = {new_id("run") for _ in range(200)}
    assert len(ids) == 200
    assert all(i.startswith("run_") for i in ids)


def test_new_ids_sort_in_creation_order_within_a_millisecond(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ids made one after another sort in creation order even within the same millisecond."""
    frozen = types.SimpleNamespace(time_ns=lambda: 1_767_225_600_123_456_789)
    monkeypatch.setattr(store_module, "time", frozen)
    ids = [new_id("run") for _ in range(20)]
    assert ids == sorted(ids)


async def test_store_file_is_sqlite_in_wal_mode(sqlite_store: SQLiteStore, tmp_path: Path) -> None:
    """The store is a SQLite database in WAL mode, so readers do not block the writer."""
    cursor = await sqlite_store.db.execute("PRAGMA journal_mode")
    row = await cursor.fetchone()
    assert row is not None
    assert row[0] == "wal"
    with contextlib.closing(sqlite3.connect(tmp_path / "state" / "herald.db")) as other:
        assert other.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


async def test_template_versions_are_numbered_in_order_even_when_saved_at_once(
    store: SQLStore,
) -> None:
    """Concurrent saves each get their own version number; the newest is in force
    until a reset, which keeps the history."""
    parts = [TemplateParts(subject=f"s{n}", html="<p>h</p>", text="") for n in range(3)]
    saved = await asyncio.gather(
        *(store.add_template_version("invoice.issued", "save", p) for p in parts)
    )
    assert sorted(v.version for v in saved) == [1, 2, 3]
    current = await store.current_template("invoice.issued")
    assert current is not None
    assert current.version == 3
    await store.add_template_version("invoice.issued", "reset", None, "reset")
    assert await store.current_template("invoice.issued") is None
    assert [v.action for v in await store.template_versions("invoice.issued")][:2] == [
        "reset",
        "save",
    ]
    assert (await store.template_version("invoice.issued", 2)).parts in parts


async def test_a_customer_named_twice_in_one_put_is_the_later_one(store: SQLStore) -> None:
    """One sync may name a customer twice: the later replaces the earlier, with its
    own clusters and addresses, as a later sync would."""
    await store.put_customers(
        [
            Customer("cus_1", "Acme", clusters=["eu"], addresses={"invoice": ["a@acme.test"]}),
            Customer("cus_2", "Beta"),
            Customer("cus_1", "Acme BV", clusters=["eu"], addresses={"invoice": ["b@acme.test"]}),
        ]
    )
    customer = await store.get_customer("cus_1")
    assert (customer.name, list(customer.clusters)) == ("Acme BV", ["eu"])
    assert {k: list(v) for k, v in customer.addresses.items()} == {"invoice": ["b@acme.test"]}
    assert await store.count_customers(["eu"]) == 1


# Definition runs


def batch_run(run_id: str, batch: str = "b1") -> NewBatchRun:
    return NewBatchRun(
        id=run_id,
        definition="monthly",
        batch_id=batch,
        subject="Invoice",
        mail_from="billing@example.com",
        invoices_dir="/srv/invoices",
        expected=2,
    )


def customer_message(customer: str, *addresses: str) -> NewMessage:
    return NewMessage(customer, CONTENT, [NewItem(a, "to", "customer") for a in addresses])


async def test_a_batch_runs_once_and_counts_follow_its_items(store: SQLiteStore) -> None:
    """The same definition and batch answer the first run; counts move with each
    outcome, and the run is running until fed, then sent, with its timings."""
    assert await store.start_batch_run(batch_run("run_1")) == ("run_1", True)
    assert await store.start_batch_run(batch_run("run_2")) == ("run_1", False)
    messages = [
        customer_message("cus_1", "a@x.test", "b@x.test"),
        NewMessage("cus_2", None, [NewItem("", "to", "customer", "skipped", "no address")]),
    ]
    assert await store.feed_run("run_1", messages, after=None, cursor="cus_2")
    [delivery] = await store.claim("me", limit=10, lease=60)
    await store.record_attempt(
        delivery, [Outcome(item, "sent") for item, _ in delivery.recipients], retry_at=None
    )
    run = await store.get_run("run_1")
    assert (run.status, run.counts, run.finished_at) == (
        "running",
        {"sent": 2, "skipped": 1},
        None,
    )
    await store.finish_feed("run_1")
    run = await store.get_run("run_1")
    assert (run.status, run.counts) == ("sent", {"sent": 2, "skipped": 1})
    assert run.fed_at is not None
    assert run.finished_at is not None


async def test_cancel_skips_waiting_items_and_retries_of_those_in_flight(
    store: SQLiteStore,
) -> None:
    """Cancelling skips what waits; a message out with the relay meanwhile is
    not requeued when it comes back deferred; retry and resend requeue."""
    await store.start_batch_run(batch_run("run_1"))
    await store.feed_run(
        "run_1",
        [customer_message("cus_1", "a@x.test"), customer_message("cus_2", "b@x.test")],
        after=None,
        cursor="cus_2",
    )
    await store.finish_feed("run_1")
    [first] = await store.claim("me", limit=1, lease=60)
    assert await store.cancel_run("run_1") == 1
    await store.record_attempt(
        first, [Outcome(first.recipients[0][0], "deferred", error="451")], retry_at=time.time()
    )
    run = await store.get_run("run_1")
    assert (run.status, run.counts) == ("cancelled", {"skipped": 2})
    assert {item.error for item in run.items} == {"run cancelled"}
    assert await store.claim("me", limit=10, lease=60) == []

    await store.resend_item("run_1", run.items[0].id)
    [again] = await store.claim("me", limit=10, lease=60)
    assert [address for _, address in again.recipients] == [run.items[0].address]
    await store.record_attempt(
        again, [Outcome(again.recipients[0][0], "failed", error="550")], retry_at=None
    )
    assert await store.retry_run("run_1") == 1
    run = await store.get_run("run_1")
    assert (run.status, run.counts) == ("queued", {"queued": 1, "skipped": 1})
    with pytest.raises(NotFoundError):
        await store.resend_item("run_1", 10_000)


# Group commit, the in-flight mark, notices, queue control, a full store


def committed(path: Path) -> int:
    """Runs visible to another connection: what is on disk, not in our transaction."""
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM runs").fetchone()[0])


async def test_concurrent_runs_share_commits_and_each_is_durable(
    sqlite_store: SQLiteStore, tmp_path: Path
) -> None:
    """Fifty concurrent record_run calls all return only once their run is on disk,
    and a taken idempotency key fails only its own write."""
    first = new_run(new_id("run"), key="event:1")
    await sqlite_store.record_run(first)
    runs = [new_run(f"run_{n}", key=f"event:{n}") for n in range(2, 52)]
    again = new_run(new_id("run"), key="event:1")
    results = await asyncio.gather(*(sqlite_store.record_run(run) for run in [*runs, again]))
    assert results[-1] == (first.id, False)
    assert all(created for _, created in results[:-1])
    assert committed(tmp_path / "state" / "herald.db") == 51


async def test_a_worker_that_lost_its_lease_sends_and_records_nothing(
    store: SQLStore, clock: stores.MovableClock
) -> None:
    """Once a worker's lease has run out and another worker claimed the message, the
    first can neither begin DATA nor record an outcome."""
    await store.record_run(new_run("run_1"))
    [mine] = await store.claim("host:1", limit=10, lease=60)
    clock.advance(61)
    [theirs] = await store.claim("host:2", limit=10, lease=60)
    assert theirs.message_id == mine.message_id
    with pytest.raises(LeaseLostError, match="lease"):
        await store.mark_sending(mine, lease=60)
    with pytest.raises(LeaseLostError, match="lease"):
        await store.record_attempt(mine, [Outcome(mine.recipients[0][0], "sent")], retry_at=None)
    await store.mark_sending(theirs, lease=60)
    assert store.health.trouble is None  # a lost lease is no fault of the store


async def test_renewed_leases_keep_a_message_from_other_workers(
    store: SQLStore, clock: stores.MovableClock
) -> None:
    """A worker renews only the leases it holds; a renewed message is not claimable."""
    await store.record_run(new_run("run_1"))
    [mine] = await store.claim("host:1", limit=10, lease=10)
    clock.advance(5)
    assert await store.renew_leases("host:1", [mine.message_id], lease=60) == 1
    assert await store.renew_leases("host:2", [mine.message_id], lease=60) == 0
    assert await store.renew_leases("host:1", [], lease=60) == 0
    clock.advance(10)  # past the first lease, within the renewed one
    assert await store.claim("host:2", limit=10, lease=60) == []
    assert await store.lease_owners() == ["host:1"]
    clock.advance(60)  # past the renewed lease
    [again] = await store.claim("host:2", limit=10, lease=60)
    assert again.message_id == mine.message_id


async def test_a_refused_write_puts_the_store_in_trouble_until_one_needing_room_succeeds(
    store: SQLStore,
) -> None:
    """Any refused write counts and starts a trouble; a write in place (a claim) does
    not end it, a probe or a run that needed room does."""
    await store.close()
    with pytest.raises(StoreError):
        await store.record_run(new_run("run_1"))
    with pytest.raises(StoreError):
        await store.probe()
    health = store.health

    def trouble() -> tuple[str | None, str | None, int]:
        """The trouble, as the health check words it, and the count of refused writes."""
        return health.trouble, health.problem(), health.write_failures

    cause, problem, failures = trouble()
    assert failures == 2
    assert cause is not None
    assert "not open" in cause
    assert problem is not None
    assert problem.startswith("the store cannot write since ")
    await store.open()
    assert await store.claim("host:1", limit=1, lease=60) == []
    assert trouble()[0] is not None
    await store.probe()
    assert trouble() == (None, None, 2)
    first = await store.record_run(new_run(new_id("run"), key="event:1"))
    assert await store.record_run(new_run(new_id("run"), key="event:1")) == (first[0], False)
    assert trouble() == (None, None, 2)  # a taken key is no fault
    assert await store.read_settings("") == {}  # no probe left a row behind


async def test_kept_outcomes_are_part_of_the_trouble(store: SQLStore) -> None:
    """Outcomes waiting in memory keep the store unhealthy even once it takes writes."""
    store.health.unrecorded = 2
    assert store.health.problem() == "the store is behind: 2 delivery outcome(s) wait to be written"
    store.health.unrecorded = 0
    assert store.health.problem() is None


@pytest.mark.skipif(stores.KIND != "postgresql", reason="SQLite keeps a NUL in text")
async def test_a_value_the_store_cannot_hold_is_no_trouble_of_the_store(store: SQLStore) -> None:
    """Text PostgreSQL cannot hold (a NUL) is a StoreDataError: retrying cannot cure
    it, so the store is not put in trouble."""
    await store.record_run(new_run("run_1"))
    [delivery] = await store.claim("host:1", limit=1, lease=60)
    outcome = Outcome(delivery.recipients[0][0], "deferred", error="451 \x00")
    with pytest.raises(StoreDataError):
        await store.record_attempt(delivery, [outcome], retry_at=time.time() + 60)
    assert (store.health.trouble, store.health.write_failures) == (None, 0)


def wal_size(path: Path) -> int:
    return Path(f"{path}-wal").stat().st_size


async def test_a_full_sqlite_store_fails_the_probe_until_there_is_room(tmp_path: Path) -> None:
    """With no page left under max_bytes the probe is refused and the store is in
    trouble; once room is freed the probe succeeds, the trouble ends and the WAL is
    handed back to the disk."""
    path = tmp_path / "herald.db"
    store = SQLiteStore(str(path), max_bytes=524288)
    await store.open()
    try:
        with contextlib.closing(sqlite3.connect(path)) as other, other:
            other.execute("CREATE TABLE ballast (filler BLOB)")
            other.execute("INSERT INTO ballast VALUES (zeroblob(524288))")
        with pytest.raises(StoreError, match="full"):
            await store.probe()
        assert store.health.trouble is not None
        with contextlib.closing(sqlite3.connect(path)) as other, other:
            other.execute("DROP TABLE ballast")
        await store.probe()
        assert store.health.trouble is None
        assert wal_size(path) == 0
    finally:
        await store.close()


async def test_the_wal_shrinks_back_after_a_large_write(tmp_path: Path) -> None:
    """A message of several MiB grows the WAL past its limit for a while; the next
    writes after the checkpoint cut it back instead of keeping that space."""
    path = tmp_path / "herald.db"
    store = SQLiteStore(str(path))
    await store.open()
    try:
        filler = Cleaned(os.urandom(3 * WAL_SIZE_LIMIT))
        await store.record_run(new_run(new_id("run"), content=filler))
        assert wal_size(path) > WAL_SIZE_LIMIT
        for _ in range(3):
            await store.record_run(new_run(new_id("run")))
        assert wal_size(path) <= WAL_SIZE_LIMIT
    finally:
        await store.close()


async def test_a_claim_after_an_interrupted_send_is_marked(store: SQLStore) -> None:
    """A message whose DATA began and whose outcome was never recorded comes back
    flagged, and its run's history says the recipient may get it twice."""
    run = new_run("run_1")
    await store.record_run(run)
    [delivery] = await store.claim("host:1", limit=1, lease=60)
    assert not delivery.interrupted
    await store.mark_sending(delivery, lease=60)
    assert await store.lease_owners() == ["host:1"]
    assert await store.release_leases("host:1") == 1
    [again] = await store.claim("host:2", limit=1, lease=60)
    assert again.interrupted
    events = [entry.event for entry in (await store.get_run(run.id)).history]
    assert events == ["accepted", "interrupted"]


async def test_failure_notices_are_written_with_the_outcome(store: SQLStore) -> None:
    """Notices recorded with a failed attempt are due at once and leave when done."""
    run = new_run("run_1")
    await store.record_run(run)
    [delivery] = await store.claim("host:1", limit=1, lease=60)
    outcome = Outcome(delivery.recipients[0][0], "failed", error="550 5.1.1 no")
    notice = NewNotice("callback", {"run_id": run.id})
    await store.record_attempt(delivery, [outcome], retry_at=None, notices=[notice])
    [due] = await store.due_notices(limit=10)
    assert (due.kind, due.payload) == ("callback", {"run_id": run.id})
    await store.notice_done(due.id)
    assert await store.due_notices(limit=10) == []
    assert (await store.get_run(run.id)).status == "failed"


async def test_hold_release_retry_and_purge(store: SQLStore) -> None:
    """A held message is never claimed; release makes it due; purge fails its recipients."""
    run = new_run("run_1")
    await store.record_run(run)
    [entry] = await store.list_queue()
    await store.hold(entry.message_id, actor="console:ada")
    assert await store.claim("host:1", limit=10, lease=60) == []
    assert (await store.queue_stats()).held == 1
    await store.release(entry.message_id, actor="token:ops")
    assert await store.retry_now(entry.message_id) == 1
    await store.purge(entry.message_id, "no longer wanted", actor="cli:root")
    assert await store.list_queue() == []
    purged = await store.get_run(run.id)
    assert purged.status == "failed"
    assert purged.items[0].error == "no longer wanted"
    # The run's history says who did each.
    assert [(h.event, h.detail) for h in purged.history][-3:] == [
        ("held", "held by console:ada"),
        ("queued", "released by token:ops"),
        ("purged", "by cli:root: no longer wanted"),
    ]
    with pytest.raises(NotFoundError):
        await store.hold(entry.message_id, actor="console:ada")


async def test_a_full_store_refuses_the_write_and_keeps_nothing_of_it(tmp_path: Path) -> None:
    """With max_bytes reached, record_run raises StoreError and nothing of it is stored;
    runs committed before stay."""
    path = tmp_path / "herald.db"
    store = SQLiteStore(str(path), max_bytes=524288)
    await store.open()
    kept = 0
    refused = None
    try:
        for _ in range(100):
            try:
                await store.record_run(new_run(new_id("run"), content=Cleaned(b"x" * 4000)))
            except StoreError as exc:
                refused = exc
                break
            kept += 1
    finally:
        await store.close()
    assert refused is not None
    assert "full" in str(refused)
    assert kept > 0
    assert committed(path) == kept


async def test_any_of_a_runs_keys_finds_it_and_blocks_a_second_run(store: SQLStore) -> None:
    """A run's other keys (a webhook-id) name it like its idempotency key does."""
    first = dataclasses.replace(new_run("run_1", key="event:a"), other_keys=("webhook:m1",))
    assert await store.record_run(first) == ("run_1", True)
    assert await store.find_run_id("webhook:m1") == "run_1"
    second = dataclasses.replace(new_run("run_2", key="event:b"), other_keys=("webhook:m1",))
    assert await store.record_run(second) == ("run_1", False)
    assert await store.find_run_id("event:b") is None


async def test_smtp_users_are_kept_replaced_and_removed(store: SQLStore) -> None:
    """put/get/list/delete of SMTP logins, with their domain lists."""
    user = SMTPUser("app", "scrypt$hash", ("shop.test",), ("example.com", "example.org"))
    await store.put_smtp_user(user, actor="test")
    assert await store.get_smtp_user("app") == user
    await store.put_smtp_user(dataclasses.replace(user, sender_domains=()), actor="test")
    assert [u.sender_domains for u in await store.list_smtp_users()] == [()]
    await store.delete_smtp_user("app", actor="test")
    with pytest.raises(NotFoundError):
        await store.get_smtp_user("app")
    with pytest.raises(NotFoundError):
        await store.delete_smtp_user("app", actor="test")


async def test_admin_tokens_are_found_by_digest_until_revoked(store: SQLStore) -> None:
    """A token is found by its digest (marking it used), names are unique, revoking ends it."""
    token = AdminToken("tok_1", "ci", ("runs:read",), time.time())
    await store.add_admin_token(token, "d" * 64, actor="test")
    with pytest.raises(InvalidInput):
        await store.add_admin_token(dataclasses.replace(token, id="tok_2"), "e" * 64, actor="test")
    found = await store.find_admin_token("d" * 64)
    assert found is not None
    assert found.scopes == ("runs:read",)
    assert await store.find_admin_token("f" * 64) is None
    [listed] = await store.list_admin_tokens()
    assert listed.last_used_at is not None
    assert (await store.revoke_admin_token("ci", actor="test")).id == "tok_1"
    assert await store.find_admin_token("d" * 64) is None
    with pytest.raises(NotFoundError):
        await store.revoke_admin_token("tok_1", actor="test")


async def test_recorded_changes_join_the_audit_log(store: SQLStore) -> None:
    """Changes that are not saved settings (tokens, logins) are listed with the rest."""
    for n in range(3):
        token = AdminToken(f"tok_{n}", f"t{n}", ("runs:read",), time.time())
        await store.add_admin_token(token, str(n) * 64, actor="cli:root")
    entries = await store.list_audit(limit=2)
    assert [e.setting for e in entries] == ["tokens/t2", "tokens/t1"]
    assert entries[0].new == {"scopes": ["runs:read"]}
    assert entries[0].old is None
    assert entries[0].actor == "cli:root"


async def test_a_change_and_its_audit_entry_commit_together(store: SQLStore) -> None:
    """Senders, SMTP logins and tokens write their audit entry in the transaction of
    the change: a change refused leaves no entry, and each kept one has exactly one."""
    token = AdminToken("tok_1", "ci", ("runs:read",), time.time())
    await store.add_admin_token(token, "d" * 64, actor="alice")
    with pytest.raises(InvalidInput):
        await store.add_admin_token(dataclasses.replace(token, id="tok_2"), "e" * 64, actor="eve")
    with pytest.raises(NotFoundError):
        await store.revoke_admin_token("nobody", actor="eve")
    with pytest.raises(NotFoundError):
        await store.delete_smtp_user("nobody", actor="eve")
    sender = SenderIdentity("billing", "billing@acme.test", "Billing")
    await store.put_sender(sender, actor="alice")
    await store.put_sender(sender, actor="bob")  # no change, no entry
    await store.put_sender(dataclasses.replace(sender, name="Accounts"), actor="carol")
    user = SMTPUser("app", "scrypt$hash", ("shop.test",))
    await store.put_smtp_user(user, actor="dave")
    await store.delete_smtp_user("app", actor="dave")
    entries = [(e.actor, e.setting, e.old, e.new) for e in reversed(await store.list_audit())]
    login = {"name": "app", "sender_domains": ["shop.test"], "recipient_domains": []}
    assert entries == [
        ("alice", "tokens/ci", None, {"scopes": ["runs:read"]}),
        ("alice", "senders/billing", None, dataclasses.asdict(sender)),
        (
            "carol",
            "senders/billing",
            dataclasses.asdict(sender),
            {**dataclasses.asdict(sender), "name": "Accounts"},
        ),
        ("dave", "smtp-users/app", None, {**login, "password": "******** (changed)"}),
        ("dave", "smtp-users/app", {**login, "password": "********"}, None),
    ]


async def test_a_claim_is_one_statement_however_many_it_leases(sqlite_store: SQLiteStore) -> None:
    """Claiming 50 messages runs one SQL statement inside its transaction, not one per message."""
    for n in range(50):
        await sqlite_store.record_run(
            new_run(f"run_{n}", addresses=[f"r{n}@example.com", "x@example.com"])
        )
    statements: list[str] = []
    await sqlite_store.db.set_trace_callback(statements.append)
    claimed = await sqlite_store.claim("worker", limit=50, lease=60)
    await sqlite_store.db.set_trace_callback(None)
    assert len(claimed) == 50
    assert {d.run_id for d in claimed} == {f"run_{n}" for n in range(50)}
    assert all(len(d.recipients) == 2 and d.email_type == "invoice.issued" for d in claimed)
    assert [s for s in statements if s not in ("BEGIN IMMEDIATE", "COMMIT")] == [statements[1]]
    assert statements[1].startswith("UPDATE messages")


# Messages composed after the commit


async def test_a_message_queued_to_compose_later_keeps_what_it_composed_from_its_first_data(
    store: SQLStore, clock: stores.MovableClock
) -> None:
    """A run queued with what to compose is claimed with it and no content; the
    message composed for the first DATA replaces it, with the run's subject, so a
    later attempt sends those very bytes."""
    later = Later(
        "invoice.issued",
        {"data": {"invoice_number": "INV-1"}, "recipient": {"email": "ada@example.com"}},
        to=[("ada@example.com", "Ada")],
        message_id="<run_1@herald.test>",
        readdress=["admin@herald.test"],
    )
    run = dataclasses.replace(new_run("run_1"), content=None, later=later, subject="")
    assert await store.record_run(run) == ("run_1", True)
    [delivery] = await store.claim("host:1", limit=10, lease=60)
    assert delivery.later == later
    assert delivery.content == b""
    composed = (Cleaned(CONTENT), "Invoice INV-1")
    await store.mark_sending(delivery, lease=60, composed=composed)
    assert (await store.get_run("run_1")).subject == "Invoice INV-1"
    clock.advance(61)  # the attempt was cut off: the lease runs out
    [again] = await store.claim("host:2", limit=10, lease=60)
    assert again.later is None
    assert again.content == CONTENT
    assert again.interrupted


async def test_an_items_message_is_its_queued_bytes_or_says_why_there_are_none(
    store: SQLStore,
) -> None:
    """``item_message`` gives a recipient's message as queued; a message still
    to compose and a recipient with nothing queued have no bytes and say why;
    an item of another run, or none at all, is not found."""
    await store.record_run(new_run("run_1", addresses=["a@example.com", "b@example.com"]))
    first, second = (await store.get_run("run_1")).items
    message = await store.item_message("run_1", second.id)
    assert (message.item.address, message.content, message.missing) == (
        "b@example.com",
        CONTENT,
        None,
    )
    assert message.status == "queued"
    assert message.message_id == (await store.item_message("run_1", first.id)).message_id

    later = Later("invoice.issued", {}, to=[("ada@example.com", "")], message_id="<r2@x>")
    await store.record_run(dataclasses.replace(new_run("run_2"), content=None, later=later))
    [waiting] = (await store.get_run("run_2")).items
    composing = await store.item_message("run_2", waiting.id)
    assert composing.content is None
    assert composing.composed_later
    assert "not composed yet" in (composing.missing or "")

    await store.record_run(new_run("run_3", content=None, status="dropped"))
    [dropped] = (await store.get_run("run_3")).items
    nothing = await store.item_message("run_3", dropped.id)
    assert (nothing.message_id, nothing.content) == (None, None)
    assert "Nothing was queued" in (nothing.missing or "")

    with pytest.raises(NotFoundError):
        await store.item_message("run_3", first.id)
    with pytest.raises(NotFoundError):
        await store.item_message("run_9", 1)


async def test_template_versions_page_by_version_number(store: SQLStore) -> None:
    """A keyset page: at most ``limit`` versions older than ``before``, newest first."""
    for number in range(5):
        await store.add_template_version(
            "billing.updated", "save", TemplateParts(f"s{number}", "h", "")
        )
    page = await store.template_versions("billing.updated", limit=2)
    assert [v.version for v in page] == [5, 4]
    older = await store.template_versions("billing.updated", before=page[-1].version, limit=2)
    assert [v.version for v in older] == [3, 2]
    assert [v.version for v in await store.template_versions("billing.updated", before=2)] == [1]
