"""Console users and sessions, and the audit log read a page at a time."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from gateway.errors import ConflictError, InvalidInput, NotFoundError
from gateway.store import (
    MASK,
    AuditPage,
    ConsoleSession,
    ConsoleUser,
    FlowCount,
    Item,
    Run,
)
from gateway.store._base import Connection, Row, SQLBase, _marks
from gateway.store._runs import _ITEM_COLUMNS, _RUN_COLUMNS, _run
from gateway.store._settings import (
    AUDIT_COLUMNS,
    SETTING_CLAUSE,
    _audit,
    audit_entry,
    setting_params,
)

_USER_COLUMNS = (
    "name, email, role, password_hash, totp_sealed, created_at, updated_at, disabled_at, totp_step"
)
_USER_SELECT = f"SELECT {_USER_COLUMNS} FROM console_users"  # noqa: S608 -- fixed columns


class ConsoleSQL(SQLBase):
    """Console users, their sessions, and audit pages."""

    async def add_console_user(self, user: ConsoleUser, *, actor: str) -> None:
        now = self.clock()
        try:
            async with self._transaction() as db:
                await db.execute(
                    f"INSERT INTO console_users ({_USER_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",  # noqa: S608 -- fixed columns
                    (
                        user.name,
                        user.email,
                        user.role,
                        user.password_hash,
                        user.totp_sealed,
                        now,
                        now,
                        user.disabled_at,
                        None,
                    ),
                )
                await _audit(db, now, actor, f"users/{user.name}", None, _audited(user))
        except ConflictError:
            raise InvalidInput("#/name", f"a user named {user.name!r} exists") from None

    async def update_console_user(self, user: ConsoleUser, *, actor: str) -> None:
        now = self.clock()
        async with self._transaction() as db:
            old = await _user_in(db, user.name)
            await db.execute(
                "UPDATE console_users SET email = ?, role = ?, password_hash = ?,"
                " totp_sealed = ?, disabled_at = ?, updated_at = ? WHERE name = ?",
                (
                    user.email,
                    user.role,
                    user.password_hash,
                    user.totp_sealed,
                    user.disabled_at,
                    now,
                    user.name,
                ),
            )
            new = _audited(user)
            if user.password_hash != old.password_hash:
                new["password"] = f"{MASK} (changed)"
            if (user.totp_sealed != old.totp_sealed) and user.totp_sealed:
                new["totp"] = "on (changed)"
            # A password that changed or an account that was disabled ends
            # every session it had, on every node.
            if user.password_hash != old.password_hash or user.disabled_at is not None:
                await db.execute("DELETE FROM console_sessions WHERE user_name = ?", (user.name,))
            await _audit(db, now, actor, f"users/{user.name}", _audited(old), new)

    async def get_console_user(self, name: str) -> ConsoleUser:
        rows = await self._read(f"{_USER_SELECT} WHERE name = ?", (name,))
        if not rows:
            raise NotFoundError(f"no user {name!r}")
        return _user(rows[0])

    async def list_console_users(self) -> list[ConsoleUser]:
        return [_user(row) for row in await self._read(f"{_USER_SELECT} ORDER BY name")]

    async def take_totp_step(self, name: str, step: int) -> bool:
        async with self._transaction() as db:
            # One statement, so that two nodes offered the same code at once
            # cannot both take it.
            cursor = await db.execute(
                "UPDATE console_users SET totp_step = ? WHERE name = ?"
                " AND (totp_step IS NULL OR totp_step < ?) RETURNING name",
                (step, name, step),
            )
            return await cursor.fetchone() is not None

    async def add_console_session(self, digest: str, user_name: str, csrf: str) -> None:
        now = self.clock()

        async def write(db: Connection) -> None:
            await db.execute(
                "INSERT INTO console_sessions (digest, user_name, csrf, created_at, seen_at)"
                " VALUES (?,?,?,?,?)",
                (digest, user_name, csrf, now, now),
            )

        await self._write(write)

    async def find_console_session(
        self, digest: str, *, idle: float, absolute: float
    ) -> ConsoleSession | None:
        now = self.clock()
        async with self._transaction() as db:
            cursor = await db.execute(
                "SELECT digest, csrf, created_at, seen_at, flash, user_name"
                " FROM console_sessions WHERE digest = ?",
                (digest,),
            )
            row = await cursor.fetchone()
            if row is None:
                return None
            if row["seen_at"] < now - idle or row["created_at"] < now - absolute:
                await db.execute("DELETE FROM console_sessions WHERE digest = ?", (digest,))
                return None
            try:
                user = await _user_in(db, row["user_name"])
            except NotFoundError:
                return None
            if user.disabled_at is not None:
                return None
            await db.execute(
                "UPDATE console_sessions SET seen_at = ?, flash = NULL WHERE digest = ?",
                (now, digest),
            )
        flash = json.loads(row["flash"]) if row["flash"] else []
        return ConsoleSession(
            digest=row["digest"],
            user=user,
            csrf=row["csrf"],
            created_at=row["created_at"],
            seen_at=now,
            flash=tuple((kind, text) for kind, text in flash),
        )

    async def flash_console_session(self, digest: str, messages: Sequence[tuple[str, str]]) -> None:
        async with self._transaction() as db:
            cursor = await db.execute(
                "SELECT flash FROM console_sessions WHERE digest = ?", (digest,)
            )
            row = await cursor.fetchone()
            if row is None:
                return
            kept = json.loads(row["flash"]) if row["flash"] else []
            await db.execute(
                "UPDATE console_sessions SET flash = ? WHERE digest = ?",
                (json.dumps([*kept, *map(list, messages)]), digest),
            )

    async def end_console_session(self, digest: str) -> None:
        async with self._transaction() as db:
            await db.execute("DELETE FROM console_sessions WHERE digest = ?", (digest,))

    async def customer_runs(
        self, customer_id: str, *, before: str | None = None, limit: int = 20
    ) -> list[Run]:
        older, params = (
            ("", [customer_id]) if before is None else (" AND run_id < ?", [customer_id, before])
        )
        rows = await self._read(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE id IN"  # noqa: S608 -- fixed columns and clauses, values are bound
            f" (SELECT run_id FROM items WHERE customer_id = ?{older}) ORDER BY id DESC LIMIT ?",
            (*params, limit),
        )
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        items: dict[str, list[Item]] = {run_id: [] for run_id in ids}
        for row in await self._read(
            f"SELECT run_id, {_ITEM_COLUMNS} FROM items WHERE customer_id = ?"  # noqa: S608 -- fixed columns and placeholders
            f" AND run_id IN ({_marks(ids)}) ORDER BY id",
            (customer_id, *ids),
        ):
            fields = dict(row)
            items[fields.pop("run_id")].append(Item(**fields))
        return [_run(row, items=items[row["id"]]) for row in rows]

    async def flow_since(self, since: float) -> list[FlowCount]:
        rows = await self._read(
            "SELECT email_type, status, COUNT(*) AS n FROM runs WHERE created_at >= ?"
            " GROUP BY email_type, status ORDER BY email_type, status",
            (since,),
        )
        return [FlowCount(row["email_type"], row["status"], int(row["n"])) for row in rows]

    async def audit_page(
        self,
        *,
        limit: int = 50,
        before: int | None = None,
        actor: str | None = None,
        setting: str | None = None,
    ) -> AuditPage:
        clauses: list[str] = []
        params: list[Any] = []
        if before is not None:
            clauses.append("id < ?")
            params.append(before)
        if actor is not None:
            clauses.append("actor = ?")
            params.append(actor)
        if setting is not None:
            clauses.append(SETTING_CLAUSE)
            params += setting_params(setting)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT {AUDIT_COLUMNS} FROM settings_audit {where} ORDER BY id DESC LIMIT ?"  # noqa: S608 -- fixed clauses, values are bound
        rows = await self._read(sql, (*params, limit + 1))
        entries = [audit_entry(row) for row in rows[:limit]]
        more = len(rows) > limit
        return AuditPage(entries, entries[-1].id if more and entries else None)


async def _user_in(db: Connection, name: str) -> ConsoleUser:
    cursor = await db.execute(f"{_USER_SELECT} WHERE name = ?", (name,))
    row = await cursor.fetchone()
    if row is None:
        raise NotFoundError(f"no user {name!r}")
    return _user(row)


def _audited(user: ConsoleUser) -> dict[str, Any]:
    """A user as the audit log keeps it: never the hash or the TOTP secret."""
    return {
        "email": user.email,
        "role": user.role,
        "password": MASK,
        "totp": "on" if user.totp_sealed else "off",
        "disabled": user.disabled_at is not None,
    }


def _user(row: Row) -> ConsoleUser:
    return ConsoleUser(**dict(row))
