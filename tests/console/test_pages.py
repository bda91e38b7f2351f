"""The console's routes: each page is guarded, and the helpers every page uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load
from gateway.console import delivery
from gateway.console.signin import _safe_next
from gateway.daemon import Gateway
from gateway.errors import InvalidInput
from gateway.settings import tokens, users
from gateway.store import open_store

# Pages anyone may open: signing in, and the console's own CSS and script.
PUBLIC = {("GET", "/sign-in"), ("POST", "/sign-in"), ("GET", "/static/{name}")}


def test_every_console_page_but_sign_in_names_the_privilege_it_needs(tmp_path: Path) -> None:
    """Each console route is behind ``@requires`` with a known scope, except the public few."""
    config = load(env={"HERALD_STATE_DIR": str(tmp_path), "HERALD_ADMIN_TOKEN": "t"})
    gateway = Gateway.build(config, open_store(":memory:"))
    found = set()
    for route in gateway.app.router.routes():
        if route.method == "HEAD" or not route.handler.__module__.startswith("gateway.console"):
            continue
        path = route.resource.canonical if route.resource else ""
        found.add((route.method, path))
        if (route.method, path) in PUBLIC:
            assert not hasattr(route.handler, "scope"), path
            continue
        assert hasattr(route.handler, "scope"), f"{route.method} {path} is not guarded"
        assert route.handler.scope in (None, users.ADMIN, *tokens.SCOPES), path
    assert found >= PUBLIC
    assert ("GET", "/smtp") in found
    assert ("POST", "/delivery") in found


def test_roles_are_made_of_token_scopes() -> None:
    """Every role is a set of the API's scopes; only admin holds them all."""
    for role, scopes in users.ROLES.items():
        assert set(scopes) <= set(tokens.SCOPES), role
    assert users.ROLES[users.ADMIN] == tokens.ALL_SCOPES
    assert [r for r, s in users.ROLES.items() if set(s) == set(tokens.SCOPES)] == [users.ADMIN]
    assert "settings:manage" not in users.ROLES["templates"]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/delivery?x=1", "/delivery?x=1"),
        (None, "/"),
        ("https://attacker.example/", "/"),
        ("//attacker.example/", "/"),
        ("/\\attacker.example", "/"),
        ("delivery", "/"),
    ],
)
def test_sign_in_returns_only_to_a_page_of_the_console(target: str | None, expected: str) -> None:
    """After signing in the browser goes back to the page it asked for, never to another site."""
    assert _safe_next(target) == expected


def test_bcc_addresses_are_split_and_checked_as_the_api_checks_them() -> None:
    """The "BCC to" field takes commas, semicolons or spaces, and refuses what the API refuses."""
    assert delivery.check_bcc("a@example.com, b@example.com;c@example.com  A@example.com") == (
        "a@example.com",
        "b@example.com",
        "c@example.com",
    )
    assert delivery.check_bcc("  ") == ()
    with pytest.raises(InvalidInput, match="not-an-address") as refused:
        delivery.check_bcc("a@example.com, not-an-address")
    assert refused.value.field == "#/bcc"


def test_a_user_needs_a_good_name_address_role_and_password() -> None:
    """``herald users add`` and the console refuse a bad field by name."""
    good = users.new_user("ada", "ada@example.com", "admin", "correct horse battery")
    assert users.password_matches(good, "correct horse battery")
    assert not users.password_matches(good, "correct horse batterY")
    assert not users.password_matches(None, "anything at all")
    for fields, pointer in (
        (("Ada!", "ada@example.com", "admin", "correct horse battery"), "#/name"),
        (("ada", "ada", "admin", "correct horse battery"), "#/email"),
        (("ada", "ada@example.com", "root", "correct horse battery"), "#/role"),
        (("ada", "ada@example.com", "admin", "short"), "#/password"),
    ):
        with pytest.raises(InvalidInput) as refused:
            users.new_user(*fields)
        assert refused.value.field == pointer


def test_a_totp_code_is_checked_against_the_secret() -> None:
    """The current code of a secret is taken; a wrong or malformed one is not."""
    import pyotp

    secret = users.new_totp_secret()
    assert users.totp_matches(secret, pyotp.TOTP(secret).now())
    assert not users.totp_matches(secret, "12345")
    assert not users.totp_matches(secret, "abcdef")
    import time

    totp = pyotp.TOTP(secret)
    near = {totp.at(time.time() + step) for step in (-60, -30, 0, 30, 60)}
    wrong = next(
        code
        for code in ("000000", "111111", "222222", "333333", "444444", "555555")
        if code not in near
    )
    assert not users.totp_matches(secret, wrong)
