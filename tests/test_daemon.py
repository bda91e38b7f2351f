"""Tests for gateway/daemon.py: everything ``serve`` runs is built from one
Config, and a reload applies what it safely can, with a real store."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from gateway import config as configuration
from gateway.config import Config, Listen
from gateway.daemon import NEEDS_RESTART, Gateway
from gateway.errors import ConfigError
from gateway.store import Store, open_store
from tests import stores


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "herald.toml"
    path.write_text(text, encoding="utf-8")
    return configuration.load(
        path, env={"HERALD_STATE_DIR": str(tmp_path / "state"), "HERALD_ADMIN_TOKEN": "t"}
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = open_store(stores.url_for(tmp_path))
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def test_one_config_reaches_every_part(tmp_path: Path, store: Store) -> None:
    """The queue manager, intake, webhook and admin API are all built from the same
    configuration and share one pipeline holder."""
    cfg = load(tmp_path, '[queue]\nworkers = 3\n\n[sender]\naddress = "n@acme.test"\n')
    gateway = Gateway.build(cfg, store)
    assert gateway.qmgr.settings.workers == 3
    assert gateway.intake.settings is cfg.queue
    assert gateway.webhook.mail_from == "n@acme.test"
    assert gateway.api.in_force is gateway.in_force is gateway.intake.in_force
    assert gateway.in_force.services.config is cfg


async def test_a_reload_applies_the_rest_and_keeps_what_needs_a_restart(
    tmp_path: Path, store: Store
) -> None:
    """New queue settings, sender and pipeline take effect; the SMTP listener's settings
    and the store stay as opened, and the log names each kind of change."""
    gateway = Gateway.build(load(tmp_path, ""), store)
    before = gateway.in_force.pipeline
    new = load(
        tmp_path,
        '[queue]\nworkers = 2\n\n[sender]\naddress = "new@acme.test"\n\n'
        '[smtp]\nlisten = "127.0.0.1:2626"\nmax_message_size = 1000\n\n'
        '[pipeline]\nstages = ["delivery-policy"]\n',
    )
    with capture_logs() as logs:
        gateway.reload(new)
    assert gateway.config.queue.workers == 2
    assert gateway.qmgr.settings.workers == 2
    assert gateway.webhook.mail_from == "new@acme.test"
    assert gateway.in_force.pipeline is not before
    assert [stage.name for stage in gateway.in_force.pipeline.stages] == ["delivery-policy"]
    assert gateway.config.smtp.listen == Listen("127.0.0.1", 2525)
    assert gateway.config.smtp.max_message_size == configuration.SMTPSettings().max_message_size
    [reloaded] = [entry for entry in logs if entry["event"] == "config_reloaded"]
    assert reloaded["needs_restart"] == ["smtp"]
    assert set(reloaded["changed"]) == {"sender", "queue", "stages"}


async def test_a_reload_whose_pipeline_cannot_be_built_changes_nothing(
    tmp_path: Path, store: Store
) -> None:
    """An unknown stage is a ConfigError, and the running configuration and pipeline
    are kept as they were."""
    old = load(tmp_path, "")
    gateway = Gateway.build(old, store)
    pipeline = gateway.in_force.pipeline
    broken = dataclasses.replace(
        old, stages=("no-such-stage",), queue=dataclasses.replace(old.queue, workers=1)
    )
    with pytest.raises(ConfigError, match="unknown stage 'no-such-stage'"):
        gateway.reload(broken)
    assert gateway.config is old
    assert gateway.in_force.pipeline is pipeline
    assert gateway.qmgr.settings.workers == old.queue.workers


def test_what_needs_a_restart_names_fields_of_the_configuration() -> None:
    """Every name a reload keeps is a field of Config, so none is kept by mistake."""
    assert {field.name for field in dataclasses.fields(Config)} >= NEEDS_RESTART
