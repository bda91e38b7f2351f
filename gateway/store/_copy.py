"""Moving an installation from one store to another (``herald migrate-store``):
rows copied table by table with their own ids."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.store._base import SQLBase


class CopySQL(SQLBase):
    """Bulk copy of whole tables."""

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
