"""Scheduled definitions: at each cron time, run every batch waiting in the spool.

A definition with a ``[schedule]`` fires at its cron times in its time zone.
When it fires, every folder in ``<spool_dir>/<definition>/`` is a batch (its
name is the batch id); each starts a run, once: a batch that already ran is
recognised by its id and sends nothing. Folders whose names start with ``.``
are ignored, so a platform can write a batch under a temporary name and
rename it when it is complete.

The clock is a parameter, so that a test can move time instead of waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import structlog
from croniter import croniter

from gateway.billing.batches import Batches, spooled
from gateway.errors import GatewayError
from gateway.store import BillingStore, Definition

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def next_fire(definition: Definition, after: datetime) -> datetime | None:
    """The first cron time of ``definition`` strictly after ``after``."""
    if definition.schedule is None:
        return None
    local = after.astimezone(ZoneInfo(definition.schedule.timezone))
    fire: datetime = croniter(definition.schedule.cron, local).get_next(datetime)
    return fire.astimezone(UTC)


class Scheduler:
    def __init__(
        self, store: BillingStore, batches: Batches, spool_dir: Path, *, clock: Clock = utc_now
    ) -> None:
        self.store = store
        self.batches = batches
        self.spool_dir = spool_dir
        self.clock = clock
        self.since = clock()

    async def tick(self) -> list[str]:
        """Fire every definition with a cron time since the last tick; return
        the ids of the runs started."""
        now = self.clock()
        since, self.since = self.since, now
        started = []
        for definition in await self.store.list_definitions():
            fire = next_fire(definition, since)
            if fire is None or fire > now:
                continue
            log.info("definition_scheduled", definition=definition.name, at=fire.isoformat())
            started += await self._fire(definition)
        return started

    async def _fire(self, definition: Definition) -> list[str]:
        batches = await asyncio.to_thread(spooled, self.spool_dir, definition.name)
        started = []
        for batch in batches:
            try:
                run_id, created = await self.batches.start(definition.name, batch.name, batch)
            except GatewayError as exc:
                log.error(
                    "definition_run_not_started",
                    definition=definition.name,
                    batch=batch.name,
                    error=str(exc),
                )
                continue
            if created:
                await self.batches.feed(run_id)
                started.append(run_id)
        return started

    async def run(self, interval: float = 30.0) -> None:
        """Tick every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.tick()
            except Exception:
                log.exception("scheduler_failed")
