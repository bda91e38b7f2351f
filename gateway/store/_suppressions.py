"""The suppression list: recipients Herald no longer sends to. Every change
joins the audit log (as ``suppressions/<address>``) in its transaction."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from gateway.errors import NotFoundError
from gateway.store import NewSuppression, Suppression
from gateway.store._base import Connection, Row, SQLBase, _marks
from gateway.store._settings import _audit

_COLUMNS = "address, reason, source, run_id, created_at"


class SuppressionsSQL(SQLBase):
    """Suppressed recipients."""

    async def suppressions_for(self, addresses: Collection[str]) -> dict[str, Suppression]:
        wanted = sorted({address.lower() for address in addresses})
        if not wanted:
            return {}
        rows = await self._read(
            f"SELECT {_COLUMNS} FROM suppressions WHERE address IN ({_marks(wanted)})",  # noqa: S608 -- placeholders only
            wanted,
        )
        return {row["address"]: _suppression(row) for row in rows}

    async def suppression_state(self) -> tuple[int, bool]:
        rows = await self._read(
            "SELECT suppressions, EXISTS (SELECT 1 FROM suppressions) AS anyone"
            " FROM saved_version WHERE id = 1"
        )
        return (int(rows[0]["suppressions"]), bool(rows[0]["anyone"])) if rows else (0, True)

    async def list_suppressions(
        self, *, search: str | None = None, after: str | None = None, limit: int = 100
    ) -> list[Suppression]:
        clauses, params = ["address > ?"], [after or ""]
        if search:
            # What an operator types is searched for as it is: % and _ match themselves.
            clauses.append("address LIKE ? ESCAPE '!'")
            escaped = search.lower().replace("!", "!!").replace("%", "!%").replace("_", "!_")
            params.append(f"%{escaped}%")
        rows = await self._read(
            f"SELECT {_COLUMNS} FROM suppressions WHERE {' AND '.join(clauses)}"  # noqa: S608 -- fixed clauses, values are bound
            " ORDER BY address LIMIT ?",
            (*params, limit),
        )
        return [_suppression(row) for row in rows]

    async def add_suppression(self, suppression: NewSuppression, *, actor: str) -> bool:
        async def add(db: Connection) -> bool:
            return bool(await _suppress(db, [suppression], self.clock(), actor))

        return await self._write(add, needs_room=True)

    async def remove_suppression(self, address: str, *, actor: str) -> Suppression:
        key = address.lower()

        async def remove(db: Connection) -> Suppression:
            cursor = await db.execute(
                f"DELETE FROM suppressions WHERE address = ? RETURNING {_COLUMNS}",  # noqa: S608 -- a fixed column list
                (key,),
            )
            row = await cursor.fetchone()
            if row is None:
                raise NotFoundError(f"{address} is not suppressed")
            removed = _suppression(row)
            await _audit(db, self.clock(), actor, f"suppressions/{key}", _shown(removed), None)
            return removed

        return await self._write(remove)


async def _suppress(
    db: Connection, suppressions: Sequence[NewSuppression], now: float, actor: str
) -> int:
    """Add each address not suppressed yet, with its audit entry; how many were new."""
    added = 0
    for new in suppressions:
        key = new.address.lower()
        cursor = await db.execute(
            "INSERT INTO suppressions (address, reason, source, run_id, created_at)"
            " VALUES (?,?,?,?,?) ON CONFLICT (address) DO NOTHING RETURNING address",
            (key, new.reason, new.source, new.run_id, now),
        )
        if await cursor.fetchone() is None:
            continue
        added += 1
        entry = Suppression(key, new.reason, new.source, now, new.run_id)
        await _audit(db, now, actor, f"suppressions/{key}", None, _shown(entry))
    return added


def _shown(suppression: Suppression) -> dict[str, Any]:
    """A suppression as the audit log keeps it."""
    return {
        "reason": suppression.reason,
        "source": suppression.source,
        "run_id": suppression.run_id,
    }


def _suppression(row: Row) -> Suppression:
    return Suppression(
        address=row["address"],
        reason=row["reason"],
        source=row["source"],
        created_at=float(row["created_at"]),
        run_id=row["run_id"],
    )
