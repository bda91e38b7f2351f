"""Tests for gateway/admin/definitions.py: ``/v1/definitions`` saved, listed and
shown, and a run refused before it starts, through a real daemon."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.harness import Herald

DEFINITION: dict[str, Any] = {
    "from_key": "ops",
    "recipient_key": "invoice",
    "clusters": ["api"],
    "attach": ["pdf"],
    "subject": "Invoice {{ invoice.number }}",
    "text": "Hello {{ customer.name }}",
    "schedule": {"cron": "0 6 1 * *", "timezone": "Europe/Amsterdam"},
}


@pytest.fixture(scope="module", autouse=True)
def sender(herald: Herald) -> None:
    answer = herald.admin_send("PUT", "/v1/senders/ops", {"address": "ops@acme.test"})
    assert answer.status == 200, answer.body


def test_a_definition_put_is_shown_and_listed_as_saved(herald: Herald) -> None:
    """PUT answers the definition as checked; GET and the listing return the same."""
    saved = herald.admin_send("PUT", "/v1/definitions/api-invoice", DEFINITION)
    assert saved.status == 200, saved.body
    assert saved.json["name"] == "api-invoice"
    assert saved.json["schedule"] == DEFINITION["schedule"]
    assert herald.admin("/v1/definitions/api-invoice").json == saved.json
    assert saved.json in herald.admin("/v1/definitions").json["definitions"]


def test_a_second_put_replaces_the_definition(herald: Herald) -> None:
    """The same name saved again is changed, not added."""
    herald.admin_send("PUT", "/v1/definitions/replaced", DEFINITION)
    herald.admin_send("PUT", "/v1/definitions/replaced", {**DEFINITION, "clusters": ["eu"]})
    listed = [
        d for d in herald.admin("/v1/definitions").json["definitions"] if d["name"] == "replaced"
    ]
    assert [d["clusters"] for d in listed] == [["eu"]]


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({**DEFINITION, "from_key": "nobody"}, "#/from_key"),
        ({**DEFINITION, "name": "other"}, "#/name"),
        ({**DEFINITION, "schedule": {"cron": "every day"}}, "#/schedule/cron"),
        ({**DEFINITION, "subject": "{{ unclosed"}, "#/subject"),
    ],
)
def test_a_bad_definition_is_a_422_naming_the_field_and_is_not_saved(
    herald: Herald, body: dict[str, Any], pointer: str
) -> None:
    """An unknown sender, a name unlike the path's, a bad cron or template are refused."""
    answer = herald.admin_send("PUT", "/v1/definitions/refused", body)
    assert answer.status == 422, answer.body
    assert answer.json["errors"][0]["pointer"] == pointer
    assert herald.admin("/v1/definitions/refused").status == 404


def test_a_run_of_an_unknown_definition_is_a_404(herald: Herald) -> None:
    """Nothing is started for a definition that does not exist, nor for a bad name."""
    for name in ("no-such-definition", "Bad%20Name"):
        answer = herald.admin_send("POST", f"/v1/definitions/{name}/runs", {"batch": "2026-12"})
        assert answer.status == 404, name
    assert herald.admin("/v1/runs?type=no-such-definition").json["runs"] == []


def test_a_run_needs_its_invoices_inside_the_spool(herald: Herald) -> None:
    """A run whose invoices folder lies outside [runs] spool_dir is refused, not read."""
    herald.admin_send("PUT", "/v1/definitions/spooled", DEFINITION)
    answer = herald.admin_send(
        "POST", "/v1/definitions/spooled/runs", {"batch": "2026-12", "invoices": "../../etc"}
    )
    assert answer.status == 422, answer.body
    assert answer.json["errors"][0]["pointer"].startswith("#/invoices")
