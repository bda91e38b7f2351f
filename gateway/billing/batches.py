"""Definition runs: a message definition applied to one batch of invoices.

A batch is a folder with one sub-folder per customer id, holding that
customer's documents (``INV-1.pdf``, ``INV-1.csv``: the extension is the
document's transformation key) and optionally ``data.json``, the template
data of its invoice. A run walks the definition's customers page by page,
renders one message per customer, and commits each page (``[runs]
batch_size``) together with how far it got, so that memory stays bounded
and an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import structlog

from gateway import json_input
from gateway.billing.customers import ID
from gateway.config import RunSettings
from gateway.content import archive, mime, workers
from gateway.content.mime import cleanup
from gateway.content.templating import Limits, Templates
from gateway.entrance.pipeline import InForce
from gateway.errors import GatewayError, InvalidInput
from gateway.store import (
    BillingStore,
    Cleaned,
    Customer,
    Definition,
    ItemStatus,
    NewBatchRun,
    NewItem,
    NewMessage,
    RunStore,
    SenderIdentity,
    SenderStore,
    new_id,
)

log = structlog.get_logger(__name__)

BATCH_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
DATA_FILE = "data.json"


def batch_id(value: str, field: str = "#/batch") -> str:
    if not BATCH_ID.match(value) or ".." in value:
        raise InvalidInput(field, "must be 1-128 letters, digits, '_', '.' or '-'")
    return value


def inside(root: Path, relative: str, field: str = "#/invoices") -> Path:
    """``relative`` resolved under ``root``; ``InvalidInput`` if it leads out."""
    base = root.resolve()
    target = (base / relative).resolve()
    if relative.startswith("/") or not target.is_relative_to(base) or target == base:
        raise InvalidInput(field, f"must be a folder inside the spool directory {root}")
    if not target.is_dir():
        raise InvalidInput(field, f"no folder {relative!r} in the spool directory")
    return target


# Each template of a definition, by the name it renders under; the extension
# picks autoescaping (HTML only).
_PARTS = {
    "subject": "subject.txt",
    "text": "body.txt",
    "html": "body.html",
    "zip_name": "zip_name.txt",
    "zip_password": "zip_password.txt",
}


def template_name(definition: str, part: str) -> str:
    """The name a definition's template renders under (errors name it)."""
    return f"{definition}/{_PARTS[part]}"


@dataclass(frozen=True)
class _Composer:
    """Renders one definition for one customer, in the templates' sandbox."""

    templates: Templates
    definition: Definition
    sender: SenderIdentity
    brand: Mapping[str, Any]
    batch: str
    run_id: str
    hostname: str
    max_size: int

    def __reduce__(self) -> tuple[Any, ...]:
        # Sent to a worker process without its Templates, which hold threads
        # and compiled code: the worker uses its own for the same folder and
        # limits (``workers.templates``).
        return (
            _in_worker,
            (
                self.templates.directory,
                self.templates.limits,
                self.definition,
                self.sender,
                dict(self.brand),
                self.batch,
                self.run_id,
                self.hostname,
                self.max_size,
            ),
        )

    def render(self, part: str, values: Mapping[str, Any]) -> str:
        source = getattr(self.definition, part)
        name = template_name(self.definition.name, part)
        return self.templates.render_string(name, source, values)

    def messages(self, customers: Sequence[Customer], invoices: Path) -> list[NewMessage]:
        return [self.message(customer, invoices) for customer in customers]

    def message(self, customer: Customer, invoices: Path) -> NewMessage:
        key = self.definition.recipient_key
        rule = f"customer.addresses.{key}"
        addresses = customer.addresses.get(key, ())
        if not addresses:
            return _skipped(customer, rule, f"no address under recipient key {key}")
        try:
            content = self._content(customer, addresses, invoices / customer.id)
        except _Skip as exc:
            return _skipped(customer, rule, str(exc))
        except (GatewayError, OSError, ValueError) as exc:
            # The reason names the template or file at fault; it carries no
            # rendered value, so a zip password never reaches the run record.
            return _items(customer, addresses, rule, None, f"not composed: {exc}")
        if len(content) > self.max_size:
            return _items(
                customer,
                addresses,
                rule,
                None,
                f"the message is {len(content)} bytes, over the {self.max_size}-byte limit"
                " ([runs] max_message_size)",
            )
        return _items(customer, addresses, rule, content, None)

    def _content(self, customer: Customer, addresses: Sequence[str], folder: Path) -> Cleaned:
        documents = self._documents(folder)
        data_file = folder / DATA_FILE
        try:
            invoice: Any = json_input.loads(data_file.read_bytes()) if data_file.is_file() else {}
        except ValueError as exc:
            raise ValueError(f"{customer.id}/{DATA_FILE} is not valid JSON: {exc}") from exc
        values = {
            "customer": {
                "id": customer.id,
                "name": customer.name,
                "locale": customer.locale,
                "fields": dict(customer.fields),
                "clusters": list(customer.clusters),
            },
            "invoice": invoice,
            "batch": self.batch,
            "definition": self.definition.name,
            "brand": self.brand,
        }
        attachments = [mime.Attachment.guess(name, data) for name, data in documents]
        with self.templates.budget():
            if self.definition.zip and documents:
                password = None
                if self.definition.zip_password:
                    password = self.render("zip_password", values)
                name = " ".join(self.render("zip_name", values).split()).replace("/", "_")
                zipped = archive.zipped(documents, password=password)
                attachments = [mime.Attachment(name or "invoices.zip", zipped, subtype="zip")]
                del password
            subject = " ".join(self.render("subject", values).split())
            text = self.render("text", values)
            html = self.render("html", values) if self.definition.html else None
        message_id = f"<{self.run_id}.{secrets.token_hex(8)}@{self.hostname}>"
        message = mime.compose(
            sender=mime.mailbox(self.sender.address, self.sender.name),
            to=[mime.mailbox(address, customer.name) for address in addresses],
            subject=subject,
            text=text,
            html=html,
            message_id=message_id,
            attachments=attachments,
        )
        # A refused header (UnsafeHeader) fails this customer's items with
        # the reason, as any other fault of composing does.
        return cleanup(message, message_id=message_id)

    def _documents(self, folder: Path) -> list[tuple[str, bytes]]:
        wanted = self.definition.attach
        if not wanted:
            return []
        found = (
            sorted(
                p
                for p in folder.iterdir()
                if p.is_file() and p.suffix[1:].lower() in wanted and not p.name.startswith(".")
            )
            if folder.is_dir()
            else []
        )
        if not found:
            raise _Skip(f"no {' or '.join(wanted)} document in batch {self.batch}")
        return [(p.name, p.read_bytes()) for p in found]


def _in_worker(directory: Path, limits: Limits, *fields: Any) -> _Composer:
    return _Composer(workers.templates(directory, limits), *fields)


async def compose_page(
    composer: _Composer, customers: Sequence[Customer], invoices: Path
) -> list[NewMessage]:
    """The messages of one page of customers, in order, composed in the
    worker processes (``gateway.content.workers``), a share of the page
    each, so that every core renders, zips and writes MIME at once."""
    if not customers:
        return []
    share = -(-len(customers) // workers.size())
    shares = [list(customers[start : start + share]) for start in range(0, len(customers), share)]
    done = await asyncio.gather(
        *(workers.run(_compose_share, composer, part, invoices) for part in shares)
    )
    return [message for part in done for message in part]


def _compose_share(
    composer: _Composer, customers: Sequence[Customer], invoices: Path
) -> list[NewMessage]:
    return composer.messages(customers, invoices)


class _Skip(GatewayError):
    """This customer has nothing to send in this batch."""


def _skipped(customer: Customer, rule: str, reason: str) -> NewMessage:
    return NewMessage(customer.id, None, [NewItem("", "to", rule, "skipped", reason)])


def _items(
    customer: Customer,
    addresses: Sequence[str],
    rule: str,
    content: Cleaned | None,
    error: str | None,
) -> NewMessage:
    status: ItemStatus = "queued" if content is not None else "failed"
    return NewMessage(
        customer.id,
        content,
        [NewItem(address, "to", rule, status, error) for address in addresses],
    )


class BatchStore(BillingStore, SenderStore, RunStore, Protocol):
    """Customers, definitions and their runs, the senders they name, and runs read back."""


class Batches:
    """Starts definition runs and feeds them into the queue."""

    def __init__(
        self,
        store: BatchStore,
        templates: Templates,
        settings: RunSettings,
        *,
        hostname: str,
        on_queued: Callable[[], None] = lambda: None,
        brand: Callable[[], Awaitable[Mapping[str, Any]]] | None = None,
        in_force: InForce | None = None,
    ) -> None:
        self.store = store
        # The daemon's holder of the services in force: when given, each run
        # reads the templates, brand and [runs] settings from it, so that a
        # reload reaches the next run.
        self.in_force = in_force
        self.brand = brand or _no_brand
        self.templates = templates
        self.settings = settings
        self.hostname = hostname
        self.on_queued = on_queued
        self._feeding: dict[str, asyncio.Task[None]] = {}

    def _current(
        self,
    ) -> tuple[Templates, RunSettings, Callable[[], Awaitable[Mapping[str, Any]]]]:
        """The templates, [runs] settings and brand a run starts with."""
        if self.in_force is None:
            return self.templates, self.settings, self.brand
        services = self.in_force.services
        return services.templates, services.config.runs, services.composer.brand

    async def start(self, name: str, batch: str, invoices: Path) -> tuple[str, bool]:
        """Record a run of definition ``name`` for ``batch``; return its id and
        True, or the earlier run's id and False when the batch already ran."""
        batch_id(batch)
        definition = await self.store.get_definition(name)
        sender = await self.store.get_sender(definition.from_key)
        folder = await asyncio.to_thread(invoices.resolve)
        if not await asyncio.to_thread(folder.is_dir):
            raise InvalidInput("#/invoices", f"no folder {str(invoices)!r}")
        expected = await self.store.count_customers(definition.clusters)
        run_id, created = await self.store.start_batch_run(
            NewBatchRun(
                id=new_id("run"),
                definition=name,
                batch_id=batch,
                subject=definition.subject,
                mail_from=sender.address,
                invoices_dir=str(folder),
                expected=expected,
            )
        )
        log.info(
            "definition_run_started" if created else "definition_run_repeated",
            run_id=run_id,
            definition=name,
            batch=batch,
            customers=expected,
        )
        return run_id, created

    async def feed(self, run_id: str, progress: Callable[[int], None] = lambda n: None) -> bool:
        """Render and queue the run's messages, a page at a time, from where it
        stopped; True once all are queued. Stops early, returning False, when
        the run is cancelled or another process is feeding it."""
        run = await self.store.get_run(run_id, item_limit=0)
        if run.definition is None or run.invoices_dir is None:
            return False
        if run.fed_at is not None:
            return True
        definition = await self.store.get_definition(run.definition)
        sender = await self.store.get_sender(definition.from_key)
        templates, settings, brand = self._current()
        composer = _Composer(
            templates,
            definition,
            sender,
            await brand(),
            batch=run.batch_id or "",
            run_id=run_id,
            hostname=self.hostname,
            max_size=settings.max_message_size,
        )
        invoices = Path(run.invoices_dir)
        cursor = run.feed_cursor
        fed = 0
        while True:
            customers = await self.store.select_customers(
                definition.clusters, after=cursor, limit=settings.batch_size
            )
            if not customers:
                break
            messages = await compose_page(composer, customers, invoices)
            if not await self.store.feed_run(
                run_id, messages, after=cursor, cursor=customers[-1].id
            ):
                log.info("definition_run_feed_stopped", run_id=run_id, fed=fed)
                return False
            cursor = customers[-1].id
            fed += len(customers)
            self.on_queued()
            progress(fed)
            del messages
        await self.store.finish_feed(run_id)
        log.info("definition_run_fed", run_id=run_id, customers=fed)
        return True

    def launch(self, run_id: str) -> None:
        """Feed the run in the background (the daemon's way)."""
        if run_id in self._feeding:
            return
        task = asyncio.create_task(self._guarded_feed(run_id), name=f"feed {run_id}")
        self._feeding[run_id] = task
        task.add_done_callback(lambda _: self._feeding.pop(run_id, None))

    async def _guarded_feed(self, run_id: str) -> None:
        try:
            await self.feed(run_id)
        except Exception:
            log.exception("definition_run_feed_failed", run_id=run_id)

    async def resume(self) -> None:
        """Go on feeding the runs an earlier process left unfinished."""
        for run in await self.store.unfed_runs():
            self.launch(run.id)

    async def stop(self) -> None:
        for task in list(self._feeding.values()):
            task.cancel()
        await asyncio.gather(*self._feeding.values(), return_exceptions=True)


async def _no_brand() -> Mapping[str, Any]:
    return {}


def customer_folder(value: str, field: str) -> str:
    """A customer id that may name a folder of a batch."""
    if not ID.match(value) or ".." in value:
        raise InvalidInput(
            field, "must start with a customer id folder: letters, digits, '_', '.' or '-'"
        )
    return value
