"""Reports of permanent failures: a signed callback and/or a bounce.

The queue manager writes a notice in the same transaction as the failure;
this module sends it. A callback is a POST of JSON signed the Standard
Webhooks way (``gateway.signing.sign``), retried with the queue's backoff
until the queue's lifetime runs out. A bounce is a DSN-like message to
``[notify] bounce_to``, queued as a run of its own with the null sender.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp
import structlog

from gateway.config import Config
from gateway.content import mime
from gateway.content.mime import cleanup
from gateway.errors import StoreError, UnsafeHeader
from gateway.queue.qmgr import backoff
from gateway.signing import sign
from gateway.store import IntakeStore, NewItem, NewRun, Notice, NoticeStore, new_id

log = structlog.get_logger(__name__)

CALLBACK_TIMEOUT = 10.0
BATCH = 20


class NotifyStore(NoticeStore, IntakeStore, Protocol):
    """The notices due, and the durable commit that queues a bounce."""


class Notifier:
    def __init__(self, store: NotifyStore, config: Config, on_queued: Callable[[], None]) -> None:
        self.store = store
        self.config = config
        self.on_queued = on_queued
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()

    def wake(self) -> None:
        self._wakeup.set()

    def configure(self, config: Config) -> None:
        self.config = config
        self._wakeup.set()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=CALLBACK_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not self._stopping.is_set():
                self._wakeup.clear()
                try:
                    notices = await self.store.due_notices(limit=BATCH)
                    for notice in notices:
                        await self._send(session, notice)
                except StoreError:
                    log.exception("notices_unavailable")
                    notices = []
                if len(notices) == BATCH:
                    continue
                waiters = [
                    asyncio.ensure_future(self._wakeup.wait()),
                    asyncio.ensure_future(self._stopping.wait()),
                ]
                await asyncio.wait(
                    waiters,
                    timeout=self.config.queue.poll_interval,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                for waiter in waiters:
                    waiter.cancel()

    async def _send(self, session: aiohttp.ClientSession, notice: Notice) -> None:
        log_ = log.bind(run_id=notice.run_id, notice=notice.id, kind=notice.kind)
        if notice.kind == "bounce":
            if await self._bounce(notice):
                log_.info("bounce_queued", to=self.config.notify.bounce_to)
            return
        url = self.config.notify.callback_url
        if url is None:
            await self.store.notice_done(notice.id, error="no callback_url configured any more")
            return
        try:
            status = await self._post(session, url, notice)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        else:
            if 200 <= status < 300:
                await self.store.notice_done(notice.id)
                log_.info("failure_reported", url=url, status=status)
                return
            error = f"HTTP {status}"
        queue = self.config.queue
        retry_at = time.time() + backoff(queue, notice.attempts + 1)
        if retry_at > notice.created_at + queue.lifetime:
            await self.store.notice_done(notice.id, error=f"gave up: {error}")
            log_.warning("failure_report_abandoned", url=url, error=error)
        else:
            await self.store.notice_retry(notice.id, at=retry_at, error=error)
            log_.info("failure_report_deferred", url=url, error=error)

    async def _post(self, session: aiohttp.ClientSession, url: str, notice: Notice) -> int:
        body = json.dumps(notice.payload).encode()
        msg_id = f"notice_{notice.run_id}_{notice.id}"
        stamp = int(time.time())
        headers = {"Content-Type": "application/json", "webhook-id": msg_id}
        headers["webhook-timestamp"] = str(stamp)
        secrets = self.config.notify.callback_secrets
        if secrets:
            headers["webhook-signature"] = " ".join(
                sign(secret, msg_id, stamp, body) for secret in secrets
            )
        async with session.post(url, data=body, headers=headers) as response:
            return response.status

    async def _bounce(self, notice: Notice) -> bool:
        """Queue the bounce of ``notice``; False when there was none to queue."""
        bounce_to = self.config.notify.bounce_to
        if bounce_to is None:
            await self.store.notice_done(notice.id, error="no bounce_to configured any more")
            return False
        payload: dict[str, Any] = dict(notice.payload)
        run_id = new_id("run")
        message_id = f"<{run_id}@{self.config.hostname}>"
        message = mime.bounce(
            sender=mime.mailbox(f"mailer-daemon@{self.config.hostname}", "Mail Delivery System"),
            to=mime.mailbox(bounce_to),
            payload=payload,
            message_id=message_id,
        )
        try:
            content = cleanup(message, message_id=message_id)
        except UnsafeHeader as exc:
            await self.store.notice_done(notice.id, error=f"bounce not queued: {exc.reason}")
            log.error("bounce_refused", run_id=notice.run_id, notice=notice.id, reason=exc.reason)
            return False
        # The notice's id is the idempotency key: a crash after this commit
        # and before notice_done cannot queue the bounce twice.
        await self.store.record_run(
            NewRun(
                id=run_id,
                source="bounce",
                email_type="bounce",
                idempotency_key=f"notice:{notice.id}",
                subject=str(message["Subject"]),
                mail_from="",
                items=[NewItem(bounce_to, "to", "notify.bounce_to")],
                content=content,
            )
        )
        await self.store.notice_done(notice.id)
        self.on_queued()
        return True
