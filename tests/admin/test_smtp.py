"""Tests for gateway/admin/smtp.py: ``/v1/smtp`` and ``/v1/senders/{key}/smtp``
show, change and reset the upstream, and ``/v1/smtp/test`` sends a test message,
through a real daemon and a real upstream."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.harness import Capture, Herald

PASSWORD = "an-smtp-password-never-shown"


@pytest.fixture
def live() -> Iterator[Capture]:
    capture = Capture().start()
    yield capture
    capture.stop()


def test_the_configured_upstream_is_shown_until_settings_are_saved(
    herald: Herald, upstream: Capture
) -> None:
    """GET names the configured upstream; PATCH saves over it and DELETE puts it back."""
    shown = herald.admin("/v1/smtp").json
    assert (shown["source"], shown["host"], shown["port"]) == (
        "configuration",
        upstream.host,
        upstream.port,
    )
    saved = herald.admin_send("PATCH", "/v1/smtp", {"host": "mail.acme.test", "port": 2525})
    assert saved.status == 200, saved.body
    assert (saved.json["source"], saved.json["host"], saved.json["port"]) == (
        "saved",
        "mail.acme.test",
        2525,
    )
    assert herald.admin("/v1/smtp").json == saved.json
    reset = herald.admin_send("DELETE", "/v1/smtp")
    assert reset.json["source"] == "configuration"
    assert reset.json["host"] == upstream.host


def test_a_password_is_written_never_shown_and_masked_in_the_audit(herald: Herald) -> None:
    """The answer says a password is set and never holds it; the audit entry masks it."""
    answer = herald.admin_send(
        "PATCH",
        "/v1/smtp",
        {"host": "mail.acme.test", "security": "starttls", "login": "herald", "password": PASSWORD},
    )
    try:
        assert answer.status == 200, answer.body
        assert (answer.json["auth"], answer.json["password_set"]) == (True, True)
        assert "password" not in answer.json
        assert PASSWORD not in herald.admin("/v1/smtp").body.decode()
        audit = herald.admin("/v1/audit?setting=smtp&limit=1").body.decode()
        assert PASSWORD not in audit
        assert "********" in audit
    finally:
        herald.admin_send("DELETE", "/v1/smtp")


def test_a_senders_own_upstream_is_its_alone(herald: Herald) -> None:
    """An unknown sender is 404; a known one has none until set, and its reset leaves
    the main settings alone."""
    assert herald.admin("/v1/senders/nobody/smtp").status == 404
    herald.admin_send("PUT", "/v1/senders/shop", {"address": "shop@acme.test"})
    assert herald.admin("/v1/senders/shop/smtp").json == {"source": "none", "host": None}
    saved = herald.admin_send("PATCH", "/v1/senders/shop/smtp", {"host": "shop-mail.acme.test"})
    assert (saved.status, saved.json["host"]) == (200, "shop-mail.acme.test")
    assert herald.admin("/v1/smtp").json["source"] == "configuration"
    assert herald.admin_send("DELETE", "/v1/senders/shop/smtp").json["host"] is None


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"port": 99999}, "#/port"),
        ({"security": "ssl"}, "#/security"),
        ({"login": "herald"}, "#/password"),
        ({"host": ""}, "#/host"),
    ],
)
def test_a_bad_setting_is_a_422_naming_it_and_saves_nothing(
    herald: Herald, changes: dict[str, object], pointer: str
) -> None:
    """A port out of range, an unknown security, a login without a password, no host."""
    answer = herald.admin_send("PATCH", "/v1/smtp", changes)
    assert answer.status == 422, answer.body
    assert answer.json["errors"][0]["pointer"] == pointer
    assert herald.admin("/v1/smtp").json["source"] == "configuration"


def test_a_test_send_with_proposed_settings_arrives_and_saves_nothing(
    herald: Herald, live: Capture
) -> None:
    """The test message goes to the proposed upstream, which accepts it; the answer names
    the reply, and the settings in force are unchanged."""
    answer = herald.admin_send(
        "POST",
        "/v1/smtp/test",
        {
            "from": "notify@herald.test",
            "to": "ops@acme.test",
            "subject": "Checking the upstream",
            "settings": {"host": live.host, "port": live.port},
        },
    )
    assert answer.status == 200, answer.body
    assert (answer.json["ok"], answer.json["outcome"]) == (True, "accepted")
    assert answer.json["reply"].startswith("250")
    [mail] = live.wait_for(lambda c: "ops@acme.test" in c.rcpt_tos)
    assert mail.message["Subject"] == "Checking the upstream"
    assert herald.admin("/v1/smtp").json["source"] == "configuration"


def test_a_test_send_names_the_failure_and_bad_fields(herald: Herald, upstream: Capture) -> None:
    """With the configured upstream down the answer says the connection was refused; a bad
    proposed port is a 422 under #/settings."""
    answer = herald.admin_send(
        "POST", "/v1/smtp/test", {"from": "notify@herald.test", "to": "ops@acme.test"}
    )
    assert answer.status == 200, answer.body
    assert (answer.json["ok"], answer.json["step"]) == (False, "connect")
    bad = herald.admin_send(
        "POST",
        "/v1/smtp/test",
        {"from": "notify@herald.test", "to": "ops@acme.test", "settings": {"port": 0}},
    )
    assert bad.status == 422
    assert bad.json["errors"][0]["pointer"] == "#/settings/port"
    missing = herald.admin_send("POST", "/v1/smtp/test", {"to": "ops@acme.test"})
    assert missing.status == 422
    assert missing.json["errors"][0]["pointer"] == "#/from"
