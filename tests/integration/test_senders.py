"""Sender identities by from key, over the CLI and the admin API."""

from __future__ import annotations

import json
from typing import Any

from tests.integration.harness import Herald


def put(herald: Herald, key: str, body: dict[str, str]) -> tuple[int, dict[str, Any]]:
    answer = herald.request(
        "PUT",
        f"/v1/senders/{key}",
        json.dumps(body).encode(),
        {"Authorization": f"Bearer {Herald.TOKEN}", "Content-Type": "application/json"},
    )
    return answer.status, answer.json


def test_cli_sets_and_lists_senders_in_the_daemons_store(herald: Herald) -> None:
    """`herald senders set` writes the store the daemon reads; the API lists it."""
    result = herald.cli(
        "senders", "set", "billing", "--address", "billing@acme.test", "--name", "Acme Billing"
    )
    assert result.returncode == 0, result.stderr
    assert "billing" in herald.cli("senders", "list").stdout
    listed = herald.admin("/v1/senders").json["senders"]
    assert {
        "key": "billing",
        "address": "billing@acme.test",
        "name": "Acme Billing",
        "upstream": None,
    } in listed


def test_api_puts_a_sender_and_refuses_header_injection(herald: Herald) -> None:
    """A valid sender is saved; a display name carrying CRLF is refused with 422 naming it."""
    assert put(herald, "support", {"address": "help@acme.test", "name": "Help"})[0] == 200
    status, body = put(herald, "evil", {"address": "x@acme.test", "name": "X\r\nBcc: a@b.test"})
    assert status == 422
    assert body["errors"] == [
        {"pointer": "#/name", "detail": "the name must not contain CR, LF or NUL"}
    ]
    status, body = put(herald, "Bad%20Key", {"address": "x@acme.test"})
    assert status == 422
    assert body["errors"][0]["pointer"] == "#/key"
    assert all(s["key"] != "evil" for s in herald.admin("/v1/senders").json["senders"])


def test_cli_refuses_an_invalid_address_readably(herald: Herald) -> None:
    """The CLI prints which field is wrong and exits 1, no traceback."""
    result = herald.cli("senders", "set", "x", "--address", "not-an-address")
    assert result.returncode == 1
    assert result.stderr.startswith("herald: address:")
    assert "Traceback" not in result.stderr
