"""Tests for gateway/settings/vault.py: the key file and sealed secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.settings.vault import SecretError, Vault


def test_the_key_is_made_on_first_use_readable_by_its_owner_only(tmp_path: Path) -> None:
    """Sealing makes <state>/settings-key with mode 0600; the secret round-trips."""
    vault = Vault(tmp_path / "state" / "settings-key")
    sealed = vault.seal("hunter2")
    assert "hunter2" not in sealed
    assert (tmp_path / "state" / "settings-key").stat().st_mode & 0o777 == 0o600
    assert Vault(tmp_path / "state" / "settings-key").open(sealed) == "hunter2"


def test_two_vaults_on_one_key_file_share_the_key(tmp_path: Path) -> None:
    """Whichever process makes the key first, every other one reads that key."""
    first, second = Vault(tmp_path / "k"), Vault(tmp_path / "k")
    assert second.open(first.seal("x")) == "x"
    assert first.open(second.seal("y")) == "y"
    assert list(tmp_path.iterdir()) == [tmp_path / "k"]


def test_another_key_cannot_open_a_secret(tmp_path: Path) -> None:
    """A database copied without its key file reveals nothing: opening fails readably."""
    sealed = Vault(tmp_path / "a").seal("hunter2")
    with pytest.raises(SecretError, match="set the password again"):
        Vault(tmp_path / "b").open(sealed)
