"""The one path from a way in to the queue: pipeline, then a durable commit.

Both the webhook and the SMTP listener hand their ``Context`` to
``Intake.submit``. It returns only once the run is committed to the store, so
the caller may then answer 202 or 250 (RFC 5321 §6.1: after that reply the
message is ours).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import structlog

from gateway import mime
from gateway.context import Context
from gateway.errors import Defer, Drop, Reject, StageError
from gateway.pipeline import Pipeline
from gateway.store import NewItem, NewRun, RunStatus, Store

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Accepted:
    run_id: str
    status: str
    duplicate: bool = False


class Intake:
    def __init__(self, store: Store, pipeline: Pipeline, on_queued: Callable[[], None]) -> None:
        self.store = store
        self.pipeline = pipeline
        self.on_queued = on_queued

    async def submit(self, ctx: Context, *, idempotency_key: str | None = None) -> Accepted:
        """Run the pipeline on ``ctx`` and commit the run.

        Raises ``Reject`` and ``StageError`` after recording the refused run,
        ``Defer`` without recording anything, and ``StoreError`` when the
        store cannot commit, in which case nothing was accepted.
        """
        if idempotency_key is not None:
            existing = await self.store.find_run_id(idempotency_key)
            if existing is not None:
                log.info("duplicate_ignored", run_id=existing, idempotency_key=idempotency_key)
                return Accepted(existing, "duplicate", duplicate=True)
        try:
            await self.pipeline.run(ctx)
        except Drop as decision:
            return await self._record(ctx, idempotency_key, status="dropped", error=decision.reason)
        except Reject as decision:
            # A refused run carries no idempotency key: once the cause is
            # fixed, the platform's retry must go through the pipeline again.
            await self._record(ctx, None, status="rejected", error=decision.reason)
            log.info("message_rejected", run_id=ctx.run_id, reason=decision.reason)
            raise
        except Defer as decision:
            log.info("message_deferred", run_id=ctx.run_id, reason=decision.reason)
            raise
        except StageError as exc:
            await self._record(ctx, None, status="failed", error=str(exc))
            raise
        return await self._record(ctx, idempotency_key, status="queued", error=None)

    async def _record(
        self, ctx: Context, idempotency_key: str | None, *, status: RunStatus, error: str | None
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
        queued = status == "queued" and ctx.message is not None
        run = NewRun(
            id=ctx.run_id,
            source=ctx.source,
            email_type=ctx.email_type,
            idempotency_key=idempotency_key,
            subject=ctx.subject,
            mail_from=ctx.mail_from,
            items=items,
            content=mime.to_bytes(ctx.message) if queued and ctx.message else None,
            status=status if queued or status != "queued" else "dropped",
            error=error,
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
        if queued:
            self.on_queued()
        return Accepted(run_id, run.status)
