"""What the console's template history costs to read, before and after paging.

The history page used to read every version of a template (each with its
subject, HTML and text); it now reads fifty, keyset by version number. With
VERSIONS versions of the shipped invoice template in a SQLite store in a
temporary directory, this times both reads, interleaved round by round, and
prints their medians and the ratio. Nothing is sent.

    .venv/bin/python bench/template_history.py [VERSIONS] [ROUNDS]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from gateway import config as configuration
from gateway.content.templating import Templates
from gateway.store import TemplateParts, open_store

PAGE = 50


async def main(versions: int, rounds: int) -> None:
    shipped = Templates(configuration.SHIPPED_TEMPLATES).shipped("invoice.issued")
    with tempfile.TemporaryDirectory() as directory:
        store = open_store(str(Path(directory) / "herald.db"))
        await store.open()
        for number in range(versions):
            parts = TemplateParts(f"{shipped.subject} {number}", shipped.html, shipped.text)
            await store.add_template_version("invoice.issued", "save", parts, actor="bench")
        timings: dict[str, list[float]] = {"every version": [], f"a page of {PAGE}": []}
        for _ in range(rounds):
            for name, limit in (("every version", None), (f"a page of {PAGE}", PAGE)):
                started = time.perf_counter()
                found = await store.template_versions("invoice.issued", limit=limit)
                timings[name].append(time.perf_counter() - started)
                assert len(found) == (limit or versions)
        await store.close()
    medians = {name: statistics.median(times) for name, times in timings.items()}
    print(f"{versions} versions of invoice.issued ({len(shipped.html)} characters of HTML each),")
    print(f"{rounds} rounds, interleaved:")
    for name, median in medians.items():
        print(f"  {name:<16} median {median * 1000:8.2f} ms")
    every, page = medians.values()
    print(f"  ratio            {every / page:8.1f}x")


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:]]
    asyncio.run(main(*(arguments + [5000, 30][len(arguments) :])))
