"""Tests for gateway/admin/delivery.py: ``/v1/delivery`` shows and changes who
receives each email type and the admin's address, and the dry run says who would
receive an event, through a real daemon."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import Herald

EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "events"


def event(kind: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EVENTS / f"{kind}.json").read_text(encoding="utf-8"))
    return body


def policy(herald: Herald, email_type: str) -> dict[str, Any]:
    [row] = [r for r in herald.admin("/v1/delivery").json["types"] if r["type"] == email_type]
    return dict(row)


def test_a_type_changed_is_shown_as_saved_and_audited(herald: Herald) -> None:
    """PATCH answers the type's policy as saved; GET shows it with source ``saved``,
    and the audit log names the change."""
    assert policy(herald, "invoice.issued")["source"] == "default"
    answer = herald.admin_send(
        "PATCH", "/v1/delivery/types/invoice.issued", {"bcc_admin": True, "bcc": ["f@acme.test"]}
    )
    assert answer.status == 200, answer.body
    assert answer.json == {
        "type": "invoice.issued",
        "customers": True,
        "bcc_admin": True,
        "bcc": ["f@acme.test"],
        "ignore_suppressions": False,
        "source": "saved",
    }
    shown = policy(herald, "invoice.issued")
    assert (shown["bcc_admin"], shown["bcc"], shown["source"]) == (True, ["f@acme.test"], "saved")
    [change] = herald.admin("/v1/audit?limit=1").json["changes"]
    assert change["setting"].endswith("invoice.issued")


def test_the_admin_address_is_set_and_shown(herald: Herald) -> None:
    """PUT /v1/delivery/admin answers the address; GET shows it; a bad one is 422."""
    answer = herald.admin_send("PUT", "/v1/delivery/admin", {"address": "ops@acme.test"})
    assert answer.json == {"admin": "ops@acme.test"}
    assert herald.admin("/v1/delivery").json["admin"] == "ops@acme.test"
    bad = herald.admin_send("PUT", "/v1/delivery/admin", {"address": "ops@acme.test\r\nBcc: x@y"})
    assert bad.status == 422
    assert bad.json["errors"][0]["pointer"] == "#/address"
    assert herald.admin("/v1/delivery").json["admin"] == "ops@acme.test"


def test_the_dry_run_names_each_recipient_and_records_nothing(herald: Herald) -> None:
    """The dry run answers the decision and every recipient with its rule; no run is made."""
    before = [run["id"] for run in herald.admin("/v1/runs?limit=200").json["runs"]]
    answer = herald.admin_send("POST", "/v1/delivery/dry-run", event("account.created"))
    assert answer.status == 200, answer.body
    assert answer.json["decision"] == "send"
    first = answer.json["recipients"][0]
    assert (first["address"], first["role"], first["receives"]) == (
        "ada@example.com",
        "to",
        True,
    )
    assert [run["id"] for run in herald.admin("/v1/runs?limit=200").json["runs"]] == before


def test_an_invalid_event_gets_the_webhooks_problem(herald: Herald) -> None:
    """A dry run of an event without recipients is the webhook's ``invalid-event`` 422."""
    answer = herald.admin_send(
        "POST", "/v1/delivery/dry-run", {**event("account.created"), "recipient": {}}
    )
    assert answer.status == 422
    assert answer.json["type"].endswith(":invalid-event")


@pytest.mark.parametrize(
    ("path", "body", "pointer"),
    [
        ("/v1/delivery/types/no.such.type", {"customers": False}, "#/type"),
        ("/v1/delivery/types/legacy", {"bcc": ["a@x.test\r\nBcc: victim@example.org"]}, "#/bcc/0"),
        ("/v1/delivery/types/legacy", {"bcc": ["ok@x.test", "not an address"]}, "#/bcc/1"),
        ("/v1/delivery/types/legacy", {"bcc": "a@x.test"}, "#/bcc"),
        ("/v1/delivery/types/legacy", {"customers": "maybe", "bcc": []}, "#/customers"),
        ("/v1/delivery/types/legacy", {"to": ["a@x.test"]}, "#/to"),
    ],
)
def test_invalid_delivery_settings_are_refused_naming_the_field(
    herald: Herald, path: str, body: dict[str, Any], pointer: str
) -> None:
    """Unknown types, bad or injected BCC addresses, non-boolean switches: 422
    naming the field, and nothing saved."""
    before = herald.admin("/v1/delivery").json
    answer = herald.admin_send("PATCH", path, body)
    assert answer.status == 422, answer.body
    assert answer.json["errors"][0]["pointer"] == pointer
    assert herald.admin("/v1/delivery").json == before
