"""How many SQL statements the queue manager's claim of 50 due messages
costs, and the record of one delivery's outcomes.

Queues N messages (two recipients each) in a fresh store, then counts every
statement the store sends while it claims them, and while it records that
the first of them was sent to both recipients: on SQLite with the
connection's trace callback, on PostgreSQL by counting the asyncpg calls
(an ``executemany`` counts one statement per row, as the server runs them).

Usage: .venv/bin/python bench/claim_statements.py [STORE_URL]
(a PostgreSQL URL such as ``postgresql://postgres@127.0.0.1/db?schema=bench``,
else a new SQLite file). To compare with another tree, put it first on the
path: PYTHONPATH=/path/to/other/tree .venv/bin/python bench/claim_statements.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from gateway.store import Cleaned, NewItem, NewRun, Outcome, Store, open_store

N = 50
FRAMING = {"BEGIN", "BEGIN;", "BEGIN IMMEDIATE", "COMMIT", "COMMIT;", "ROLLBACK"}


def counting(statements: list[str]) -> Callable[[], None]:
    """Count asyncpg's calls into ``statements``; the returned function stops it."""
    connection: Any = asyncpg.connection.Connection
    originals = {name: getattr(connection, name) for name in ("execute", "fetch", "executemany")}

    def wrapped(name: str) -> Callable[..., Awaitable[Any]]:
        original = originals[name]

        async def call(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            if name == "executemany":
                rows = list(args[0])
                statements.extend([query] * len(rows))
                return await original(self, query, rows, *args[1:], **kwargs)
            statements.append(query)
            return await original(self, query, *args, **kwargs)

        return call

    for name in originals:
        setattr(connection, name, wrapped(name))

    def stop() -> None:
        for name, original in originals.items():
            setattr(connection, name, original)

    return stop


async def main(url: str) -> None:
    store = open_store(url)
    await store.open()
    try:
        for n in range(N):
            await store.record_run(
                NewRun(
                    id=f"run_{n:04d}",
                    source="bench",
                    email_type="account.created",
                    idempotency_key=None,
                    subject="hi",
                    mail_from="app@example.com",
                    items=[
                        NewItem(f"r{n}@example.com", "to", "bench"),
                        NewItem("x@example.com", "cc", "bench"),
                    ],
                    content=Cleaned(b"Subject: hi\r\n\r\nhello\r\n"),
                )
            )
        postgres = url.startswith(("postgresql://", "postgres://"))
        claimed = []

        async def claim() -> None:
            claimed.extend(await store.claim("bench:1", limit=N, lease=60))

        await traced(store, postgres, f"claiming {N} messages", claim, shown=4)
        assert len(claimed) == N, len(claimed)
        first = claimed[0]
        sent = [Outcome(item, "sent", reply="250 2.0.0 Ok") for item, _ in first.recipients]
        await traced(
            store,
            postgres,
            "recording one delivery to two recipients",
            lambda: store.record_attempt(first, sent, retry_at=None),
            shown=20,
        )
    finally:
        await store.close()


async def traced(
    store: Store,
    postgres: bool,
    what: str,
    work: Callable[[], Awaitable[None]],
    *,
    shown: int,
) -> None:
    """Print how many statements ``work`` sent to ``store``, and the first ``shown``."""
    statements: list[str] = []
    if postgres:
        stop = counting(statements)
        try:
            await work()
        finally:
            stop()
    else:
        # The SQLite store's writer connection: its trace callback sees every statement.
        db: Any = getattr(store, "db")  # noqa: B009 -- the SQLite store's own connection
        await db.set_trace_callback(statements.append)
        try:
            await work()
        finally:
            await db.set_trace_callback(None)
    essential = [s for s in statements if s.strip().upper() not in FRAMING]
    print(
        f"{'postgresql' if postgres else 'sqlite'}: {what} ran"
        f" {len(statements)} statements, {len(essential)} besides BEGIN and COMMIT"
    )
    for statement in essential[:shown]:
        print("   ", " ".join(statement.split())[:100])


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else str(Path(tempfile.mkdtemp()) / "herald.db")
    asyncio.run(main(target))
