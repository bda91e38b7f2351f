"""Tests for gateway/store/_retention.py: each clock prunes only what is final,
in batches, and the room comes back; with the store's injected clock."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from gateway.config import RetentionSettings
from gateway.errors import NotFoundError, PrunedError
from gateway.store import Cleaned, NewItem, NewRun, Outcome, new_id
from gateway.store._postgres import PostgresStore, split_url
from gateway.store._sql import SQLStore
from gateway.store._sqlite import SQLiteStore
from tests import stores
from tests.queue.test_qmgr import queue_one

DAY = 86400.0
BODY = Cleaned(b"From: app@example.com\r\nSubject: Hi\r\n\r\n" + b"x" * 20_000 + b"\r\n")
RETENTION = RetentionSettings(bodies=30 * DAY, runs=365 * DAY, audit=730 * DAY, batch_size=3)


@pytest.fixture
def store(clocked_store: SQLStore) -> SQLStore:
    return clocked_store


async def queued(store: SQLStore, address: str = "ada@example.com") -> str:
    return await queue_one(store, address, content=BODY)


async def attempt(store: SQLStore, status: str, *, retry_at: float | None = None) -> None:
    """Claim the one due message and record ``status`` for its recipients."""
    [delivery] = await store.claim("worker", limit=1, lease=60)
    await store.record_attempt(
        delivery,
        [Outcome(item, status, reply="250 ok") for item, _ in delivery.recipients],  # type: ignore[arg-type]
        retry_at=retry_at,
    )


async def content_of(store: SQLStore, run_id: str) -> bytes:
    rows = await store._read("SELECT content FROM messages WHERE run_id = ?", (run_id,))
    return bytes(rows[0]["content"])


async def test_a_final_run_loses_its_body_and_keeps_its_record(
    store: SQLStore, clock: stores.MovableClock
) -> None:
    """Past the body clock a sent run's bytes go and its run, items and history
    stay; a deferred and a held message of the same age keep theirs, and a
    resend of the pruned one says why it cannot."""
    sent = await queued(store)
    await attempt(store, "sent")
    deferred = await queued(store)
    await attempt(store, "deferred", retry_at=clock() + 300)
    held = await queued(store)
    [held_message] = [e.message_id for e in await store.list_queue() if e.run_id == held]
    await store.hold(held_message, actor="console:ada")

    clock.advance(31 * DAY)
    report = await store.prune(RETENTION)

    assert (report.bodies, report.runs) == (1, 0)
    assert await content_of(store, sent) == b""
    run = await store.get_run(sent)
    assert run.status == "sent"
    assert [item.status for item in run.items] == ["sent"]
    assert run.history
    assert await content_of(store, deferred) == BODY
    assert await content_of(store, held) == BODY
    with pytest.raises(PrunedError, match="retention removed its message"):
        await store.resend_item(sent, run.items[0].id)
    pruned = await store.item_message(sent, run.items[0].id)
    assert pruned.content is None
    assert pruned.pruned_at is not None
    assert "retention" in (pruned.missing or "")
    # A retry of the run has nothing it could send either.
    assert await store.retry_run(sent) == 0
    # The deferred message is still delivered.
    await store.retry_now(None)
    [delivery] = await store.claim("worker", limit=1, lease=60)
    assert delivery.run_id == deferred
    assert delivery.content == BODY


async def test_a_body_is_kept_until_its_run_is_final_whatever_its_age(
    store: SQLStore, clock: stores.MovableClock
) -> None:
    """The clock counts from when the run became final, not from when it was
    accepted: a message sent late keeps its body for the whole clock."""
    run_id = await queued(store)
    clock.advance(40 * DAY)
    assert (await store.prune(RETENTION)).bodies == 0
    await attempt(store, "sent")
    clock.advance(29 * DAY)
    assert (await store.prune(RETENTION)).bodies == 0
    assert await content_of(store, run_id) == BODY
    clock.advance(2 * DAY)
    assert (await store.prune(RETENTION)).bodies == 1


async def test_runs_and_audit_entries_go_on_their_own_clocks_in_batches(
    store: SQLStore, clock: stores.MovableClock
) -> None:
    """Past the run clock a final run goes with everything that names it, in
    batches smaller than the work; a run being resent stays; audit entries
    keep to their own clock."""
    runs = []
    for _ in range(7):
        runs.append(await queued(store))
        await attempt(store, "sent")
    await store.write_setting("delivery/admin", {"address": "ops@example.com"}, actor="test")
    clock.advance(366 * DAY)
    resent = runs[0]
    await store.resend_item(resent, (await store.get_run(resent)).items[0].id)

    dry = await store.prune(RETENTION, dry_run=True)
    assert (dry.runs, dry.audit) == (6, 0)
    assert len((await store.list_runs(limit=100)).runs) == 7

    report = await store.prune(RETENTION)
    assert report.runs == 6
    assert [run.id for run in (await store.list_runs(limit=100)).runs] == [resent]
    for run_id in runs[1:]:
        with pytest.raises(NotFoundError):
            await store.get_run(run_id)
        for table in ("items", "history", "run_counts", "messages"):
            rows = await store._read(
                f"SELECT count(*) AS n FROM {table} WHERE run_id = ?", (run_id,)
            )
            assert rows[0]["n"] == 0, table
    assert len(await store.list_audit()) == 1
    clock.advance(365 * DAY)
    assert (await store.prune(RETENTION)).audit == 1
    assert await store.list_audit() == []


async def test_forever_keeps_everything(store: SQLStore, clock: stores.MovableClock) -> None:
    """A clock of None (``"forever"``) prunes nothing of its kind."""
    await queued(store)
    await attempt(store, "sent")
    clock.advance(5000 * DAY)
    report = await store.prune(RetentionSettings(bodies=None, runs=None, audit=None))
    assert (report.bodies, report.runs, report.audit) == (0, 0, 0)


async def test_stats_show_size_and_the_oldest_body(
    store: SQLStore, clock: stores.MovableClock
) -> None:
    """The stats count runs and kept bodies and give the oldest body's time."""
    first = clock()
    await queued(store)
    await attempt(store, "sent")
    clock.advance(DAY)
    await queued(store)
    stats = await store.store_stats()
    assert stats.kind == stores.KIND
    assert (stats.runs, stats.bodies, stats.pruned) == (2, 2, 0)
    assert stats.oldest_body_at == pytest.approx(first, abs=1)
    assert stats.size_bytes > 0
    clock.advance(30 * DAY)
    await store.prune(RETENTION)
    stats = await store.store_stats()
    assert (stats.bodies, stats.pruned) == (1, 1)
    assert stats.oldest_body_at == pytest.approx(first + DAY, abs=1)


@pytest.mark.skipif(stores.KIND != "sqlite", reason="the file's room is SQLite's")
async def test_pruning_hands_the_room_back_to_the_file_system(
    store: SQLStore, clock: stores.MovableClock
) -> None:
    """After pruning, the file shrinks: its free pages are vacuumed away."""
    assert isinstance(store, SQLiteStore)
    for _ in range(60):
        await queued(store)
        await attempt(store, "sent")
    full = (await store.store_stats()).size_bytes
    clock.advance(31 * DAY)
    report = await store.prune(RETENTION)
    assert report.bodies == 60
    assert report.freed_bytes > 60 * 15_000
    after = await store.store_stats()
    assert after.size_bytes < full - 60 * 15_000
    assert after.size_bytes == os.stat(store.path).st_size  # the WAL is back to nothing
    assert after.free_bytes < 64 * 1024


@pytest.mark.skipif(stores.KIND != "sqlite", reason="SQLite's auto-vacuum mode")
async def test_an_older_file_is_turned_to_incremental_vacuum_once(tmp_path: Path) -> None:
    """A file made without auto-vacuum is converted at its first open and keeps its data."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE kept (x)")
        db.execute("INSERT INTO kept VALUES (1)")
    store = SQLiteStore(str(path))
    await store.open()
    try:
        assert (await store._read("PRAGMA auto_vacuum"))[0][0] == 2
        assert (await store._read("SELECT x FROM kept"))[0][0] == 1
    finally:
        await store.close()


@pytest.mark.skipif(stores.KIND != "postgresql", reason="the lock is PostgreSQL's")
async def test_one_node_prunes_at_a_time(store: SQLStore, clock: stores.MovableClock) -> None:
    """While another node holds the pruning lock, a node leaves the store alone."""
    assert isinstance(store, PostgresStore)
    await queued(store)
    await attempt(store, "sent")
    clock.advance(31 * DAY)
    url, _ = split_url(store.url)
    other = await asyncpg.connect(url)
    try:
        async with other.transaction():
            await other.execute(store.prune_guard_sql or "")
            report = await store.prune(RETENTION)
        assert report.elsewhere
        assert report.bodies == 0
    finally:
        await other.close()
    assert (await store.prune(RETENTION)).bodies == 1


# The bound the README states for a store under steady traffic with retention:
# an empty store, about 3 KiB per run kept, and the bytes of each body kept
# (the SQLite file; its WAL adds at most WAL_SIZE_LIMIT between checkpoints).
EMPTY_STORE = 512 * 1024
PER_RUN = 3 * 1024


async def test_steady_traffic_with_retention_stays_within_the_stated_bound(
    store: SQLStore, clock: stores.MovableClock
) -> None:
    """Traffic at a steady rate, pruned every half hour on short clocks: the
    store stops growing once the clocks are full, and stays under the README's
    bound (empty store + 3 KiB a run + the bodies kept)."""
    body = Cleaned(b"From: app@example.com\r\nSubject: Hi\r\n\r\n" + b"y" * 5200 + b"\r\n")
    retention = RetentionSettings(bodies=2 * 3600, runs=6 * 3600, audit=None, batch_size=100)
    sizes = []
    for step in range(24):
        for index in range(30):
            await store.record_run(
                NewRun(
                    id=new_id("run"),
                    source="test",
                    email_type="account.created",
                    idempotency_key=f"soak-{step}-{index}",
                    subject="Hi",
                    mail_from="app@example.com",
                    items=[NewItem("ada@example.com", "to", "test")],
                    content=body,
                )
            )
        for delivery in await store.claim("worker", limit=100, lease=60):
            await store.record_attempt(
                delivery,
                [Outcome(item, "sent", reply="250 ok") for item, _ in delivery.recipients],
                retry_at=None,
            )
        clock.advance(1800)
        await store.prune(retention)
        stats = await store.store_stats()
        size = stats.size_bytes
        if isinstance(store, SQLiteStore):
            size = os.stat(store.path).st_size
            bound = EMPTY_STORE + stats.runs * PER_RUN + stats.bodies * len(body)
            assert size <= bound, (step, size, stats)
        sizes.append(size)
        # The clocks hold 6 hours of runs and 2 of bodies, whatever has passed.
        assert stats.runs <= 13 * 30
        assert stats.bodies <= 5 * 30
    if isinstance(store, SQLiteStore):
        # Flat once the clocks are full: no growth over the second half.
        assert max(sizes[14:]) <= 1.15 * sizes[14], sizes
    else:
        # VACUUM lets new rows reuse the room while indexes settle more slowly
        # (by how much varies with autovacuum): the store ends up well below
        # the bytes of the bodies it took, which it would hold without pruning.
        assert sizes[-1] < 0.75 * 24 * 30 * len(body), sizes


async def test_a_bounce_report_that_matched_nothing_goes_on_the_run_clock(
    store: SQLStore, clock: stores.MovableClock
) -> None:
    """A kept report that named no message is pruned with the runs of its age."""
    await store.record_bounce(message_id="msg_x", run_id=None, bounced=(), detail={})
    clock.advance(364 * DAY)
    await store.prune(RETENTION)
    assert len(await store._read("SELECT id FROM bounce_reports")) == 1
    clock.advance(2 * DAY)
    await store.prune(RETENTION)
    assert await store._read("SELECT id FROM bounce_reports") == []
