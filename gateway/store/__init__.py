"""The store: runs, their recipients, the queue of messages, and their history.

Each consumer names the narrow protocol it needs (``QueueStore`` for the queue
manager, ``SettingsStore``, ``BillingStore``...); ``Store`` is their union,
what a backend implements. SQLite (``gateway.store._sqlite``) is the embedded
default; PostgreSQL follows the same interface and the same status rules
defined here. The SQL is written once, one module per aggregate
(``gateway.store._sql``).

Times are POSIX seconds (floats), read from the store's ``clock``; turning
rows into the faces' JSON is ``gateway.presenters``'s job, not the store's.
"""

from __future__ import annotations

import abc
import functools
import secrets
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, NewType, Protocol, get_args
from urllib.parse import urlsplit, urlunsplit

from gateway.clock import Clock, rfc3339
from gateway.config import RetentionSettings
from gateway.context import Later
from gateway.errors import InvalidInput
from gateway.store.run_filter import RunFilter

RunStatus = Literal[
    "queued", "running", "deferred", "sent", "partial", "failed", "dropped", "rejected", "cancelled"
]
# ``bounced``: the upstream took it, then a delivery status notification said
# it could not be delivered.
ItemStatus = Literal["queued", "deferred", "sent", "failed", "skipped", "bounced"]
PENDING: frozenset[str] = frozenset({"queued", "deferred"})
RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)
ITEM_STATUSES: tuple[str, ...] = get_args(ItemStatus)


def check_status(value: str | None, known: tuple[str, ...], field: str) -> str | None:
    """``value`` when it is one of ``known`` (or None); else ``InvalidInput``
    naming ``field`` and the statuses there are."""
    if value is not None and value not in known:
        raise InvalidInput(field, f"unknown status {value!r} (known: {', '.join(known)})")
    return value


_last_id = (0, 0)


def new_id(prefix: str) -> str:
    """A unique id that sorts by creation time, ULID-style: ``run_`` + ms clock +
    a random part that counts up within the same millisecond."""
    global _last_id  # one monotonic counter per process
    millis = time.time_ns() // 1_000_000
    last_millis, last_random = _last_id
    if millis <= last_millis:
        millis, suffix = last_millis, last_random + 1
    else:
        suffix = secrets.randbits(40)
    _last_id = (millis, suffix)
    return f"{prefix}_{millis:012x}{suffix:010x}"


def run_status(items: Iterable[str]) -> RunStatus:
    """A run's status, derived from its recipients' statuses; a bounced
    recipient counts as failed."""
    statuses = ["failed" if s == "bounced" else s for s in items if s != "skipped"]
    if not statuses:
        return "dropped"
    if "deferred" in statuses:
        return "deferred"
    if "queued" in statuses:
        return "queued"
    if all(s == "sent" for s in statuses):
        return "sent"
    if "sent" in statuses:
        return "partial"
    return "failed"


# A message as the queue keeps it: the bytes ``gateway.content.mime.cleanup`` wrote
# after its final check. Only cleanup makes one, and the store queues nothing
# else, so no producer can put a message on the queue without that check.
Cleaned = NewType("Cleaned", bytes)


@dataclass(frozen=True)
class NewItem:
    address: str
    role: str
    rule: str
    status: ItemStatus = "queued"
    error: str | None = None


@dataclass(frozen=True)
class NewMessage:
    """One message of a definition run: for one customer, to one or more
    addresses. Without ``content`` its items are recorded as they are
    (skipped or failed) and nothing is queued."""

    customer_id: str
    content: Cleaned | None
    items: Sequence[NewItem]
    # What the message was sent as, for the run's record.
    subject: str | None = None
    attachments: Sequence[tuple[str, int]] = ()
    definition_version: int | None = None


@dataclass(frozen=True)
class Requeued:
    """A failed item set of a definition run composed again: ``message``'s
    content goes to the items ``item_ids``; without content they stay failed
    with its items' error."""

    item_ids: Sequence[int]
    message: NewMessage


@dataclass(frozen=True)
class NewBatchRun:
    """A definition run as it starts: unique by definition and batch id."""

    id: str
    definition: str
    batch_id: str
    subject: str
    mail_from: str
    invoices_dir: str
    expected: int


@dataclass(frozen=True)
class NewRun:
    """A run as an ingress records it, with the message to queue, if any."""

    id: str
    source: str
    email_type: str
    idempotency_key: str | None
    subject: str
    mail_from: str
    items: Sequence[NewItem]
    content: Cleaned | None
    status: RunStatus = "queued"
    error: str | None = None
    # Further keys that name the same run, such as the webhook-id it came with.
    other_keys: Sequence[str] = ()
    # The message to compose after the commit, queued in place of ``content``.
    later: Later | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        first = (self.idempotency_key,) if self.idempotency_key else ()
        return (*first, *self.other_keys)


@dataclass(frozen=True)
class Delivery:
    """A claimed message: what to send, to whom, on behalf of which run."""

    message_id: str
    run_id: str
    mail_from: str
    content: bytes
    recipients: Sequence[tuple[int, str]]  # (item id, address)
    attempts: int
    queued_at: float
    email_type: str = ""
    owner: str = ""  # who holds the lease
    # An earlier attempt was cut off after DATA began (a crash or a lost
    # lease): the upstream may already hold this message.
    interrupted: bool = False
    # Not composed yet: ``content`` is empty and this says what to compose.
    later: Later | None = None
    # The store's counters (``saved_version``, ``suppression_state``) as the
    # claim read them, so that a batch of deliveries costs no read of its own
    # to know whether what was read of the settings and the list still holds;
    # None when the delivery was not claimed from the store.
    saved_version: int | None = None
    suppression_version: int | None = None


@dataclass(frozen=True)
class Outcome:
    """What happened to one recipient of a delivery attempt."""

    item_id: int
    status: ItemStatus
    reply: str | None = None
    error: str | None = None


NoticeKind = Literal["callback", "bounce"]


@dataclass(frozen=True)
class NewNotice:
    """A report of a permanent failure, to go out after the attempt is recorded."""

    kind: NoticeKind
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class Notice:
    id: int
    run_id: str
    kind: NoticeKind
    payload: Mapping[str, Any]
    attempts: int
    created_at: float


QueueStatus = Literal["queued", "held", "sending"]


@dataclass(frozen=True)
class QueueEntry:
    """One message waiting in the queue, and why."""

    message_id: str
    run_id: str
    email_type: str
    status: QueueStatus
    attempts: int
    queued_at: float
    next_attempt_at: float
    recipients: Sequence[str]
    last_error: str | None


@dataclass(frozen=True)
class QueueStats:
    depth: int  # messages waiting, held ones included
    held: int
    oldest_queued_at: float | None


@dataclass(frozen=True)
class Item:
    id: int
    address: str
    role: str
    rule: str
    status: str
    reply: str | None
    attempts: int
    error: str | None
    updated_at: float
    customer_id: str | None = None
    # Definition runs: the definition's version that built the item's message,
    # the subject as sent and the attachments' names and sizes (JSON).
    definition_version: int | None = None
    subject: str | None = None
    attachments: str | None = None
    # When each delivery attempt was made: epoch seconds, comma-separated.
    attempted_at: str | None = None

    @property
    def attempt_times(self) -> list[float]:
        return [float(t) for t in self.attempted_at.split(",")] if self.attempted_at else []


@dataclass(frozen=True)
class ItemMessage:
    """One recipient of a run and the message queued for it, as the store
    keeps it: the bytes before the DKIM signature that each attempt adds."""

    run_id: str
    item: Item
    # None: nothing was queued for the recipient (skipped, rejected, dropped).
    message_id: str | None = None
    status: str | None = None  # queued | held | done | purged
    # The message's bytes; None when there are none to show (see ``missing``).
    content: bytes | None = None
    # The message of a platform event is composed at its first attempt.
    composed_later: bool = False
    pruned_at: float | None = None
    queued_at: float | None = None
    attempts: int = 0
    next_attempt_at: float | None = None
    last_error: str | None = None

    @property
    def missing(self) -> str | None:
        """Why there are no bytes to show, in words; None when there are."""
        if self.content is not None:
            return None
        if self.message_id is None:
            return "Nothing was queued for this recipient, so there is no message to show."
        if self.pruned_at is not None:
            return "The message's body was removed by the retention rules ([retention] bodies)."
        if self.composed_later:
            return (
                "The message is not composed yet: Herald composes it at its first delivery attempt."
            )
        return "The store holds no body for this message."


@dataclass(frozen=True)
class HistoryEntry:
    at: float
    event: str
    detail: str


@dataclass(frozen=True)
class Run:
    id: str
    source: str
    email_type: str
    status: str
    subject: str
    mail_from: str
    created_at: float
    updated_at: float
    error: str | None
    idempotency_key: str | None
    definition: str | None = None
    batch_id: str | None = None
    invoices_dir: str | None = None
    feed_cursor: str | None = None
    fed_at: float | None = None
    finished_at: float | None = None
    expected: int | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    items: Sequence[Item] = field(default_factory=tuple)
    history: Sequence[HistoryEntry] = field(default_factory=tuple)

    @property
    def finished(self) -> bool:
        return self.status not in ("queued", "running", "deferred")


@dataclass(frozen=True)
class RunPage:
    runs: Sequence[Run]
    next_cursor: str | None


@dataclass(frozen=True)
class SenderIdentity:
    """A sender that email types and message definitions name by its from key."""

    key: str
    address: str
    name: str = ""


@dataclass(frozen=True)
class SMTPUser:
    """A login for SMTP clients outside the allowed networks."""

    name: str
    password_hash: str = field(repr=False)
    # Empty means any domain.
    sender_domains: tuple[str, ...] = ()
    recipient_domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class AdminToken:
    """An admin API token as the store keeps it: never the token itself."""

    id: str
    name: str
    scopes: tuple[str, ...]
    created_at: float
    last_used_at: float | None = None
    revoked_at: float | None = None


@dataclass(frozen=True)
class AuditEntry:
    """One change of a setting: who made it, when, the value before and after."""

    id: int
    at: float
    actor: str
    setting: str
    old: Mapping[str, Any] | None
    new: Mapping[str, Any] | None


@dataclass(frozen=True)
class ConsoleUser:
    """A person who signs in to the console; ``role`` names a set of admin
    API scopes (``gateway.settings.users.ROLES``)."""

    name: str
    email: str
    role: str
    password_hash: str = field(repr=False)
    created_at: float = 0.0
    updated_at: float = 0.0
    disabled_at: float | None = None
    # The TOTP secret, sealed with the settings key; None without a second factor.
    totp_sealed: str | None = field(default=None, repr=False)
    # The time step of the last code taken (RFC 6238 §5.2: each is taken once).
    totp_step: int | None = None


@dataclass(frozen=True)
class ConsoleSession:
    """A signed-in browser, found by the digest of its cookie's secret."""

    digest: str = field(repr=False)
    user: ConsoleUser
    csrf: str = field(repr=False)
    created_at: float
    seen_at: float
    flash: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True)
class FlowCount:
    """How many runs of one email type, made since a moment, have one status."""

    email_type: str
    status: str
    count: int


@dataclass(frozen=True)
class AuditPage:
    entries: Sequence[AuditEntry]
    # The id to pass as ``before`` for the next (older) page, if any.
    next_before: int | None


MASK = "********"


def masked(
    old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, secret_fields: Collection[str]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """``old`` and ``new`` as the audit log keeps them: a secret shows only
    that it is set, and whether this change replaced it."""

    def hide(value: Mapping[str, Any] | None, changed: bool) -> dict[str, Any] | None:
        if value is None:
            return None
        shown = dict(value)
        for name in secret_fields:
            if shown.get(name) is not None:
                shown[name] = f"{MASK} (changed)" if changed else MASK
        return shown

    return hide(old, False), hide(
        new,
        any((old or {}).get(n) != (new or {}).get(n) and (new or {}).get(n) for n in secret_fields),
    )


@dataclass(frozen=True)
class TemplateParts:
    """A template's three texts; an empty ``text`` means "derive it from the HTML"."""

    subject: str
    html: str
    text: str


TemplateAction = Literal["save", "rollback", "reset"]


@dataclass(frozen=True)
class TemplateVersion:
    """One saved state of an email type's template. A ``reset`` version has
    no parts: from it on, the shipped default applies again."""

    email_type: str
    version: int
    action: str
    parts: TemplateParts | None
    note: str
    created_at: float
    actor: str = ""  # who saved it, as the audit log names them


@dataclass(frozen=True)
class Customer:
    """A customer as the platform syncs it: addresses by recipient key."""

    id: str
    name: str = ""
    locale: str = ""
    fields: Mapping[str, Any] = field(default_factory=dict)
    clusters: Sequence[str] = ()
    addresses: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Schedule:
    cron: str
    timezone: str = "UTC"


@dataclass(frozen=True)
class Definition:
    """A reusable message definition; each batch of invoices makes one run."""

    name: str
    from_key: str
    recipient_key: str
    clusters: Sequence[str]
    subject: str
    text: str
    html: str | None = None
    attach: Sequence[str] = ()
    zip: bool = False
    zip_name: str = "invoices.zip"
    # A template rendered per recipient; the template is kept, never its result.
    zip_password: str | None = None
    schedule: Schedule | None = None
    # The version in force, as the store numbers it (0 before it is saved).
    version: int = 0


@dataclass(frozen=True)
class DefinitionVersion:
    """One saved state of a definition: every apply and rollback adds one."""

    name: str
    version: int
    action: str
    actor: str
    created_at: float
    definition: Definition


@dataclass
class StoreHealth:
    """What Herald has seen of the store's writes, for ``/healthz`` and ``/metrics``.

    A write that fails for want of room, or for any other reason than a taken
    key or a lost lease, puts the store in trouble; only a write that needed
    room (a run, a delivery's outcomes, a probe) takes it out again, because
    small writes in place can still succeed on a full disk.
    """

    # A probe is a write: an unauthenticated /healthz may ask for one at most this often.
    PROBE_INTERVAL: ClassVar[float] = 1.0

    write_failures: int = 0
    trouble: str | None = None
    since: float | None = None
    # Outcomes of deliveries the upstream answered that wait in memory until
    # the store can take them (``gateway.queue.qmgr``).
    unrecorded: int = 0
    last_probe: float = 0.0

    def failed(self, error: str) -> bool:
        """Count a failed write; True when it puts a healthy store in trouble."""
        self.write_failures += 1
        began = self.trouble is None
        if began:
            self.since = time.time()
        self.trouble = error
        return began

    def recovered(self) -> bool:
        """A write that needed room succeeded; True when that ends a trouble."""
        ended = self.trouble is not None
        self.trouble = self.since = None
        return ended

    def probe_due(self) -> bool:
        """Whether a probe may run now: the store is in trouble and none ran just before."""
        now = time.monotonic()
        if self.trouble is None or now - self.last_probe < self.PROBE_INTERVAL:
            return False
        self.last_probe = now
        return True

    def problem(self) -> str | None:
        """What is wrong, in one sentence; None while the store takes every write."""
        waiting = (
            f"{self.unrecorded} delivery outcome(s) wait to be written" if self.unrecorded else ""
        )
        if self.trouble is None:
            return f"the store is behind: {waiting}" if waiting else None
        since = rfc3339(self.since or time.time())
        return f"the store cannot write since {since}: {self.trouble}" + (
            f"; {waiting}" if waiting else ""
        )


class QueueStore(Protocol):
    """What the queue manager (``gateway.queue.qmgr``) needs: claim, record and
    release under a lease, and the store's health while it cannot write."""

    @property
    def health(self) -> StoreHealth:
        """This process's view of the store's writes."""

    async def claim(self, owner: str, *, limit: int, lease: float) -> list[Delivery]:
        """Lease up to ``limit`` due messages to ``owner`` for ``lease`` seconds."""

    async def mark_sending(
        self,
        delivery: Delivery,
        *,
        lease: float,
        composed: tuple[Cleaned, str] | None = None,
    ) -> None:
        """Note that DATA is about to begin and renew the lease for ``lease``
        seconds, keeping the ``composed`` message and subject of a delivery
        that was composed after the commit in place of what to compose; raise
        ``LeaseLostError`` (and send nothing) when the delivery's owner no
        longer holds the lease, ``StoreError`` when the note cannot be made
        durable."""

    async def record_attempt(
        self,
        delivery: Delivery,
        outcomes: Sequence[Outcome],
        *,
        retry_at: float | None,
        notices: Sequence[NewNotice] = (),
        suppressions: Sequence[NewSuppression] = (),
    ) -> None:
        """Record per-recipient outcomes, ``notices`` of permanent failure and
        the ``suppressions`` they teach, release the lease, and requeue the
        message for ``retry_at`` when some recipients are still pending.
        ``LeaseLostError`` when the delivery's owner no longer holds the lease:
        then nothing is recorded."""

    async def renew_leases(self, owner: str, message_ids: Collection[str], *, lease: float) -> int:
        """Extend ``owner``'s leases on ``message_ids`` by ``lease`` seconds from
        now; the count of leases it still held."""

    async def lease_owners(self) -> list[str]:
        """The owners of the leases currently held."""

    async def release_leases(self, owner: str) -> int:
        """Return every message leased by ``owner`` (a worker known to be dead)
        to the queue; the count of messages released."""

    async def next_due(self) -> float | None:
        """When the earliest waiting message becomes due, if any."""


class NoticeStore(Protocol):
    """What the failure reports (``gateway.queue.notify``) need: the notices due."""

    async def due_notices(self, *, limit: int) -> list[Notice]: ...

    async def notice_done(self, notice_id: int, *, error: str | None = None) -> None:
        """Mark a notice sent, or given up with ``error``."""

    async def notice_retry(self, notice_id: int, *, at: float, error: str) -> None: ...


class StatsStore(Protocol):
    """How deep the queue is: what intake's backpressure, ``/metrics`` and the
    operator's listing of the queue read."""

    async def queue_stats(self) -> QueueStats:
        """The messages waiting, held ones among them, and the oldest's age."""


class HealthStore(StatsStore, Protocol):
    """What ``/healthz`` and ``/metrics`` read: whether the store answers and
    takes writes, and how deep the queue is."""

    @property
    def health(self) -> StoreHealth:
        """This process's view of the store's writes."""

    async def ping(self) -> None:
        """Raise ``StoreError`` unless the store answers."""

    async def probe(self) -> None:
        """Write, and remove again, about a page of data: ``StoreError`` when the
        store cannot take it. A success takes the store out of trouble."""


class IntakeStore(StatsStore, Protocol):
    """What the entrance (``gateway.entrance.intake``) needs: a run's keys, its
    durable commit, and the depth of the queue."""

    async def find_run_id(self, idempotency_key: str) -> str | None:
        """The run named by ``idempotency_key`` or one of its other keys."""

    async def record_run(self, run: NewRun) -> tuple[str, bool]:
        """Commit ``run``; return its id and True, or, when one of its keys is
        already taken, the earlier run's id and False. Returns only once the
        run is durable."""


class OperatorQueueStore(StatsStore, Protocol):
    """The queue as an operator handles it (``/v1/queue``, ``herald queue``)."""

    async def list_queue(self, *, limit: int = 100) -> list[QueueEntry]:
        """Waiting messages, the earliest due first."""

    async def retry_now(self, message_id: str | None) -> int:
        """Make one waiting message (or, with None, every queued one) due now."""

    async def hold(self, message_id: str, *, actor: str) -> None:
        """Keep a waiting message from being sent until it is released; the
        run's history names ``actor``."""

    async def release(self, message_id: str, *, actor: str) -> None:
        """Return a held message to the queue, due now; the run's history names ``actor``."""

    async def purge(self, message_id: str, reason: str, *, actor: str) -> None:
        """Remove a waiting message; its pending recipients fail with ``reason``."""


class RunStore(Protocol):
    """Runs as the faces read and act on them (``/v1/runs``, ``herald runs``)."""

    async def list_runs(
        self,
        *,
        status: str | None = None,
        email_type: str | None = None,
        where: RunFilter | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunPage: ...

    async def get_run(
        self, run_id: str, *, item_status: str | None = None, item_limit: int | None = None
    ) -> Run:
        """The run with its counts, items and history; ``NotFoundError`` if
        unknown. ``item_status`` and ``item_limit`` narrow the items (and the
        history to its latest ``item_limit`` entries) for large runs."""

    async def retry_run(self, run_id: str, *, by: str = "") -> int:
        """Queue the run's failed items again; return how many. ``by``, who
        asked (as the audit log names them), is written in the run's history."""

    async def cancel_run(self, run_id: str, *, by: str = "") -> int:
        """Stop the run: its pending items are skipped; return how many."""

    async def resend_item(self, run_id: str, item_id: int, *, by: str = "") -> None:
        """Queue one item of the run again, whatever became of it."""

    async def item_message(self, run_id: str, item_id: int) -> ItemMessage:
        """One recipient of the run with the message queued for it;
        ``NotFoundError`` when the run has no such item."""


class SettingsStore(Protocol):
    """Saved settings and their audit log (``gateway.settings``, ``gateway.entrance.delivery``)."""

    async def saved_version(self) -> int:
        """A number that every change of a saved setting, a sender or a
        template version moves (in the change's own transaction, whichever process makes it):
        what was read at one number is still in force while it stays."""

    async def read_settings(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Saved settings whose key is ``prefix`` or starts with ``prefix/``."""

    async def write_setting(
        self,
        key: str,
        value: Mapping[str, Any] | None,
        *,
        actor: str,
        secret_fields: Collection[str] = (),
    ) -> None:
        """Save ``value`` under ``key`` (``None`` deletes it) and, when it
        changed, append the change to the audit log in the same transaction,
        with ``secret_fields`` masked (see ``masked``)."""

    async def list_audit(self, *, limit: int = 50, setting: str | None = None) -> list[AuditEntry]:
        """Setting changes, newest first; only ``setting`` and its sub-keys when given."""


class SenderStore(Protocol):
    """Sender identities by from key."""

    async def put_sender(self, sender: SenderIdentity, *, actor: str) -> None:
        """Create or replace the sender with ``sender.key``; when that changes
        it, the change joins the audit log in the same transaction."""

    async def list_senders(self) -> list[SenderIdentity]: ...

    async def get_sender(self, key: str) -> SenderIdentity:
        """The sender for a from key; ``NotFoundError`` if unknown."""

    async def delete_sender(self, key: str, *, actor: str) -> None:
        """Remove the sender with this from key, audited in the same
        transaction; ``NotFoundError`` if unknown, ``InvalidInput`` naming
        the definitions when any still sends from it."""


class TemplateStore(Protocol):
    """The versions of edited templates (``gateway.content.composer``)."""

    async def add_template_version(
        self,
        email_type: str,
        action: TemplateAction,
        parts: TemplateParts | None,
        note: str = "",
        *,
        actor: str = "",
    ) -> TemplateVersion:
        """Append the next version of ``email_type``'s template and return it;
        the change joins the audit log (``templates/<type>``) in the same
        transaction, naming ``actor``."""

    async def template_versions(
        self, email_type: str, *, before: int | None = None, limit: int | None = None
    ) -> list[TemplateVersion]:
        """The versions of ``email_type``'s template, newest first: every one,
        or at most ``limit`` older than version ``before`` (a keyset page)."""

    async def template_version(self, email_type: str, version: int) -> TemplateVersion:
        """One version; ``NotFoundError`` if unknown."""

    async def latest_template_versions(self) -> dict[str, TemplateVersion]:
        """The newest version (a reset included) of every email type that has one."""

    async def current_template(self, email_type: str) -> TemplateVersion | None:
        """The edited template in force, or None when the shipped default applies."""


class BillingStore(Protocol):
    """Customers, definitions and definition runs (``gateway.billing``)."""

    async def put_customers(self, customers: Sequence[Customer]) -> None:
        """Create or replace each customer, with its clusters and addresses."""

    async def get_customer(self, customer_id: str) -> Customer:
        """One customer; ``NotFoundError`` if unknown."""

    async def count_customers(self, clusters: Sequence[str]) -> int:
        """How many customers belong to at least one of ``clusters``."""

    async def select_customers(
        self, clusters: Sequence[str], *, after: str | None, limit: int
    ) -> list[Customer]:
        """Up to ``limit`` customers in any of ``clusters`` with ids above
        ``after``, by id, so that a run can walk them page by page."""

    async def put_definition(
        self, definition: Definition, *, actor: str = "", action: str = "apply"
    ) -> int:
        """Create or replace the definition named ``definition.name`` as a new
        version, audited in the same transaction; return the version."""

    async def definition_versions(self, name: str) -> list[DefinitionVersion]:
        """Every version of the definition ``name``, newest first."""

    async def definition_version(self, name: str, version: int) -> DefinitionVersion:
        """One version; ``NotFoundError`` if unknown."""

    async def list_customers(
        self, *, search: str = "", cluster: str | None = None, after: str = "", limit: int = 50
    ) -> list[Customer]:
        """Customers by id above ``after``; ``search`` matches the id, name, an
        address or a field value (case-insensitive), ``cluster`` a cluster."""

    async def delete_customers(self, ids: Sequence[str], *, actor: str) -> int:
        """Remove these customers, audited in the same transaction; return how many were found."""

    async def import_customers(self, customers: Sequence[Customer], *, actor: str) -> None:
        """``put_customers`` in one transaction, with one audit entry."""

    async def requeue_recomposed(
        self, run_id: str, messages: Sequence[Requeued], *, by: str = ""
    ) -> int:
        """Give failed items of ``run_id`` a newly composed message (or a new
        error), in one transaction; only items still failed are touched, so
        nobody who received gets it again. Returns how many were queued."""

    async def list_definitions(self) -> list[Definition]: ...

    async def get_definition(self, name: str) -> Definition:
        """The definition called ``name``; ``NotFoundError`` if unknown."""

    async def start_batch_run(self, run: NewBatchRun) -> tuple[str, bool]:
        """Commit a definition run; return its id and True, or, when the
        definition already ran this batch, the earlier run's id and False."""

    async def feed_run(
        self, run_id: str, messages: Sequence[NewMessage], *, after: str | None, cursor: str
    ) -> bool:
        """Queue one chunk of a run's messages and move its feed cursor from
        ``after`` to ``cursor`` (the last customer id fed), in one transaction.
        Returns False, queuing nothing, when the run was cancelled or its
        cursor is no longer at ``after`` (another process fed this chunk)."""

    async def finish_feed(self, run_id: str) -> None:
        """Mark every message of the run as queued."""

    async def unfed_runs(self) -> list[Run]:
        """Definition runs whose feed was interrupted and should resume."""


class AccountStore(Protocol):
    """SMTP logins and admin API tokens (``gateway.settings``, ``herald tokens``)."""

    async def put_smtp_user(self, user: SMTPUser, *, actor: str) -> None:
        """Create or replace the SMTP login ``user.name``, and append the change
        to the audit log in the same transaction (its domains, never its hash)."""

    async def get_smtp_user(self, name: str) -> SMTPUser:
        """The SMTP login ``name``; ``NotFoundError`` if unknown."""

    async def list_smtp_users(self) -> list[SMTPUser]: ...

    async def delete_smtp_user(self, name: str, *, actor: str) -> None:
        """Remove the SMTP login ``name``, audited in the same transaction;
        ``NotFoundError`` if unknown."""

    async def add_admin_token(self, token: AdminToken, digest: str, *, actor: str) -> None:
        """Keep a new token by the digest of its secret, audited (its scopes)
        in the same transaction; ``InvalidInput`` when its name is taken."""

    async def find_admin_token(self, digest: str) -> AdminToken | None:
        """The live (unrevoked) token with this digest, marking it used."""

    async def list_admin_tokens(self) -> list[AdminToken]: ...

    async def revoke_admin_token(self, name_or_id: str, *, actor: str) -> AdminToken:
        """Revoke a token by name or id, audited in the same transaction;
        ``NotFoundError`` if no live one matches."""


class ConsoleStore(Protocol):
    """Console users and their sessions (``gateway.console``, ``herald users``)."""

    async def add_console_user(self, user: ConsoleUser, *, actor: str) -> None:
        """Keep a new user, audited (never the hash) in the same transaction;
        ``InvalidInput`` when the name is taken."""

    async def update_console_user(self, user: ConsoleUser, *, actor: str) -> None:
        """Replace the user ``user.name`` (role, email, password, second factor,
        disabled), audited in the same transaction. A disabled user, or one
        whose password changed, loses every session. ``NotFoundError`` if unknown."""

    async def get_console_user(self, name: str) -> ConsoleUser:
        """The user ``name``; ``NotFoundError`` if unknown."""

    async def list_console_users(self) -> list[ConsoleUser]: ...

    async def take_totp_step(self, name: str, step: int) -> bool:
        """Record that ``name`` signed in with a code of time step ``step``;
        False, recording nothing, when a code of that step or a later one was
        taken already (on any node)."""

    async def add_console_session(self, digest: str, user_name: str, csrf: str) -> None:
        """Keep a new session of ``user_name``."""

    async def find_console_session(
        self, digest: str, *, idle: float, absolute: float
    ) -> ConsoleSession | None:
        """The session with this digest, if its user is enabled, it was seen in
        the last ``idle`` seconds and made in the last ``absolute``; marks it
        seen and takes its flash messages. An expired session is removed."""

    async def flash_console_session(self, digest: str, messages: Sequence[tuple[str, str]]) -> None:
        """Add (kind, text) messages for the session's next page."""

    async def end_console_session(self, digest: str) -> None: ...

    async def customer_runs(
        self, customer_id: str, *, before: str | None = None, limit: int = 20
    ) -> list[Run]:
        """The runs that wrote to ``customer_id``, newest first (older than the
        run id ``before`` when given), each with only that customer's items."""

    async def flow_since(self, since: float) -> list[FlowCount]:
        """Runs made since ``since``, counted by email type and status."""

    async def audit_page(
        self,
        *,
        limit: int = 50,
        before: int | None = None,
        actor: str | None = None,
        setting: str | None = None,
    ) -> AuditPage:
        """Audit entries newest first, older than the id ``before`` when given
        (keyset pagination), only ``actor``'s when given, only those of
        ``setting`` and what lies under it (``smtp``, ``users/ada``) when given."""


SuppressionSource = Literal["upstream", "bounce", "operator"]


@dataclass(frozen=True)
class Suppression:
    """A recipient Herald no longer sends to, and why: the reply that said
    its mailbox does not exist, or an operator's note."""

    address: str  # lower-cased
    reason: str
    source: SuppressionSource
    created_at: float
    run_id: str | None = None


@dataclass(frozen=True)
class NewSuppression:
    address: str
    reason: str
    source: SuppressionSource
    run_id: str | None = None


class SuppressionStore(Protocol):
    """The suppression list (``gateway.queue.suppression``, ``herald suppressions``,
    ``/v1/suppressions``); every change joins the audit log in its transaction."""

    async def suppressions_for(self, addresses: Collection[str]) -> dict[str, Suppression]:
        """The suppressions among ``addresses``, by lower-cased address."""

    async def suppression_state(self) -> tuple[int, bool]:
        """A number that every change of the list moves (in the change's own
        transaction, whichever process makes it), and whether the list holds
        anyone, read together."""

    async def list_suppressions(
        self, *, search: str | None = None, after: str | None = None, limit: int = 100
    ) -> list[Suppression]:
        """Suppressions by address, those containing ``search`` (any case) when
        given, from the first address past ``after``."""

    async def add_suppression(self, suppression: NewSuppression, *, actor: str) -> bool:
        """Suppress an address, audited; False (and nothing changed) when it
        already was."""

    async def remove_suppression(self, address: str, *, actor: str) -> Suppression:
        """Send to an address again, audited; ``NotFoundError`` if it was not suppressed."""


@dataclass(frozen=True)
class BounceTarget:
    """The message a bounce address names, as a bounce is matched against it."""

    message_id: str
    run_id: str
    email_type: str
    mail_from: str
    attempts: int
    recipients: Sequence[tuple[int, str, str]]  # (item id, address, status)


@dataclass(frozen=True)
class BouncedItem:
    item_id: int
    diagnostic: str


class BounceStore(Protocol):
    """Bounces that come back (``gateway.queue.bounces``)."""

    async def bounce_target(self, message_id: str) -> BounceTarget | None:
        """The message and its recipients, or None when it is not (or no longer) kept."""

    async def record_bounce(
        self,
        *,
        message_id: str | None,
        run_id: str | None,
        bounced: Sequence[BouncedItem],
        detail: Mapping[str, Any],
        notices: Sequence[NewNotice] = (),
        suppressions: Sequence[NewSuppression] = (),
    ) -> int:
        """Keep a report that came back, and in the same transaction mark the
        ``bounced`` items that are still ``sent`` as bounced with their
        diagnostic, with the ``notices`` and ``suppressions`` it makes (only
        when one was marked). Returns how many were marked."""


@dataclass(frozen=True)
class PruneReport:
    """What one pass of retention removed (or, on a dry run, would remove)."""

    bodies: int = 0  # messages whose bytes went; their records stay
    runs: int = 0  # final runs removed with their items, counts and history
    audit: int = 0  # audit log entries
    freed_bytes: int = 0  # room handed back to the file system (SQLite)
    # Another node was pruning the shared store at the time: this one left it alone.
    elsewhere: bool = False


@dataclass(frozen=True)
class StoreStats:
    """The store's size and what it holds, for ``herald store stats`` and ``/metrics``."""

    kind: Literal["sqlite", "postgresql"]
    size_bytes: int  # on disk: the file and its WAL, or the schema's tables and indexes
    free_bytes: int  # room inside it that new rows reuse first
    runs: int
    bodies: int  # messages whose bytes are kept
    pruned: int  # messages whose bytes retention removed
    oldest_body_at: float | None  # when the oldest message still kept was queued


class RetentionStore(Protocol):
    """Retention (``herald store prune``, the daemon's pruner) and the store's size."""

    async def prune(self, retention: RetentionSettings, *, dry_run: bool = False) -> PruneReport:
        """Remove what ``retention``'s clocks let go, in transactions of at most
        ``retention.batch_size`` rows, never anything still queued, deferred,
        held or being sent; then hand the room back. With ``dry_run``, only
        count what would go."""

    async def store_stats(self) -> StoreStats: ...


class Store(
    HealthStore,
    RetentionStore,
    SuppressionStore,
    BounceStore,
    QueueStore,
    NoticeStore,
    IntakeStore,
    OperatorQueueStore,
    RunStore,
    SettingsStore,
    SenderStore,
    TemplateStore,
    BillingStore,
    AccountStore,
    ConsoleStore,
    abc.ABC,
):
    """Everything Herald keeps, the union of the narrow stores above; each
    consumer names only the one it needs. Every method is one transaction."""

    @functools.cached_property
    def health(self) -> StoreHealth:
        """This process's view of the store's writes."""
        return StoreHealth()

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and apply pending migrations."""

    @abc.abstractmethod
    async def close(self) -> None: ...


def redact_url(url: str) -> str:
    """``url`` with any password masked, fit for logs and ``herald check``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def sqlite_path(url: str) -> str | None:
    """The SQLite file a store URL names, or None for a PostgreSQL URL."""
    if url.startswith(("postgresql://", "postgres://")):
        return None
    return url.removeprefix("sqlite://")


def open_store(url: str, *, max_bytes: int | None = None, clock: Clock | None = None) -> Store:
    """The store for ``url``: ``postgresql://...`` for PostgreSQL, else a
    SQLite file path (or ``sqlite:///path``) refusing writes that would grow
    it past ``max_bytes``. ``clock`` reads the time for every row it writes
    (by default ``time.time``; PostgreSQL then measures leases by its own)."""
    path = sqlite_path(url)
    if path is None:
        from gateway.store._postgres import PostgresStore

        return PostgresStore(url, clock=clock)
    from gateway.store._sqlite import SQLiteStore

    return SQLiteStore(path, max_bytes=max_bytes, clock=clock)
