"""Tests for gateway/cli/senders.py: ``herald senders set|list`` against the
store of a real daemon."""

from __future__ import annotations

from tests.integration.harness import Herald


def test_cli_sets_and_lists_senders_in_the_daemons_store(herald: Herald) -> None:
    """`herald senders set` writes the store the daemon reads; the API lists it."""
    result = herald.cli(
        "senders", "set", "billing", "--address", "billing@acme.test", "--name", "Acme Billing"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "sender billing: Acme Billing <billing@acme.test>\n"
    listed = herald.cli("senders", "list")
    assert listed.returncode == 0, listed.stderr
    assert "billing" in listed.stdout
    assert "Acme Billing <billing@acme.test>" in listed.stdout
    assert {
        "key": "billing",
        "address": "billing@acme.test",
        "name": "Acme Billing",
        "upstream": None,
    } in herald.admin("/v1/senders").json["senders"]


def test_a_sender_with_its_own_upstream_is_listed_with_it(herald: Herald) -> None:
    """`senders list` names the upstream a sender relays through when it has its own."""
    assert herald.cli("senders", "set", "own", "--address", "own@acme.test").returncode == 0
    saved = herald.cli("smtp", "set", "--sender", "own", "--host", "mail.acme.test")
    assert saved.returncode == 0, saved.stderr
    [line] = [line for line in herald.cli("senders", "list").stdout.splitlines() if "own@" in line]
    assert line.endswith("via smtp://mail.acme.test:25")


def test_cli_refuses_an_invalid_address_readably(herald: Herald) -> None:
    """The CLI prints which field is wrong and exits 1, no traceback."""
    result = herald.cli("senders", "set", "x", "--address", "not-an-address")
    assert result.returncode == 1
    assert result.stderr.startswith("herald: address:")
    assert "Traceback" not in result.stderr
    assert " x " not in herald.cli("senders", "list").stdout


def test_cli_removes_a_sender_and_refuses_one_a_definition_sends_from(herald: Herald) -> None:
    """`herald senders remove` removes a free sender (the API no longer lists it)
    and refuses one a definition sends from, naming the definition, exit 1."""
    assert herald.cli("senders", "set", "cli-spare", "--address", "s@acme.test").returncode == 0
    assert herald.cli("senders", "set", "cli-used", "--address", "u@acme.test").returncode == 0
    definition = {
        "from_key": "cli-used",
        "recipient_key": "invoice",
        "clusters": ["eu"],
        "subject": "Invoice",
        "text": "Dear {{ customer.name }}",
    }
    assert herald.admin_send("PUT", "/v1/definitions/cli-uses", definition).status == 200
    removed = herald.cli("senders", "remove", "cli-spare")
    assert (removed.returncode, removed.stdout) == (0, "sender cli-spare removed\n")
    refused = herald.cli("senders", "remove", "cli-used")
    assert refused.returncode == 1
    assert refused.stderr.startswith("herald: key:")
    assert "cli-uses" in refused.stderr
    assert "Traceback" not in refused.stderr
    keys = [s["key"] for s in herald.admin("/v1/senders").json["senders"]]
    assert "cli-used" in keys
    assert "cli-spare" not in keys
