"""The SQLite store: the embedded default, one file in the state directory."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import structlog

from gateway.clock import Clock
from gateway.errors import ConflictError, StoreDataError, StoreError
from gateway.store._base import Connection, Row, migrations
from gateway.store._queue import claimed_columns
from gateway.store._sql import SQLStore

T = TypeVar("T")

log = structlog.get_logger(__name__)

# Bytes the WAL is cut back to after a checkpoint: about what SQLite's
# automatic checkpoint (every 1000 pages) lets it reach between two.
WAL_SIZE_LIMIT = 4 * 1024 * 1024


# PRAGMA auto_vacuum's value for INCREMENTAL, and the pages one write hands back.
INCREMENTAL = 2
RECLAIM_PAGES = 1024

_CLAIMED = claimed_columns("json_group_array(json_array(items.id, items.address))")

_Op = Callable[[aiosqlite.Connection], Awaitable[Any]]


class SQLiteStore(SQLStore):
    def __init__(
        self, path: str, *, max_bytes: int | None = None, clock: Clock | None = None
    ) -> None:
        self.path = path
        if clock is not None:
            self.clock = clock
        self.max_bytes = max_bytes
        self._db: aiosqlite.Connection | None = None
        # One connection serves the whole process; the lock keeps one
        # coroutine's transaction from interleaving with another's.
        self._lock = asyncio.Lock()
        # Writes wait here to join the next group commit.
        self._waiting: list[tuple[_Op, asyncio.Future[Any]]] = []
        self._committer: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    async def open(self) -> None:
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._db = await aiosqlite.connect(self.path, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            # Pages that pruning frees go back to the file system (``_reclaim``)
            # rather than stay in the file. Set before anything is written to a
            # new file (WAL mode included); an older file is converted once, below.
            await self._db.execute_fetchall("PRAGMA auto_vacuum=INCREMENTAL")
            # WAL lets readers run beside the writer; synchronous=FULL fsyncs
            # every commit, because a 250 promises the message survives a crash.
            await self._db.execute("PRAGMA journal_mode=WAL")
            await self._db.execute("PRAGMA synchronous=FULL")
            await self._db.execute("PRAGMA foreign_keys=ON")
            await self._db.execute("PRAGMA busy_timeout=5000")
            # SQLite reuses the WAL from its start after each checkpoint but
            # never shrinks it: without a limit the file keeps whatever size a
            # large transaction, or a checkpoint held up by a full disk, once
            # gave it, and so takes up the room an operator frees.
            await self._db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            await self._migrate()
            await self._incremental()
            if self.max_bytes is not None:
                await self._limit_size(self.max_bytes)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the store at {self.path}: {exc}") from exc

    async def _incremental(self) -> None:
        """Convert a file made before retention to incremental auto-vacuum.

        SQLite only changes the mode of a file that holds tables with a
        VACUUM, which rewrites it whole (and needs room for a copy): that
        happens once, at the first open after the upgrade (``herald serve``
        or any command), and never again.
        """
        rows = await self.db.execute_fetchall("PRAGMA auto_vacuum")
        if rows and int(next(iter(rows))[0]) == INCREMENTAL:
            return
        log.info("store_vacuum", path=self.path, reason="turning on incremental auto-vacuum")
        await self.db.execute("VACUUM")

    async def _size(self) -> tuple[int, int]:
        rows = await self._read("PRAGMA page_size")
        page_size = int(rows[0][0])
        free = int((await self._read("PRAGMA freelist_count"))[0][0]) * page_size
        if self.path == ":memory:":
            pages = int((await self._read("PRAGMA page_count"))[0][0])
            return pages * page_size, free
        size = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(FileNotFoundError):
                size += os.stat(self.path + suffix).st_size
        return size, free

    async def _reclaim(self) -> int:
        """Give the free pages back to the file system, a few at a time, so
        that no single write holds the writer for long."""
        before = (await self._size())[0]

        async def shrink(db: Connection) -> int:
            # The pragma frees one page per step: read it to the end.
            await (await db.execute(f"PRAGMA incremental_vacuum({RECLAIM_PAGES})")).fetchall()
            row = await (await db.execute("PRAGMA freelist_count")).fetchone()
            return int(row[0]) if row is not None else 0

        left = await self._write(shrink)
        while left:
            await asyncio.sleep(0)
            left, before_step = await self._write(shrink), left
            if left >= before_step:
                break  # nothing more to hand back (not in incremental mode)
        # The WAL holds the shrunk pages until a checkpoint writes them back.
        async with self._lock:
            try:
                await self.db.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                log.info("store_checkpoint_failed", error=str(exc))
        return max(before - (await self._size())[0], 0)

    async def _limit_size(self, max_bytes: int) -> None:
        # A write that would grow the file past the cap fails with
        # SQLITE_FULL, which the ways in answer with 451/503: a full store
        # refuses new mail instead of filling the disk.
        # Both pragmas answer with a row: a statement left unread would keep a
        # read snapshot open, and the next write would find it stale (BUSY).
        rows = await self.db.execute_fetchall("PRAGMA page_size")
        page_size = int(next(iter(rows))[0]) if rows else 4096
        await self.db.execute_fetchall(f"PRAGMA max_page_count = {max(max_bytes // page_size, 1)}")

    async def _trouble_changed(self) -> None:
        # Falling into trouble, a checkpoint that can complete (what the WAL
        # holds fits in pages the file already has) hands the WAL's space back
        # to a full disk; coming out of it, the WAL goes back to nothing at once
        # instead of waiting for the next checkpoint.
        async with self._lock:
            try:
                await self.db.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
            except (sqlite3.Error, StoreError) as exc:
                log.info("store_checkpoint_failed", error=str(exc))

    async def close(self) -> None:
        if self._committer is not None:
            await asyncio.gather(self._committer, return_exceptions=True)
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
        # Used for bulk copies (herald migrate-store); Herald's own writes go
        # through the group commit of ``_write``.
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

    async def _apply(self, op: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        """Run ``op`` in the next group commit; return once that commit is on disk.

        Writes that arrive while a commit is being fsynced wait together and
        share the next transaction, each inside its own savepoint, so one
        fsync acknowledges all of them and one write's failure (a taken
        idempotency key) leaves the others standing.
        """
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiting.append((op, future))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_waiting())
        return await future

    async def _commit_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                async with self._lock:
                    results = await self._commit(batch)
            except BaseException as exc:
                # Whatever went wrong, no writer may wait for ever: nothing
                # of this batch is known to be on disk.
                lost = exc if isinstance(exc, StoreError) else StoreError(f"store error: {exc}")
                results = [(None, lost)] * len(batch)
                if not isinstance(exc, Exception):
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(lost)
                    raise
            for (_, future), (value, error) in zip(batch, results, strict=True):
                if future.done():
                    continue
                if error is None:
                    future.set_result(value)
                else:
                    future.set_exception(error)

    async def _commit(
        self, batch: list[tuple[_Op, asyncio.Future[Any]]]
    ) -> Sequence[tuple[Any, BaseException | None]]:
        results: list[tuple[Any, BaseException | None]] = []
        try:
            db = self.db
            await db.execute("BEGIN IMMEDIATE")
        except (sqlite3.Error, StoreError) as exc:
            return [(None, _store_error(exc))] * len(batch)
        # A write alone in its batch needs no savepoint: on failure the whole
        # transaction is rolled back. That keeps a quiet store as fast as before.
        alone = len(batch) == 1
        for op, future in batch:
            if future.cancelled():
                results.append((None, None))
                continue
            try:
                if not alone:
                    await db.execute("SAVEPOINT op")
                results.append((await op(db), None))
                if not alone:
                    await db.execute("RELEASE op")
            except Exception as exc:
                results.append((None, _store_error(exc)))
                if alone or not db.in_transaction:
                    # Alone, or rolled back by SQLite itself (a full disk does
                    # that): nothing in this batch was stored.
                    if db.in_transaction:
                        await db.execute("ROLLBACK")
                    lost = StoreError(f"store error: {exc}")
                    return [(None, error or lost) for _, error in results] + [(None, lost)] * (
                        len(batch) - len(results)
                    )
                try:
                    await db.execute("ROLLBACK TO op")
                    await db.execute("RELEASE op")
                except sqlite3.Error as undo:
                    return [(None, _store_error(undo))] * len(batch)
        try:
            await db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                await db.execute("ROLLBACK")
            return [(None, _store_error(exc))] * len(batch)
        return results

    def _claim_statement(
        self, owner: str, *, limit: int, lease: float
    ) -> tuple[str, Sequence[Any]]:
        # SQLite has one writer, so the rows the subquery picks cannot be
        # taken by another claim before the UPDATE leases them.
        now = self._lease_now()
        return (
            "UPDATE messages SET lease_owner = ?, lease_until = ? + ?"  # noqa: S608 -- a fixed column list
            " WHERE id IN (SELECT id FROM messages WHERE status = 'queued'"
            " AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?)"
            " ORDER BY next_attempt_at LIMIT ?)"
            f" RETURNING {_CLAIMED}",
            (owner, now, lease, now, now, limit),
        )

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


def _store_error(exc: BaseException) -> BaseException:
    """What a failed write raises: a unique-key violation as ``ConflictError``
    (the caller handles a taken idempotency key), a value SQLite cannot hold
    as ``StoreDataError``, other SQLite errors as ``StoreError``, anything
    else as it is."""
    if isinstance(exc, sqlite3.IntegrityError):
        return ConflictError(f"store conflict: {exc}")
    if isinstance(exc, sqlite3.DataError):
        return StoreDataError(f"store error: {exc}")
    if isinstance(exc, sqlite3.Error):
        return StoreError(f"store error: {exc}")
    return exc
