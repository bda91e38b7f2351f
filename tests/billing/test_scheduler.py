"""Scheduled definitions fire at their cron time, with the clock moved by the test."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.billing.batches import Batches
from gateway.billing.scheduler import Scheduler, next_fire
from gateway.config import SHIPPED_TEMPLATES, RunSettings
from gateway.content.templating import Templates
from gateway.store import Customer, Definition, Schedule, SenderIdentity, Store, open_store
from tests import stores

BATCH = Path(__file__).resolve().parents[2] / "examples" / "invoices" / "batch-2026-11"
MONTHLY = Definition(
    name="monthly",
    from_key="billing",
    recipient_key="invoice",
    clusters=("eu",),
    subject="Invoice {{ invoice.number }}",
    text="Dear {{ customer.name }}",
    attach=("pdf",),
    schedule=Schedule("0 6 1 * *", "Europe/Amsterdam"),
)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = open_store(stores.url_for(tmp_path))
    await opened.open()
    await opened.put_sender(SenderIdentity("billing", "billing@acme.test"), actor="test")
    await opened.put_customers(
        [Customer("cus_acme", "Acme", clusters=("eu",), addresses={"invoice": ("a@acme.test",)})]
    )
    await opened.put_definition(MONTHLY)
    yield opened
    await opened.close()


def scheduler(store: Store, spool: Path, clock: Clock) -> Scheduler:
    templates = Templates(SHIPPED_TEMPLATES)
    batches = Batches(store, templates, RunSettings(spool_dir=spool), hostname="herald.test")
    return Scheduler(store, batches, spool, clock=clock)


def test_next_fire_follows_the_definitions_time_zone() -> None:
    """06:00 in Amsterdam on the first of December is 05:00 UTC (CET, UTC+1)."""
    fire = next_fire(MONTHLY, datetime(2026, 11, 20, tzinfo=UTC))
    assert fire == datetime(2026, 12, 1, 5, 0, tzinfo=UTC)


async def test_a_scheduled_definition_runs_the_spooled_batch_at_its_time(
    store: Store, tmp_path: Path
) -> None:
    """Before 06:00 Amsterdam nothing starts; once the clock passes it, the batch
    waiting in the spool runs and its message is queued; later ticks add nothing."""
    spool = tmp_path / "spool"
    shutil.copytree(BATCH, spool / "monthly" / "2026-11")
    (spool / "monthly" / ".incoming").mkdir()
    clock = Clock(datetime(2026, 12, 1, 4, 0, tzinfo=UTC))
    cron = scheduler(store, spool, clock)

    clock.now = datetime(2026, 12, 1, 4, 59, tzinfo=UTC)
    assert await cron.tick() == []

    clock.now = datetime(2026, 12, 1, 5, 0, 30, tzinfo=UTC)
    [run_id] = await cron.tick()
    run = await store.get_run(run_id)
    assert (run.definition, run.batch_id, run.status) == ("monthly", "2026-11", "queued")
    assert [(i.customer_id, i.address, i.status) for i in run.items] == [
        ("cus_acme", "a@acme.test", "queued")
    ]

    clock.now = datetime(2027, 1, 1, 5, 0, 30, tzinfo=UTC)
    assert await cron.tick() == []
    page = await store.list_runs(email_type="monthly")
    assert [r.id for r in page.runs] == [run_id]
