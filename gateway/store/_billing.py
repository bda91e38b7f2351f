"""Customers, message definitions and definition runs fed chunk by chunk."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict

from gateway.errors import ConflictError, NotFoundError, StoreError
from gateway.store import (
    Customer,
    Definition,
    DefinitionVersion,
    NewBatchRun,
    NewMessage,
    Requeued,
    Run,
    Schedule,
    new_id,
)
from gateway.store._base import Connection, Row, SQLBase, _marks
from gateway.store._runs import (
    _RUN_COLUMNS,
    _by,
    _count,
    _counts,
    _enqueue,
    _history,
    _refresh,
    _run,
    _state,
)
from gateway.store._settings import _audit


class BillingSQL(SQLBase):
    """Customers, definitions and definition runs."""

    async def put_customers(self, customers: Sequence[Customer]) -> None:
        async with self._transaction() as db:
            await self._put_customers(db, customers)

    async def import_customers(self, customers: Sequence[Customer], *, actor: str) -> None:
        async with self._transaction() as db:
            await self._put_customers(db, customers)
            await _audit(db, self.clock(), actor, "customers", None, {"imported": len(customers)})

    async def delete_customers(self, ids: Sequence[str], *, actor: str) -> int:
        found = 0
        async with self._transaction() as db:
            for customer_id in ids:
                cursor = await db.execute("SELECT name FROM customers WHERE id = ?", (customer_id,))
                row = await cursor.fetchone()
                if row is None:
                    continue
                found += 1
                for table in ("customer_clusters", "customer_addresses"):
                    await db.execute(
                        f"DELETE FROM {table} WHERE customer_id = ?",  # noqa: S608 -- fixed table names
                        (customer_id,),
                    )
                await db.execute("DELETE FROM customers WHERE id = ?", (customer_id,))
                await _audit(
                    db, self.clock(), actor, f"customers/{customer_id}", {"name": row["name"]}, None
                )
        return found

    async def list_customers(
        self, *, search: str = "", cluster: str | None = None, after: str = "", limit: int = 50
    ) -> list[Customer]:
        clauses = ["c.id > ?"]
        params: list[object] = [after]
        if cluster is not None:
            clauses.append(
                "EXISTS (SELECT 1 FROM customer_clusters cc WHERE cc.customer_id = c.id"
                " AND cc.cluster = ?)"
            )
            params.append(cluster)
        if search:
            pattern = "%" + search.lower().replace("%", "").replace("_", "") + "%"
            clauses.append(
                "(lower(c.id) LIKE ? OR lower(c.name) LIKE ? OR lower(c.fields) LIKE ?"
                " OR EXISTS (SELECT 1 FROM customer_addresses ca WHERE ca.customer_id = c.id"
                " AND lower(ca.address) LIKE ?))"
            )
            params += [pattern] * 4
        rows = await self._read(
            "SELECT c.id, c.name, c.locale, c.fields FROM customers c"  # noqa: S608 -- fixed clauses, values are bound
            f" WHERE {' AND '.join(clauses)} ORDER BY c.id LIMIT ?",
            (*params, limit),
        )
        return await self._customers(rows)

    async def _put_customers(self, db: Connection, customers: Sequence[Customer]) -> None:
        now = self.clock()
        # An id named twice is replaced twice: the later one is what remains,
        # and its clusters and addresses are written once.
        customers = list({c.id: c for c in customers}.values())
        ids = [(c.id,) for c in customers]
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

    async def put_definition(
        self, definition: Definition, *, actor: str = "", action: str = "apply"
    ) -> int:
        now = self.clock()
        document = asdict(definition)
        document.pop("version")
        body = json.dumps(document)
        async with self._transaction() as db:
            cursor = await db.execute(
                "SELECT body, version FROM definitions WHERE name = ?", (definition.name,)
            )
            old = await cursor.fetchone()
            version = 1 if old is None else int(old["version"]) + 1
            await db.execute(
                "INSERT INTO definitions (name, body, updated_at, version) VALUES (?,?,?,?)"
                " ON CONFLICT (name) DO UPDATE SET body = excluded.body,"
                " updated_at = excluded.updated_at, version = excluded.version",
                (definition.name, body, now, version),
            )
            await db.execute(
                "INSERT INTO definition_versions (name, version, action, body, actor, created_at)"
                " VALUES (?,?,?,?,?,?)",
                (definition.name, version, action, body, actor, now),
            )
            await _audit(
                db,
                now,
                actor,
                f"definitions/{definition.name}",
                None if old is None else {"version": old["version"], **json.loads(old["body"])},
                {"version": version, **document},
            )
        return version

    async def definition_versions(self, name: str) -> list[DefinitionVersion]:
        rows = await self._read(
            "SELECT name, version, action, actor, created_at, body FROM definition_versions"
            " WHERE name = ? ORDER BY version DESC",
            (name,),
        )
        if not rows:
            raise NotFoundError(f"no message definition {name!r}")
        return [_version(row) for row in rows]

    async def definition_version(self, name: str, version: int) -> DefinitionVersion:
        rows = await self._read(
            "SELECT name, version, action, actor, created_at, body FROM definition_versions"
            " WHERE name = ? AND version = ?",
            (name, version),
        )
        if not rows:
            raise NotFoundError(f"message definition {name!r} has no version {version}")
        return _version(rows[0])

    async def list_definitions(self) -> list[Definition]:
        rows = await self._read("SELECT body, version FROM definitions ORDER BY name")
        return [_definition(row["body"], row["version"]) for row in rows]

    async def get_definition(self, name: str) -> Definition:
        rows = await self._read("SELECT body, version FROM definitions WHERE name = ?", (name,))
        if not rows:
            raise NotFoundError(f"no message definition {name!r}")
        return _definition(rows[0]["body"], rows[0]["version"])

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
            await _describe(db, run_id, messages)
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

    async def requeue_recomposed(
        self, run_id: str, messages: Sequence[Requeued], *, by: str = ""
    ) -> int:
        now = self.clock()
        queued = 0
        async with self._transaction() as db:
            state = await _state(db, run_id)
            changes: Counter[str] = Counter()
            for requeued in messages:
                ids = [int(i) for i in requeued.item_ids]
                cursor = await db.execute(
                    f"SELECT id FROM items WHERE run_id = ? AND status = 'failed'"  # noqa: S608 -- placeholders only
                    f" AND id IN ({_marks(ids)})",
                    (run_id, *ids),
                )
                still = [row["id"] for row in await cursor.fetchall()]
                if not still:
                    continue
                message = requeued.message
                error = next((i.error for i in message.items if i.error), None)
                message_id = None
                if message.content is not None:
                    message_id = new_id("msg")
                    await db.execute(
                        "INSERT INTO messages (id, run_id, mail_from, content, status, queued_at,"
                        " next_attempt_at) VALUES (?,?,?,?, 'queued', ?, ?)",
                        (message_id, run_id, state["mail_from"], message.content, now, now),
                    )
                    changes["queued"] += len(still)
                    changes["failed"] -= len(still)
                    queued += len(still)
                await db.executemany(
                    "UPDATE items SET message_id = ?, status = ?, error = ?, reply = NULL,"
                    " updated_at = ?, definition_version = ?, subject = ?, attachments = ?"
                    " WHERE id = ?",
                    [
                        (
                            message_id,
                            "queued" if message_id else "failed",
                            None if message_id else error,
                            now,
                            message.definition_version,
                            message.subject,
                            json.dumps(list(message.attachments)) if message_id else None,
                            item_id,
                        )
                        for item_id in still
                    ],
                )
            await _count(db, run_id, changes)
            if queued:
                # As a plain retry does: a cancelled run sends again what is retried.
                await db.execute(
                    "UPDATE runs SET status = CASE status WHEN 'cancelled' THEN 'queued'"
                    " ELSE status END, finished_at = NULL WHERE id = ?",
                    (run_id,),
                )
            await _history(db, run_id, now, "retried", f"{queued} item(s) composed again{_by(by)}")
            await _refresh(db, run_id, now)
        return queued


async def _describe(db: Connection, run_id: str, messages: Sequence[NewMessage]) -> None:
    """Record on each customer's items what their message was sent as."""
    await db.executemany(
        "UPDATE items SET definition_version = ?, subject = ?, attachments = ?"
        " WHERE run_id = ? AND customer_id = ?",
        [
            (
                m.definition_version,
                m.subject,
                json.dumps(list(m.attachments)) if m.content is not None else None,
                run_id,
                m.customer_id,
            )
            for m in messages
            if m.definition_version is not None
        ],
    )


def _definition(body: str, version: int = 0) -> Definition:
    data = json.loads(body)
    data.pop("version", None)
    schedule = data.pop("schedule")
    return Definition(
        **data, schedule=Schedule(**schedule) if schedule else None, version=int(version)
    )


def _version(row: Row) -> DefinitionVersion:
    return DefinitionVersion(
        name=row["name"],
        version=int(row["version"]),
        action=row["action"],
        actor=row["actor"],
        created_at=row["created_at"],
        definition=_definition(row["body"], row["version"]),
    )
