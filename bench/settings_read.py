"""What reading the run-time settings costs each message.

The delivery-policy stage reads the delivery settings once per message and
the relay reads the SMTP settings once per delivery, so that a saved change
applies at once. This measures both reads on a SQLite store in a temporary
directory, with a saved upstream, one sender with its own upstream and a
saved policy. Nothing is sent.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from gateway import config as configuration
from gateway.content.templating import Templates
from gateway.entrance import delivery
from gateway.queue.routing import Router
from gateway.settings import smtp as smtp_settings
from gateway.store import SenderIdentity, open_store

ROUNDS = 2000


async def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        config = configuration.load(
            None, env={"HERALD_STATE_DIR": directory, "HERALD_HOSTNAME": "bench.test"}
        )
        store = open_store(str(Path(directory) / "herald.db"))
        await store.open()
        router = Router(config, store)
        vault = router.vault
        form = smtp_settings.saved_form(None, vault)
        main_upstream = {"host": "mail.bench.test", "login": "u", "password": "p"}
        await smtp_settings.save(
            store, "smtp", smtp_settings.apply(form, main_upstream, vault), actor="bench"
        )
        await store.put_sender(SenderIdentity("billing", "billing@bench.test"), actor="bench")
        await smtp_settings.save(
            store,
            smtp_settings.sender_setting("billing"),
            smtp_settings.apply(form, {"host": "billing.bench.test"}, vault),
            actor="bench",
        )
        templates = Templates(config.templates_dir, config.brand)
        await delivery.set_type(
            store, config, templates, "invoice.issued", {"bcc_admin": True}, actor="bench"
        )

        for name, read in (
            ("relay: SMTP settings per delivery", lambda: router.relay_for("app@bench.test")),
            ("relay: sender's own upstream", lambda: router.relay_for("billing@bench.test")),
            ("delivery-policy: settings per message", lambda: delivery.current(store, config)),
        ):
            started = time.perf_counter()
            for _ in range(ROUNDS):
                await read()
            per_call = (time.perf_counter() - started) / ROUNDS
            print(f"{name:<40} {per_call * 1e6:8.1f} µs per read ({ROUNDS} reads)")
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
