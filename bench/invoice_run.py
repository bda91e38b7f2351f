"""A definition run for many customers: memory stays bounded, throughput holds.

Creates N customers (default 100,000) in a fresh SQLite store, a batch with
one small PDF and data.json per customer, and a definition that zips the PDF
with a per-customer AES password. Then it runs the definition as the daemon
does: the run is fed in pages while the queue manager relays every message
to a counting SMTP server on 127.0.0.1. Every tenth of the run it prints
throughput (customers fed, messages relayed per second) and the process's
resident memory, so that the start and the end of the run can be compared.

    .venv/bin/python bench/invoice_run.py [--customers 100000] [--workers 8]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import socket
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway import logs
from gateway.billing.batches import Batches
from gateway.config import SHIPPED_TEMPLATES, RunSettings, load
from gateway.content.templating import Templates
from gateway.queue.qmgr import QueueManager
from gateway.queue.routing import Router
from gateway.store import Customer, Definition, SenderIdentity, open_store

LOOPBACK = "127.0.0.1"
PDF = (Path(__file__).resolve().parents[1] / "examples/invoices/batch-2026-11/cus_acme").glob(
    "*.pdf"
)


class Counter:
    def __init__(self) -> None:
        self.messages = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages += 1
        return "250 2.0.0 Ok"


def rss_mib() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def prepare(store_path: Path, batch: Path, count: int) -> None:
    store = open_store(str(store_path))
    await store.open()
    pdf = next(iter(PDF)).read_bytes()
    await store.put_sender(
        SenderIdentity("billing", "billing@bench.test", "Billing"), actor="bench"
    )
    await store.put_definition(
        Definition(
            name="bench",
            from_key="billing",
            recipient_key="invoice",
            clusters=("eu",),
            subject="Invoice {{ invoice.number }}",
            text="Dear {{ customer.name }}, your invoice {{ invoice.number }} is attached.",
            html="<p>Dear {{ customer.name }}, invoice {{ invoice.number }}.</p>",
            attach=("pdf",),
            zip=True,
            zip_name="invoice-{{ invoice.number }}.zip",
            zip_password="{{ customer.fields.vat_id }}",
        )
    )
    chunk = []
    for n in range(count):
        cid = f"cus_{n:07d}"
        chunk.append(
            Customer(
                id=cid,
                name=f"Customer {n}",
                fields={"vat_id": f"VAT{n:09d}"},
                clusters=("eu",),
                addresses={"invoice": (f"billing{n}@customer.test",)},
            )
        )
        folder = batch / cid
        folder.mkdir(parents=True)
        (folder / f"INV-{n}.pdf").write_bytes(pdf)
        (folder / "data.json").write_text(f'{{"number": "INV-{n}"}}')
        if len(chunk) == 1000:
            await store.put_customers(chunk)
            chunk = []
    await store.put_customers(chunk)
    await store.close()


async def main(count: int, workers: int, batch_size: int) -> None:
    with tempfile.TemporaryDirectory(prefix="herald-bench-") as tmp:
        root = Path(tmp)
        started = time.monotonic()
        await prepare(root / "herald.db", root / "batch", count)
        print(f"prepared {count} customers and their invoices in {time.monotonic() - started:.0f}s")

        counter = Counter()
        with socket.socket() as probe:
            probe.bind((LOOPBACK, 0))
            port = probe.getsockname()[1]
        controller = Controller(counter, hostname=LOOPBACK, port=port, server_hostname="bench.test")
        controller.start()
        store = open_store(str(root / "herald.db"))
        await store.open()
        config = load(
            None,
            env={
                "HERALD_STATE_DIR": str(root),
                "HERALD_UPSTREAM": f"smtp://{LOOPBACK}:{port}",
                "HERALD_HOSTNAME": "herald.bench",
            },
        )
        settings = RunSettings(spool_dir=root, batch_size=batch_size)
        templates = Templates(SHIPPED_TEMPLATES)
        queue = replace(config.queue, workers=workers, poll_interval=0.05)
        qmgr = QueueManager(store, Router(config, store), queue)
        batches = Batches(store, templates, settings, hostname="herald.bench", on_queued=qmgr.wake)
        queue_task = asyncio.create_task(qmgr.run())

        run_id, _ = await batches.start("bench", "b1", root / "batch")
        step = max(count // 10, 1)
        marks: list[tuple[int, float]] = [(0, time.monotonic())]
        sent_marks: list[tuple[int, float]] = [(0, time.monotonic())]

        def fed(n: int) -> None:
            if n // step > (marks[-1][0]) // step:
                now = time.monotonic()
                done, then = marks[-1]
                print(
                    f"fed {n:>7}: {(n - done) / (now - then):6.0f} customers/s,"
                    f" relayed {counter.messages:>7}, rss {rss_mib():6.1f} MiB,"
                    f" peak {peak_mib():6.1f} MiB"
                )
                marks.append((n, now))

        feed_started = time.monotonic()
        await batches.feed(run_id, progress=fed)
        feed_seconds = time.monotonic() - feed_started
        while counter.messages < count:
            await asyncio.sleep(0.5)
            if counter.messages // step > sent_marks[-1][0] // step:
                now = time.monotonic()
                done, then = sent_marks[-1]
                rate = (counter.messages - done) / (now - then)
                print(
                    f"relayed {counter.messages:>7}: {rate:6.0f} msg/s,"
                    f" rss {rss_mib():6.1f} MiB, peak {peak_mib():6.1f} MiB"
                )
                sent_marks.append((counter.messages, now))
        total = time.monotonic() - feed_started
        await qmgr.stop(5)
        queue_task.cancel()
        run = await store.get_run(run_id, item_limit=0)
        print(f"run {run.status}: {dict(run.counts)}")
        print(
            f"fed {count} in {feed_seconds:.0f}s ({count / feed_seconds:.0f}/s);"
            f" all relayed after {total:.0f}s ({count / total:.0f} msg/s overall);"
            f" peak RSS {peak_mib():.1f} MiB"
        )
        await store.close()
        controller.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()
    logs.configure(level="warning")
    asyncio.run(main(args.customers, args.workers, args.batch_size))
