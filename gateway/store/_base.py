"""What every aggregate of Herald's SQL stands on: transactions, reads, the
store's health, the clock, and the migrations.

Statements use ``?`` placeholders and the SQL that SQLite and PostgreSQL
share; a backend supplies transactions and reads (``_transaction``,
``_read``) and translates placeholders where it must.
"""

from __future__ import annotations

import abc
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from importlib import resources
from typing import Any, ClassVar, Protocol, TypeVar

import structlog

from gateway.clock import Clock
from gateway.errors import ConflictError, LeaseLostError, StoreDataError, StoreError
from gateway.store import Store, new_id

log = structlog.get_logger(__name__)


class Row(Protocol):
    """A result row: sqlite3.Row or asyncpg.Record. Both answer row["name"],
    row[0], dict(row) and unpacking, which is all Herald asks of them; the
    store turns each into one of the typed rows of ``gateway.store``."""

    def __getitem__(self, key: str | int, /) -> Any: ...

    def keys(self) -> Iterable[str]: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...


T = TypeVar("T")


class Cursor(Protocol):
    async def fetchall(self) -> Iterable[Row]: ...

    async def fetchone(self) -> Row | None: ...


class Connection(Protocol):
    """The part of a DB-API style connection that Herald's SQL uses."""

    async def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any: ...


def migrations(dialect: str) -> list[tuple[int, str]]:
    """The numbered migration scripts shipped for ``dialect``, in order."""
    folder = resources.files("gateway.store") / "migrations" / dialect
    scripts = [
        (int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    ]
    return sorted(scripts)


class SQLBase(Store):
    """The part of the SQL store every aggregate uses; ``gateway.store._sql``
    composes the aggregates into the store."""

    # What reads the time for every row the store writes.
    clock: Clock = staticmethod(time.time)
    # The SQL for the time leases are measured by; it takes one parameter,
    # ``_lease_now()``. A lease is granted, renewed and tested by this clock.
    now_sql: ClassVar[str] = "?"

    @abc.abstractmethod
    def _transaction(self) -> AbstractAsyncContextManager[Connection]:
        """One transaction: committed on exit, rolled back on an exception.
        A unique-key violation surfaces as ``ConflictError``, any other
        failure as ``StoreError``."""

    @abc.abstractmethod
    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    async def _write(
        self, op: Callable[[Connection], Awaitable[T]], *, needs_room: bool = False
    ) -> T:
        """Run ``op`` in a transaction and return once it is committed, keeping
        ``health`` up to date: any failure but a taken key, a lost lease or a
        value the store cannot hold puts the store in trouble, and only the
        success of an op that ``needs_room`` (it adds rows) ends it."""
        try:
            result = await self._apply(op)
        except (ConflictError, LeaseLostError, StoreDataError):
            raise
        except StoreError as exc:
            if self.health.failed(str(exc)):
                # At info: whoever asked for the write reports its failure (a
                # daemon's log line, a CLI's one-line error).
                log.info("store_trouble", error=str(exc))
                await self._trouble_changed()
            raise
        if needs_room and self.health.recovered():
            log.info("store_recovered")
            await self._trouble_changed()
        return result

    async def _apply(self, op: Callable[[Connection], Awaitable[T]]) -> T:
        """Run ``op`` in its own transaction. A backend may commit several
        concurrent writes together (SQLite does)."""
        async with self._transaction() as db:
            return await op(db)

    async def _trouble_changed(self) -> None:
        """Called as the store falls into trouble and as it comes out of it."""

    def _lease_now(self) -> float | None:
        """The time leases are measured by, bound to each ``now_sql``: the
        store's clock here; a backend with a shared clock may answer None to
        use the database's own."""
        return self.clock()

    async def ping(self) -> None:
        await self._read("SELECT 1")

    async def probe(self) -> None:
        key = new_id("probe")

        async def write(db: Connection) -> None:
            # Any table would do: the row is gone again before the commit, so
            # no reader ever sees it, yet its pages had to be found on disk.
            await db.execute(
                "INSERT INTO settings (key, value, updated_at) VALUES (?,?,?)",
                (key, secrets.token_hex(2048), self.clock()),
            )
            await db.execute("DELETE FROM settings WHERE key = ?", (key,))

        await self._write(write, needs_room=True)


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values)) or "NULL"
