"""Moving an installation from its SQLite file to PostgreSQL, every run kept."""

from __future__ import annotations

from collections.abc import Callable

from gateway.errors import GatewayError
from gateway.store._postgres import PostgresStore
from gateway.store._sqlite import SQLiteStore


class MigrationError(GatewayError, RuntimeError):
    """The move cannot start or did not complete; the target says which."""


async def copy_store(
    source: SQLiteStore,
    target: PostgresStore,
    progress: Callable[[str, int, int], None] = lambda table, done, total: None,
) -> dict[str, int]:
    """Copy every table of ``source`` into the empty ``target``; both must be open.

    Returns the rows copied per table. Both stores carry the same migrations,
    so a table's columns are the same on both sides.
    """
    if await target.count_rows("runs"):
        raise MigrationError("the target store already holds runs; move into an empty one")
    copied: dict[str, int] = {}
    for table, columns in await source.tables():
        total = await source.count_rows(table)
        done = 0
        async for rows in source.export_rows(table, columns):
            await target.insert_rows(table, columns, rows)
            done += len(rows)
            progress(table, done, total)
        copied[table] = done
    await target.imported()
    for table, count in copied.items():
        if await target.count_rows(table) != count:
            raise MigrationError(f"table {table}: {count} rows read, a different number stored")
    return copied
