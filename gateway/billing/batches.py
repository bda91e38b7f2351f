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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import jinja2
import structlog

from gateway import json_input
from gateway.addresses import check_address
from gateway.billing.customers import ID
from gateway.brand import Logo
from gateway.config import Config, RunSettings
from gateway.content import archive, mime, workers
from gateway.content.composer import Composer, inline_css
from gateway.content.mime import cleanup
from gateway.content.templating import Limits, TagValues, TemplateError, Templates
from gateway.draft import Draft as MailDraft
from gateway.entrance import delivery
from gateway.entrance.pipeline import InForce
from gateway.errors import GatewayError, InvalidInput, NotFoundError, UnsafeHeader
from gateway.queue import relay
from gateway.queue.diagnosis import Diagnosis
from gateway.queue.routing import RoutingStore
from gateway.store import (
    BillingStore,
    Cleaned,
    Customer,
    Definition,
    ItemStatus,
    NewBatchRun,
    NewItem,
    NewMessage,
    Requeued,
    RunStore,
    SenderIdentity,
    SenderStore,
    SettingsStore,
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


def spooled(spool_dir: Path, definition: str) -> list[Path]:
    """The batches waiting in the spool for ``definition``, by name: each
    folder of ``<spool_dir>/<definition>/`` named as a batch id. A name
    starting with ``.`` is not one, so a platform can write a batch under a
    temporary name and rename it when it is complete."""
    folder = spool_dir / definition
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and BATCH_ID.match(p.name))


def spooled_batch(spool_dir: Path, definition: str, batch: str) -> Path:
    """The folder of batch ``batch`` of ``definition`` in the spool;
    ``InvalidInput`` at ``#/batch`` for a name that is not a batch id or
    is not there."""
    return inside(spool_dir, f"{definition}/{batch_id(batch)}", "#/batch")


# Each template of a definition, by the name it renders under; the extension
# picks autoescaping (HTML only).
PARTS = {
    "subject": "subject.txt",
    "text": "body.txt",
    "html": "body.html",
    "zip_name": "zip_name.txt",
    "zip_password": "zip_password.txt",
}


def template_name(definition: str, part: str) -> str:
    """The name a definition's template renders under (errors name it)."""
    return f"{definition}/{PARTS[part]}"


@dataclass(frozen=True)
class Draft:
    """One customer's message as a definition makes it, before the queue's cleanup."""

    message: MailDraft
    message_id: str
    subject: str
    attachments: list[tuple[str, int]]


def parsed(templates: Templates, definition: Definition) -> Iterator[jinja2.nodes.Template]:
    """Each of ``definition``'s templates parsed (those that parse)."""
    for part in PARTS:
        source = getattr(definition, part)
        if not source:
            continue
        try:
            yield templates.env.parse(source)
        except (jinja2.TemplateSyntaxError, TemplateError):
            continue


def sample_invoice(templates: Templates, definition: Definition) -> dict[str, Any]:
    """Invoice data for a trial render: each ``invoice.FIELD`` the templates
    use, valued by its name in capitals."""
    sample: dict[str, Any] = {}
    for tree in parsed(templates, definition):
        for tag, _ in templates.tags(tree, ROOTS):
            root, _, field = tag.partition(".")
            if root == "invoice" and field:
                sample[field] = field.upper()
    return sample


def template_values(
    customer: Customer,
    addresses: Sequence[str],
    invoice: Any,
    *,
    batch: str,
    definition: str,
    brand: Mapping[str, Any],
) -> dict[str, Any]:
    """What a definition's templates see. ``recipient`` is there too, as the
    brand layout addresses the reader by it."""
    values: dict[str, Any] = {
        "customer": {
            "id": customer.id,
            "name": customer.name,
            "locale": customer.locale,
            "fields": dict(customer.fields),
            "clusters": list(customer.clusters),
        },
        "invoice": invoice,
        "batch": batch,
        "definition": definition,
        "brand": brand,
        "recipient": {
            "kind": "customer",
            "id": customer.id,
            "name": customer.name,
            "email": ", ".join(addresses),
        },
    }
    # A missing value is reported by its tag (the tag invoice.number has no value).
    return {
        root: TagValues.wrap(value, root) if isinstance(value, Mapping) else value
        for root, value in values.items()
    }


# The names a definition's templates see, and the fields known of each.
ROOTS = ("customer", "invoice", "batch", "definition", "brand", "recipient")
FIELDS = {
    "customer": ("id", "name", "locale", "fields", "clusters"),
    "recipient": ("kind", "id", "name", "email"),
}


@dataclass(frozen=True)
class Copies:
    """The delivery configuration of a definition's email type."""

    customers: bool = True
    bcc: tuple[tuple[str, str], ...] = ()  # (address, rule)


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
    logo: Logo | None = None
    copies: Copies = Copies()
    # Without a batch: sample invoice data, from the tags the templates use.
    sample: bool = False

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
                self.logo,
                self.copies,
                self.sample,
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
            return self._made(_skipped(customer, rule, f"no address under recipient key {key}"))
        try:
            draft = self.draft(customer, addresses, invoices / customer.id)
            content = cleanup(draft.message, message_id=draft.message_id)
        except _Skip as exc:
            return self._made(_skipped(customer, rule, str(exc)))
        except (GatewayError, OSError, ValueError) as exc:
            # The reason names the template or file at fault; it carries no
            # rendered value, so a zip password never reaches the run record.
            return self._made(
                _items(customer, addresses, rule, None, f"not composed: {exc}", self.copies)
            )
        if len(content) > self.max_size:
            return self._made(
                _items(
                    customer,
                    addresses,
                    rule,
                    None,
                    f"the message is {len(content)} bytes, over the {self.max_size}-byte limit"
                    " ([runs] max_message_size)",
                    self.copies,
                )
            )
        made = _items(customer, addresses, rule, content, None, self.copies)
        return replace(
            made,
            subject=draft.subject,
            attachments=draft.attachments,
            definition_version=self.definition.version,
        )

    def _made(self, message: NewMessage) -> NewMessage:
        return replace(message, definition_version=self.definition.version)

    def draft(self, customer: Customer, addresses: Sequence[str], folder: Path) -> Draft:
        """The message ``customer`` gets from the documents in ``folder``."""
        documents = self._documents(folder)
        data_file = folder / DATA_FILE
        try:
            invoice: Any = json_input.loads(data_file.read_bytes()) if data_file.is_file() else {}
        except ValueError as exc:
            raise ValueError(f"{customer.id}/{DATA_FILE} is not valid JSON: {exc}") from exc
        if self.sample:
            invoice = sample_invoice(self.templates, self.definition)
        values = template_values(
            customer,
            addresses,
            invoice,
            batch=self.batch,
            definition=self.definition.name,
            brand=self.brand,
        )
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
        if html is not None:
            html = inline_css(html)
        message_id = f"<{self.run_id}.{secrets.token_hex(8)}@{self.hostname}>"
        message = mime.compose(
            sender=mime.mailbox(self.sender.address, self.sender.name),
            to=[mime.mailbox(address, customer.name) for address in addresses],
            subject=subject,
            text=text,
            html=html,
            message_id=message_id,
            attachments=attachments,
            logo=self.logo,
        )
        # A refused header (UnsafeHeader) fails this customer's items with
        # the reason, as any other fault of composing does.
        return Draft(
            message, message_id, subject, [(a.filename, len(a.content)) for a in attachments]
        )

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
    copies: Copies,
) -> NewMessage:
    status: ItemStatus = "queued" if content is not None else "failed"
    reason = None
    if not copies.customers:
        # The copies still go; the customer's own addresses do not.
        reason = "delivery: customers is off for this definition"
    items = [
        NewItem(address, "to", rule, status, error)
        if reason is None
        else NewItem(address, "to", rule, "skipped", reason)
        for address in addresses
    ]
    items += [NewItem(address, "bcc", why, status, error) for address, why in copies.bcc]
    if all(item.status == "skipped" for item in items):
        content = None
    return NewMessage(customer.id, content, items)


class BatchStore(BillingStore, SenderStore, RunStore, SettingsStore, Protocol):
    """Customers, definitions and their runs, the senders they name, runs read
    back, and the delivery configuration."""


@dataclass(frozen=True)
class _InForce:
    templates: Templates
    settings: RunSettings
    composer: Composer | None
    config: Config | None


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
        composer: Composer | None = None,
        config: Config | None = None,
        in_force: InForce | None = None,
    ) -> None:
        self.store = store
        # The daemon's holder of the services in force: when given, each run
        # reads the templates, brand, delivery and [runs] settings from it, so
        # that a reload reaches the next run.
        self.in_force = in_force
        self.composer = composer
        self.config = config
        self.templates = templates
        self.settings = settings
        self.hostname = hostname
        self.on_queued = on_queued
        self._feeding: dict[str, asyncio.Task[None]] = {}

    def _current(self) -> _InForce:
        """The templates, [runs] settings, brand and configuration a run starts with."""
        if self.in_force is None:
            return _InForce(self.templates, self.settings, self.composer, self.config)
        services = self.in_force.services
        return _InForce(
            services.templates, services.config.runs, services.composer, services.config
        )

    async def composer_for(self, definition: Definition, *, batch: str, run_id: str) -> _Composer:
        """What renders ``definition`` now: the templates, brand, logo and the
        delivery configuration of its email type in force."""
        now = self._current()
        sender = await self.store.get_sender(definition.from_key)
        brand: Mapping[str, Any] = {}
        logo = None
        if now.composer is not None:
            brand, logo = await now.composer.brand_and_logo()
        copies = Copies()
        if now.config is not None:
            settings, _ = await delivery.current(self.store, now.config)
            policy = settings.policy(definition.name)
            bcc = [(address, "delivery.bcc") for address in policy.bcc]
            if policy.bcc_admin and settings.admin:
                bcc.insert(0, (settings.admin, "delivery.bcc_admin"))
            copies = Copies(customers=policy.customers, bcc=tuple(dict.fromkeys(bcc)))
        return _Composer(
            now.templates,
            definition,
            sender,
            brand,
            batch=batch,
            run_id=run_id,
            hostname=self.hostname,
            max_size=now.settings.max_message_size,
            logo=logo,
            copies=copies,
        )

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

    async def begin(self, name: str, batch: str, invoices: Path) -> tuple[str, bool]:
        """``start`` the run, and feed it in the background when it is new."""
        run_id, created = await self.start(name, batch, invoices)
        if created:
            self.launch(run_id)
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
        composer = await self.composer_for(definition, batch=run.batch_id or "", run_id=run_id)
        settings = self._current().settings
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

    async def retry(self, run_id: str, item_id: int | None = None, *, by: str = "") -> int:
        """Queue a run's failed items again (or the one ``item_id``); return
        how many. A definition run's items are composed again from the
        definition now in force, whether they failed to compose or at the
        upstream; only items still failed are touched, so nobody who received
        the message gets it twice."""
        run = await self.store.get_run(run_id, item_limit=0)
        if run.definition is None or run.invoices_dir is None:
            if item_id is None:
                return await self.store.retry_run(run_id, by=by)
            await self.store.resend_item(run_id, item_id, by=by)
            return 1
        if run.fed_at is None and run.status != "cancelled":
            raise InvalidInput(
                "#/run", f"run {run_id} is still being queued; retry it once it is fed"
            )
        failed = (await self.store.get_run(run_id, item_status="failed")).items
        if item_id is not None:
            failed = [item for item in failed if item.id == item_id]
            if not failed:
                # An item that did not fail is sent again as it was.
                await self.store.resend_item(run_id, item_id, by=by)
                self.on_queued()
                return 1
        groups: dict[str, list[int]] = {}
        for item in failed:
            if item.customer_id is not None:
                groups.setdefault(item.customer_id, []).append(item.id)
        if not groups:
            return 0
        definition = await self.store.get_definition(run.definition)
        composer = await self.composer_for(definition, batch=run.batch_id or "", run_id=run_id)
        invoices = Path(run.invoices_dir)
        queued = 0
        ids = sorted(groups)
        for start in range(0, len(ids), self._current().settings.batch_size):
            page = ids[start : start + self._current().settings.batch_size]
            requeued = []
            for customer_id in page:
                try:
                    customer = await self.store.get_customer(customer_id)
                except NotFoundError:
                    gone = NewItem("", "to", "", "failed", "the customer no longer exists")
                    message = NewMessage(customer_id, None, [gone])
                else:
                    message = await asyncio.to_thread(composer.message, customer, invoices)
                requeued.append(Requeued(groups[customer_id], message))
            queued += await self.store.requeue_recomposed(run_id, requeued, by=by)
        if queued:
            self.on_queued()
        log.info("definition_run_retried", run_id=run_id, queued=queued)
        return queued

    async def draft(
        self, name: str, customer_id: str, invoices: Path | None = None, *, to: str | None = None
    ) -> Draft:
        """The message customer ``customer_id`` would get from definition
        ``name``: with the documents and data of ``invoices`` (a batch
        folder), else with sample invoice data and no documents; addressed to
        ``to`` instead when given (a test send)."""
        definition = await self.store.get_definition(name)
        customer = await self.store.get_customer(customer_id)
        addresses: Sequence[str] = customer.addresses.get(definition.recipient_key, ())
        if to is not None:
            addresses = [to]
        if not addresses:
            raise InvalidInput(
                "#/customer",
                f"customer {customer_id} has no address under recipient key"
                f" {definition.recipient_key}",
            )
        batch = invoices.name if invoices is not None else "sample"
        composer = await self.composer_for(definition, batch=batch, run_id="preview")
        if invoices is None:
            composer = replace(
                composer, definition=replace(definition, attach=(), zip=False), sample=True
            )
            folder = Path()
        else:
            folder = invoices / customer_id
            if not await asyncio.to_thread(folder.is_dir):
                raise InvalidInput("#/batch", f"no folder {customer_id} in {invoices}")
        try:
            return await composer.templates.run(composer.draft, customer, addresses, folder)
        except _Skip as exc:
            raise InvalidInput("#/batch", str(exc)) from exc
        except (GatewayError, ValueError) as exc:
            if isinstance(exc, InvalidInput):
                raise
            raise InvalidInput("#/customer", f"not composed: {exc}") from exc

    async def test_message(
        self, name: str, customer_id: str, to: str, invoices: Path | None = None
    ) -> tuple[Cleaned, str]:
        """Customer ``customer_id``'s message from definition ``name``,
        addressed to ``to`` and ready to hand over, with its sender's address:
        what ``send-test`` sends through ``gateway.queue.relay``."""
        try:
            check_address(to)
        except ValueError as exc:
            raise InvalidInput("#/to", str(exc)) from exc
        made = await self.draft(name, customer_id, invoices, to=to)
        try:
            content = cleanup(made.message, message_id=made.message_id)
        except UnsafeHeader as exc:
            raise InvalidInput("#/subject", exc.reason) from exc
        definition = await self.store.get_definition(name)
        sender = await self.store.get_sender(definition.from_key)
        return content, sender.address

    async def send_test(
        self,
        store: RoutingStore,
        config: Config,
        name: str,
        customer_id: str,
        to: str,
        invoices: Path | None = None,
    ) -> Diagnosis:
        """Send customer ``customer_id``'s message from definition ``name`` to
        ``to`` through the way out in force, and say what it answered."""
        content, mail_from = await self.test_message(name, customer_id, to, invoices)
        return await relay.send_test(store, config, content, mail_from=mail_from, to=to)

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


def customer_folder(value: str, field: str) -> str:
    """A customer id that may name a folder of a batch."""
    if not ID.match(value) or ".." in value:
        raise InvalidInput(
            field, "must start with a customer id folder: letters, digits, '_', '.' or '-'"
        )
    return value
