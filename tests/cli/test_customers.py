"""Tests for gateway/cli/customers.py: ``herald customers import|show`` against
the store of a real daemon."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.harness import Herald


def test_an_import_creates_or_replaces_customers_by_id(herald: Herald, tmp_path: Path) -> None:
    """Each line creates a customer or replaces the one with its id (three lines, two
    customers); `show` prints it
    as stored, and the daemon's API has the same."""
    lines = tmp_path / "customers.jsonl"
    lines.write_text(
        '{"id": "cus_1", "name": "Acme", "clusters": ["eu"],'
        ' "addresses": {"invoice": "billing@acme.test"}}\n'
        "\n"
        '{"id": "cus_2", "name": "Beta", "fields": {"vat_id": "NL1"}}\n'
        '{"id": "cus_1", "name": "Acme BV", "addresses": {"invoice": ["a@acme.test"]}}\n',
        encoding="utf-8",
    )
    imported = herald.cli("customers", "import", str(lines))
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout == f"imported 2 customer(s) from {lines}\n"
    shown = herald.cli("customers", "show", "cus_1")
    assert shown.returncode == 0, shown.stderr
    customer = json.loads(shown.stdout)
    assert (customer["name"], customer["clusters"], customer["addresses"]) == (
        "Acme BV",
        [],
        {"invoice": ["a@acme.test"]},
    )
    assert herald.admin("/v1/customers/cus_2").json["fields"] == {"vat_id": "NL1"}


def test_customer_import_names_the_bad_line(herald: Herald, tmp_path: Path) -> None:
    """A bad JSON Lines file is refused with the line and field, no traceback."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"id": "ok_1", "clusters": ["eu"]}\n{"id": "ok_2", "addresses": {"invoice": "nope"}}\n'
    )
    result = herald.cli("customers", "import", str(bad))
    assert result.returncode == 1
    expected = "herald: line 2 #/addresses/invoice/0: address 'nope' is not a valid"
    assert result.stderr.startswith(expected)
    assert "nothing was imported" in result.stderr
    assert "Traceback" not in result.stderr
    assert herald.cli("customers", "show", "ok_1").returncode == 1
    assert herald.cli("customers", "show", "ok_2").returncode == 1


def test_a_missing_file_or_customer_is_one_line(herald: Herald, tmp_path: Path) -> None:
    """Neither a file that is not there nor an unknown id prints a traceback."""
    missing = herald.cli("customers", "import", str(tmp_path / "none.jsonl"))
    assert (missing.returncode, missing.stderr) == (
        1,
        f"herald: FILE: no file {str(tmp_path / 'none.jsonl')!r}\n",
    )
    unknown = herald.cli("customers", "show", "cus_nobody")
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("herald: ")
    assert len(unknown.stderr.splitlines()) == 1
