"""Tests for gateway/admin/templates.py: the tag catalog, template versions,
previews and test sends under ``/v1/tags`` and ``/v1/templates``, through a real
daemon with a brand and a real upstream."""

from __future__ import annotations

from tests.integration.harness import Capture, Herald
from tests.integration.harness import running_upstream as running_upstream
from tests.integration.test_templates import branded as branded


def test_every_type_is_listed_with_its_version_in_force(branded: Herald) -> None:
    """The listing names each catalog type, shipped or not, and the saved version in force."""
    path = "/v1/templates/account.created"
    saved = branded.admin_send("PUT", path, {"subject": "Welcome to {{ brand.name }}"})
    assert saved.status == 200, saved.body
    try:
        listed = {t["type"]: t for t in branded.admin("/v1/templates").json["templates"]}
        entry = listed["account.created"]
        assert {k: entry[k] for k in ("type", "shipped", "version", "updated_by")} == {
            "type": "account.created",
            "shipped": True,
            "version": saved.json["version"],
            "updated_by": "admin-api",
        }
        assert entry["updated_at"]
        assert {t["type"] for t in branded.admin("/v1/tags").json["types"]} == set(listed)
    finally:
        branded.admin_send("POST", f"{path}/reset")
    assert branded.admin(path).json["version"] is None


def test_an_unknown_type_is_a_404_everywhere(branded: Herald) -> None:
    """Tags, the template and its versions of a type the catalog lacks are 404 problems."""
    for path in ("/v1/tags/no.such", "/v1/templates/no.such", "/v1/templates/no.such/versions"):
        answer = branded.admin(path)
        assert answer.status == 404, path
        assert answer.headers["Content-Type"].startswith("application/problem+json")


def test_a_rollback_needs_a_version_number(branded: Herald) -> None:
    """A version that is not a whole number is a 422 naming it."""
    for version in ("1", True, None):
        answer = branded.admin_send(
            "POST", "/v1/templates/account.created/rollback", {"version": version}
        )
        assert answer.status == 422, version
        assert answer.json["errors"][0]["pointer"] == "#/version"


def test_api_saves_lists_and_rolls_back_versions(branded: Herald) -> None:
    """PUT validates and saves; versions are listed newest first; rollback is a new version."""
    path = "/v1/templates/resource.provisioned"
    refused = branded.admin_send("PUT", path, {"subject": "{{ data.resource_nme }} ready"})
    assert refused.status == 422
    assert refused.json["errors"] == [
        {
            "pointer": "#/subject",
            "detail": "subject.txt, line 1: unknown tag data.resource_nme;"
            " did you mean data.resource_name?",
        }
    ]
    saved = branded.admin_send("PUT", path, {"subject": "{{ data.resource_name }} is up"})
    assert saved.status == 200, saved.body
    assert saved.json["version"] == 1
    assert (
        branded.admin_send("PUT", path, {"subject": "Up: {{ data.resource_name }}"}).status == 200
    )
    assert branded.admin(path).json["subject"] == "Up: {{ data.resource_name }}"

    versions = branded.admin(f"{path}/versions").json["versions"]
    assert [v["version"] for v in versions] == [2, 1]
    page = branded.admin(f"{path}/versions?limit=1").json["versions"]
    assert [v["version"] for v in page] == [2]
    older = branded.admin(f"{path}/versions?limit=1&before=2").json["versions"]
    assert [v["version"] for v in older] == [1]
    assert branded.admin(f"{path}/versions?limit=0").status == 400
    assert {v["actor"] for v in versions} == {"admin-api"}
    diff = branded.admin(f"{path}/versions/2/diff?against=1").json["parts"]
    assert [(d["part"], d["changed"]) for d in diff] == [
        ("subject", True),
        ("html", False),
        ("text", False),
    ]
    assert "-{{ data.resource_name }} is up\n+Up: {{ data.resource_name }}\n" in diff[0]["unified"]
    assert branded.admin(f"{path}/versions/x/diff").status == 422
    listed = {t["type"]: t for t in branded.admin("/v1/templates").json["templates"]}
    assert listed["resource.provisioned"]["version"] == 2
    assert listed["resource.provisioned"]["updated_by"] == "admin-api"
    assert listed["invoice.issued"]["updated_at"] is None
    back = branded.admin_send("POST", f"{path}/rollback", {"version": 1})
    assert back.json["version"] == 3
    assert branded.admin(path).json["subject"] == "{{ data.resource_name }} is up"
    assert branded.admin_send("POST", f"{path}/rollback", {"version": 42}).status == 404
    assert branded.admin_send("POST", f"{path}/reset").json["action"] == "reset"
    assert branded.admin(path).json["version"] is None


def test_preview_renders_a_draft_without_saving(branded: Herald) -> None:
    """A preview shows subject, HTML, text and MIME source for a draft, saving nothing."""
    answer = branded.admin_send(
        "POST",
        "/v1/templates/invoice.issued/preview",
        {
            "subject": "Draft {{ data.invoice_number }}",
            "event": {"data": {"invoice_number": "D-1", "amount": "1.00", "currency": "EUR"}},
        },
    )
    assert answer.status == 200, answer.body
    preview = answer.json
    assert preview["subject"] == "Draft D-1"
    assert "Content-ID: <logo@herald>" in preview["mime"]
    assert "D-1" in preview["text"]
    assert branded.admin("/v1/templates/invoice.issued").json["version"] is None
    bad = branded.admin_send("POST", "/v1/templates/invoice.issued/preview", {"html": "{{"})
    assert bad.status == 422
    assert bad.json["errors"][0]["pointer"] == "#/html"


def test_a_test_send_the_upstream_refuses_is_a_502_with_its_reply(
    branded: Herald, capture: Capture
) -> None:
    """The API's test send answers 502 with the upstream's refusal exactly."""
    capture.rcpt_replies["refused@"] = "550 5.1.1 no such user"
    try:
        answer = branded.admin_send(
            "POST", "/v1/templates/invoice.issued/send-test", {"to": "refused@acme.test"}
        )
    finally:
        del capture.rcpt_replies["refused@"]
    assert answer.status == 502
    assert answer.json["verdict"] == "failed"
    assert answer.json["error"] == "550 5.1.1 no such user"
