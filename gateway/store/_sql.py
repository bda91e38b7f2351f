"""Herald's SQL, written once for every SQL backend.

Statements use ``?`` placeholders and the SQL that SQLite and PostgreSQL
share; a backend supplies transactions and reads (``_transaction``,
``_read``) and translates placeholders where it must.
"""

from __future__ import annotations

import abc
import json
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, replace
from importlib import resources
from typing import Any, ClassVar, Protocol, TypeVar

import structlog

from gateway.clock import Clock
from gateway.errors import (
    ConflictError,
    InvalidInput,
    LeaseLostError,
    NotFoundError,
    StoreDataError,
    StoreError,
)
from gateway.store import (
    MASK,
    PENDING,
    AdminToken,
    AuditEntry,
    Customer,
    Definition,
    Delivery,
    HistoryEntry,
    Item,
    NewBatchRun,
    NewItem,
    NewMessage,
    NewNotice,
    NewRun,
    Notice,
    Outcome,
    QueueEntry,
    QueueStats,
    Run,
    RunPage,
    Schedule,
    SenderIdentity,
    SMTPUser,
    Store,
    TemplateAction,
    TemplateParts,
    TemplateVersion,
    masked,
    new_id,
    run_status,
)

log = structlog.get_logger(__name__)

# A result row: sqlite3.Row or asyncpg.Record. Both answer row["name"],
# row[0] and dict(row), which is all Herald asks of them.
Row = Any
T = TypeVar("T")

_RUN_COLUMNS = (
    "id, source, email_type, status, subject, mail_from, created_at, updated_at, error,"
    " idempotency_key, definition, batch_id, invoices_dir, feed_cursor, fed_at, finished_at,"
    " expected"
)
_ITEM_COLUMNS = "id, address, role, rule, status, reply, attempts, error, updated_at, customer_id"


class Cursor(Protocol):
    async def fetchall(self) -> Iterable[Row]: ...

    async def fetchone(self) -> Row | None: ...


class Connection(Protocol):
    """The part of a DB-API style connection that Herald's SQL uses."""

    async def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any: ...


def migrations(dialect: str) -> list[tuple[int, str]]:
    """The numbered migration scripts shipped for ``dialect``, in order."""
    folder = resources.files("gateway.store") / "migrations" / dialect
    scripts = [
        (int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    ]
    return sorted(scripts)


class SQLStore(Store):
    # What reads the time for every row the store writes.
    clock: Clock = staticmethod(time.time)
    # The SQL for the time leases are measured by; it takes one parameter,
    # ``_lease_now()``. A lease is granted, renewed and tested by this clock.
    now_sql: ClassVar[str] = "?"

    @abc.abstractmethod
    def _transaction(self) -> AbstractAsyncContextManager[Connection]:
        """One transaction: committed on exit, rolled back on an exception.
        A unique-key violation surfaces as ``ConflictError``, any other
        failure as ``StoreError``."""

    @abc.abstractmethod
    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    async def _write(
        self, op: Callable[[Connection], Awaitable[T]], *, needs_room: bool = False
    ) -> T:
        """Run ``op`` in a transaction and return once it is committed, keeping
        ``health`` up to date: any failure but a taken key, a lost lease or a
        value the store cannot hold puts the store in trouble, and only the
        success of an op that ``needs_room`` (it adds rows) ends it."""
        try:
            result = await self._apply(op)
        except (ConflictError, LeaseLostError, StoreDataError):
            raise
        except StoreError as exc:
            if self.health.failed(str(exc)):
                # At info: whoever asked for the write reports its failure (a
                # daemon's log line, a CLI's one-line error).
                log.info("store_trouble", error=str(exc))
                await self._trouble_changed()
            raise
        if needs_room and self.health.recovered():
            log.info("store_recovered")
            await self._trouble_changed()
        return result

    async def _apply(self, op: Callable[[Connection], Awaitable[T]]) -> T:
        """Run ``op`` in its own transaction. A backend may commit several
        concurrent writes together (SQLite does)."""
        async with self._transaction() as db:
            return await op(db)

    async def _trouble_changed(self) -> None:
        """Called as the store falls into trouble and as it comes out of it."""

    # Moving an installation from one store to another (``herald migrate-store``).

    async def count_rows(self, table: str) -> int:
        rows = await self._read(f'SELECT count(*) FROM "{table}"')  # noqa: S608 -- table names come from the store's own schema
        return int(rows[0][0])

    async def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        names = ", ".join(f'"{column}"' for column in columns)
        marks = ", ".join("?" for _ in columns)
        async with self._transaction() as db:
            await db.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)  # noqa: S608 -- names come from the store's own schema

    async def imported(self) -> None:
        """Called after rows were copied in with their own ids."""

    async def ping(self) -> None:
        await self._read("SELECT 1")

    async def probe(self) -> None:
        key = new_id("probe")

        async def write(db: Connection) -> None:
            # Any table would do: the row is gone again before the commit, so
            # no reader ever sees it, yet its pages had to be found on disk.
            await db.execute(
                "INSERT INTO settings (key, value, updated_at) VALUES (?,?,?)",
                (key, secrets.token_hex(2048), self.clock()),
            )
            await db.execute("DELETE FROM settings WHERE key = ?", (key,))

        await self._write(write, needs_room=True)

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
                " mail_from, error, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
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
                ),
            )
            counts = await _enqueue(
                db, run.id, run.mail_from, [(None, run.content, run.items)], now
            )
            await db.executemany(
                "INSERT INTO run_keys (key, run_id) VALUES (?,?)",
                [(key, run.id) for key in run.other_keys],
            )
            await _count(db, run.id, counts)
            detail = run.error or f"{len(run.items)} recipient(s)"
            await _history(
                db, run.id, now, run.status if run.content is None else "accepted", detail
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

    async def claim(self, owner: str, *, limit: int, lease: float) -> list[Delivery]:
        now = self.clock()

        async def take(db: Connection) -> list[Delivery]:
            sql, params = self._claim_statement(owner, limit=limit, lease=lease)
            cursor = await db.execute(sql, params)
            # RETURNING gives no order: the earliest due goes first, as claimed.
            rows = sorted(await cursor.fetchall(), key=lambda row: row["next_attempt_at"])
            deliveries = [_delivery(row, owner) for row in rows]
            await db.executemany(
                "INSERT INTO history (run_id, at, event, detail) VALUES (?,?,?,?)",
                [
                    (
                        d.run_id,
                        now,
                        "interrupted",
                        "the previous attempt was cut off after DATA began; the upstream"
                        " may already have it, so "
                        + ", ".join(address for _, address in d.recipients)
                        + " may receive it twice",
                    )
                    for d in deliveries
                    if d.interrupted
                ],
            )
            return deliveries

        return await self._write(take)

    @abc.abstractmethod
    def _claim_statement(
        self, owner: str, *, limit: int, lease: float
    ) -> tuple[str, Sequence[Any]]:
        """The one statement that leases up to ``limit`` due messages to
        ``owner`` and returns them as ``_CLAIMED`` names their columns."""

    def _lease_now(self) -> float | None:
        """The time leases are measured by, bound to each ``now_sql``: the
        store's clock here; a backend with a shared clock may answer None to
        use the database's own."""
        return self.clock()

    async def mark_sending(self, delivery: Delivery, *, lease: float) -> None:
        now = self.clock()

        lease_now = self._lease_now()

        async def mark(db: Connection) -> None:
            cursor = await db.execute(
                f"UPDATE messages SET sending_since = ?, lease_until = {self.now_sql} + ?"  # noqa: S608 -- a fixed clause per backend
                " WHERE id = ? AND status = 'queued' AND lease_owner = ?"
                f" AND lease_until >= {self.now_sql} RETURNING id",
                (now, lease_now, lease, delivery.message_id, delivery.owner, lease_now),
            )
            if await cursor.fetchone() is None:
                raise LeaseLostError(f"the lease on {delivery.message_id} was lost")

        await self._write(mark)

    async def record_attempt(
        self,
        delivery: Delivery,
        outcomes: Sequence[Outcome],
        *,
        retry_at: float | None,
        notices: Sequence[NewNotice] = (),
    ) -> None:
        now = self.clock()
        addresses = dict(delivery.recipients)

        async def record(db: Connection) -> None:
            cursor = await db.execute(
                "SELECT 1 FROM messages WHERE id = ? AND lease_owner = ?",
                (delivery.message_id, delivery.owner),
            )
            if await cursor.fetchone() is None:
                raise LeaseLostError(f"the lease on {delivery.message_id} was lost")
            cursor = await db.execute(
                "SELECT definition, status FROM runs WHERE id = ?", (delivery.run_id,)
            )
            run = await cursor.fetchone()
            results = list(outcomes)
            if run is not None and run["status"] == "cancelled":
                # Cancelled while out with the relay: what went stays sent,
                # what would be retried is not.
                results = [
                    replace(o, status="skipped", error="run cancelled")
                    if o.status == "deferred"
                    else o
                    for o in results
                ]
            pending = retry_at is not None and any(o.status == "deferred" for o in results)
            errors = [o.error or o.reply for o in results if o.status == "deferred"]
            before = await _statuses(db, [o.item_id for o in results])
            await db.executemany(
                "UPDATE items SET status = ?, reply = ?, error = ?, attempts = attempts + 1,"
                " updated_at = ? WHERE id = ?",
                [(o.status, o.reply, o.error, now, o.item_id) for o in results],
            )
            changes: Counter[str] = Counter(o.status for o in results)
            changes.subtract(before.values())
            await _count(db, delivery.run_id, changes)
            # A definition run's items say what became of each recipient; its
            # history keeps to the run's own steps rather than one per mail.
            if run is not None and run["definition"] is None:
                await db.executemany(
                    "INSERT INTO history (run_id, at, event, detail) VALUES (?,?,?,?)",
                    [
                        (
                            delivery.run_id,
                            now,
                            o.status,
                            f"{addresses.get(o.item_id, '?')}: {o.reply or o.error or ''}".strip(),
                        )
                        for o in results
                    ],
                )
            # A held or purged message keeps that status: the operator's word wins.
            await db.execute(
                "UPDATE messages SET attempts = attempts + 1, lease_owner = NULL,"
                " lease_until = NULL, sending_since = NULL, last_error = ?,"
                " status = CASE WHEN status = 'queued' THEN ? ELSE status END,"
                " next_attempt_at = ? WHERE id = ?",
                (
                    errors[0] if errors else None,
                    "queued" if pending else "done",
                    retry_at or now,
                    delivery.message_id,
                ),
            )
            await db.executemany(
                "INSERT INTO notices (run_id, kind, payload, created_at, next_attempt_at)"
                " VALUES (?,?,?,?,?)",
                [(delivery.run_id, n.kind, json.dumps(n.payload), now, now) for n in notices],
            )
            await _refresh(db, delivery.run_id, now)

        await self._write(record, needs_room=True)

    async def renew_leases(self, owner: str, message_ids: Collection[str], *, lease: float) -> int:
        ids = list(message_ids)
        if not ids:
            return 0
        lease_now = self._lease_now()

        async def renew(db: Connection) -> int:
            cursor = await db.execute(
                f"UPDATE messages SET lease_until = {self.now_sql} + ? WHERE lease_owner = ?"  # noqa: S608 -- only placeholders are formatted in
                f" AND id IN ({_marks(ids)}) RETURNING id",
                (lease_now, lease, owner, *ids),
            )
            return len(list(await cursor.fetchall()))

        return await self._write(renew)

    async def lease_owners(self) -> list[str]:
        rows = await self._read(
            "SELECT DISTINCT lease_owner FROM messages WHERE lease_owner IS NOT NULL"
        )
        return [str(row["lease_owner"]) for row in rows]

    async def release_leases(self, owner: str) -> int:
        async def release(db: Connection) -> int:
            cursor = await db.execute(
                "UPDATE messages SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?"
                " RETURNING id",
                (owner,),
            )
            return len(list(await cursor.fetchall()))

        return await self._write(release)

    async def queue_stats(self) -> QueueStats:
        rows = await self._read(
            "SELECT count(*) AS depth,"
            " coalesce(sum(CASE WHEN status = 'held' THEN 1 ELSE 0 END), 0) AS held,"
            " min(queued_at) AS oldest FROM messages WHERE status IN ('queued', 'held')"
        )
        row = rows[0]
        oldest = row["oldest"]
        return QueueStats(
            int(row["depth"]), int(row["held"]), float(oldest) if oldest is not None else None
        )

    async def list_queue(self, *, limit: int = 100) -> list[QueueEntry]:
        now = self.clock()
        rows = await self._read(
            "SELECT m.id, m.run_id, r.email_type, m.status, m.attempts, m.queued_at,"
            " m.next_attempt_at, m.last_error, m.lease_until"
            " FROM messages m JOIN runs r ON r.id = m.run_id"
            " WHERE m.status IN ('queued', 'held') ORDER BY m.next_attempt_at LIMIT ?",
            (limit,),
        )
        pending: dict[str, list[str]] = {}
        if rows:
            marks = ", ".join("?" for _ in rows)
            for item in await self._read(
                f"SELECT message_id, address FROM items WHERE message_id IN ({marks})"  # noqa: S608 -- only placeholders are interpolated
                " AND status IN ('queued', 'deferred') ORDER BY id",
                [row["id"] for row in rows],
            ):
                pending.setdefault(item["message_id"], []).append(item["address"])
        return [
            QueueEntry(
                message_id=row["id"],
                run_id=row["run_id"],
                email_type=row["email_type"],
                status=(
                    "held"
                    if row["status"] == "held"
                    else "sending"
                    if row["lease_until"] is not None and row["lease_until"] >= now
                    else "queued"
                ),
                attempts=row["attempts"],
                queued_at=row["queued_at"],
                next_attempt_at=row["next_attempt_at"],
                recipients=pending.get(row["id"], []),
                last_error=row["last_error"],
            )
            for row in rows
        ]

    async def retry_now(self, message_id: str | None) -> int:
        now = self.clock()

        async def retry(db: Connection) -> int:
            if message_id is None:
                cursor = await db.execute(
                    "UPDATE messages SET next_attempt_at = ? WHERE status = 'queued' RETURNING id",
                    (now,),
                )
                return len(list(await cursor.fetchall()))
            await _waiting(db, message_id)
            await db.execute(
                "UPDATE messages SET next_attempt_at = ?, status = 'queued' WHERE id = ?",
                (now, message_id),
            )
            return 1

        return await self._write(retry)

    async def hold(self, message_id: str) -> None:
        await self._set_waiting_status(message_id, "held", "held by the operator")

    async def release(self, message_id: str) -> None:
        await self._set_waiting_status(message_id, "queued", "released by the operator")

    async def _set_waiting_status(self, message_id: str, status: str, detail: str) -> None:
        now = self.clock()

        async def change(db: Connection) -> None:
            run_id = await _waiting(db, message_id)
            await db.execute(
                "UPDATE messages SET status = ?, next_attempt_at = ? WHERE id = ?",
                (status, now, message_id),
            )
            await _history(db, run_id, now, status, detail)

        await self._write(change)

    async def purge(self, message_id: str, reason: str) -> None:
        now = self.clock()

        async def remove(db: Connection) -> None:
            run_id = await _waiting(db, message_id)
            await db.execute(
                "UPDATE messages SET status = 'purged' WHERE id = ?",
                (message_id,),
            )
            cursor = await db.execute(
                "SELECT id, status FROM items WHERE message_id = ?"
                " AND status IN ('queued', 'deferred')",
                (message_id,),
            )
            before = {row["id"]: row["status"] for row in await cursor.fetchall()}
            await db.execute(
                "UPDATE items SET status = 'failed', error = ?, updated_at = ?"
                " WHERE message_id = ? AND status IN ('queued', 'deferred')",
                (reason, now, message_id),
            )
            changes: Counter[str] = Counter({"failed": len(before)})
            changes.subtract(before.values())
            await _count(db, run_id, changes)
            await _history(db, run_id, now, "purged", reason)
            await _refresh(db, run_id, now)

        await self._write(remove)

    async def due_notices(self, *, limit: int) -> list[Notice]:
        rows = await self._read(
            "SELECT id, run_id, kind, payload, attempts, created_at FROM notices"
            " WHERE done_at IS NULL AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?",
            (self.clock(), limit),
        )
        return [
            Notice(
                id=row["id"],
                run_id=row["run_id"],
                kind=row["kind"],
                payload=json.loads(row["payload"]),
                attempts=row["attempts"],
                created_at=row["created_at"],
            )
            for row in rows
        ]

    async def notice_done(self, notice_id: int, *, error: str | None = None) -> None:
        now = self.clock()

        async def done(db: Connection) -> None:
            await db.execute(
                "UPDATE notices SET done_at = ?, error = ?, attempts = attempts + 1 WHERE id = ?",
                (now, error, notice_id),
            )

        await self._write(done)

    async def notice_retry(self, notice_id: int, *, at: float, error: str) -> None:
        async def later(db: Connection) -> None:
            await db.execute(
                "UPDATE notices SET next_attempt_at = ?, error = ?, attempts = attempts + 1"
                " WHERE id = ?",
                (at, error, notice_id),
            )

        await self._write(later)

    async def next_due(self) -> float | None:
        rows = await self._read(
            "SELECT min(CASE WHEN lease_until > next_attempt_at THEN lease_until"
            " ELSE next_attempt_at END) AS due FROM messages WHERE status = 'queued'"
        )
        due = rows[0]["due"] if rows else None
        return float(due) if due is not None else None

    async def list_runs(
        self,
        *,
        status: str | None = None,
        email_type: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunPage:
        clauses: list[str] = []
        params: list[Any] = []
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        if email_type is not None:
            clauses.append("email_type = ?")
            params.append(email_type)
        if cursor is not None:
            clauses.append("id < ?")
            params.append(cursor)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._read(
            f"SELECT {_RUN_COLUMNS} FROM runs {where} ORDER BY id DESC LIMIT ?",  # noqa: S608 -- clauses are fixed column names, values are bound
            (*params, limit + 1),
        )
        runs = [_run(row, counts=await self._counts(row["id"])) for row in rows[:limit]]
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

    async def _counts(self, run_id: str) -> dict[str, int]:
        rows = await self._read(_COUNTS, (run_id,))
        return {row["status"]: row["n"] for row in rows}

    async def put_sender(self, sender: SenderIdentity, *, actor: str) -> None:
        now = self.clock()
        async with self._transaction() as db:
            cursor = await db.execute(
                "SELECT key, address, name FROM senders WHERE key = ?", (sender.key,)
            )
            row = await cursor.fetchone()
            old = dict(row) if row is not None else None
            new = asdict(sender)
            if old == new:
                return
            await db.execute(
                "INSERT INTO senders (key, address, name, updated_at) VALUES (?,?,?,?)"
                " ON CONFLICT (key) DO UPDATE SET address = excluded.address,"
                " name = excluded.name, updated_at = excluded.updated_at",
                (sender.key, sender.address, sender.name, now),
            )
            await _audit(db, now, actor, f"senders/{sender.key}", old, new)

    async def list_senders(self) -> list[SenderIdentity]:
        rows = await self._read("SELECT key, address, name FROM senders ORDER BY key")
        return [SenderIdentity(**dict(row)) for row in rows]

    async def get_sender(self, key: str) -> SenderIdentity:
        rows = await self._read("SELECT key, address, name FROM senders WHERE key = ?", (key,))
        if not rows:
            raise NotFoundError(f"no sender with from key {key!r}")
        return SenderIdentity(**dict(rows[0]))

    async def read_settings(self, prefix: str) -> dict[str, dict[str, Any]]:
        rows = await self._read(
            "SELECT key, value FROM settings WHERE key = ? OR substr(key, 1, ?) = ?",
            (prefix, len(prefix) + 1, prefix + "/"),
        )
        return {row["key"]: json.loads(row["value"]) for row in rows}

    async def write_setting(
        self,
        key: str,
        value: Mapping[str, Any] | None,
        *,
        actor: str,
        secret_fields: Collection[str] = (),
    ) -> None:
        now = self.clock()
        async with self._transaction() as db:
            cursor = await db.execute("SELECT value FROM settings WHERE key = ?", (key,))
            row = await cursor.fetchone()
            old = json.loads(row["value"]) if row else None
            new = dict(value) if value is not None else None
            if old == new:
                return
            if new is None:
                await db.execute("DELETE FROM settings WHERE key = ?", (key,))
            else:
                await db.execute(
                    "INSERT INTO settings (key, value, updated_at) VALUES (?,?,?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                    " updated_at = excluded.updated_at",
                    (key, json.dumps(new, sort_keys=True), now),
                )
            await _audit(db, now, actor, key, *masked(old, new, secret_fields))

    async def list_audit(self, *, limit: int = 50, setting: str | None = None) -> list[AuditEntry]:
        where, params = "", []
        if setting is not None:
            where = "WHERE setting = ? OR substr(setting, 1, ?) = ?"
            params = [setting, len(setting) + 1, setting + "/"]
        columns = "id, at, actor, setting, old_value, new_value"
        rows = await self._read(
            f"SELECT {columns} FROM settings_audit {where} ORDER BY id DESC LIMIT ?",  # noqa: S608 -- a fixed clause, values are bound
            (*params, limit),
        )
        return [
            AuditEntry(
                id=row["id"],
                at=row["at"],
                actor=row["actor"],
                setting=row["setting"],
                old=json.loads(row["old_value"]) if row["old_value"] else None,
                new=json.loads(row["new_value"]) if row["new_value"] else None,
            )
            for row in rows
        ]

    async def add_template_version(
        self,
        email_type: str,
        action: TemplateAction,
        parts: TemplateParts | None,
        note: str = "",
    ) -> TemplateVersion:
        # Two saves at once (two nodes, say) may pick the same number; the
        # primary key refuses the second, which then takes the next one.
        for attempt in range(5):
            try:
                return await self._add_template_version(email_type, action, parts, note)
            except ConflictError:
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    async def _add_template_version(
        self,
        email_type: str,
        action: TemplateAction,
        parts: TemplateParts | None,
        note: str,
    ) -> TemplateVersion:
        now = self.clock()
        async with self._transaction() as db:
            cursor = await db.execute(
                "SELECT coalesce(max(version), 0) + 1 FROM template_versions WHERE email_type = ?",
                (email_type,),
            )
            row = await cursor.fetchone()
            version = int(row[0]) if row else 1
            await db.execute(
                "INSERT INTO template_versions (email_type, version, action, subject, html, text,"
                " note, created_at) VALUES (?,?,?,?,?,?,?,?)",
                (
                    email_type,
                    version,
                    action,
                    parts.subject if parts else None,
                    parts.html if parts else None,
                    parts.text if parts else None,
                    note,
                    now,
                ),
            )
        return TemplateVersion(email_type, version, action, parts, note, now)

    async def template_versions(self, email_type: str) -> list[TemplateVersion]:
        rows = await self._read(
            f"SELECT {_VERSION_COLUMNS} FROM template_versions WHERE email_type = ?"  # noqa: S608 -- a fixed column list
            " ORDER BY version DESC",
            (email_type,),
        )
        return [_version(row) for row in rows]

    async def template_version(self, email_type: str, version: int) -> TemplateVersion:
        rows = await self._read(
            f"SELECT {_VERSION_COLUMNS} FROM template_versions"  # noqa: S608 -- a fixed column list
            " WHERE email_type = ? AND version = ?",
            (email_type, version),
        )
        if not rows:
            raise NotFoundError(f"no version {version} of the {email_type} template")
        return _version(rows[0])

    async def current_template(self, email_type: str) -> TemplateVersion | None:
        rows = await self._read(
            f"SELECT {_VERSION_COLUMNS} FROM template_versions WHERE email_type = ?"  # noqa: S608 -- a fixed column list
            " ORDER BY version DESC LIMIT 1",
            (email_type,),
        )
        current = _version(rows[0]) if rows else None
        return current if current is not None and current.parts is not None else None

    async def put_customers(self, customers: Sequence[Customer]) -> None:
        now = self.clock()
        ids = [(c.id,) for c in customers]
        async with self._transaction() as db:
            await db.executemany(
                "INSERT INTO customers (id, name, locale, fields, updated_at) VALUES (?,?,?,?,?)"
                " ON CONFLICT (id) DO UPDATE SET name = excluded.name, locale = excluded.locale,"
                " fields = excluded.fields, updated_at = excluded.updated_at",
                [(c.id, c.name, c.locale, json.dumps(c.fields), now) for c in customers],
            )
            await db.executemany("DELETE FROM customer_clusters WHERE customer_id = ?", ids)
            await db.executemany("DELETE FROM customer_addresses WHERE customer_id = ?", ids)
            await db.executemany(
                "INSERT INTO customer_clusters (customer_id, cluster) VALUES (?,?)",
                [(c.id, cluster) for c in customers for cluster in c.clusters],
            )
            await db.executemany(
                "INSERT INTO customer_addresses (customer_id, recipient_key, seq, address)"
                " VALUES (?,?,?,?)",
                [
                    (c.id, key, position, address)
                    for c in customers
                    for key, addresses in c.addresses.items()
                    for position, address in enumerate(addresses)
                ],
            )

    async def get_customer(self, customer_id: str) -> Customer:
        rows = await self._read(
            "SELECT id, name, locale, fields FROM customers WHERE id = ?", (customer_id,)
        )
        if not rows:
            raise NotFoundError(f"no customer {customer_id!r}")
        return (await self._customers(rows))[0]

    async def count_customers(self, clusters: Sequence[str]) -> int:
        rows = await self._read(
            "SELECT count(DISTINCT customer_id) AS n FROM customer_clusters"  # noqa: S608 -- placeholders only
            f" WHERE cluster IN ({_marks(clusters)})",
            list(clusters),
        )
        return int(rows[0]["n"])

    async def select_customers(
        self, clusters: Sequence[str], *, after: str | None, limit: int
    ) -> list[Customer]:
        # Walk customers by id and test each for a cluster, so that a page
        # costs its own size, however many customers the clusters hold.
        rows = await self._read(
            "SELECT c.id, c.name, c.locale, c.fields FROM customers c WHERE c.id > ? AND EXISTS"  # noqa: S608 -- placeholders only
            " (SELECT 1 FROM customer_clusters cc WHERE cc.customer_id = c.id"
            f" AND cc.cluster IN ({_marks(clusters)})) ORDER BY c.id LIMIT ?",
            (after or "", *clusters, limit),
        )
        return await self._customers(rows)

    async def _customers(self, rows: Sequence[Row]) -> list[Customer]:
        ids = [row["id"] for row in rows]
        if not ids:
            return []
        clusters: dict[str, list[str]] = {i: [] for i in ids}
        addresses: dict[str, dict[str, list[str]]] = {i: {} for i in ids}
        for row in await self._read(
            "SELECT customer_id, cluster FROM customer_clusters"  # noqa: S608 -- placeholders only
            f" WHERE customer_id IN ({_marks(ids)}) ORDER BY cluster",
            ids,
        ):
            clusters[row["customer_id"]].append(row["cluster"])
        for row in await self._read(
            "SELECT customer_id, recipient_key, address FROM customer_addresses"  # noqa: S608 -- placeholders only
            f" WHERE customer_id IN ({_marks(ids)}) ORDER BY recipient_key, seq",
            ids,
        ):
            addresses[row["customer_id"]].setdefault(row["recipient_key"], []).append(
                row["address"]
            )
        return [
            Customer(
                id=row["id"],
                name=row["name"],
                locale=row["locale"],
                fields=json.loads(row["fields"]),
                clusters=tuple(clusters[row["id"]]),
                addresses={k: tuple(v) for k, v in addresses[row["id"]].items()},
            )
            for row in rows
        ]

    async def put_definition(self, definition: Definition) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO definitions (name, body, updated_at) VALUES (?,?,?)"
                " ON CONFLICT (name) DO UPDATE SET body = excluded.body,"
                " updated_at = excluded.updated_at",
                (definition.name, json.dumps(asdict(definition)), self.clock()),
            )

    async def list_definitions(self) -> list[Definition]:
        rows = await self._read("SELECT body FROM definitions ORDER BY name")
        return [_definition(row["body"]) for row in rows]

    async def get_definition(self, name: str) -> Definition:
        rows = await self._read("SELECT body FROM definitions WHERE name = ?", (name,))
        if not rows:
            raise NotFoundError(f"no message definition {name!r}")
        return _definition(rows[0]["body"])

    async def start_batch_run(self, run: NewBatchRun) -> tuple[str, bool]:
        now = self.clock()
        try:
            async with self._transaction() as db:
                await db.execute(
                    "INSERT INTO runs (id, source, email_type, status, subject, mail_from,"
                    " created_at, updated_at, definition, batch_id, invoices_dir, expected)"
                    " VALUES (?, 'definition', ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        run.id,
                        run.definition,
                        run.subject,
                        run.mail_from,
                        now,
                        now,
                        run.definition,
                        run.batch_id,
                        run.invoices_dir,
                        run.expected,
                    ),
                )
                await _history(db, run.id, now, "started", f"batch {run.batch_id}")
        except ConflictError:
            rows = await self._read(
                "SELECT id FROM runs WHERE definition = ? AND batch_id = ?",
                (run.definition, run.batch_id),
            )
            if not rows:
                raise StoreError(f"run {run.id} could not be recorded") from None
            return str(rows[0]["id"]), False
        return run.id, True

    async def feed_run(
        self, run_id: str, messages: Sequence[NewMessage], *, after: str | None, cursor: str
    ) -> bool:
        now = self.clock()
        async with self._transaction() as db:
            state = await _state(db, run_id)
            if state["status"] == "cancelled" or state["feed_cursor"] != after:
                return False
            batch = [(m.customer_id, m.content, m.items) for m in messages]
            await _count(db, run_id, await _enqueue(db, run_id, state["mail_from"], batch, now))
            await db.execute(
                "UPDATE runs SET feed_cursor = ?, updated_at = ? WHERE id = ?",
                (cursor, now, run_id),
            )
        return True

    async def finish_feed(self, run_id: str) -> None:
        now = self.clock()
        async with self._transaction() as db:
            await db.execute(
                "UPDATE runs SET fed_at = ? WHERE id = ? AND fed_at IS NULL", (now, run_id)
            )
            counts = await _counts(db, run_id)
            await _history(db, run_id, now, "fed", f"{sum(counts.values())} item(s)")
            await _refresh(db, run_id, now)

    async def unfed_runs(self) -> list[Run]:
        rows = await self._read(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE definition IS NOT NULL"  # noqa: S608 -- a fixed column list
            " AND fed_at IS NULL AND status <> 'cancelled' ORDER BY id"
        )
        return [_run(row) for row in rows]

    async def retry_run(self, run_id: str) -> int:
        return await self._requeue(run_id, "status = 'failed'", "retried")

    async def resend_item(self, run_id: str, item_id: int) -> None:
        if not await self._requeue(run_id, f"id = {int(item_id)}", "resent"):
            raise NotFoundError(f"run {run_id!r} has no item {item_id} with a message to send")

    async def _requeue(self, run_id: str, which: str, event: str) -> int:
        """Queue the items of ``run_id`` matching ``which`` (a fixed clause)
        again, with their messages, as if just accepted."""
        now = self.clock()
        async with self._transaction() as db:
            await _state(db, run_id)
            cursor = await db.execute(
                f"SELECT id, status, message_id FROM items WHERE run_id = ? AND {which}"  # noqa: S608 -- callers pass fixed clauses
                " AND message_id IS NOT NULL AND status NOT IN ('queued', 'deferred')",
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
            await _history(db, run_id, now, event, f"{len(rows)} item(s)")
            await _refresh(db, run_id, now)
        return len(rows)

    async def cancel_run(self, run_id: str) -> int:
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
            await _history(db, run_id, now, "cancelled", f"{len(rows)} item(s) not sent")
        return len(rows)

    async def put_smtp_user(self, user: SMTPUser, *, actor: str) -> None:
        now = self.clock()
        async with self._transaction() as db:
            cursor = await db.execute(f"{_SMTP_USER_SELECT} WHERE name = ?", (user.name,))
            row = await cursor.fetchone()
            await db.execute(
                "INSERT INTO smtp_users (name, password_hash, sender_domains, recipient_domains,"
                " created_at, updated_at) VALUES (?,?,?,?,?,?) ON CONFLICT (name) DO UPDATE SET"
                " password_hash = excluded.password_hash,"
                " sender_domains = excluded.sender_domains,"
                " recipient_domains = excluded.recipient_domains, updated_at = excluded.updated_at",
                (
                    user.name,
                    user.password_hash,
                    " ".join(user.sender_domains),
                    " ".join(user.recipient_domains),
                    now,
                    now,
                ),
            )
            # The hash is never shown, and a save always sets the password.
            old = _audited_login(_smtp_user(row)) if row is not None else None
            new = {**_audited_login(user), "password": f"{MASK} (changed)"}
            await _audit(db, now, actor, f"smtp-users/{user.name}", old, new)

    async def get_smtp_user(self, name: str) -> SMTPUser:
        rows = await self._read(f"{_SMTP_USER_SELECT} WHERE name = ?", (name,))
        if not rows:
            raise NotFoundError(f"no SMTP user {name!r}")
        return _smtp_user(rows[0])

    async def list_smtp_users(self) -> list[SMTPUser]:
        return [_smtp_user(row) for row in await self._read(f"{_SMTP_USER_SELECT} ORDER BY name")]

    async def delete_smtp_user(self, name: str, *, actor: str) -> None:
        now = self.clock()
        async with self._transaction() as db:
            cursor = await db.execute(f"{_SMTP_USER_SELECT} WHERE name = ?", (name,))
            row = await cursor.fetchone()
            if row is None:
                raise NotFoundError(f"no SMTP user {name!r}")
            await db.execute("DELETE FROM smtp_users WHERE name = ?", (name,))
            await _audit(
                db, now, actor, f"smtp-users/{name}", _audited_login(_smtp_user(row)), None
            )

    async def add_admin_token(self, token: AdminToken, digest: str, *, actor: str) -> None:
        try:
            async with self._transaction() as db:
                await db.execute(
                    "INSERT INTO admin_tokens (id, name, digest, scopes, created_at)"
                    " VALUES (?,?,?,?,?)",
                    (token.id, token.name, digest, " ".join(token.scopes), token.created_at),
                )
                await _audit(
                    db, self.clock(), actor, f"tokens/{token.name}", None, _audited_token(token)
                )
        except ConflictError:
            raise InvalidInput("#/name", f"a token named {token.name!r} exists") from None

    async def find_admin_token(self, digest: str) -> AdminToken | None:
        async with self._transaction() as db:
            cursor = await db.execute(
                f"{_ADMIN_KEYS_SELECT} WHERE digest = ? AND revoked_at IS NULL",
                (digest,),
            )
            row = await cursor.fetchone()
            if row is None:
                return None
            await db.execute(
                "UPDATE admin_tokens SET last_used_at = ? WHERE id = ?", (self.clock(), row["id"])
            )
        return _token(row)

    async def list_admin_tokens(self) -> list[AdminToken]:
        rows = await self._read(f"{_ADMIN_KEYS_SELECT} ORDER BY created_at")
        return [_token(row) for row in rows]

    async def revoke_admin_token(self, name_or_id: str, *, actor: str) -> AdminToken:
        now = self.clock()
        async with self._transaction() as db:
            cursor = await db.execute(
                f"{_ADMIN_KEYS_SELECT} WHERE (id = ? OR name = ?) AND revoked_at IS NULL",
                (name_or_id, name_or_id),
            )
            row = await cursor.fetchone()
            if row is None:
                raise NotFoundError(f"no live admin token named {name_or_id!r}")
            await db.execute(
                "UPDATE admin_tokens SET revoked_at = ? WHERE id = ?", (now, row["id"])
            )
            token = _token(row)
            await _audit(db, now, actor, f"tokens/{token.name}", _audited_token(token), None)
        return token


_VERSION_COLUMNS = "email_type, version, action, subject, html, text, note, created_at"


def _version(row: Row) -> TemplateVersion:
    parts = (
        TemplateParts(subject=row["subject"], html=row["html"], text=row["text"] or "")
        if row["action"] != "reset"
        else None
    )
    return TemplateVersion(
        email_type=row["email_type"],
        version=row["version"],
        action=row["action"],
        parts=parts,
        note=row["note"],
        created_at=row["created_at"],
    )


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values)) or "NULL"


def _definition(body: str) -> Definition:
    data = json.loads(body)
    schedule = data.pop("schedule")
    return Definition(**data, schedule=Schedule(**schedule) if schedule else None)


async def _state(db: Connection, run_id: str) -> Row:
    cursor = await db.execute(
        "SELECT status, mail_from, feed_cursor FROM runs WHERE id = ?", (run_id,)
    )
    row = await cursor.fetchone()
    if row is None:
        raise NotFoundError(f"no run {run_id!r}")
    return row


async def _waiting(db: Connection, message_id: str) -> str:
    """The run of a message still in the queue; ``NotFoundError`` otherwise."""
    cursor = await db.execute(
        "SELECT run_id FROM messages WHERE id = ? AND status IN ('queued', 'held')",
        (message_id,),
    )
    row = await cursor.fetchone()
    if row is None:
        raise NotFoundError(f"no waiting message {message_id!r}")
    return str(row["run_id"])


async def _statuses(db: Connection, item_ids: Sequence[int]) -> dict[int, str]:
    cursor = await db.execute(
        f"SELECT id, status FROM items WHERE id IN ({_marks(item_ids)})",  # noqa: S608 -- placeholders only
        list(item_ids),
    )
    return {row["id"]: row["status"] for row in await cursor.fetchall()}


async def _count(db: Connection, run_id: str, changes: Counter[str]) -> None:
    await db.executemany(
        "INSERT INTO run_counts (run_id, status, n) VALUES (?,?,?)"
        " ON CONFLICT (run_id, status) DO UPDATE SET n = run_counts.n + excluded.n",
        [(run_id, status, n) for status, n in changes.items() if n],
    )


async def _counts(db: Connection, run_id: str) -> dict[str, int]:
    cursor = await db.execute(_COUNTS, (run_id,))
    return {row["status"]: row["n"] for row in await cursor.fetchall()}


async def _refresh(db: Connection, run_id: str, now: float) -> None:
    """Derive the run's status from its counts. A definition run still being
    fed stays running, and a cancelled one stays cancelled."""
    cursor = await db.execute(
        "SELECT status, definition, fed_at, finished_at FROM runs WHERE id = ?", (run_id,)
    )
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
) -> Counter[str]:
    """Queue each (customer id, content, items) message of a run: the content,
    when there is some, and one item per recipient. Returns the items' statuses
    counted, for ``_count``."""
    queued: list[tuple[str, str, str, bytes, float, float]] = []
    items: list[tuple[Any, ...]] = []
    for customer_id, content, recipients in messages:
        message_id = None
        if content is not None:
            message_id = new_id("msg")
            queued.append((message_id, run_id, mail_from, content, now, now))
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
        "INSERT INTO messages (id, run_id, mail_from, content, status, queued_at,"
        " next_attempt_at) VALUES (?,?,?,?, 'queued', ?, ?)",
        queued,
    )
    await db.executemany(
        "INSERT INTO items (run_id, message_id, customer_id, address, role, rule, status,"
        " error, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
        items,
    )
    return Counter(item[6] for item in items)


async def _history(db: Connection, run_id: str, at: float, event: str, detail: str) -> None:
    await db.execute(
        "INSERT INTO history (run_id, at, event, detail) VALUES (?,?,?,?)",
        (run_id, at, event, detail),
    )


_COUNTS = "SELECT status, n FROM run_counts WHERE run_id = ? AND n > 0 ORDER BY status"


_SMTP_USER_SELECT = "SELECT name, password_hash, sender_domains, recipient_domains FROM smtp_users"
_ADMIN_KEYS_SELECT = (
    "SELECT id, name, scopes, created_at, last_used_at, revoked_at FROM admin_tokens"
)


async def _audit(
    db: Connection,
    at: float,
    actor: str,
    setting: str,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
) -> None:
    """Append a change to the audit log, in the transaction that makes it, so
    that no change is kept without its entry; the caller masks every secret."""
    await db.execute(
        "INSERT INTO settings_audit (at, actor, setting, old_value, new_value) VALUES (?,?,?,?,?)",
        (
            at,
            actor,
            setting,
            None if old is None else json.dumps(old, sort_keys=True),
            None if new is None else json.dumps(new, sort_keys=True),
        ),
    )


def _audited_login(user: SMTPUser) -> dict[str, Any]:
    """An SMTP login as the audit log keeps it: its domains, never its hash."""
    return {
        "name": user.name,
        "sender_domains": list(user.sender_domains),
        "recipient_domains": list(user.recipient_domains),
        "password": MASK,
    }


def _audited_token(token: AdminToken) -> dict[str, Any]:
    """A token as the audit log keeps it: what it may do, never its digest."""
    return {"scopes": list(token.scopes)}


def _smtp_user(row: Row) -> SMTPUser:
    return SMTPUser(
        name=row["name"],
        password_hash=row["password_hash"],
        sender_domains=tuple(row["sender_domains"].split()),
        recipient_domains=tuple(row["recipient_domains"].split()),
    )


def _token(row: Row) -> AdminToken:
    return AdminToken(**{**dict(row), "scopes": tuple(row["scopes"].split())})


def claimed_columns(recipients: str) -> str:
    """What a claim returns of each message it leased; ``recipients`` is the
    dialect's aggregate of ``items`` into a JSON array of [item id, address]."""
    return (
        "messages.id, messages.run_id, messages.mail_from, messages.content,"  # noqa: S608 -- a fixed aggregate per backend
        " messages.attempts, messages.queued_at, messages.next_attempt_at,"
        " messages.sending_since,"
        " (SELECT email_type FROM runs WHERE runs.id = messages.run_id) AS email_type,"
        f" (SELECT {recipients} FROM items WHERE items.message_id = messages.id"
        " AND items.status IN ('queued', 'deferred')) AS recipients"
    )


def _delivery(row: Row, owner: str) -> Delivery:
    pairs = json.loads(row["recipients"]) if row["recipients"] is not None else []
    return Delivery(
        message_id=row["id"],
        run_id=row["run_id"],
        mail_from=row["mail_from"],
        content=bytes(row["content"]),
        recipients=sorted((int(item), str(address)) for item, address in pairs),
        attempts=row["attempts"],
        queued_at=row["queued_at"],
        email_type=row["email_type"] or "",
        owner=owner,
        interrupted=row["sending_since"] is not None,
    )


def _run(row: Row, **details: Any) -> Run:
    return Run(**dict(row), **details)
