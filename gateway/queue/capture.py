"""The Maildir capture: the way out while no upstream is set.

It stands in for the upstream so a newcomer can read what would have been
sent, envelope included.
"""

from __future__ import annotations

import asyncio
import mailbox
from collections.abc import Sequence
from pathlib import Path

from gateway.queue.transaction import BeforeData, Result, for_all


class MaildirCapture:
    """Writes each message to a Maildir instead of sending it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def describe(self) -> str:
        return f"maildir:{self.directory}"

    @property
    def identity(self) -> str:
        return self.describe()

    async def close(self) -> None:
        pass

    async def send(
        self,
        mail_from: str,
        recipients: Sequence[str],
        content: bytes,
        *,
        before_data: BeforeData | None = None,
    ) -> dict[str, Result]:
        if before_data is not None:
            try:
                await before_data()
            except Exception as exc:
                return for_all(recipients, Result("deferred", error=f"not sent: {exc}"))
        # The envelope goes in front, as a local delivery agent would write it,
        # so the reader sees Bcc recipients that the headers rightly hide.
        envelope = f"Return-Path: <{mail_from}>\r\nX-Envelope-To: {', '.join(recipients)}\r\n"
        key = await asyncio.to_thread(self._add, envelope.encode() + content)
        return for_all(recipients, Result("sent", reply=f"250 2.0.0 captured as {key}"))

    def _add(self, data: bytes) -> str:
        # Made here rather than by mailbox.Maildir(create=True), which fails
        # when two deliveries create the folder at once, and makes no parents.
        for folder in ("tmp", "new", "cur"):
            (self.directory / folder).mkdir(parents=True, exist_ok=True, mode=0o700)
        return mailbox.Maildir(self.directory, create=False).add(data)
