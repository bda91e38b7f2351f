"""How long composing one branded email takes: the template in force read from
the store, rendered in the sandbox, CSS inlined, the logo attached, MIME built.

Runs in one process against a SQLite store in a temporary folder; no network.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from gateway import config
from gateway.content import mime
from gateway.content.composer import Composer
from gateway.store import open_store

ROUNDS = int(__import__("os").environ.get("ROUNDS", "200"))
LOGO = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "logo.png"


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "herald.toml"
        path.write_text(f'[brand]\nname = "Acme"\nlogo_file = "{LOGO}"\n', encoding="utf-8")
        cfg = config.load(path, env={"HERALD_STATE_DIR": folder, "HERALD_HOSTNAME": "bench"})
        store = open_store(str(Path(folder) / "herald.db"))
        await store.open()
        composer = Composer.for_config(cfg, store)
        for email_type in composer.templates.types():
            variables = composer.sample(email_type)
            to = [mime.mailbox("ada@example.com")]
            await composer.compose(email_type, variables, to=to, message_id="<warm@bench>")
            times = []
            for _ in range(ROUNDS):
                start = time.perf_counter()
                composed = await composer.compose(
                    email_type, variables, to=to, message_id="<x@bench>"
                )
                mime.to_bytes(composed.message)
                times.append(time.perf_counter() - start)
            times.sort()
            print(
                f"{email_type:<24} median {statistics.median(times) * 1000:6.2f} ms"
                f"  p95 {times[int(len(times) * 0.95)] * 1000:6.2f} ms"
            )
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
