"""The queue: claims under a lease, recorded attempts, the operator's hold,
release and purge, and the notices of permanent failure."""

from __future__ import annotations

import abc
import json
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any

from gateway.context import Later
from gateway.errors import LeaseLostError, NotFoundError
from gateway.store import (
    Cleaned,
    Delivery,
    NewNotice,
    NewSuppression,
    Notice,
    Outcome,
    QueueEntry,
    QueueStats,
)
from gateway.store._base import Connection, Row, SQLBase, _marks
from gateway.store._runs import _RUN_STATE, _count, _history, _refresh
from gateway.store._suppressions import _suppress


class QueueSQL(SQLBase):
    """Messages waiting, leased and sent, and their notices."""

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

    async def mark_sending(
        self,
        delivery: Delivery,
        *,
        lease: float,
        composed: tuple[Cleaned, str] | None = None,
    ) -> None:
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
            if composed is not None:
                # Composed after the commit: from now on the message is what
                # goes out, every later attempt sends these very bytes.
                content, subject = composed
                await db.execute(
                    "UPDATE messages SET content = ?, later = NULL WHERE id = ?",
                    (content, delivery.message_id),
                )
                await db.execute(
                    "UPDATE runs SET subject = ? WHERE id = ?",
                    (subject.replace("\x00", "\ufffd"), delivery.run_id),
                )

        await self._write(mark)

    async def record_attempt(
        self,
        delivery: Delivery,
        outcomes: Sequence[Outcome],
        *,
        retry_at: float | None,
        notices: Sequence[NewNotice] = (),
        suppressions: Sequence[NewSuppression] = (),
    ) -> None:
        now = self.clock()
        addresses = dict(delivery.recipients)

        async def record(db: Connection) -> None:
            # The run is read once, for the cancel below and for ``_refresh``;
            # the lease is checked by the message's own update at the end
            # (a lost one rolls this transaction back).
            cursor = await db.execute(_RUN_STATE, (delivery.run_id,))
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
                " updated_at = ?, attempted_at = COALESCE(attempted_at || ',', '') || ?"
                " WHERE id = ?",
                [(o.status, o.reply, o.error, now, repr(now), o.item_id) for o in results],
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
            cursor = await db.execute(
                "UPDATE messages SET attempts = attempts + 1, lease_owner = NULL,"
                " lease_until = NULL, sending_since = NULL, last_error = ?,"
                " status = CASE WHEN status = 'queued' THEN ? ELSE status END,"
                " next_attempt_at = ? WHERE id = ? AND lease_owner = ? RETURNING id",
                (
                    errors[0] if errors else None,
                    "queued" if pending else "done",
                    retry_at or now,
                    delivery.message_id,
                    delivery.owner,
                ),
            )
            if await cursor.fetchone() is None:
                raise LeaseLostError(f"the lease on {delivery.message_id} was lost")
            await db.executemany(
                "INSERT INTO notices (run_id, kind, payload, created_at, next_attempt_at)"
                " VALUES (?,?,?,?,?)",
                [(delivery.run_id, n.kind, json.dumps(n.payload), now, now) for n in notices],
            )
            await _suppress(db, suppressions, now, "upstream")
            await _refresh(db, delivery.run_id, now, run)

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

    async def hold(self, message_id: str, *, actor: str) -> None:
        await self._set_waiting_status(message_id, "held", f"held by {actor}")

    async def release(self, message_id: str, *, actor: str) -> None:
        await self._set_waiting_status(message_id, "queued", f"released by {actor}")

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

    async def purge(self, message_id: str, reason: str, *, actor: str) -> None:
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
            await _history(db, run_id, now, "purged", f"by {actor}: {reason}")
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


def claimed_columns(recipients: str) -> str:
    """What a claim returns of each message it leased; ``recipients`` is the
    dialect's aggregate of ``items`` into a JSON array of [item id, address]."""
    return (
        "messages.id, messages.run_id, messages.mail_from, messages.content,"  # noqa: S608 -- a fixed aggregate per backend
        " messages.attempts, messages.queued_at, messages.next_attempt_at,"
        " messages.sending_since, messages.later,"
        " (SELECT email_type FROM runs WHERE runs.id = messages.run_id) AS email_type,"
        " (SELECT version FROM saved_version WHERE id = 1) AS saved_version,"
        " (SELECT suppressions FROM saved_version WHERE id = 1) AS suppression_version,"
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
        later=Later.from_json(json.loads(row["later"])) if row["later"] is not None else None,
        saved_version=_counter(row["saved_version"]),
        suppression_version=_counter(row["suppression_version"]),
    )


def _counter(value: Any) -> int | None:
    return int(value) if value is not None else None
