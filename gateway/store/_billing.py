"""Customers, message definitions and definition runs fed chunk by chunk."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict

from gateway.errors import ConflictError, NotFoundError, StoreError
from gateway.store import Customer, Definition, NewBatchRun, NewMessage, Run, Schedule
from gateway.store._base import Row, SQLBase, _marks
from gateway.store._runs import (
    _RUN_COLUMNS,
    _count,
    _counts,
    _enqueue,
    _history,
    _refresh,
    _run,
    _state,
)


class BillingSQL(SQLBase):
    """Customers, definitions and definition runs."""

    async def put_customers(self, customers: Sequence[Customer]) -> None:
        now = self.clock()
        # An id named twice is replaced twice: the later one is what remains,
        # and its clusters and addresses are written once.
        customers = list({c.id: c for c in customers}.values())
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


def _definition(body: str) -> Definition:
    data = json.loads(body)
    schedule = data.pop("schedule")
    return Definition(**data, schedule=Schedule(**schedule) if schedule else None)
