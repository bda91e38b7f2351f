"""Tests for gateway/queue/routing.py: which way out a message takes, read at each delivery."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from gateway import config as configuration
from gateway.config import Upstream
from gateway.queue.capture import MaildirCapture
from gateway.queue.pool import SMTPRelay
from gateway.queue.routing import Router
from gateway.settings import smtp as smtp_settings
from gateway.store import SenderIdentity, Store, open_store
from tests import stores

UPSTREAM = Upstream(host="mail.example.test", port=587, security="starttls")


async def test_nothing_saved_and_no_upstream_means_the_maildir_capture(
    store: Store, config: configuration.Config
) -> None:
    """Without saved settings or a configured upstream, mail is captured."""
    way = await Router(config, store).relay_for("a@b.test")
    assert isinstance(way, MaildirCapture)


async def test_saved_settings_win_over_the_configuration_at_the_next_delivery(
    store: Store, config: configuration.Config
) -> None:
    """The router reads the settings at each call: a save applies at once."""
    config = dataclasses.replace(
        config, upstream=dataclasses.replace(config.upstream, server=UPSTREAM)
    )
    router = Router(config, store)
    assert (await router.relay_for("a@b.test")).describe() == str(UPSTREAM)
    vault = router.vault
    value = smtp_settings.apply(
        smtp_settings.saved_form(None, vault),
        {"host": "relay.example.test", "login": "me", "password": "pw"},
        vault,
    )
    await smtp_settings.save(store, smtp_settings.SETTING, value, actor="test")
    way = await router.relay_for("a@b.test")
    assert isinstance(way, SMTPRelay)
    assert way.upstream.host == "relay.example.test"
    assert way.upstream.password == "pw"


async def test_a_senders_own_upstream_is_picked_by_its_address(
    store: Store, config: configuration.Config
) -> None:
    """Mail whose envelope sender is a sender's address (any case) takes its upstream."""
    router = Router(config, store)
    await store.put_sender(SenderIdentity("billing", "billing@acme.test"), actor="test")
    value = smtp_settings.apply(
        smtp_settings.saved_form(None, router.vault), {"host": "billing-relay.test"}, router.vault
    )
    await smtp_settings.save(store, smtp_settings.sender_setting("billing"), value, actor="t")
    assert (
        await router.relay_for("Billing@ACME.test")
    ).describe() == "smtp://billing-relay.test:25"
    assert isinstance(await router.relay_for("other@acme.test"), MaildirCapture)


async def test_the_router_keeps_its_choice_until_a_change_is_saved_anywhere(
    tmp_path: Path, config: configuration.Config
) -> None:
    """The upstream chosen for a sender is kept between deliveries, and a
    change saved through another connection to the store (another process or
    node) applies to the next delivery: a sender's address moved, its own
    upstream changed, the saved default removed."""
    url = stores.url_for(tmp_path / "shared")
    here, other = open_store(url), open_store(url)
    await here.open()
    await other.open()
    try:
        router = Router(config, here)
        vault = router.vault

        def form(host: str) -> dict[str, object]:
            return smtp_settings.apply(smtp_settings.saved_form(None, vault), {"host": host}, vault)

        await smtp_settings.save(other, smtp_settings.SETTING, form("main.test"), actor="t")
        await other.put_sender(SenderIdentity("billing", "billing@acme.test"), actor="t")
        own = smtp_settings.sender_setting("billing")
        await smtp_settings.save(other, own, form("billing.test"), actor="t")
        assert (await router.relay_for("billing@acme.test")).describe() == "smtp://billing.test:25"
        assert (await router.relay_for("billing@acme.test")).describe() == "smtp://billing.test:25"

        await other.put_sender(SenderIdentity("billing", "invoices@acme.test"), actor="t")
        assert (await router.relay_for("billing@acme.test")).describe() == "smtp://main.test:25"
        assert (await router.relay_for("invoices@acme.test")).describe() == "smtp://billing.test:25"

        await smtp_settings.save(other, own, form("billing2.test"), actor="t")
        assert (
            await router.relay_for("invoices@acme.test")
        ).describe() == "smtp://billing2.test:25"

        await smtp_settings.save(other, smtp_settings.SETTING, None, actor="t")
        assert isinstance(await router.relay_for("app@acme.test"), MaildirCapture)
    finally:
        await here.close()
        await other.close()
