"""The SQLite store: the embedded default, one file in the state directory.

Herald talks to SQLite with the standard library's ``sqlite3`` on threads of
its own: one writer connection on one thread, and, for a file, one reader
connection on another, so that reads (a duplicate check, the queue's next due
time) never wait behind a commit's fsync. A group commit runs on the writer's
thread as one call, every write of the batch and the fsync together, instead
of one hop between the loop and a thread for each statement.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

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
# The most writes one group commit takes; the rest join the next.
MAX_BATCH = 256


# PRAGMA auto_vacuum's value for INCREMENTAL, and the pages one write hands back.
INCREMENTAL = 2
RECLAIM_PAGES = 1024

_CLAIMED = claimed_columns("json_group_array(json_array(items.id, items.address))")

_Op = Callable[[Connection], Awaitable[Any]]


class _Cursor:
    """The rows a statement returned, fetched at once on the store's thread."""

    __slots__ = ("_rows",)

    def __init__(self, rows: list[Row]) -> None:
        self._rows = rows

    async def fetchall(self) -> list[Row]:
        return self._rows

    async def fetchone(self) -> Row | None:
        return self._rows[0] if self._rows else None


class _Direct:
    """The writer connection as an op sees it inside a group commit.

    The whole commit runs on the writer's thread, so each statement runs at
    once; an op awaits nothing else (``_drive`` makes sure of it)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    async def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> _Cursor:
        return _Cursor(self.db.execute(sql, parameters).fetchall())

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> None:
        rows = list(parameters)
        # Nothing to write costs no statement (as on PostgreSQL).
        if rows:
            self.db.executemany(sql, rows)


class _Threaded:
    """A connection whose every call is one hop to its thread: for the
    transactions that await between statements (a settings change and its
    audit entry, a bulk copy) and for the tests' look inside."""

    def __init__(self, call: Callable[[Callable[[sqlite3.Connection], Any]], Awaitable[Any]]):
        self._call = call

    async def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> _Cursor:
        rows = await self._call(lambda db: db.execute(sql, parameters).fetchall())
        return _Cursor(rows)

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> None:
        rows = list(parameters)
        await self._call(lambda db: db.executemany(sql, rows))

    async def set_trace_callback(self, callback: Callable[[str], object] | None) -> None:
        await self._call(lambda db: db.set_trace_callback(callback))


def _drive(op: _Op, db: _Direct) -> Any:
    """Run ``op`` to its end on this thread: its awaits are all ``_Direct``
    calls, which finish at once."""
    steps = op(db).__await__()
    try:
        next(steps)
    except StopIteration as done:
        return done.value
    close = getattr(steps, "close", None)
    if close is not None:
        close()
    raise StoreError("a store write waited for something other than the store")


class _Thread:
    """One SQLite connection on a thread of its own."""

    def __init__(self, name: str) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self.db: sqlite3.Connection | None = None

    async def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        db = self.db
        if db is None:
            raise StoreError("the store is not open")
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, db)

    async def connect(self, path: str, *pragmas: str) -> None:
        def connect() -> sqlite3.Connection:
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            for pragma in pragmas:
                db.execute(pragma).fetchall()
            return db

        self.db = await asyncio.get_running_loop().run_in_executor(self.executor, connect)

    async def close(self) -> None:
        db, self.db = self.db, None
        if db is not None:
            await asyncio.get_running_loop().run_in_executor(self.executor, db.close)
        self.executor.shutdown(wait=False)


class SQLiteStore(SQLStore):
    def __init__(
        self, path: str, *, max_bytes: int | None = None, clock: Clock | None = None
    ) -> None:
        self.path = path
        if clock is not None:
            self.clock = clock
        self.max_bytes = max_bytes
        self._writer: _Thread | None = None
        self._reader: _Thread | None = None
        # The writer's transactions never interleave: a group commit, or one
        # transaction that awaits between its statements, holds the lock.
        self._lock = asyncio.Lock()
        # Writes wait here to join the next group commit.
        self._waiting: list[tuple[_Op, asyncio.Future[Any]]] = []
        self._committer: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    async def open(self) -> None:
        writer = _Thread("herald-store")
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Pages that pruning frees go back to the file system (``_reclaim``)
            # rather than stay in the file. Set before anything is written to a
            # new file (WAL mode included); an older file is converted once, below.
            # WAL lets readers run beside the writer; synchronous=FULL fsyncs
            # every commit, because a 250 promises the message survives a crash.
            # SQLite reuses the WAL from its start after each checkpoint but
            # never shrinks it: without a limit the file keeps whatever size a
            # large transaction, or a checkpoint held up by a full disk, once
            # gave it, and so takes up the room an operator frees.
            await writer.connect(
                self.path,
                "PRAGMA auto_vacuum=INCREMENTAL",
                "PRAGMA journal_mode=WAL",
                "PRAGMA synchronous=FULL",
                "PRAGMA foreign_keys=ON",
                "PRAGMA busy_timeout=5000",
                f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}",
            )
            self._writer = writer
            await self._migrate()
            await self._incremental()
            if self.max_bytes is not None:
                await self._limit_size(self.max_bytes)
            if self.path != ":memory:":
                reader = _Thread("herald-store-read")
                await reader.connect(self.path, "PRAGMA busy_timeout=5000", "PRAGMA query_only=ON")
                self._reader = reader
        except (sqlite3.Error, OSError) as exc:
            await self.close()
            raise StoreError(f"cannot open the store at {self.path}: {exc}") from exc

    async def _incremental(self) -> None:
        """Convert a file made before retention to incremental auto-vacuum.

        SQLite only changes the mode of a file that holds tables with a
        VACUUM, which rewrites it whole (and needs room for a copy): that
        happens once, at the first open after the upgrade (``herald serve``
        or any command), and never again.
        """
        rows = await self._on_writer(lambda db: db.execute("PRAGMA auto_vacuum").fetchall())
        if rows and int(rows[0][0]) == INCREMENTAL:
            return
        log.info("store_vacuum", path=self.path, reason="turning on incremental auto-vacuum")
        await self._on_writer(lambda db: db.execute("VACUUM").fetchall())

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
        await self._checkpoint()
        return max(before - (await self._size())[0], 0)

    async def _limit_size(self, max_bytes: int) -> None:
        # A write that would grow the file past the cap fails with
        # SQLITE_FULL, which the ways in answer with 451/503: a full store
        # refuses new mail instead of filling the disk.
        def limit(db: sqlite3.Connection) -> None:
            row = db.execute("PRAGMA page_size").fetchone()
            page_size = int(row[0]) if row else 4096
            db.execute(f"PRAGMA max_page_count = {max(max_bytes // page_size, 1)}").fetchall()

        await self._on_writer(limit)

    async def _trouble_changed(self) -> None:
        # Falling into trouble, a checkpoint that can complete (what the WAL
        # holds fits in pages the file already has) hands the WAL's space back
        # to a full disk; coming out of it, the WAL goes back to nothing at once
        # instead of waiting for the next checkpoint.
        await self._checkpoint()

    async def _checkpoint(self) -> None:
        """Write the WAL back into the file and cut it to nothing, if it can be now."""
        async with self._lock:
            try:
                await self._on_writer(
                    lambda db: db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
                )
            except (sqlite3.Error, StoreError) as exc:
                log.info("store_checkpoint_failed", error=str(exc))

    async def close(self) -> None:
        if self._committer is not None:
            await asyncio.gather(self._committer, return_exceptions=True)
        for thread in (self._reader, self._writer):
            if thread is not None:
                await thread.close()
        self._reader = self._writer = None

    async def _on_writer(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._writer is None:
            raise StoreError("the store is not open")
        return await self._writer.call(fn)

    @property
    def db(self) -> _Threaded:
        """The writer connection, one hop per call."""
        if self._writer is None:
            raise StoreError("the store is not open")
        return _Threaded(self._writer.call)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[_Threaded]:
        # For a transaction that awaits between its statements (a change and
        # its audit entry, a bulk copy); the queue's writes go through the
        # group commit of ``_write``.
        async with self._lock:
            db = self.db
            try:
                await db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    await self._on_writer(_rollback)
                    raise
                await db.execute("COMMIT")
            except sqlite3.IntegrityError as exc:
                raise ConflictError(f"store conflict: {exc}") from exc
            except sqlite3.Error as exc:
                await self._on_writer(_rollback)
                raise StoreError(f"store error: {exc}") from exc

    async def _apply(self, op: Callable[[Connection], Awaitable[T]]) -> T:
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
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            ops = [op for op, future in batch if not future.cancelled()]
            try:
                async with self._lock:
                    results = iter(await self._on_writer(partial(_commit, ops=ops)))
            except BaseException as exc:
                # Whatever went wrong, no writer may wait for ever: nothing
                # of this batch is known to be on disk.
                lost = exc if isinstance(exc, StoreError) else StoreError(f"store error: {exc}")
                results = iter([(None, lost)] * len(ops))
                if not isinstance(exc, Exception):
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(lost)
                    raise
            for _, future in batch:
                if future.cancelled():
                    continue
                value, error = next(results)
                if future.done():
                    continue
                if error is None:
                    future.set_result(value)
                else:
                    future.set_exception(error)

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
        def read(db: sqlite3.Connection) -> list[Row]:
            return db.execute(sql, params).fetchall()

        try:
            if self._reader is not None:
                # Its own connection: a read sees what is committed and never
                # waits for the writer's fsync.
                return await self._reader.call(read)
            async with self._lock:
                return await self._on_writer(read)
        except sqlite3.Error as exc:
            raise StoreError(f"store error: {exc}") from exc

    async def tables(self) -> list[tuple[str, list[str]]]:
        """Every table Herald keeps, in the order they were created, with its columns."""
        tables = await self._read(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            # The schema's version and the saved settings' change counter
            # belong to each store; the target keeps its own.
            " AND name NOT LIKE 'sqlite_%' AND name NOT IN ('schema_version', 'saved_version')"
            " ORDER BY rowid"
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
        await self._on_writer(_migrate)


def _migrate(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY,"
        " applied_at REAL NOT NULL)"
    )
    applied = {row[0] for row in db.execute("SELECT version FROM schema_version")}
    for version, script in migrations("sqlite"):
        if version in applied:
            continue
        # executescript commits first, so the script runs in its own
        # explicit transaction together with its version row.
        try:
            db.executescript(
                f"BEGIN IMMEDIATE;\n{script}\n"
                f"INSERT INTO schema_version VALUES ({version}, {time.time()});\nCOMMIT;"
            )
        except sqlite3.Error:
            _rollback(db)
            raise


def _rollback(db: sqlite3.Connection) -> None:
    if db.in_transaction:
        db.execute("ROLLBACK")


def _commit(
    raw: sqlite3.Connection, ops: Sequence[_Op]
) -> Sequence[tuple[Any, BaseException | None]]:
    """One group commit, on the writer's thread: every op in its savepoint,
    then one COMMIT and its fsync. Returns each op's value or error."""
    results: list[tuple[Any, BaseException | None]] = []
    try:
        raw.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        return [(None, _store_error(exc))] * len(ops)
    db = _Direct(raw)
    # A write alone in its batch needs no savepoint: on failure the whole
    # transaction is rolled back. That keeps a quiet store as fast as before.
    alone = len(ops) == 1
    for op in ops:
        try:
            if not alone:
                raw.execute("SAVEPOINT op")
            results.append((_drive(op, db), None))
            if not alone:
                raw.execute("RELEASE op")
        except Exception as exc:
            results.append((None, _store_error(exc)))
            if alone or not raw.in_transaction:
                # Alone, or rolled back by SQLite itself (a full disk does
                # that): nothing in this batch was stored.
                _rollback(raw)
                lost = StoreError(f"store error: {exc}")
                return [(None, error or lost) for _, error in results] + [(None, lost)] * (
                    len(ops) - len(results)
                )
            try:
                raw.execute("ROLLBACK TO op")
                raw.execute("RELEASE op")
            except sqlite3.Error as undo:
                _rollback(raw)
                return [(None, _store_error(undo))] * len(ops)
    try:
        raw.execute("COMMIT")
    except sqlite3.Error as exc:
        _rollback(raw)
        return [(None, _store_error(exc))] * len(ops)
    return results


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
