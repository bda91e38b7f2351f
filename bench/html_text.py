"""The text part derived from HTML: Herald's reader against inscriptis.

Renders every shipped template's HTML (sample data, CSS inlined, as a message
carries it), then converts each with both readers, interleaved round-robin,
and reports the median time per call and the ratio. With ``SHOW=1`` it also
prints both texts of each type, to compare links, lists and tables by eye.

    ROUNDS=200 .venv/bin/python bench/html_text.py

inscriptis is not a dependency of Herald: ``pip install inscriptis`` first.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from inscriptis import get_text
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig

from gateway import config
from gateway.content._html_text import text_from_html
from gateway.content.composer import Composer
from gateway.store import open_store

ROUNDS = int(os.environ.get("ROUNDS", "200"))
# inscriptis's strict profile and its link references: the closest to what a
# text part needs (no indentation from CSS margins, each link's address).
INSCRIPTIS = ParserConfig(css=CSS_PROFILES["strict"], display_links=True)


def inscriptis_text(html: str) -> str:
    return get_text(html, INSCRIPTIS)


async def shipped_html() -> dict[str, str]:
    with tempfile.TemporaryDirectory() as folder:
        cfg = config.load(None, env={"HERALD_STATE_DIR": folder, "HERALD_HOSTNAME": "bench"})
        store = open_store(str(Path(folder) / "herald.db"))
        await store.open()
        try:
            composer = Composer.for_config(cfg, store)
            return {t: (await composer.preview(t)).html for t in composer.templates.types()}
        finally:
            await store.close()


def main() -> None:
    pages = asyncio.run(shipped_html())
    readers: dict[str, Callable[[str], str]] = {
        "herald": text_from_html,
        "inscriptis": inscriptis_text,
    }
    times: dict[str, list[float]] = {name: [] for name in readers}
    for _ in range(ROUNDS):
        for name, reader in readers.items():
            for html in pages.values():
                start = time.perf_counter()
                reader(html)
                times[name].append(time.perf_counter() - start)
    sizes = sorted(len(html) for html in pages.values())
    print(f"{len(pages)} shipped templates, HTML {sizes[0]}-{sizes[-1]} bytes, {ROUNDS} rounds")
    medians = {name: statistics.median(values) * 1e6 for name, values in times.items()}
    for name, median in medians.items():
        print(f"{name:>10}: median {median:8.1f} us per call")
    print(f"     ratio: inscriptis / herald = {medians['inscriptis'] / medians['herald']:.2f}")
    if os.environ.get("SHOW"):
        for email_type, html in pages.items():
            for name, reader in readers.items():
                print(f"\n===== {email_type}: {name} =====\n{reader(html)}")


if __name__ == "__main__":
    main()
