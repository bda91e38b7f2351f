"""How fast the console's listing pages are with 100,000 runs in the store.

Fills a SQLite store (or, with ``--store postgresql://...``, a PostgreSQL
one) with ``--runs`` runs spread over the last day (six email types, one in
twenty failed, one in twenty deferred, one recipient each), ``--audit``
audit entries and ``--customers`` customers, starts the daemon's HTTP app in
this process on 127.0.0.1, signs in a console admin, and times each page
over HTTP: the pages are requested round-robin, ``--rounds`` times each, and
the medians are printed. A second part times the overview's count of the
last day with its index (``runs_by_type_status_created``, migration 0071) against the
same query with SQLite told to use no index, interleaved, on the same rows.

    .venv/bin/python bench/console.py [--runs 100000] [--rounds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from gateway import config as configuration
from gateway.console import COOKIE, digest
from gateway.daemon import Gateway
from gateway.settings import users
from gateway.store import new_id, open_store
from gateway.store._sql import SQLStore

TYPES = (
    "account.created",
    "billing.updated",
    "invoice.issued",
    "resource.provisioned",
    "subscription.activated",
    "system.alert",
)


async def fill(store: SQLStore, runs: int, audit: int, customers: int) -> str:
    """Rows as the daemon leaves them; returns a run id from the middle."""
    now = time.time()
    middle = ""
    chunk = 5000
    for start in range(0, runs, chunk):
        run_rows, item_rows, count_rows = [], [], []
        for index in range(start, min(start + chunk, runs)):
            at = now - 86_000 * (runs - index) / runs
            run_id = new_id("run")
            status = "failed" if index % 20 == 0 else "deferred" if index % 20 == 1 else "sent"
            run_rows.append(
                (
                    run_id,
                    "webhook",
                    TYPES[index % len(TYPES)],
                    f"key-{index}",
                    status,
                    f"Subject {index}",
                    "notify@bench.test",
                    "550 5.1.1 no such user" if status == "failed" else None,
                    at,
                    at,
                )
            )
            item_rows.append(
                (run_id, f"c{index}@bench.test", "to", "recipient", status, None, 1, None, at)
            )
            count_rows.append((run_id, status, 1))
            if index == runs // 2:
                middle = run_id
        await store.insert_rows(
            "runs",
            (
                "id", "source", "email_type", "idempotency_key", "status", "subject",
                "mail_from", "error", "created_at", "updated_at",
            ),
            run_rows,
        )  # fmt: skip
        await store.insert_rows(
            "items",
            (
                "run_id", "address", "role", "rule", "status", "reply", "attempts", "error",
                "updated_at",
            ),
            item_rows,
        )  # fmt: skip
        await store.insert_rows("run_counts", ("run_id", "status", "n"), count_rows)
    await store.insert_rows(
        "settings_audit",
        ("at", "actor", "setting", "old_value", "new_value"),
        [(now - i, f"console:u{i % 7}", f"delivery/types/t{i}", None, "{}") for i in range(audit)],
    )
    await store.insert_rows(
        "customers",
        ("id", "name", "locale", "fields", "updated_at"),
        [(f"cus_{i:07}", f"Customer {i}", "en", "{}", now) for i in range(customers)],
    )
    await store.imported()
    return middle


async def time_pages(base: str, cookie: str, pages: list[str], rounds: int) -> dict[str, float]:
    timings: dict[str, list[float]] = {page: [] for page in pages}
    async with aiohttp.ClientSession(cookies={COOKIE: cookie}) as client:
        for page in pages:  # one warm-up each
            async with client.get(base + page) as answer:
                assert answer.status == 200, (page, answer.status)
                await answer.read()
        for round_ in range(rounds):
            # Round-robin, rotated each round, so drift spreads over every page.
            order = pages[round_ % len(pages) :] + pages[: round_ % len(pages)]
            for page in order:
                started = time.perf_counter()
                async with client.get(base + page) as answer:
                    await answer.read()
                timings[page].append(time.perf_counter() - started)
    return {page: statistics.median(values) for page, values in timings.items()}


async def time_flow_index(store: SQLStore, rounds: int) -> tuple[float, float] | None:
    """The overview's count of the last day, with and without its index (SQLite only)."""
    if type(store).__name__ != "SQLiteStore":
        return None
    since = time.time() - 86_400
    query = (
        "SELECT email_type, status, COUNT(*) AS n FROM runs {hint} WHERE created_at >= ?"
        " GROUP BY email_type, status"
    )
    with_index, without = [], []
    for _ in range(rounds):
        for hint, into in (("", with_index), ("NOT INDEXED", without)):
            started = time.perf_counter()
            await store._read(query.format(hint=hint), (since,))
            into.append(time.perf_counter() - started)
    return statistics.median(with_index), statistics.median(without)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--audit", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--store", help="a PostgreSQL URL (default: a SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        url = args.store or str(Path(directory) / "herald.db")
        config = configuration.load(
            None,
            env={
                "HERALD_STATE_DIR": directory,
                "HERALD_HOSTNAME": "bench.test",
                "HERALD_STORE": url,
                "HERALD_ADMIN_TOKEN": "bench",
            },
        )
        store = open_store(url)
        assert isinstance(store, SQLStore)
        await store.open()
        started = time.perf_counter()
        middle = await fill(store, args.runs, args.audit, args.customers)
        print(f"filled {args.runs} runs in {time.perf_counter() - started:.1f} s")
        user = users.new_user("bench", "bench@bench.test", "admin", "bench-password-long")
        await store.add_console_user(user, actor="bench")
        secret = secrets.token_urlsafe(32)
        await store.add_console_session(digest(secret), "bench", secrets.token_urlsafe(32))
        gateway = Gateway.build(config, store)
        runner = web.AppRunner(gateway.app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # the port the kernel chose
        pages = [
            "/",
            "/runs",
            f"/runs?after={middle}",
            "/runs?status=failed",
            "/runs?type=invoice.issued",
            f"/runs/{middle}",
            "/audit",
            "/audit?before=5000",
            "/customers",
            "/customers?after=cus_0050000",
        ]
        try:
            medians = await time_pages(f"http://127.0.0.1:{port}", secret, pages, args.rounds)
            flow = await time_flow_index(store, args.rounds)
        finally:
            await runner.cleanup()
            await store.close()
    print(f"median of {args.rounds} requests each, pages requested round-robin:")
    for page, seconds in medians.items():
        print(f"  {page:<40} {seconds * 1000:8.1f} ms")
    if flow:
        indexed, scanned = flow
        print(
            f"overview's count of the last day: {indexed * 1000:.1f} ms with its index,"
            f" {scanned * 1000:.1f} ms without (x{scanned / indexed:.1f})"
        )


if __name__ == "__main__":
    asyncio.run(main())
