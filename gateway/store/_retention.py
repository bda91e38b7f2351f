"""Retention: message bytes, final runs and audit entries, each pruned on its
own clock, in small transactions; and the store's size.

What is pruned is chosen by status before age: a message still queued or
held, a recipient still queued or deferred, a run not yet final, a report of
a failure not yet sent are never touched, however old. A message's bytes go
first (its row stays, so that its run says what became of it and a resend
says why it cannot); the run itself, with its items, counts and history,
goes on its own, longer clock.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import ClassVar, Literal

from gateway.config import RetentionSettings
from gateway.store import PruneReport, StoreStats
from gateway.store._base import Connection, SQLBase, _marks

# The conditions that keep a message's bytes, whatever their age: the message
# is still waiting (queued, held, being sent) or one of its recipients is,
# or its run is not final.
_BODIES_DUE = (
    "FROM messages m JOIN runs r ON r.id = m.run_id"
    " WHERE m.pruned_at IS NULL AND m.status IN ('done', 'purged')"
    " AND r.finished_at IS NOT NULL AND r.finished_at < ?"
    " AND r.status NOT IN ('queued', 'running', 'deferred')"
    " AND NOT EXISTS (SELECT 1 FROM items i WHERE i.message_id = m.id"
    " AND i.status IN ('queued', 'deferred'))"
)

# A final run goes with everything that names it, unless a message of it is
# waiting again (a resend) or a report of its failure is still to go out.
_RUNS_DUE = (
    "FROM runs r WHERE r.finished_at IS NOT NULL AND r.finished_at < ?"
    " AND r.status NOT IN ('queued', 'running', 'deferred')"
    " AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.run_id = r.id"
    " AND m.status IN ('queued', 'held'))"
    " AND NOT EXISTS (SELECT 1 FROM notices n WHERE n.run_id = r.id AND n.done_at IS NULL)"
)

# One batch of one kind: (transaction, cutoff, limit) -> rows removed.
_Batch = Callable[[Connection, float, int], Awaitable[int]]

_AUDIT_DUE = "FROM settings_audit WHERE at < ?"
_REPORTS_DUE = "FROM bounce_reports WHERE run_id IS NULL AND received_at < ?"

# Every table that names a run, children first (foreign keys point at runs).
_RUN_TABLES = (
    "history",
    "items",
    "run_counts",
    "run_keys",
    "notices",
    "bounce_reports",
    "messages",
)


class RetentionSQL(SQLBase):
    """Pruning and the store's statistics; a dialect supplies the size, the
    room handed back and, where nodes share the store, the lock that lets one
    of them prune at a time."""

    # A statement answering one boolean row: may this transaction prune? None:
    # always (one process owns the store).
    prune_guard_sql: ClassVar[str | None] = None
    kind: ClassVar[Literal["sqlite", "postgresql"]] = "sqlite"

    async def prune(self, retention: RetentionSettings, *, dry_run: bool = False) -> PruneReport:
        now = self.clock()
        clocks = {
            "bodies": (retention.bodies, _BODIES_DUE, self._prune_bodies),
            "runs": (retention.runs, _RUNS_DUE, self._prune_runs),
            "reports": (retention.runs, _REPORTS_DUE, self._prune_orphan_reports),
            "audit": (retention.audit, _AUDIT_DUE, self._prune_audit),
        }
        counts: dict[str, int] = {}
        for kind, (keep, due, batch) in clocks.items():
            counts[kind] = 0
            if keep is None:
                continue
            cutoff = now - keep
            if dry_run:
                rows = await self._read(f"SELECT count(*) AS n {due}", (cutoff,))
                counts[kind] = int(rows[0]["n"])
                continue
            while True:
                removed = await self._write(
                    partial(self._guarded, batch=batch, cutoff=cutoff, limit=retention.batch_size)
                )
                if removed is None:
                    return _report(counts, elsewhere=True)
                counts[kind] += removed
                if removed < retention.batch_size:
                    break
                # Let the listeners and the queue have the writer between batches.
                await asyncio.sleep(0)
        freed = 0 if dry_run or not any(counts.values()) else await self._reclaim()
        return _report(counts, freed_bytes=freed)

    async def _guarded(
        self, db: Connection, *, batch: _Batch, cutoff: float, limit: int
    ) -> int | None:
        """One batch, if this transaction may prune; None when another node is pruning."""
        if self.prune_guard_sql is not None:
            cursor = await db.execute(self.prune_guard_sql)
            row = await cursor.fetchone()
            if row is None or not row[0]:
                return None
        return await batch(db, cutoff, limit)

    async def _prune_bodies(self, db: Connection, cutoff: float, limit: int) -> int:
        cursor = await db.execute(f"SELECT m.id {_BODIES_DUE} LIMIT ?", (cutoff, limit))
        ids = [row["id"] for row in await cursor.fetchall()]
        if not ids:
            return 0
        # The status test again: a resend since the SELECT wins over the pruner.
        cursor = await db.execute(
            "UPDATE messages SET content = ?, pruned_at = ?"  # noqa: S608 -- placeholders only
            f" WHERE id IN ({_marks(ids)}) AND status IN ('done', 'purged') RETURNING id",
            (b"", self.clock(), *ids),
        )
        return len(list(await cursor.fetchall()))

    async def _prune_runs(self, db: Connection, cutoff: float, limit: int) -> int:
        cursor = await db.execute(f"SELECT r.id {_RUNS_DUE} LIMIT ?", (cutoff, limit))
        ids = [row["id"] for row in await cursor.fetchall()]
        if not ids:
            return 0
        for table in _RUN_TABLES:
            await db.execute(f"DELETE FROM {table} WHERE run_id IN ({_marks(ids)})", ids)  # noqa: S608 -- fixed table names
        await db.execute(f"DELETE FROM runs WHERE id IN ({_marks(ids)})", ids)  # noqa: S608 -- placeholders only
        return len(ids)

    async def _prune_orphan_reports(self, db: Connection, cutoff: float, limit: int) -> int:
        """Bounce reports that matched no message, on the runs' clock."""
        cursor = await db.execute(
            "DELETE FROM bounce_reports WHERE id IN (SELECT id FROM bounce_reports"
            " WHERE run_id IS NULL AND received_at < ? ORDER BY id LIMIT ?) RETURNING id",
            (cutoff, limit),
        )
        return len(list(await cursor.fetchall()))

    async def _prune_audit(self, db: Connection, cutoff: float, limit: int) -> int:
        cursor = await db.execute(
            "DELETE FROM settings_audit WHERE id IN"
            " (SELECT id FROM settings_audit WHERE at < ? ORDER BY id LIMIT ?) RETURNING id",
            (cutoff, limit),
        )
        return len(list(await cursor.fetchall()))

    async def store_stats(self) -> StoreStats:
        rows = await self._read(
            "SELECT (SELECT count(*) FROM runs) AS runs,"
            " (SELECT count(*) FROM messages WHERE pruned_at IS NULL) AS bodies,"
            " (SELECT count(*) FROM messages WHERE pruned_at IS NOT NULL) AS pruned,"
            " (SELECT min(queued_at) FROM messages WHERE pruned_at IS NULL) AS oldest"
        )
        row = rows[0]
        size, free = await self._size()
        oldest = row["oldest"]
        return StoreStats(
            kind=self.kind,
            size_bytes=size,
            free_bytes=free,
            runs=int(row["runs"]),
            bodies=int(row["bodies"]),
            pruned=int(row["pruned"]),
            oldest_body_at=float(oldest) if oldest is not None else None,
        )

    @abc.abstractmethod
    async def _size(self) -> tuple[int, int]:
        """The store's bytes on disk, and the free room inside them."""

    @abc.abstractmethod
    async def _reclaim(self) -> int:
        """Hand the room that pruning freed back; the bytes the store shrank by."""


def _report(
    counts: dict[str, int], *, freed_bytes: int = 0, elsewhere: bool = False
) -> PruneReport:
    return PruneReport(
        bodies=counts.get("bodies", 0),
        runs=counts.get("runs", 0),
        audit=counts.get("audit", 0),
        freed_bytes=freed_bytes,
        elsewhere=elsewhere,
    )
