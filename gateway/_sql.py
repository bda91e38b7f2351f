"""Herald's SQL, written once for every SQL backend.

Statements use ``?`` placeholders and the SQL that SQLite and PostgreSQL
share; a backend supplies transactions and reads (``_transaction``,
``_read``) and translates placeholders where it must.
"""

from __future__ import annotations

import abc
import json
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from importlib import resources
from typing import Any, ClassVar, Protocol

from gateway.errors import ConflictError, NotFoundError, StoreError
from gateway.store import (
    AuditEntry,
    Delivery,
    HistoryEntry,
    Item,
    NewRun,
    Outcome,
    Run,
    RunPage,
    SenderIdentity,
    Store,
    TemplateAction,
    TemplateParts,
    TemplateVersion,
    masked,
    new_id,
    run_status,
)

# A result row: sqlite3.Row or asyncpg.Record. Both answer row["name"],
# row[0] and dict(row), which is all Herald asks of them.
Row = Any

_RUN_COLUMNS = (
    "id, source, email_type, status, subject, mail_from, created_at, updated_at, error,"
    " idempotency_key"
)


class Cursor(Protocol):
    async def fetchall(self) -> Iterable[Row]: ...

    async def fetchone(self) -> Row | None: ...


class Connection(Protocol):
    """The part of a DB-API style connection that Herald's SQL uses."""

    async def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any: ...


def migrations(dialect: str) -> list[tuple[int, str]]:
    """The numbered migration scripts shipped for ``dialect``, in order."""
    folder = resources.files("gateway") / "migrations" / dialect
    scripts = [
        (int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    ]
    return sorted(scripts)


class SQLStore(Store):
    # Appended to the claim query: PostgreSQL locks the rows it claims and
    # skips those another node is claiming; SQLite has one writer anyway.
    claim_lock: ClassVar[str] = ""

    @abc.abstractmethod
    def _transaction(self) -> AbstractAsyncContextManager[Connection]:
        """One transaction: committed on exit, rolled back on an exception.
        A unique-key violation surfaces as ``ConflictError``, any other
        failure as ``StoreError``."""

    @abc.abstractmethod
    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

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

    async def find_run_id(self, idempotency_key: str) -> str | None:
        rows = await self._read("SELECT id FROM runs WHERE idempotency_key = ?", (idempotency_key,))
        return str(rows[0]["id"]) if rows else None

    async def record_run(self, run: NewRun) -> tuple[str, bool]:
        now = time.time()
        try:
            async with self._transaction() as db:
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
                message_id = None
                if run.content is not None:
                    message_id = new_id("msg")
                    await db.execute(
                        "INSERT INTO messages (id, run_id, mail_from, content, status, queued_at,"
                        " next_attempt_at) VALUES (?,?,?,?, 'queued', ?, ?)",
                        (message_id, run.id, run.mail_from, run.content, now, now),
                    )
                await db.executemany(
                    "INSERT INTO items (run_id, message_id, address, role, rule, status, error,"
                    " updated_at) VALUES (?,?,?,?,?,?,?,?)",
                    [
                        (
                            run.id,
                            message_id if item.status == "queued" else None,
                            item.address,
                            item.role,
                            item.rule,
                            item.status,
                            item.error,
                            now,
                        )
                        for item in run.items
                    ],
                )
                detail = run.error or f"{len(run.items)} recipient(s)"
                await db.execute(
                    "INSERT INTO history (run_id, at, event, detail) VALUES (?,?,?,?)",
                    (run.id, now, run.status if run.content is None else "accepted", detail),
                )
        except ConflictError:
            if run.idempotency_key is None:
                raise StoreError(f"run {run.id} could not be recorded") from None
            existing = await self.find_run_id(run.idempotency_key)
            if existing is None:
                raise StoreError(f"run {run.id} could not be recorded") from None
            return existing, False
        return run.id, True

    async def claim(self, owner: str, *, limit: int, lease: float) -> list[Delivery]:
        now = time.time()
        async with self._transaction() as db:
            cursor = await db.execute(
                "SELECT id, run_id, mail_from, content, attempts, queued_at FROM messages"  # noqa: S608 -- claim_lock is a fixed clause per backend
                " WHERE status = 'queued' AND next_attempt_at <= ?"
                " AND (lease_until IS NULL OR lease_until < ?)"
                f" ORDER BY next_attempt_at LIMIT ?{self.claim_lock}",
                (now, now, limit),
            )
            rows = list(await cursor.fetchall())
            deliveries = []
            for row in rows:
                await db.execute(
                    "UPDATE messages SET lease_owner = ?, lease_until = ? WHERE id = ?",
                    (owner, now + lease, row["id"]),
                )
                cursor = await db.execute(
                    "SELECT id, address FROM items WHERE message_id = ?"
                    " AND status IN ('queued', 'deferred') ORDER BY id",
                    (row["id"],),
                )
                recipients = [(r["id"], r["address"]) for r in await cursor.fetchall()]
                deliveries.append(
                    Delivery(
                        message_id=row["id"],
                        run_id=row["run_id"],
                        mail_from=row["mail_from"],
                        content=bytes(row["content"]),
                        recipients=recipients,
                        attempts=row["attempts"],
                        queued_at=row["queued_at"],
                    )
                )
        return deliveries

    async def record_attempt(
        self, delivery: Delivery, outcomes: Sequence[Outcome], *, retry_at: float | None
    ) -> None:
        now = time.time()
        async with self._transaction() as db:
            await db.executemany(
                "UPDATE items SET status = ?, reply = ?, error = ?, attempts = attempts + 1,"
                " updated_at = ? WHERE id = ?",
                [(o.status, o.reply, o.error, now, o.item_id) for o in outcomes],
            )
            addresses = dict(delivery.recipients)
            await db.executemany(
                "INSERT INTO history (run_id, at, event, detail) VALUES (?,?,?,?)",
                [
                    (
                        delivery.run_id,
                        now,
                        o.status,
                        f"{addresses.get(o.item_id, '?')}: {o.reply or o.error or ''}".strip(),
                    )
                    for o in outcomes
                ],
            )
            pending = retry_at is not None and any(o.status == "deferred" for o in outcomes)
            await db.execute(
                "UPDATE messages SET attempts = attempts + 1, lease_owner = NULL,"
                " lease_until = NULL, status = ?, next_attempt_at = ? WHERE id = ?",
                ("queued" if pending else "done", retry_at or now, delivery.message_id),
            )
            cursor = await db.execute(
                "SELECT status FROM items WHERE run_id = ?", (delivery.run_id,)
            )
            status = run_status(row["status"] for row in await cursor.fetchall())
            await db.execute(
                "UPDATE runs SET status = ?, updated_at = ? WHERE id = ?",
                (status, now, delivery.run_id),
            )

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
        runs = [_run(row) for row in rows[:limit]]
        return RunPage(runs, runs[-1].id if len(rows) > limit else None)

    async def get_run(self, run_id: str) -> Run:
        rows = await self._read(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))  # noqa: S608 -- a fixed column list
        if not rows:
            raise NotFoundError(f"no run {run_id!r}")
        items = await self._read(
            "SELECT id, address, role, rule, status, reply, attempts, error, updated_at"
            " FROM items WHERE run_id = ? ORDER BY id",
            (run_id,),
        )
        history = await self._read(
            "SELECT at, event, detail FROM history WHERE run_id = ? ORDER BY id", (run_id,)
        )
        return _run(
            rows[0],
            items=[Item(**dict(row)) for row in items],
            history=[HistoryEntry(**dict(row)) for row in history],
        )

    async def put_sender(self, sender: SenderIdentity) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO senders (key, address, name, updated_at) VALUES (?,?,?,?)"
                " ON CONFLICT (key) DO UPDATE SET address = excluded.address,"
                " name = excluded.name, updated_at = excluded.updated_at",
                (sender.key, sender.address, sender.name, time.time()),
            )

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
        now = time.time()
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
            shown_old, shown_new = masked(old, new, secret_fields)
            await db.execute(
                "INSERT INTO settings_audit (at, actor, setting, old_value, new_value)"
                " VALUES (?,?,?,?,?)",
                (
                    now,
                    actor,
                    key,
                    None if shown_old is None else json.dumps(shown_old, sort_keys=True),
                    None if shown_new is None else json.dumps(shown_new, sort_keys=True),
                ),
            )

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
        now = time.time()
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


def _run(row: Row, **details: Any) -> Run:
    return Run(**dict(row), **details)
