"""Tests for the built-in stages."""

from __future__ import annotations

from pathlib import Path

from gateway import config as config_module
from gateway.entrance.pipeline import Services
from gateway.store._sqlite import SQLiteStore


def make_services(tmp_path: Path, toml: str = "") -> Services:
    """What a stage is built with, from a configuration file holding ``toml``."""
    path = tmp_path / "herald.toml"
    path.write_text(toml, encoding="utf-8")
    config = config_module.load(
        None,
        env={
            "HERALD_CONFIG": str(path),
            "HERALD_STATE_DIR": str(tmp_path / "state"),
            "HERALD_HOSTNAME": "herald.test",
        },
    )
    return Services.build(config, SQLiteStore(str(tmp_path / "state" / "herald.db")))
