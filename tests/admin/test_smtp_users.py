"""Tests for gateway/admin/smtp_users.py: SMTP AUTH logins over the admin API,
through a real daemon and its store."""

from __future__ import annotations

import pytest

from tests.integration.harness import Herald

PASSWORD = "correct horse battery"


def test_a_login_is_saved_listed_without_its_password_and_removed(herald: Herald) -> None:
    """PUT saves a login with its domains, GET lists it with no password or hash,
    DELETE removes it, and a second DELETE is a 404 problem."""
    answer = herald.admin(
        "/v1/smtp-users/billing-app",
        method="PUT",
        body={"password": PASSWORD, "sender_domains": ["Example.com"], "recipient_domains": []},
    )
    assert answer.status == 200, answer.body
    assert answer.json["name"] == "billing-app"
    assert answer.json["sender_domains"] == ["example.com"]
    listed = herald.admin("/v1/smtp-users")
    assert "billing-app" in [user["name"] for user in listed.json["smtp_users"]]
    assert PASSWORD.encode() not in listed.body
    assert b"scrypt" not in listed.body

    assert herald.admin("/v1/smtp-users/billing-app", method="DELETE").status == 204
    names = [user["name"] for user in herald.admin("/v1/smtp-users").json["smtp_users"]]
    assert "billing-app" not in names
    again = herald.admin("/v1/smtp-users/billing-app", method="DELETE")
    assert again.status == 404
    assert again.headers["Content-Type"].startswith("application/problem+json")


def test_each_change_is_audited_with_the_password_masked(herald: Herald) -> None:
    """Creating and removing a login each write an audit entry naming the token's
    actor; the password never appears in the audit log."""
    herald.admin("/v1/smtp-users/audited", method="PUT", body={"password": PASSWORD})
    herald.admin("/v1/smtp-users/audited", method="DELETE")
    changes = herald.admin("/v1/audit?limit=50").json["changes"]
    mine = [c for c in changes if "audited" in str(c["setting"])]
    assert len(mine) == 2
    removed, created = mine
    assert created["old"] is None
    assert created["new"]["name"] == "audited"
    assert removed["new"] is None
    assert {c["actor"] for c in mine} == {"admin-api"}
    assert PASSWORD not in str(changes)


@pytest.mark.parametrize(
    ("name", "body", "pointer"),
    [
        ("short", {"password": "too short"}, "#/password"),
        ("nopass", {}, "#/password"),
        ("crlf", {"password": PASSWORD + "\r\nX: y"}, "#/password"),
        ("-bad", {"password": PASSWORD}, "#/name"),
        ("domains", {"password": PASSWORD, "sender_domains": "example.com"}, "#/sender_domains"),
        (
            "domain",
            {"password": PASSWORD, "recipient_domains": ["not a domain"]},
            "#/recipient_domains/0",
        ),
    ],
)
def test_a_bad_login_is_refused_naming_the_field_and_nothing_is_saved(
    herald: Herald, name: str, body: dict[str, object], pointer: str
) -> None:
    """Each invalid field gets 422 with its JSON pointer, and no login is created."""
    answer = herald.admin(f"/v1/smtp-users/{name}", method="PUT", body=body)
    assert answer.status == 422, answer.body
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert [error["pointer"] for error in answer.json["errors"]] == [pointer]
    names = [user["name"] for user in herald.admin("/v1/smtp-users").json["smtp_users"]]
    assert name not in names


def test_a_body_that_is_not_json_is_a_400_problem(herald: Herald) -> None:
    """A PUT whose body is not JSON is refused before anything is hashed or saved."""
    answer = herald.admin_send("PUT", "/v1/smtp-users/broken", b'{"password": ')
    assert answer.status == 400
    assert answer.headers["Content-Type"].startswith("application/problem+json")
