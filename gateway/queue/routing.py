"""Which way out a message takes, from the settings in force at that moment.

In order: the sender's own upstream, the saved SMTP settings, the
configured ``[upstream]``, or, with none of them, the Maildir capture
(``gateway.settings.smtp.chosen`` decides). Every delivery checks the saved
version its claim read, and the settings are read again once it moved, so a
saved change applies to the next message claimed without a restart.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from gateway.config import Config, Upstream
from gateway.queue.capture import MaildirCapture
from gateway.queue.dkim import Signer
from gateway.queue.pool import Guards, SMTPRelay
from gateway.queue.transaction import BeforeData, Result
from gateway.settings import smtp as smtp_settings
from gateway.store import SenderStore, SettingsStore


class Relay(Protocol):
    """A way out: an upstream under its guard, or the capture."""

    def describe(self) -> str: ...

    @property
    def identity(self) -> str:
        """The upstream's ``host:port`` (or the capture folder), for metrics."""
        ...

    async def send(
        self,
        mail_from: str,
        recipients: Sequence[str],
        content: bytes,
        *,
        before_data: BeforeData | None = None,
    ) -> dict[str, Result]:
        """Relay one message. ``before_data`` is awaited just before DATA;
        when it raises, the transaction is abandoned and nothing is sent."""
        ...

    async def close(self) -> None: ...


class RoutingStore(SettingsStore, SenderStore, Protocol):
    """The saved SMTP settings, and the senders whose own upstream they may name."""


# How many sender addresses' upstreams are kept at once.
_CHOSEN = 1024


class Router:
    """Chooses the way out for each delivery from the settings in force."""

    def __init__(self, config: Config, store: RoutingStore, guards: Guards | None = None) -> None:
        self.config = config
        self.store = store
        # Without a registry (a one-off Router) sessions are not kept for reuse.
        self.guards = guards
        self.vault = smtp_settings.vault_for(config)
        # DKIM, for every way out alike (the capture too, so a test sees it).
        self.signer = Signer(store, self.vault)
        self.capture = MaildirCapture(config.upstream.capture_dir)
        # The upstream chosen for each sender address, at one saved version of
        # the settings and senders (``saved_version``): reading and decrypting
        # the settings for every delivery cost more than the delivery's own work.
        self._chosen: dict[str, Upstream | None] = {}
        self._chosen_at: int | None = None

    async def settings_for(self, mail_from: str) -> tuple[dict[str, Any] | None, str]:
        """The saved form of the upstream for a message from ``mail_from``
        and where it comes from (``smtp_settings.chosen``)."""
        saved = await self.store.read_settings(smtp_settings.SETTING)
        senders: list[str] = []
        if any(key != smtp_settings.SETTING for key in saved):
            # Some sender has its own upstream: is this message from one?
            senders = [
                identity.key
                for identity in await self.store.list_senders()
                if identity.address.lower() == mail_from.lower()
            ]
        return smtp_settings.chosen(saved, self.config, senders)

    async def upstream_for(
        self, mail_from: str, proposed: Mapping[str, Any] | None = None
    ) -> Upstream | None:
        """The upstream for a message from ``mail_from``, with ``proposed``
        changes applied (saved or not); None means the capture.

        Raises ``InvalidInput`` naming a proposed field that is not valid.
        """
        form, source = await self.settings_for(mail_from)
        if proposed:
            if source == "configuration" or form is None:
                form = smtp_settings.saved_form(self.config.upstream.server, self.vault)
            form, source = smtp_settings.apply(form, proposed, self.vault), "proposed"
        if form is None:
            return None
        upstream = smtp_settings.upstream(form, source, self.config, self.vault)
        # The limits are the configuration's, whichever settings chose the upstream.
        return dataclasses.replace(upstream, limits=self.config.upstream.limits)

    async def relay_for(self, mail_from: str, *, version: int | None = None) -> Relay:
        """The way out for a message from ``mail_from`` at this moment: the
        settings are read again once a change was saved (in any process).

        ``version`` is the store's ``saved_version`` as the delivery's claim
        read it, which saves reading it again; a version older than the one
        the upstreams were chosen at is served by those newer choices."""
        if version is None:
            version = await self.store.saved_version()
        held = self._chosen_at
        if held is None or version > held or len(self._chosen) > _CHOSEN:
            self._chosen, self._chosen_at = {}, version if held is None else max(version, held)
        key = mail_from.lower()
        if key in self._chosen:
            upstream = self._chosen[key]
        else:
            upstream = self._chosen[key] = await self.upstream_for(mail_from)
        if upstream is None:
            return self.capture
        return SMTPRelay(upstream, local_hostname=self.config.hostname, guards=self.guards)

    async def close(self) -> None:
        if self.guards is not None:
            await self.guards.close()
