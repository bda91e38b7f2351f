"""Tests for gateway/admin/senders.py: ``/v1/senders`` lists and puts sender
identities, through a real daemon."""

from __future__ import annotations

from typing import Any

from tests.integration.harness import Herald


def put(herald: Herald, key: str, body: dict[str, str]) -> tuple[int, Any]:
    answer = herald.admin(f"/v1/senders/{key}", method="PUT", body=body)
    return answer.status, answer.json


def test_a_sender_put_is_listed_with_no_upstream_of_its_own(herald: Herald) -> None:
    """PUT answers the sender as saved; the listing shows it, without an upstream."""
    status, saved = put(herald, "billing", {"address": "billing@acme.test", "name": "Billing"})
    assert (status, saved) == (
        200,
        {"key": "billing", "address": "billing@acme.test", "name": "Billing"},
    )
    assert {**saved, "upstream": None} in herald.admin("/v1/senders").json["senders"]


def test_a_put_replaces_the_sender_with_that_key(herald: Herald) -> None:
    """A second PUT to the same key changes that sender instead of adding one."""
    put(herald, "replaced", {"address": "old@acme.test", "name": "Old"})
    put(herald, "replaced", {"address": "new@acme.test", "name": "New"})
    listed = [s for s in herald.admin("/v1/senders").json["senders"] if s["key"] == "replaced"]
    assert [(s["address"], s["name"]) for s in listed] == [("new@acme.test", "New")]


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


def test_senders_need_the_settings_scope(herald: Herald) -> None:
    """Without a token the listing is 401, and nothing is saved."""
    assert herald.admin("/v1/senders", token=None).status == 401
    answer = herald.admin(
        "/v1/senders/anon", token=None, method="PUT", body={"address": "a@acme.test"}
    )
    assert answer.status == 401
    assert all(s["key"] != "anon" for s in herald.admin("/v1/senders").json["senders"])


def _definition(from_key: str) -> dict[str, Any]:
    return {
        "from_key": from_key,
        "recipient_key": "invoice",
        "clusters": ["eu"],
        "subject": "Invoice",
        "text": "Dear {{ customer.name }}",
    }


def test_delete_removes_a_sender_and_a_used_one_is_refused_naming_the_definition(
    herald: Herald,
) -> None:
    """DELETE removes a sender no definition sends from; one a definition sends
    from is a 422 naming the definition, and stays listed until it is free."""
    put(herald, "spare", {"address": "spare@acme.test"})
    put(herald, "inuse", {"address": "inuse@acme.test"})
    applied = herald.admin_send("PUT", "/v1/definitions/api-sender-use", _definition("inuse"))
    assert applied.status == 200, applied.body
    answer = herald.admin("/v1/senders/spare", method="DELETE")
    assert (answer.status, answer.json) == (200, {"deleted": "spare"})
    refused = herald.admin("/v1/senders/inuse", method="DELETE")
    assert refused.status == 422
    [error] = refused.json["errors"]
    assert error["pointer"] == "#/key"
    assert "api-sender-use" in error["detail"]
    keys = [s["key"] for s in herald.admin("/v1/senders").json["senders"]]
    assert "inuse" in keys
    assert "spare" not in keys


def test_deleting_an_unknown_sender_is_404_and_needs_a_token(herald: Herald) -> None:
    """An unknown key is a 404 problem; without a token nothing is removed."""
    answer = herald.admin("/v1/senders/nobody", method="DELETE")
    assert answer.status == 404
    assert "nobody" in answer.json["detail"]
    put(herald, "guarded", {"address": "guarded@acme.test"})
    assert herald.admin("/v1/senders/guarded", token=None, method="DELETE").status == 401
    assert "guarded" in [s["key"] for s in herald.admin("/v1/senders").json["senders"]]
