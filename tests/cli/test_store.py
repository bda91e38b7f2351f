"""Tests for gateway/cli/store.py: ``herald migrate-store`` copies a SQLite
installation into PostgreSQL, and refuses what it cannot copy in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import stores
from tests.integration.harness import Herald


def offline(tmp_path: Path, store: str) -> Herald:
    """The CLI of an installation whose store is ``store``, with no daemon running."""
    herald = Herald(tmp_path, upstream=None)
    herald.env["HERALD_STORE"] = store
    return herald


def test_the_target_must_be_postgresql(tmp_path: Path) -> None:
    """A --to that names a SQLite file is a usage error; nothing is created."""
    source = tmp_path / "herald.db"
    result = offline(tmp_path, str(source)).cli(
        "migrate-store", "--from", str(source), "--to", str(tmp_path / "other.db")
    )
    assert (result.returncode, result.stderr) == (2, "herald: --to must be a postgresql:// URL\n")
    assert not (tmp_path / "other.db").exists()


def test_the_source_must_be_an_existing_file(tmp_path: Path) -> None:
    """A --from that does not exist is one line naming it, and no SQLite file is made."""
    missing = tmp_path / "missing.db"
    result = offline(tmp_path, str(missing)).cli(
        "migrate-store", "--from", str(missing), "--to", "postgresql://127.0.0.1/herald"
    )
    assert (result.returncode, result.stderr) == (
        2,
        f"herald: --from {missing}: no such SQLite file\n",
    )
    assert not missing.exists()


@pytest.mark.skipif(stores.KIND != "postgresql", reason="a copy needs the test PostgreSQL")
def test_what_the_cli_saved_in_sqlite_is_read_back_from_postgresql(tmp_path: Path) -> None:
    """Senders, customers and SMTP settings saved in a SQLite store are there, through
    the same commands, once the store is PostgreSQL."""
    sqlite = tmp_path / "state" / "herald.db"
    old = offline(tmp_path, str(sqlite))
    assert old.cli("senders", "set", "billing", "--address", "b@acme.test").returncode == 0
    customers = tmp_path / "customers.jsonl"
    customers.write_text('{"id": "cus_1", "name": "Acme"}\n', encoding="utf-8")
    assert old.cli("customers", "import", str(customers)).returncode == 0
    assert old.cli("smtp", "set", "--host", "mail.acme.test").returncode == 0
    target = stores.url_for(tmp_path)
    moved = old.cli("migrate-store", "--from", str(sqlite), "--to", target)
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout.splitlines()[-1].startswith("now start every node with HERALD_STORE=")
    new = offline(tmp_path, target)
    assert "b@acme.test" in new.cli("senders", "list").stdout
    assert json.loads(new.cli("customers", "show", "cus_1").stdout)["name"] == "Acme"
    assert "upstream:  smtp://mail.acme.test:25" in new.cli("smtp", "show").stdout
