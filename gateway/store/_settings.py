"""Saved settings, sender identities and the audit log; every change here
joins the audit log in the transaction that makes it."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import asdict
from typing import Any

from gateway.errors import InvalidInput, NotFoundError
from gateway.store import AuditEntry, SenderIdentity, masked
from gateway.store._base import Connection, Row, SQLBase


class SettingsSQL(SQLBase):
    """Settings, senders and the audit log."""

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

    async def delete_sender(self, key: str, *, actor: str) -> None:
        now = self.clock()
        async with self._transaction() as db:
            cursor = await db.execute(
                "SELECT key, address, name FROM senders WHERE key = ?", (key,)
            )
            row = await cursor.fetchone()
            if row is None:
                raise NotFoundError(f"no sender with from key {key!r}")
            # Checked in the transaction that deletes, so that no definition is
            # left naming a sender that is gone (applying one checks its sender).
            cursor = await db.execute("SELECT name, body FROM definitions ORDER BY name")
            users = [r["name"] for r in await cursor.fetchall() if _from_key(r["body"]) == key]
            if users:
                raise InvalidInput(
                    "#/key",
                    f"sender {key!r} is the from key of definition(s) {', '.join(users)};"
                    " give them another sender first",
                )
            await db.execute("DELETE FROM senders WHERE key = ?", (key,))
            await _audit(db, now, actor, f"senders/{key}", dict(row), None)

    async def saved_version(self) -> int:
        rows = await self._read("SELECT version FROM saved_version WHERE id = 1")
        return int(rows[0]["version"]) if rows else 0

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
            where, params = f"WHERE {SETTING_CLAUSE}", setting_params(setting)
        rows = await self._read(
            f"SELECT {AUDIT_COLUMNS} FROM settings_audit {where} ORDER BY id DESC LIMIT ?",  # noqa: S608 -- a fixed clause, values are bound
            (*params, limit),
        )
        return [audit_entry(row) for row in rows]


AUDIT_COLUMNS = "id, at, actor, setting, old_value, new_value"
# The entries of one setting and of what lies under it ("users" holds "users/ada").
SETTING_CLAUSE = "(setting = ? OR substr(setting, 1, ?) = ?)"


def setting_params(setting: str) -> list[Any]:
    """The values ``SETTING_CLAUSE`` binds for ``setting``."""
    return [setting, len(setting) + 1, setting + "/"]


def audit_entry(row: Row) -> AuditEntry:
    """An audit log row (``AUDIT_COLUMNS``) as the faces read it."""
    return AuditEntry(
        id=row["id"],
        at=row["at"],
        actor=row["actor"],
        setting=row["setting"],
        old=json.loads(row["old_value"]) if row["old_value"] else None,
        new=json.loads(row["new_value"]) if row["new_value"] else None,
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


def _from_key(body: str) -> object:
    """The from key a definition's stored document names."""
    document = json.loads(body)
    return document.get("from_key") if isinstance(document, dict) else None
