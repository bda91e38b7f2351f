"""Accounts: SMTP logins and admin API tokens, each change audited in its own
transaction."""

from __future__ import annotations

from typing import Any

from gateway.errors import ConflictError, InvalidInput, NotFoundError
from gateway.store import MASK, AdminToken, SMTPUser
from gateway.store._base import Row, SQLBase
from gateway.store._settings import _audit


class AccountsSQL(SQLBase):
    """SMTP logins and admin tokens."""

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


_SMTP_USER_SELECT = "SELECT name, password_hash, sender_domains, recipient_domains FROM smtp_users"
_ADMIN_KEYS_SELECT = (
    "SELECT id, name, scopes, created_at, last_used_at, revoked_at FROM admin_tokens"
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
