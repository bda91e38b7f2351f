"""What one compose costs: every shipped template, and one invoice message.

For each shipped template (the catalog's sample values, the brand with its
inline logo) it measures the whole compose as the render-template stage and
the queue's entrance do it (template and brand in force, render, CSS inlined,
text part, MIME, cleanup to the bytes the queue keeps) and prints composes
per second of CPU on one core, then where that time goes, phase by phase.
Then one invoice message of a definition run (one PDF zipped with AES-256
under a per-customer password), whole and by phase, and a page of invoices
composed as a definition run does it (``Batches``' pool of processes) with
the messages per second of wall time and the CPU of every process.

Runs against a SQLite store in a temporary folder; no network.

    .venv/bin/python bench/compose.py [--rounds 300] [--page 500]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from gateway import config
from gateway.billing import batches
from gateway.content import archive, mime, workers
from gateway.content._html_text import text_from_html
from gateway.content.composer import Composer, inline_css
from gateway.store import Customer, Definition, SenderIdentity, open_store

ROOT = Path(__file__).resolve().parents[1]
LOGO = ROOT / "tests" / "fixtures" / "logo.png"
PDF = next((ROOT / "examples/invoices/batch-2026-11/cus_acme").glob("*.pdf"))


def cpu() -> float:
    """CPU seconds of this process and of the worker processes."""
    pool = workers._pool
    pids = [os.getpid(), *(pool._processes if pool is not None else {})]
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


async def timed(
    rounds: int, work: Callable[[], Awaitable[Any]], clock: Callable[[], float] = time.process_time
) -> float:
    """Seconds of CPU per call of ``work`` (after one call to warm up), of
    this process (the phases, run here) or with ``clock=cpu`` of the worker
    processes too (the whole compose, which renders in a worker)."""
    await work()
    started = clock()
    for _ in range(rounds):
        await work()
    return (clock() - started) / rounds


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


def spin_cores() -> float:
    """How many cores two spinning processes get now: the machine is shared,
    so this is the anchor the figures beside it are to be read against."""
    n = 3_000_000
    started = time.perf_counter()
    _spin(n)
    alone = time.perf_counter() - started
    with ProcessPoolExecutor(2) as pool:
        started = time.perf_counter()
        list(pool.map(_spin, [n, n]))
        both = time.perf_counter() - started
    return 2 * alone / both


def row(name: str, seconds: float, whole: float | None = None) -> str:
    share = f"{seconds / whole * 100:5.1f}%" if whole else "      "
    return f"  {name:<34} {seconds * 1e6:8.0f} µs {share}  {1 / seconds:9.0f}/s"


def awaitable(work: Callable[[], Any]) -> Callable[[], Awaitable[Any]]:
    async def call() -> Any:
        return work()

    return call


async def template(composer: Composer, email_type: str, rounds: int) -> float:
    """Print the whole compose of ``email_type`` and its phases; return the whole."""
    variables = composer.sample(email_type)
    to = [mime.mailbox("ada@example.com", "Ada Lovelace")]
    parts, _ = await composer.parts(email_type)
    brand, logo = await composer.brand_and_logo()
    values = {**variables, "brand": brand}
    rendered = composer.templates.render(email_type, parts, values)
    html = inline_css(rendered.html)
    text = rendered.text or text_from_html(html)
    sender = composer.config.sender

    async def whole() -> None:
        composed = await composer.compose(email_type, variables, to=to, message_id="<x@b>")
        mime.cleanup(composed.message, message_id="<x@b>")

    def build() -> Any:
        return mime.compose(
            sender=mime.mailbox(sender.address, sender.name),
            to=to,
            subject=rendered.subject,
            text=text,
            html=html,
            message_id="<x@b>",
            logo=logo,
        )

    async def in_force() -> None:
        await composer.parts(email_type)
        await composer.brand_and_logo()

    total = await timed(rounds, whole, cpu)
    print(f"{email_type:<36} {total * 1e6:8.0f} µs         {1 / total:9.0f}/s")
    measured = [
        ("template and brand in force", await timed(rounds, in_force)),
        (
            "render (Jinja2 sandbox)",
            await timed(
                rounds, awaitable(lambda: composer.templates.render(email_type, parts, values))
            ),
        ),
        ("inline CSS", await timed(rounds, awaitable(lambda: inline_css(rendered.html)))),
    ]
    if not rendered.text:
        derive = awaitable(lambda: text_from_html(html))
        measured.append(("text part from HTML", await timed(rounds, derive)))
    cleaned = awaitable(lambda: mime.cleanup(build(), message_id="<x@b>"))
    measured += [
        ("build MIME", await timed(rounds, awaitable(build))),
        ("build MIME and cleanup", await timed(rounds, cleaned)),
    ]
    for name, seconds in measured:
        print(row(name, seconds, total))
    return total


async def templates(composer: Composer, rounds: int) -> None:
    print(f"shipped templates, {rounds} composes each; CPU per compose, all processes")
    totals = [await template(composer, t, rounds) for t in composer.templates.types()]
    mean = sum(totals) / len(totals)
    print(f"{'every shipped template, mean':<36} {mean * 1e6:8.0f} µs         {1 / mean:9.0f}/s")
    types = composer.templates.types()
    samples = {t: composer.sample(t) for t in types}
    to = [mime.mailbox("ada@example.com", "Ada Lovelace")]
    gate = asyncio.Semaphore(4 * workers.size())

    async def one(n: int) -> None:
        email_type = types[n % len(types)]
        async with gate:
            composed = await composer.compose(
                email_type, samples[email_type], to=to, message_id="<x@b>"
            )
            mime.cleanup(composed.message, message_id="<x@b>")

    count = rounds * len(types)
    started_cpu, started = cpu(), time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(count)))
    wall = time.perf_counter() - started
    print(
        f"{count} composes, {4 * workers.size()} at a time: {count / wall:6.0f}/s of wall time,"
        f" {(cpu() - started_cpu) / wall:4.2f} cores busy, {spin_cores():4.2f} cores free for"
        " two processes that only spin (the anchor)"
    )


def invoice_definition() -> Definition:
    return Definition(
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


def customer(n: int) -> Customer:
    return Customer(
        id=f"cus_{n:07d}",
        name=f"Customer {n}",
        fields={"vat_id": f"VAT{n:09d}"},
        clusters=("eu",),
        addresses={"invoice": (f"billing{n}@customer.test",)},
    )


async def invoices(composer: Composer, folder: Path, rounds: int, page: int) -> None:
    pdf = PDF.read_bytes()
    spool = folder / "batch"
    for n in range(page):
        (spool / customer(n).id).mkdir(parents=True)
        (spool / customer(n).id / f"INV-{n}.pdf").write_bytes(pdf)
        (spool / customer(n).id / "data.json").write_text(f'{{"number": "INV-{n}"}}')
    one = batches._Composer(
        composer.templates,
        invoice_definition(),
        SenderIdentity("billing", "billing@bench.test", "Billing"),
        await composer.brand(),
        batch="b1",
        run_id="run_bench",
        hostname="bench",
        max_size=10 * 2**20,
    )
    first = customer(0)
    print(f"\ninvoice message (one {len(pdf)}-byte PDF, AES-256 zip), {rounds} composes")

    async def whole() -> None:
        message = one.message(first, spool)
        assert message.content is not None

    total = await timed(rounds, whole)
    print(f"{'whole message':<36} {total * 1e6:8.0f} µs         {1 / total:9.0f}/s")

    async def zipping() -> None:
        archive.zipped([("INV-0.pdf", pdf)], password="VAT000000000")

    async def unencrypted() -> None:
        archive.zipped([("INV-0.pdf", pdf)], password=None)

    zipped = archive.zipped([("INV-0.pdf", pdf)], password="VAT000000000")

    async def built() -> None:
        message = mime.compose(
            sender=mime.mailbox("billing@bench.test", "Billing"),
            to=[mime.mailbox("billing0@customer.test", "Customer 0")],
            subject="Invoice INV-0",
            text="Dear Customer 0, your invoice INV-0 is attached.",
            html="<p>Dear Customer 0, invoice INV-0.</p>",
            message_id="<x@b>",
            attachments=[mime.Attachment("invoice-INV-0.zip", zipped, subtype="zip")],
        )
        mime.cleanup(message, message_id="<x@b>")

    zip_time = await timed(rounds, zipping)
    plain_time = await timed(rounds, unencrypted)
    print(row("AES zip", zip_time, total))
    print(row("  of it, key derivation and AES", zip_time - plain_time, total))
    print(row("MIME and cleanup", await timed(rounds, built), total))

    print(f"\na page of {page} invoices as a definition run composes it, {workers.size()} workers")
    await batches.compose_page(one, [customer(n) for n in range(page)], spool)  # start the pool
    started_cpu, started = cpu(), time.perf_counter()
    messages = await batches.compose_page(one, [customer(n) for n in range(page)], spool)
    wall = time.perf_counter() - started
    spent = cpu() - started_cpu
    assert all(m.content is not None for m in messages), messages[0]
    print(
        f"  {page / wall:6.0f} messages/s of wall time, {spent / wall:4.2f} cores busy,"
        f" {spent / page * 1e6:6.0f} µs of CPU per message; {spin_cores():4.2f} cores free"
        " for two processes that only spin (the anchor)"
    )


async def main(rounds: int, page: int) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        path = folder / "herald.toml"
        path.write_text(f'[brand]\nname = "Acme"\nlogo_file = "{LOGO}"\n', encoding="utf-8")
        cfg = config.load(path, env={"HERALD_STATE_DIR": name, "HERALD_HOSTNAME": "bench"})
        store = open_store(str(folder / "herald.db"))
        await store.open()
        try:
            composer = Composer.for_config(cfg, store)
            await templates(composer, rounds)
            await invoices(composer, folder, rounds, page)
        finally:
            await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--page", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.page))
