"""Tests for gateway/settings/smtp.py: checking changes, what is shown, masking."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.config import Upstream
from gateway.errors import InvalidInput
from gateway.settings import smtp as smtp_settings
from gateway.settings.vault import Vault
from gateway.store import masked


@pytest.fixture
def vault(tmp_path: Path) -> Vault:
    return Vault(tmp_path / "settings-key")


def saved(vault: Vault, **changes: Any) -> dict[str, Any]:
    return smtp_settings.apply(smtp_settings.saved_form(None, vault), changes, vault)


def test_defaults_are_port_25_no_tls_verify_on_no_auth(vault: Vault) -> None:
    """Only the host is needed; the rest defaults as the issue asks."""
    value = saved(vault, host="mail.example.test")
    assert smtp_settings.public(value, "saved") == {
        "source": "saved",
        "host": "mail.example.test",
        "port": 25,
        "security": "none",
        "verify": True,
        "ca_file": None,
        "login": None,
        "auth": False,
        "password_set": False,
        "timeout": 30.0,
        "connect_timeout": None,
    }


def test_the_password_is_sealed_and_never_shown(vault: Vault) -> None:
    """The saved form holds the password sealed; the public form says only that it is set."""
    value = saved(vault, host="h.test", login="me", password="hunter2")
    assert "hunter2" not in str(value)
    assert vault.open(value["password"]) == "hunter2"
    shown = smtp_settings.public(value, "saved")
    assert "password" not in shown
    assert shown["password_set"] is True
    assert smtp_settings.describe(value) == "smtp://me@h.test:25"


def test_auth_off_forgets_login_and_password(vault: Vault) -> None:
    """Turning auth off clears both; a login given with auth off is refused."""
    value = saved(vault, host="h.test", login="me", password="pw")
    off = smtp_settings.apply(value, {"auth": False}, vault)
    assert off["login"] is None
    assert off["password"] is None
    form = {"auth": False, "login": None, "password": ""}
    assert smtp_settings.apply(value, form, vault) == off
    with pytest.raises(InvalidInput) as refused:
        smtp_settings.apply(value, {"auth": False, "login": "me"}, vault)
    assert refused.value.field == "#/login"


def test_a_login_keeps_the_saved_password(vault: Vault) -> None:
    """Changing only the port keeps the sealed password as it was."""
    value = saved(vault, host="h.test", login="me", password="pw")
    assert smtp_settings.apply(value, {"port": 587}, vault)["password"] == value["password"]


def test_the_configured_upstream_is_the_starting_point(vault: Vault) -> None:
    """With nothing saved, changes apply to the configured upstream, password sealed."""
    form = smtp_settings.saved_form(
        Upstream(host="cfg.test", port=465, security="tls", username="u", password="p"), vault
    )
    value = smtp_settings.apply(form, {"port": 2465}, vault)
    assert (value["host"], value["port"], value["security"], value["login"]) == (
        "cfg.test",
        2465,
        "tls",
        "u",
    )
    assert vault.open(value["password"]) == "p"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({}, "#/host"),
        ({"host": "mail.example.test:25"}, "#/host"),
        ({"host": "-bad-.test"}, "#/host"),
        ({"host": "h.test", "port": 70000}, "#/port"),
        ({"host": "h.test", "port": True}, "#/port"),
        ({"host": "h.test", "security": "STARTTLS"}, "#/security"),
        ({"host": "h.test", "verify": "yes"}, "#/verify"),
        ({"host": "h.test", "timeout": 0}, "#/timeout"),
        ({"host": "h.test", "connect_timeout": "soon"}, "#/connect_timeout"),
        ({"host": "h.test", "ca_file": "relative/ca.pem"}, "#/ca_file"),
        ({"host": "h.test", "password": "pw"}, "#/login"),
        ({"host": "h.test", "login": "me\r\nMAIL FROM:<x@y>"}, "#/login"),
        ({"host": "h.test", "auth": True}, "#/login"),
    ],
)
def test_invalid_changes_name_the_field(vault: Vault, changes: dict[str, Any], field: str) -> None:
    """Every invalid change raises InvalidInput naming its field."""
    with pytest.raises(InvalidInput) as refused:
        saved(vault, **changes)
    assert refused.value.field == field


@pytest.mark.parametrize("host", ["mail.example.test", "127.0.0.1", "::1", "[::1]", "MX1.Example"])
def test_host_names_and_ip_addresses_are_accepted(vault: Vault, host: str) -> None:
    """Host names and IPv4/IPv6 literals are hosts; brackets are dropped."""
    assert saved(vault, host=host)["host"] == host.strip("[]")


@given(st.text(min_size=1), st.sampled_from(["\r", "\n", "\x00"]))
def test_no_host_carries_a_line_break(text: str, breaker: str) -> None:
    """Whatever the text, a CR, LF or NUL in a host is refused."""
    form = smtp_settings.saved_form(None, None)
    with pytest.raises(InvalidInput):
        smtp_settings.apply(form, {"host": text + breaker}, Vault(Path("/nonexistent/key")))


def test_the_audit_log_masks_secrets_and_says_when_they_changed() -> None:
    """Masked values show that a secret is set, and '(changed)' when this change replaced it."""
    old = {"host": "a", "password": "sealed-1"}
    assert masked(old, {"host": "b", "password": "sealed-1"}, ["password"]) == (
        {"host": "a", "password": "********"},
        {"host": "b", "password": "********"},
    )
    assert masked(old, {"host": "a", "password": "sealed-2"}, ["password"])[1] == {
        "host": "a",
        "password": "******** (changed)",
    }
    assert masked(None, {"password": None}, ["password"]) == (None, {"password": None})


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("smtp://[2001:db8::1]:25", "2001:db8::1"),
        ("smtp+starttls://me@[2001:db8::1]:587", "2001:db8::1"),
        ("smtps://me@mail.example.test:465", "mail.example.test"),
        ("smtp://192.0.2.7:2525", "192.0.2.7"),
    ],
)
def test_saved_settings_and_the_configuration_name_an_upstream_alike(
    vault: Vault, url: str, host: str
) -> None:
    """An upstream saved at run time and the same one configured by URL are
    described by the same words, IPv6 addresses in brackets, so the one
    description reads back as the URL it came from."""
    configured = Upstream.from_url(url, where="test")
    assert configured.host == host
    saved = smtp_settings.apply(
        smtp_settings.saved_form(None, vault),
        {
            "host": host,
            "port": configured.port,
            "security": configured.security,
            **({"login": "me", "password": "pw"} if configured.username else {}),
        },
        vault,
    )
    assert str(configured) == url
    assert smtp_settings.describe(saved) == url
    assert Upstream.from_url(str(configured), where="test") == configured
