"""Tests for gateway/admin/customers.py: ``POST /v1/customers`` (JSON Lines) and
``GET /v1/customers/{id}``, through a real daemon."""

from __future__ import annotations

import pytest

from tests.integration.harness import Herald


def test_a_sync_in_json_lines_replaces_each_customer_by_id(herald: Herald) -> None:
    """Every JSON Lines media type is read line by line; a later line with the same id
    replaces the earlier customer, so two lines import one customer."""
    lines = (
        b'{"id": "api_1", "name": "One", "clusters": ["eu"],'
        b' "addresses": {"invoice": "one@x.test"}}\n'
        b'{"id": "api_1", "name": "One BV", "clusters": ["eu", "nl"]}\n'
    )
    for media_type in ("application/jsonl", "application/x-ndjson", "application/x-jsonlines"):
        answer = herald.admin_send("POST", "/v1/customers", lines, content_type=media_type)
        assert answer.json == {"imported": 1}, answer.body
    shown = herald.admin("/v1/customers/api_1")
    assert shown.status == 200
    assert shown.json == {
        "id": "api_1",
        "name": "One BV",
        "locale": "",
        "fields": {},
        "clusters": ["eu", "nl"],
        "addresses": {},
    }


def test_a_bad_line_is_a_422_naming_it_and_nothing_is_imported(herald: Herald) -> None:
    """The problem names the line and field; no line of the file is imported."""
    lines = b'{"id": "kept_1"}\n{"id": "bad id!"}\n{"id": "never_1"}\n'
    answer = herald.admin_send("POST", "/v1/customers", lines, content_type="application/jsonl")
    assert answer.status == 422
    assert answer.json["errors"][0]["pointer"] == "line 2 #/id"
    assert "nothing was imported" in answer.json["detail"]
    assert herald.admin("/v1/customers/kept_1").status == 404
    assert herald.admin("/v1/customers/never_1").status == 404


def test_an_unknown_customer_is_a_404_problem(herald: Herald) -> None:
    """GET of an id never synced answers 404 as a problem document."""
    answer = herald.admin("/v1/customers/cus_nobody")
    assert answer.status == 404
    assert answer.headers["Content-Type"].startswith("application/problem+json")


@pytest.mark.parametrize("media_type", ["text/plain", "application/octet-stream"])
def test_other_media_types_are_415(herald: Herald, media_type: str) -> None:
    """A body that says it is not JSON or JSON Lines is refused before it is read."""
    answer = herald.admin_send(
        "POST", "/v1/customers", b'{"id": "typed_1"}\n', content_type=media_type
    )
    assert answer.status == 415
    assert herald.admin("/v1/customers/typed_1").status == 404
