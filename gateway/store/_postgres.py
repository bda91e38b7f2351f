"""The PostgreSQL store: one database shared by several Herald nodes.

It runs the same SQL as SQLite (``gateway.store._sql``); what differs is here:
numbered placeholders, a connection pool, claims that skip rows another node
holds (``FOR UPDATE SKIP LOCKED``), and migrations serialised by an advisory
lock so that nodes starting together apply each one exactly once.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from gateway.clock import Clock
from gateway.errors import ConflictError, StoreDataError, StoreError
from gateway.store import redact_url
from gateway.store._base import Row, migrations
from gateway.store._queue import claimed_columns
from gateway.store._sql import SQLStore

# Any constant will do, as long as every node uses the same one.
_MIGRATION_LOCK = 0x48455241  # "HERA"
# Held by the transaction of each pruning batch: one node prunes at a time.
_PRUNE_LOCK = 0x50524E45  # "PRNE"
# The tables pruning thins out, vacuumed afterwards so their room is reused.
_PRUNED_TABLES = (
    "runs, messages, items, history, run_counts, run_keys, notices, bounce_reports, settings_audit"
)

_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\?")


def numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1``, ``$2``..., outside string literals."""
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        if match[0] != "?":
            return match[0]
        count += 1
        return f"${count}"

    return _TOKENS.sub(replace, sql)


def split_url(url: str) -> tuple[str, str | None]:
    """The connection URL without Herald's own ``schema=`` parameter, and that schema."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    schema = next((value for key, value in query if key == "schema"), None)
    rest = urlencode([(key, value) for key, value in query if key != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema


class _Cursor:
    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows

    async def fetchall(self) -> list[Row]:
        return self.rows

    async def fetchone(self) -> Row | None:
        return self.rows[0] if self.rows else None


class _Connection:
    """An asyncpg connection that speaks the ``?`` placeholder SQL of ``_sql``."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection

    async def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> _Cursor:
        return _Cursor(list(await self.connection.fetch(numbered(sql), *parameters)))

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> None:
        rows = [tuple(row) for row in parameters]
        if rows:
            await self.connection.executemany(numbered(sql), rows)


_CLAIMED = claimed_columns("json_agg(json_build_array(items.id, items.address))")


class PostgresStore(SQLStore):
    # Leases are measured by the database's clock, so that nodes whose clocks
    # disagree still agree on when a lease runs out; an injected clock (a
    # test's) is bound instead.
    now_sql = "coalesce(?::float8, extract(epoch FROM now())::float8)"
    prune_guard_sql = f"SELECT pg_try_advisory_xact_lock({_PRUNE_LOCK})"
    kind = "postgresql"

    def __init__(self, url: str, *, clock: Clock | None = None) -> None:
        self.url, self.schema = split_url(url)
        self._shared_clock = clock is None
        if clock is not None:
            self.clock = clock
        self._pool: asyncpg.Pool | None = None

    def __repr__(self) -> str:
        return f"PostgresStore({redact_url(self.url)!r})"

    async def open(self) -> None:
        settings = {"search_path": self.schema} if self.schema else {}
        try:
            self._pool = await asyncpg.create_pool(
                self.url, min_size=1, max_size=10, server_settings=settings
            )
            await self._migrate()
        except (asyncpg.PostgresError, OSError, ValueError) as exc:
            raise StoreError(f"cannot open the store at {redact_url(self.url)}: {exc}") from exc

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("the store is not open")
        return self._pool

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[_Connection]:
        try:
            async with self.pool.acquire() as connection, connection.transaction():
                yield _Connection(connection)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise ConflictError(f"store conflict: {exc}") from exc
        except StoreError:
            # Raised by the transaction's own statements (a lost lease): it
            # already says what went wrong, and callers tell them apart.
            raise
        except asyncpg.DataError as exc:
            # SQLSTATE class 22: the value itself (a NUL in text, say).
            raise StoreDataError(f"store error: {exc}") from exc
        except (asyncpg.PostgresError, OSError) as exc:
            raise StoreError(f"store error: {exc}") from exc

    def _lease_now(self) -> float | None:
        return None if self._shared_clock else self.clock()

    def _claim_statement(
        self, owner: str, *, limit: int, lease: float
    ) -> tuple[str, Sequence[Any]]:
        # One round trip: the rows are locked as they are picked, and those
        # another node is claiming at this moment are skipped, not waited for.
        now = self._lease_now()
        return (
            f"WITH due AS (SELECT id FROM messages WHERE status = 'queued'"  # noqa: S608 -- fixed clauses of this backend
            f" AND next_attempt_at <= {self.now_sql}"
            f" AND (lease_until IS NULL OR lease_until < {self.now_sql})"
            " ORDER BY next_attempt_at LIMIT ? FOR UPDATE SKIP LOCKED)"
            f" UPDATE messages SET lease_owner = ?, lease_until = {self.now_sql} + ?"
            f" FROM due WHERE messages.id = due.id RETURNING {_CLAIMED}",
            (now, now, limit, owner, now, lease),
        )

    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            async with self.pool.acquire() as connection:
                return list(await connection.fetch(numbered(sql), *params))
        except (asyncpg.PostgresError, OSError) as exc:
            raise StoreError(f"store error: {exc}") from exc

    async def _size(self) -> tuple[int, int]:
        rows = await self._read(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint AS size"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relkind = 'r'"
        )
        # PostgreSQL reports no free room of its own; VACUUM marks it reusable.
        return int(rows[0]["size"]), 0

    async def _reclaim(self) -> int:
        """A plain VACUUM of the pruned tables: their dead rows' room is reused
        by new ones (it takes no lock that stops reads or writes)."""
        before = (await self._size())[0]
        try:
            async with self.pool.acquire() as connection:
                await connection.execute(f"VACUUM (ANALYZE) {_PRUNED_TABLES}")
        except (asyncpg.PostgresError, OSError) as exc:
            raise StoreError(f"store error: {exc}") from exc
        return max(before - (await self._size())[0], 0)

    async def imported(self) -> None:
        """Move each identity column's sequence past the ids copied in."""
        async with self._transaction() as db:
            cursor = await db.execute(
                "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE is_identity = 'YES' AND table_schema = current_schema()"
            )
            for table, column in await cursor.fetchall():
                await db.execute(
                    f"SELECT setval(pg_get_serial_sequence('\"{table}\"', '{column}'),"  # noqa: S608 -- names come from the catalog
                    f' (SELECT coalesce(max("{column}"), 0) + 1 FROM "{table}"), false)'
                )

    async def _migrate(self) -> None:
        async with self.pool.acquire() as connection, connection.transaction():
            # Nodes that start together queue here; the first applies what is
            # missing, the others then find nothing left to do.
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            if self.schema:
                await connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            await connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY,"
                " applied_at DOUBLE PRECISION NOT NULL)"
            )
            applied = {
                row[0] for row in await connection.fetch("SELECT version FROM schema_version")
            }
            for version, script in migrations("postgresql"):
                if version not in applied:
                    await connection.execute(script)
                    await connection.execute(
                        "INSERT INTO schema_version VALUES ($1, $2)", version, time.time()
                    )
