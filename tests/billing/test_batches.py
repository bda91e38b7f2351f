"""Feeding a definition run: skip and failure reasons, size limit, one feeder at a time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.billing.batches import Batches, spooled, spooled_batch
from gateway.config import SHIPPED_TEMPLATES, RunSettings
from gateway.content.templating import Limits, Templates
from gateway.errors import InvalidInput
from gateway.store import Customer, Definition, SenderIdentity, Store, open_store
from tests import stores

BATCH = Path(__file__).resolve().parents[2] / "examples" / "invoices" / "batch-2026-11"
PASSWORD = "pw-Acme-7f3a9"
DEFINITION = Definition(
    name="monthly",
    from_key="billing",
    recipient_key="invoice",
    clusters=("eu",),
    subject="Invoice {{ invoice.number }}",
    text="Dear {{ customer.name }}",
    attach=("pdf", "csv"),
    zip=True,
    zip_password="{{ customer.fields.secret }}",
)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = open_store(stores.url_for(tmp_path))
    await opened.open()
    await opened.put_sender(SenderIdentity("billing", "billing@acme.test"), actor="test")
    await opened.put_customers(
        [
            Customer(
                "cus_acme",
                "Acme",
                fields={"secret": PASSWORD},
                clusters=("eu",),
                addresses={"invoice": ("a@acme.test",)},
            ),
            Customer(
                "cus_globex", "Globex", clusters=("eu",), addresses={"invoice": ("g@x.test",)}
            ),
            Customer(
                "cus_nobody", "Nobody", clusters=("eu",), addresses={"invoice": ("n@x.test",)}
            ),
        ]
    )
    yield opened
    await opened.close()


def batches(store: Store, **settings: int) -> Batches:
    templates = Templates(SHIPPED_TEMPLATES)
    return Batches(
        store, templates, RunSettings(spool_dir=BATCH, **settings), hostname="herald.test"
    )


async def items(store: Store, run_id: str) -> dict[str, tuple[str, str | None]]:
    run = await store.get_run(run_id)
    return {i.customer_id or "": (i.status, i.error) for i in run.items}


async def test_reasons_for_what_is_not_sent(store: Store, tmp_path: Path) -> None:
    """A customer without documents in the batch is skipped; one whose password
    template cannot render is failed with the template named, not its value."""
    await store.put_definition(DEFINITION)
    feeder = batches(store)
    run_id, created = await feeder.start("monthly", "b1", BATCH)
    assert created
    await feeder.feed(run_id)
    found = await items(store, run_id)
    assert found["cus_acme"] == ("queued", None)
    assert found["cus_nobody"] == ("skipped", "no pdf or csv document in batch b1")
    status, error = found["cus_globex"]
    assert status == "failed"
    assert error is not None
    assert error.startswith("not composed: monthly/zip_password.txt:")
    if stores.KIND == "sqlite":
        assert PASSWORD.encode() not in (tmp_path / "state" / "herald.db").read_bytes()


async def test_a_message_over_the_size_limit_fails_with_the_reason(store: Store) -> None:
    """Over [runs] max_message_size the item fails, saying the size and the limit."""
    await store.put_definition(replace(DEFINITION, zip=False, zip_password=None))
    feeder = batches(store, max_message_size=500)
    run_id, _ = await feeder.start("monthly", "b1", BATCH)
    await feeder.feed(run_id)
    status, error = (await items(store, run_id))["cus_acme"]
    assert status == "failed"
    assert error is not None
    assert "bytes, over the 500-byte limit ([runs] max_message_size)" in error
    run = await store.get_run(run_id)
    assert run.status == "failed"
    assert run.counts == {"failed": 2, "skipped": 1}


async def test_only_one_feeder_queues_each_page(store: Store) -> None:
    """A second process feeding the same run from a stale position queues
    nothing, so no customer gets the message twice."""
    await store.put_definition(replace(DEFINITION, zip=False, zip_password=None))
    feeder = batches(store, batch_size=1)
    run_id, _ = await feeder.start("monthly", "b1", BATCH)
    await feeder.feed(run_id)
    assert not await store.feed_run(run_id, [], after=None, cursor="cus_acme")
    run = await store.get_run(run_id)
    assert sum(run.counts.values()) == 3
    assert run.fed_at is not None


async def test_a_cancelled_run_stops_being_fed(store: Store) -> None:
    """Once cancelled, a run takes no more pages."""
    await store.put_definition(DEFINITION)
    feeder = batches(store)
    run_id, _ = await feeder.start("monthly", "b1", BATCH)
    await store.cancel_run(run_id)
    assert not await feeder.feed(run_id)
    run = await store.get_run(run_id)
    assert (run.status, run.counts, run.fed_at) == ("cancelled", {}, None)


HIDDEN_BREAK = "=?utf-8?q?=0D=0ABcc:_evil@evil.example?="


async def test_a_message_refused_at_the_queue_entrance_fails_its_items(
    store: Store, tmp_path: Path
) -> None:
    """A run's messages pass the queue's one entrance: a customer stored with a
    name that would break To, or an invoice whose number would break the subject,
    fails with the header named, and only the others are queued."""
    await store.put_customers(
        [
            Customer(
                "cus_globex",
                HIDDEN_BREAK,
                clusters=("eu",),
                addresses={"invoice": ("g@x.test",)},
            )
        ]
    )
    batch = tmp_path / "batch"
    for customer, number in (("cus_acme", "INV-1"), ("cus_globex", "INV-2"), ("cus_nobody", "")):
        folder = batch / customer
        folder.mkdir(parents=True)
        (folder / "invoice.pdf").write_bytes(b"%PDF-1.4\n")
        (folder / "data.json").write_text(
            json.dumps({"number": number or f"INV-3 {HIDDEN_BREAK}"}), encoding="utf-8"
        )
    await store.put_definition(replace(DEFINITION, zip=False, zip_password=None))
    feeder = batches(store)
    run_id, _ = await feeder.start("monthly", "b-headers", batch)
    await feeder.feed(run_id)
    found = await items(store, run_id)
    assert found["cus_acme"] == ("queued", None)
    for customer, header in (("cus_globex", "To"), ("cus_nobody", "Subject")):
        status, error = found[customer]
        assert status == "failed"
        assert error is not None
        assert error.startswith(f"not composed: the {header} header must not contain CR, LF or NUL")
    assert (await store.queue_stats()).depth == 1


async def test_a_template_that_never_ends_is_stopped_in_the_worker_process(
    store: Store,
) -> None:
    """Messages are composed in the worker processes with the sandbox's limits
    kept there: a text template that loops without end for one customer fails
    that customer's item when ``render_timeout`` runs out, and the run goes on."""
    endless = (
        "{% if customer.name == 'Globex' %}{% for i in range(9999) %}{% for j in range(9999) %}"
        "{{ '' }}{% endfor %}{% endfor %}{% endif %}Dear {{ customer.name }}"
    )
    await store.put_definition(replace(DEFINITION, zip=False, zip_password=None, text=endless))
    templates = Templates(SHIPPED_TEMPLATES, Limits(render_timeout=0.3))
    feeder = Batches(store, templates, RunSettings(spool_dir=BATCH), hostname="herald.test")
    run_id, _ = await feeder.start("monthly", "b1", BATCH)
    await asyncio.wait_for(feeder.feed(run_id), 60)
    found = await items(store, run_id)
    assert found["cus_acme"] == ("queued", None)
    status, error = found["cus_globex"]
    assert status == "failed"
    assert error == "not composed: monthly/body.txt: the template ran longer than 0.3s"


async def test_a_retry_composes_failed_items_again_from_the_definition_in_force(
    store: Store,
) -> None:
    """Globex failed to compose (no secret for its zip password); once the
    definition no longer needs one, a retry composes and queues it with the
    new version, leaves Acme's queued item alone, and a second retry finds
    nothing left to do."""
    await store.put_definition(DEFINITION)
    feeder = batches(store)
    run_id, _ = await feeder.start("monthly", "b-retry", BATCH)
    await feeder.feed(run_id)
    before = await store.get_run(run_id)
    acme = next(i for i in before.items if i.customer_id == "cus_acme")
    assert (await items(store, run_id))["cus_globex"][0] == "failed"
    assert acme.definition_version == 1
    await store.put_definition(replace(DEFINITION, zip_password=None, subject="New"))
    assert await feeder.retry(run_id) == 1
    after = await store.get_run(run_id)
    globex = next(i for i in after.items if i.customer_id == "cus_globex")
    assert (globex.status, globex.error, globex.definition_version) == ("queued", None, 2)
    assert globex.subject == "New"
    assert next(i for i in after.items if i.customer_id == "cus_acme") == acme
    assert after.counts == {"queued": 2, "skipped": 1}
    assert await feeder.retry(run_id) == 0
    assert (await store.queue_stats()).depth == 2


def test_the_spool_offers_complete_batch_folders_and_nothing_outside_it(tmp_path: Path) -> None:
    """A definition's batches are its spool folder's sub-folders named as
    batch ids, by name: not a file, not a folder still being written (".")
    nor one with another name; a batch named to lead out, or not there, is
    refused at #/batch."""
    folder = tmp_path / "monthly"
    for name in ("2026-11", "2026-10", ".2026-12", "not a batch"):
        (folder / name).mkdir(parents=True)
    (folder / "2026-09").write_text("a file", encoding="utf-8")
    assert [p.name for p in spooled(tmp_path, "monthly")] == ["2026-10", "2026-11"]
    assert spooled(tmp_path, "weekly") == []
    assert spooled_batch(tmp_path, "monthly", "2026-11") == (folder / "2026-11").resolve()
    for batch, says in (("../monthly", "must be 1-128"), ("2026-12", "no folder")):
        with pytest.raises(InvalidInput) as caught:
            spooled_batch(tmp_path, "monthly", batch)
        assert caught.value.field == "#/batch"
        assert says in caught.value.detail


async def test_begin_feeds_a_new_run_in_the_background_and_a_batch_once(store: Store) -> None:
    """``begin`` starts the run and feeds it without being awaited for it;
    the same batch again answers the first run and starts nothing."""
    await store.put_definition(DEFINITION)
    feeder = batches(store)
    run_id, created = await feeder.begin("monthly", "2026-11", BATCH)
    assert created
    [feeding] = [task for task in asyncio.all_tasks() if task.get_name() == f"feed {run_id}"]
    await asyncio.wait_for(feeding, 20)
    assert (await store.get_run(run_id, item_limit=0)).fed_at is not None
    assert await feeder.begin("monthly", "2026-11", BATCH) == (run_id, False)
    await feeder.stop()
