"""The way into the queue: the intake takes the ways in through the pipeline
to a durable commit.

Every producer of mail hands its message to ``mime.cleanup`` before the store
queues it: the webhook and the SMTP listener (through ``Intake.submit``),
definition runs, bounces and test sends alike. The store accepts only what
cleanup returns, so a header rule written there holds for every way in, as
Postfix's cleanup does for smtpd, pickup and bounce.

Both the webhook and the SMTP listener hand their ``Context`` to
``Intake.submit``. It returns only once the run is committed to the store, so
the caller may then answer 202 or 250 (RFC 5321 §6.1: after that reply the
message is ours).

What the answer promises, as Postfix's smtpd and cleanup promise before its
qmgr runs: the run is durable, and everything the sender can act on was
checked (the event's schema and signature by the webhook, then the stages:
required tags, a known email type, the delivery policy). A platform event's
rendering and MIME need not hold the answer back: its stages describe the
message (``Context.later``), the intake queues that description, and the
queue's worker composes it through ``Intake.compose``, which passes the same
cleanup. A compose that fails then is a failed run, recorded and reported
like any permanent failure.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import structlog

from gateway.config import QueueSettings
from gateway.content import mime
from gateway.content.composer import Composer
from gateway.context import Context, Later
from gateway.entrance.pipeline import InForce, Pipeline
from gateway.errors import Defer, Drop, Overloaded, Reject, StageError
from gateway.metrics import Metrics
from gateway.store import Cleaned, IntakeStore, NewItem, NewRun, RunStatus

log = structlog.get_logger(__name__)

DEPTH_TTL = 1.0  # seconds a queue depth read from the store is trusted


@dataclass(frozen=True)
class Accepted:
    run_id: str
    status: str
    duplicate: bool = False


class Intake:
    def __init__(
        self,
        store: IntakeStore,
        pipeline: Pipeline | InForce,
        on_queued: Callable[[], None],
        settings: QueueSettings | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        # The daemon hands its holder of the pipeline in force, so that a
        # reload reaches the intake with everything else; one fixed pipeline
        # serves a caller that never reloads.
        self.in_force = pipeline
        self.on_queued = on_queued
        self.settings = settings or QueueSettings()
        self.metrics = metrics or Metrics()
        self._submitting = 0
        self._depth = 0
        self._depth_at = -DEPTH_TTL

    def _type_label(self, ctx: Context) -> str:
        """The email type as a metric label: a type the catalog knows (or
        ``legacy``), else ``other``, so callers cannot grow the label set."""
        held = self.in_force
        if not isinstance(held, InForce):
            return ctx.email_type
        known = held.services.composer.catalog.types
        return ctx.email_type if ctx.email_type in known or ctx.email_type == "legacy" else "other"

    @property
    def pipeline(self) -> Pipeline:
        """The pipeline each submission runs: the one in force."""
        held = self.in_force
        return held.pipeline if isinstance(held, InForce) else held

    @property
    def composer(self) -> Composer | None:
        """The composer in force, which composes what was queued to compose later."""
        held = self.in_force
        return held.services.composer if isinstance(held, InForce) else None

    async def compose(self, later: Later) -> tuple[Cleaned, str]:
        """The message ``later`` describes, made ready to leave, and its subject.

        Raises ``Reject`` (a template that fails on the event's values, an
        unsafe header: the run fails) or ``StoreError`` (the templates cannot
        be read now: the queue tries again)."""
        composer = self.composer
        if composer is None:
            raise StageError("no composer is in force to compose the message")
        composed = await composer.compose(
            later.email_type,
            later.variables,
            to=[mime.mailbox(address, name) for address, name in later.to],
            message_id=later.message_id,
        )
        message = composed.message
        if later.readdress is not None:
            mime.readdress(message, [mime.mailbox(address) for address in later.readdress])
        return mime.cleanup(message, message_id=later.message_id), composed.subject

    async def check_room(self) -> None:
        """Raise ``Overloaded`` when the queue is over ``max_depth``.

        The depth is read from the store at most once a second and counted
        up locally in between, so a burst cannot slip past the limit.
        """
        now = time.monotonic()
        if now - self._depth_at >= DEPTH_TTL:
            self._depth = (await self.store.queue_stats()).depth
            self._depth_at = now
        if self._depth >= self.settings.max_depth:
            raise Overloaded(f"the queue is full ({self._depth} messages waiting)")

    @contextlib.contextmanager
    def admit(self, source: str) -> Iterator[None]:
        """Hold one of ``max_intake`` places while a submission is read and
        accepted; ``Overloaded`` when none is free. The webhook takes its place
        before reading the body, so a burst cannot fill memory with bodies."""
        if self._submitting >= self.settings.max_intake:
            self.metrics.refused.inc(source=source, reason="busy")
            raise Overloaded(f"{self._submitting} messages are being accepted at once")
        self._submitting += 1
        try:
            yield
        finally:
            self._submitting -= 1

    async def duplicate(self, *keys: str) -> Accepted | None:
        """The run an earlier submission with one of ``keys`` made, if any."""
        for key in keys:
            existing = await self.store.find_run_id(key)
            if existing is not None:
                log.info("duplicate_ignored", run_id=existing, idempotency_key=key)
                return Accepted(existing, "duplicate", duplicate=True)
        return None

    async def submit(
        self,
        ctx: Context,
        *,
        idempotency_key: str | None = None,
        other_keys: tuple[str, ...] = (),
    ) -> Accepted:
        """Run the pipeline on ``ctx`` and commit the run; call it inside ``admit``.

        ``idempotency_key`` and ``other_keys`` each name the run: a second
        submission with any of them answers the first run and sends nothing.
        Raises ``Reject`` and ``StageError`` after recording the refused run,
        ``Defer`` (``Overloaded`` when the queue is full) without recording
        anything, and ``StoreError`` when the store cannot commit, in which
        case nothing was accepted.
        """
        try:
            await self.check_room()
        except Overloaded:
            self.metrics.refused.inc(source=ctx.source, reason="queue_full")
            raise
        return await self._submit(ctx, idempotency_key, other_keys)

    async def _submit(
        self, ctx: Context, idempotency_key: str | None, other_keys: tuple[str, ...]
    ) -> Accepted:
        keys = (idempotency_key, *other_keys) if idempotency_key else other_keys
        earlier = await self.duplicate(*keys)
        if earlier is not None:
            return earlier
        content = None
        pipeline = self.pipeline
        ctx.compose_later = (
            ctx.event is not None and self.composer is not None and pipeline.composes_later
        )
        try:
            await pipeline.run(ctx)
            if ctx.message is not None:
                content = mime.cleanup(ctx.message, message_id=pipeline.message_id(ctx))
        except Drop as decision:
            return await self._record(
                ctx, idempotency_key, other_keys, status="dropped", error=decision.reason
            )
        except Reject as decision:
            # A refused run carries no idempotency key: once the cause is
            # fixed, the platform's retry must go through the pipeline again.
            await self._record(ctx, None, (), status="rejected", error=decision.reason)
            log.info("message_rejected", run_id=ctx.run_id, reason=decision.reason)
            raise
        except Defer as decision:
            # Nothing is recorded: the sender keeps the message and tries again.
            log.info("intake_deferred", run_id=ctx.run_id, reason=decision.reason)
            raise
        except StageError as exc:
            await self._record(ctx, None, (), status="failed", error=str(exc))
            raise
        return await self._record(
            ctx, idempotency_key, other_keys, status="queued", error=None, content=content
        )

    async def _record(
        self,
        ctx: Context,
        idempotency_key: str | None,
        other_keys: tuple[str, ...],
        *,
        status: RunStatus,
        error: str | None,
        content: Cleaned | None = None,
    ) -> Accepted:
        items = [
            NewItem(
                address=r.address,
                role=r.role,
                rule=r.rule,
                status="skipped" if r.suppressed or status != "queued" else "queued",
                error=r.suppressed,
            )
            for r in ctx.recipients
        ]
        later = ctx.later if content is None and ctx.message is None else None
        queued = status == "queued" and (content is not None or later is not None)
        run = NewRun(
            id=ctx.run_id,
            source=ctx.source,
            email_type=ctx.email_type,
            idempotency_key=idempotency_key,
            # A refused subject may carry NUL, which PostgreSQL's text refuses:
            # the record shows U+FFFD in its place.
            subject=ctx.subject.replace("\x00", "\ufffd"),
            mail_from=ctx.mail_from,
            items=items,
            content=content if queued else None,
            later=later if queued else None,
            status=status if queued or status != "queued" else "dropped",
            error=error,
            other_keys=other_keys,
        )
        run_id, created = await self.store.record_run(run)
        if not created:
            log.info("duplicate_ignored", run_id=run_id, idempotency_key=idempotency_key)
            return Accepted(run_id, "duplicate", duplicate=True)
        log.info(
            "run_recorded",
            run_id=run_id,
            source=ctx.source,
            email_type=ctx.email_type,
            status=run.status,
            recipients=len(items),
        )
        if run.status in ("rejected", "failed"):
            # Refused, and recorded as such: not an accepted message.
            self.metrics.refused.inc(source=ctx.source, reason=run.status)
        else:
            self.metrics.accepted.inc(source=ctx.source, email_type=self._type_label(ctx))
        if queued:
            self._depth += 1
            self.on_queued()
        return Accepted(run_id, run.status)
