"""Runs: recording what a way in accepted, reading runs back, and the
operator's retry, resend and cancel; with the bookkeeping of a run's counts,
status and history that the queue and definition runs share."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from gateway.clock import rfc3339
from gateway.context import Later
from gateway.errors import ConflictError, NotFoundError, PrunedError, StoreError
from gateway.store import (
    PENDING,
    HistoryEntry,
    Item,
    ItemMessage,
    NewItem,
    NewRun,
    Run,
    RunPage,
    new_id,
    run_status,
)
from gateway.store._base import Connection, Row, SQLBase, _marks
from gateway.store.run_filter import RunFilter

_RUN_COLUMNS = (
    "id, source, email_type, status, subject, mail_from, created_at, updated_at, error,"
    " idempotency_key, definition, batch_id, invoices_dir, feed_cursor, fed_at, finished_at,"
    " expected"
)

_ITEM_COLUMNS = (
    "id, address, role, rule, status, reply, attempts, error, updated_at, customer_id,"
    " definition_version, subject, attachments, attempted_at"
)


class RunsSQL(SQLBase):
    """Runs, their items, counts and history."""

    async def find_run_id(self, idempotency_key: str) -> str | None:
        rows = await self._read(
            "SELECT id FROM runs WHERE idempotency_key = ?"
            " UNION ALL SELECT run_id FROM run_keys WHERE key = ?",
            (idempotency_key, idempotency_key),
        )
        return str(rows[0]["id"]) if rows else None

    async def record_run(self, run: NewRun) -> tuple[str, bool]:
        now = self.clock()

        async def insert(db: Connection) -> None:
            await db.execute(
                "INSERT INTO runs (id, source, email_type, idempotency_key, status, subject,"
                " mail_from, error, created_at, updated_at, finished_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    run.id,
                    run.source,
                    run.email_type,
                    run.idempotency_key,
                    run.status,
                    run.subject,
                    run.mail_from,
                    run.error,
                    now,
                    now,
                    # Final already (dropped, rejected): the retention clocks start now.
                    None if run.status in (*PENDING, "running") else now,
                ),
            )
            counts = await _enqueue(
                db, run.id, run.mail_from, [(None, run.content, run.items)], now, later=run.later
            )
            await db.executemany(
                "INSERT INTO run_keys (key, run_id) VALUES (?,?)",
                [(key, run.id) for key in run.other_keys],
            )
            await _count(db, run.id, counts)
            detail = run.error or f"{len(run.items)} recipient(s)"
            await _history(
                db,
                run.id,
                now,
                "accepted" if run.content is not None or run.later is not None else run.status,
                detail,
            )

        try:
            await self._write(insert, needs_room=True)
        except ConflictError:
            for key in run.keys:
                existing = await self.find_run_id(key)
                if existing is not None:
                    return existing, False
            raise StoreError(f"run {run.id} could not be recorded") from None
        return run.id, True

    async def list_runs(
        self,
        *,
        status: str | None = None,
        email_type: str | None = None,
        where: RunFilter | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunPage:
        chosen = where or RunFilter()
        if status is not None:
            chosen = replace(chosen, status=status)
        if email_type is not None:
            chosen = replace(chosen, email_type=email_type)
        clauses: list[str] = []
        params: list[Any] = []
        for clause, value in (
            ("status = ?", chosen.status),
            ("email_type = ?", chosen.email_type),
            ("definition = ?", chosen.definition),
            ("created_at >= ?", chosen.created_after),
            ("created_at < ?", chosen.created_before),
            # items_by_address (migration 0110) finds a recipient's runs.
            ("id IN (SELECT run_id FROM items WHERE lower(address) = lower(?))", chosen.recipient),
        ):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        if cursor is not None:
            clauses.append("id < ?")
            params.append(cursor)
        sql_where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._read(
            f"SELECT {_RUN_COLUMNS} FROM runs {sql_where} ORDER BY id DESC LIMIT ?",  # noqa: S608 -- clauses are fixed column names, values are bound
            (*params, limit + 1),
        )
        page = rows[:limit]
        # One read for the counts of the whole page, not one per run.
        counts: dict[str, dict[str, int]] = {row["id"]: {} for row in page}
        if page:
            for count in await self._read(
                "SELECT run_id, status, n FROM run_counts"  # noqa: S608 -- placeholders only
                f" WHERE run_id IN ({_marks(list(counts))}) AND n > 0 ORDER BY status",
                list(counts),
            ):
                counts[count["run_id"]][count["status"]] = count["n"]
        runs = [_run(row, counts=counts[row["id"]]) for row in page]
        return RunPage(runs, runs[-1].id if len(rows) > limit else None)

    async def get_run(
        self, run_id: str, *, item_status: str | None = None, item_limit: int | None = None
    ) -> Run:
        rows = await self._read(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))  # noqa: S608 -- a fixed column list
        if not rows:
            raise NotFoundError(f"no run {run_id!r}")
        where, params = "run_id = ?", [run_id]
        if item_status is not None:
            where, params = "run_id = ? AND status = ?", [run_id, item_status]
        limit, newest = "", ""
        if item_limit is not None:
            limit, newest = (
                f" LIMIT {int(item_limit)}",
                f" ORDER BY id DESC LIMIT {int(item_limit)}",
            )
        items = await self._read(
            f"SELECT {_ITEM_COLUMNS} FROM items WHERE {where} ORDER BY id{limit}",  # noqa: S608 -- fixed columns and clauses, values are bound
            params,
        )
        history = await self._read(
            "SELECT at, event, detail FROM (SELECT id, at, event, detail FROM history"  # noqa: S608 -- a fixed clause and a whole number
            f" WHERE run_id = ?{newest}) AS h ORDER BY id",
            (run_id,),
        )
        return _run(
            rows[0],
            counts=await self._counts(run_id),
            items=[Item(**dict(row)) for row in items],
            history=[HistoryEntry(**dict(row)) for row in history],
        )

    async def item_message(self, run_id: str, item_id: int) -> ItemMessage:
        items = await self._read(
            f"SELECT {_ITEM_COLUMNS}, message_id FROM items WHERE run_id = ? AND id = ?",  # noqa: S608 -- a fixed column list
            (run_id, item_id),
        )
        if not items:
            raise NotFoundError(f"run {run_id!r} has no item {item_id}")
        fields = dict(items[0])
        message_id = fields.pop("message_id")
        item = Item(**fields)
        rows = await self._read(
            "SELECT status, content, later, pruned_at, queued_at, attempts, next_attempt_at,"
            " last_error FROM messages WHERE id = ?",
            (message_id,),
        )
        if message_id is None or not rows:
            return ItemMessage(run_id, item)
        row = rows[0]
        content = bytes(row["content"])
        return ItemMessage(
            run_id,
            item,
            message_id=message_id,
            status=row["status"],
            # A pruned body, and one still to be composed, are kept empty.
            content=content or None,
            composed_later=row["later"] is not None,
            pruned_at=row["pruned_at"],
            queued_at=row["queued_at"],
            attempts=row["attempts"],
            next_attempt_at=row["next_attempt_at"],
            last_error=row["last_error"],
        )

    async def _counts(self, run_id: str) -> dict[str, int]:
        rows = await self._read(_COUNTS, (run_id,))
        return {row["status"]: row["n"] for row in rows}

    async def retry_run(self, run_id: str, *, by: str = "") -> int:
        return await self._requeue(run_id, "status = 'failed'", "retried", by)

    async def resend_item(self, run_id: str, item_id: int, *, by: str = "") -> None:
        if await self._requeue(run_id, f"id = {int(item_id)}", "resent", by):
            return
        rows = await self._read(
            "SELECT m.pruned_at FROM items i JOIN messages m ON m.id = i.message_id"
            " WHERE i.run_id = ? AND i.id = ? AND m.pruned_at IS NOT NULL",
            (run_id, int(item_id)),
        )
        if rows:
            raise PrunedError(
                f"item {item_id} of run {run_id} cannot be sent again: retention removed"
                f" its message on {rfc3339(rows[0]['pruned_at'])} ([retention] bodies)"
            )
        raise NotFoundError(f"run {run_id!r} has no item {item_id} with a message to send")

    async def _requeue(self, run_id: str, which: str, event: str, by: str) -> int:
        """Queue the items of ``run_id`` matching ``which`` (a fixed clause)
        again, with their messages, as if just accepted."""
        now = self.clock()
        async with self._transaction() as db:
            await _state(db, run_id)
            cursor = await db.execute(
                f"SELECT id, status, message_id FROM items WHERE run_id = ? AND {which}"  # noqa: S608 -- callers pass fixed clauses
                " AND message_id IS NOT NULL AND status NOT IN ('queued', 'deferred')"
                # A message whose bytes retention removed has nothing left to send.
                " AND message_id NOT IN (SELECT id FROM messages WHERE pruned_at IS NOT NULL)",
                (run_id,),
            )
            rows = list(await cursor.fetchall())
            if not rows:
                return 0
            await db.executemany(
                "UPDATE items SET status = 'queued', error = NULL, updated_at = ? WHERE id = ?",
                [(now, row["id"]) for row in rows],
            )
            await db.executemany(
                "UPDATE messages SET status = 'queued', queued_at = ?, next_attempt_at = ?"
                " WHERE id = ?",
                [(now, now, message) for message in {row["message_id"] for row in rows}],
            )
            changes = Counter({"queued": len(rows)})
            changes.subtract(row["status"] for row in rows)
            await _count(db, run_id, changes)
            await db.execute(
                "UPDATE runs SET status = CASE status WHEN 'cancelled' THEN 'queued'"
                " ELSE status END, finished_at = NULL WHERE id = ?",
                (run_id,),
            )
            await _history(db, run_id, now, event, f"{len(rows)} item(s){_by(by)}")
            await _refresh(db, run_id, now)
        return len(rows)

    async def cancel_run(self, run_id: str, *, by: str = "") -> int:
        now = self.clock()
        async with self._transaction() as db:
            await _state(db, run_id)
            # A message out with the relay right now keeps its lease; its
            # outcome is recorded when it returns, as it truly happened.
            lease_now = self._lease_now()
            cursor = await db.execute(
                "SELECT i.id, i.status FROM items i JOIN messages m ON m.id = i.message_id"  # noqa: S608 -- a fixed clause per backend
                " WHERE i.run_id = ? AND i.status IN ('queued', 'deferred')"
                f" AND (m.lease_until IS NULL OR m.lease_until < {self.now_sql})",
                (run_id, lease_now),
            )
            rows = list(await cursor.fetchall())
            await db.executemany(
                "UPDATE items SET status = 'skipped', error = 'run cancelled', updated_at = ?"
                " WHERE id = ?",
                [(now, row["id"]) for row in rows],
            )
            await db.execute(
                "UPDATE messages SET status = 'done' WHERE run_id = ? AND status = 'queued'"  # noqa: S608 -- a fixed clause per backend
                f" AND (lease_until IS NULL OR lease_until < {self.now_sql})",
                (run_id, lease_now),
            )
            changes = Counter({"skipped": len(rows)})
            changes.subtract(row["status"] for row in rows)
            await _count(db, run_id, changes)
            await db.execute(
                "UPDATE runs SET status = 'cancelled', finished_at = ?, updated_at = ?"
                " WHERE id = ?",
                (now, now, run_id),
            )
            await _history(db, run_id, now, "cancelled", f"{len(rows)} item(s) not sent{_by(by)}")
        return len(rows)


async def _state(db: Connection, run_id: str) -> Row:
    cursor = await db.execute(
        "SELECT status, mail_from, feed_cursor FROM runs WHERE id = ?", (run_id,)
    )
    row = await cursor.fetchone()
    if row is None:
        raise NotFoundError(f"no run {run_id!r}")
    return row


async def _count(db: Connection, run_id: str, changes: Counter[str]) -> None:
    await db.executemany(
        "INSERT INTO run_counts (run_id, status, n) VALUES (?,?,?)"
        " ON CONFLICT (run_id, status) DO UPDATE SET n = run_counts.n + excluded.n",
        [(run_id, status, n) for status, n in changes.items() if n],
    )


async def _counts(db: Connection, run_id: str) -> dict[str, int]:
    cursor = await db.execute(_COUNTS, (run_id,))
    return {row["status"]: row["n"] for row in await cursor.fetchall()}


async def _refresh(db: Connection, run_id: str, now: float, run: Row | None = None) -> None:
    """Derive the run's status from its counts. A definition run still being
    fed stays running, and a cancelled one stays cancelled. ``run`` is the
    run's ``_RUN_STATE`` row when the caller read it in this transaction and
    has not changed those columns since."""
    if run is None:
        cursor = await db.execute(_RUN_STATE, (run_id,))
        run = await cursor.fetchone()
    if run is None:
        return
    status = run_status(await _counts(db, run_id))
    if run["status"] == "cancelled":
        status = "cancelled"
    elif run["definition"] is not None and run["fed_at"] is None:
        status = "running"
    finished = None if status in (*PENDING, "running") else (run["finished_at"] or now)
    await db.execute(
        "UPDATE runs SET status = ?, finished_at = ?, updated_at = ? WHERE id = ?",
        (status, finished, now, run_id),
    )


async def _enqueue(
    db: Connection,
    run_id: str,
    mail_from: str,
    messages: Iterable[tuple[str | None, bytes | None, Sequence[NewItem]]],
    now: float,
    *,
    later: Later | None = None,
) -> Counter[str]:
    """Queue each (customer id, content, items) message of a run: the content,
    when there is some, and one item per recipient; or, with ``later``, what
    to compose after the commit in place of the content of the one message.
    Returns the items' statuses counted, for ``_count``."""
    queued: list[tuple[str, str, str, bytes, str | None, float, float]] = []
    items: list[tuple[Any, ...]] = []
    recipe = json.dumps(later.to_json()) if later is not None else None
    for customer_id, content, recipients in messages:
        message_id = None
        if content is not None or recipe is not None:
            message_id = new_id("msg")
            queued.append((message_id, run_id, mail_from, content or b"", recipe, now, now))
        items.extend(
            (
                run_id,
                message_id if item.status == "queued" else None,
                customer_id,
                item.address,
                item.role,
                item.rule,
                item.status,
                item.error,
                now,
            )
            for item in recipients
        )
    await db.executemany(
        "INSERT INTO messages (id, run_id, mail_from, content, later, status, queued_at,"
        " next_attempt_at) VALUES (?,?,?,?,?, 'queued', ?, ?)",
        queued,
    )
    await db.executemany(
        "INSERT INTO items (run_id, message_id, customer_id, address, role, rule, status,"
        " error, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
        items,
    )
    return Counter(item[6] for item in items)


def _by(actor: str) -> str:
    """The end of a history entry's detail naming who asked for it, if anyone said."""
    return f", by {actor}" if actor else ""


async def _history(db: Connection, run_id: str, at: float, event: str, detail: str) -> None:
    await db.execute(
        "INSERT INTO history (run_id, at, event, detail) VALUES (?,?,?,?)",
        (run_id, at, event, detail),
    )


_COUNTS = "SELECT status, n FROM run_counts WHERE run_id = ? AND n > 0 ORDER BY status"
# What ``_refresh`` needs of a run to derive its status.
_RUN_STATE = "SELECT status, definition, fed_at, finished_at FROM runs WHERE id = ?"


def _run(row: Row, **details: Any) -> Run:
    return Run(**dict(row), **details)
