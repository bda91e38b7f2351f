"""The SQLite store: the embedded default, one file in the state directory."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from gateway._sql import Row, SQLStore, migrations
from gateway.errors import ConflictError, StoreError


class SQLiteStore(SQLStore):
    def __init__(self, path: str) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None
        # One connection serves the whole process; the lock keeps one
        # coroutine's transaction from interleaving with another's.
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    async def open(self) -> None:
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._db = await aiosqlite.connect(self.path, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            # WAL lets readers run beside the writer; synchronous=FULL fsyncs
            # every commit, because a 250 promises the message survives a crash.
            await self._db.execute("PRAGMA journal_mode=WAL")
            await self._db.execute("PRAGMA synchronous=FULL")
            await self._db.execute("PRAGMA foreign_keys=ON")
            await self._db.execute("PRAGMA busy_timeout=5000")
            await self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the store at {self.path}: {exc}") from exc

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError("the store is not open")
        return self._db

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            db = self.db
            try:
                await db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    await db.execute("ROLLBACK")
                    raise
                await db.execute("COMMIT")
            except sqlite3.IntegrityError as exc:
                raise ConflictError(f"store conflict: {exc}") from exc
            except sqlite3.Error as exc:
                raise StoreError(f"store error: {exc}") from exc

    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        async with self._lock:
            try:
                cursor = await self.db.execute(sql, params)
                return list(await cursor.fetchall())
            except sqlite3.Error as exc:
                raise StoreError(f"store error: {exc}") from exc

    async def tables(self) -> list[tuple[str, list[str]]]:
        """Every table Herald keeps, in the order they were created, with its columns."""
        tables = await self._read(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite_%' AND name != 'schema_version' ORDER BY rowid"
        )
        result = []
        for (name,) in tables:
            columns = await self._read(f'PRAGMA table_info("{name}")')
            result.append((str(name), [str(column["name"]) for column in columns]))
        return result

    async def export_rows(
        self, table: str, columns: Sequence[str], *, chunk: int = 500
    ) -> AsyncIterator[list[tuple[Any, ...]]]:
        """The rows of ``table`` in chunks, never the whole table in memory."""
        names = ", ".join(f'"{column}"' for column in columns)
        last = -1
        while True:
            rows = await self._read(
                f'SELECT rowid, {names} FROM "{table}" WHERE rowid > ? ORDER BY rowid LIMIT ?',  # noqa: S608 -- names come from the store's own schema
                (last, chunk),
            )
            if not rows:
                return
            last = rows[-1][0]
            yield [tuple(row)[1:] for row in rows]

    async def _migrate(self) -> None:
        db = self.db
        await db.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY,"
            " applied_at REAL NOT NULL)"
        )
        cursor = await db.execute("SELECT version FROM schema_version")
        applied = {row[0] for row in await cursor.fetchall()}
        for version, script in migrations("sqlite"):
            if version in applied:
                continue
            # executescript commits first, so the script runs in its own
            # explicit transaction together with its version row.
            try:
                await db.executescript(
                    f"BEGIN IMMEDIATE;\n{script}\n"
                    f"INSERT INTO schema_version VALUES ({version}, {time.time()});\nCOMMIT;"
                )
            except sqlite3.Error:
                if db.in_transaction:
                    await db.execute("ROLLBACK")
                raise
