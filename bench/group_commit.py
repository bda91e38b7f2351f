"""Group commit: how many runs per second the store commits durably.

Records RUNS runs through ``Store.record_run`` from CONCURRENCY coroutines at
once, as concurrent webhook and SMTP submissions would, on a fresh SQLite
file (WAL, synchronous=FULL), and prints runs per second and the latency of
one commit. Every call returns only after its run is on disk, so the rate
is bounded by how many fsyncs the store needs.

Usage: .venv/bin/python bench/group_commit.py [RUNS] [CONCURRENCY]
To compare with a tree that lacks group commit, put that tree first on the
path: PYTHONPATH=/path/to/other/tree .venv/bin/python bench/group_commit.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import gateway
from gateway.store import NewItem, NewRun, new_id, open_store

CONTENT = b"From: notify@herald.test\r\nTo: ada@example.com\r\nSubject: hi\r\n\r\n" + b"x" * 2000


def new_run(number: int) -> NewRun:
    return NewRun(
        id=new_id("run"),
        source="webhook",
        email_type="account.created",
        idempotency_key=f"event:{number}",
        subject="hi",
        mail_from="notify@herald.test",
        items=[NewItem("ada@example.com", "to", "event.recipient")],
        content=CONTENT,
    )


async def measure(runs: int, concurrency: int) -> tuple[float, list[float]]:
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(str(Path(folder) / "herald.db"))
        await store.open()
        latencies: list[float] = []
        numbers = iter(range(runs))

        async def submitter() -> None:
            for number in numbers:
                started = time.perf_counter()
                await store.record_run(new_run(number))
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(submitter() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        await store.close()
    return elapsed, latencies


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    elapsed, latencies = asyncio.run(measure(runs, concurrency))
    latencies.sort()
    print(f"herald from {Path(gateway.__file__).parent.parent}")
    print(f"{runs} runs, {concurrency} at once: {runs / elapsed:.0f} runs/s")
    print(
        f"commit latency: median {statistics.median(latencies) * 1000:.1f} ms,"
        f" p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
