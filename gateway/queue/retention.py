"""The pruner: the daemon's task that applies ``[retention]`` every ``interval``.

Each pass asks the store to prune (``store.RetentionStore.prune``), which works
in transactions of ``batch_size`` rows and yields the writer between them, so
intake and the queue go on meanwhile; on PostgreSQL one node prunes at a time.
A pass that fails is logged and tried again at the next interval: nothing
waits on it.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from gateway.config import RetentionSettings
from gateway.store import PruneReport, RetentionStore

log = structlog.get_logger(__name__)


class Pruner:
    def __init__(self, store: RetentionStore, settings: RetentionSettings) -> None:
        self.store = store
        self.settings = settings
        self._stopping = asyncio.Event()

    def configure(self, settings: RetentionSettings) -> None:
        """Take new clocks (SIGHUP); they apply from the next pass."""
        self.settings = settings

    def stop(self) -> None:
        self._stopping.set()

    async def prune_once(self) -> PruneReport | None:
        """One pass; None when it failed (the failure is logged)."""
        try:
            report = await self.store.prune(self.settings)
        except Exception:
            log.exception("store_prune_failed")
            return None
        if report.bodies or report.runs or report.audit:
            log.info(
                "store_pruned",
                bodies=report.bodies,
                runs=report.runs,
                audit=report.audit,
                freed_bytes=report.freed_bytes,
            )
        return report

    async def run(self) -> None:
        while not self._stopping.is_set():
            await self.prune_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.settings.interval)
