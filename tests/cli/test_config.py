"""Tests for gateway/cli/config.py: ``herald config example|unit`` print the
files Herald ships, as an operator installs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gateway import config
from tests.integration.harness import ROOT, Herald


def test_example_prints_the_commented_configuration_which_loads(
    herald: Herald, tmp_path: Path
) -> None:
    """The example is etc/herald.toml byte for byte, and Herald accepts it as written."""
    example = herald.cli("config", "example")
    assert example.returncode == 0, example.stderr
    assert example.stdout == (ROOT / "etc" / "herald.toml").read_text(encoding="utf-8")
    installed = tmp_path / "herald.toml"
    installed.write_text(example.stdout, encoding="utf-8")
    loaded = config.load(installed, env={"HERALD_STATE_DIR": str(tmp_path / "state")})
    assert loaded.source == installed


def test_unit_prints_the_systemd_unit(herald: Herald) -> None:
    """The unit is systemd/herald.service byte for byte: Type=notify, sandboxed."""
    unit = herald.cli("config", "unit")
    assert unit.returncode == 0, unit.stderr
    assert unit.stdout == (ROOT / "systemd" / "herald.service").read_text(encoding="utf-8")
    assert "Type=notify" in unit.stdout.splitlines()


def test_without_a_file_name_it_is_a_usage_error() -> None:
    """`herald config` alone is a usage error saying that FILE is required, not a traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "herald config: error: the following arguments are required: FILE"
    )
    assert "Traceback" not in result.stderr
