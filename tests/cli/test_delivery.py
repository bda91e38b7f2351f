"""Tests for gateway/cli/delivery.py: ``herald delivery show|set|admin|dry-run``
against the store of a real daemon."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.harness import Herald

EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "events"


def test_set_changes_a_type_the_daemon_then_shows(herald: Herald) -> None:
    """`delivery set` prints the policy as saved; `show` lists it as saved, and so does
    the daemon's API."""
    saved = herald.cli("delivery", "set", "system.alert", "--customers", "off", "--bcc-admin", "on")
    assert saved.returncode == 0, saved.stderr
    assert (
        saved.stdout
        == "system.alert: customers off, bcc admin on, bcc -, ignore suppressions off\n"
    )
    [row] = [
        r
        for r in herald.cli("delivery", "show").stdout.splitlines()
        if r.startswith("system.alert ")
    ]
    assert row.split()[1:4] == ["off", "on", "saved"]
    shown = json.loads(herald.cli("delivery", "show", "--json").stdout)
    assert shown == herald.admin("/v1/delivery").json


def test_admin_sets_the_address_shown_first(herald: Herald) -> None:
    """`delivery admin` saves the admin's address; `show` opens with it."""
    assert herald.cli("delivery", "admin", "ops@acme.test").stdout == "admin: ops@acme.test\n"
    assert herald.cli("delivery", "show").stdout.splitlines()[0] == "admin: ops@acme.test"


def test_dry_run_reads_a_file_or_standard_input(herald: Herald) -> None:
    """The event comes from a file or from '-'; both print the same recipients; a file
    that is not JSON is one error line."""
    path = EVENTS / "account.created.json"
    from_file = herald.cli("delivery", "dry-run", str(path))
    assert from_file.returncode == 0, from_file.stderr
    assert from_file.stdout.startswith("account.created: send")
    assert "ada@example.com" in from_file.stdout
    from_stdin = herald.cli("delivery", "dry-run", "-", input=path.read_text(encoding="utf-8"))
    assert from_stdin.stdout == from_file.stdout
    broken = herald.cli("delivery", "dry-run", "-", input="{not json")
    assert broken.returncode == 1
    assert broken.stderr.startswith("herald: event: cannot read the event from -")
    assert len(broken.stderr.splitlines()) == 1


def test_cli_refuses_unknown_types_and_bad_admin_addresses(herald: Herald) -> None:
    """The CLI names the field and exits 1 without a traceback."""
    result = herald.cli("delivery", "set", "no.such.type", "--customers", "off")
    assert result.returncode == 1
    assert result.stderr.startswith("herald: type: unknown email type 'no.such.type'")
    result = herald.cli("delivery", "admin", "ops@herald.test\nBcc: x@y.test")
    assert result.returncode == 1
    assert result.stderr.startswith("herald: address:")
    assert "Traceback" not in result.stderr
