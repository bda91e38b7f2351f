"""Tests for gateway/settings/tokens.py: token names, scopes, secrets and the
digest Herald keeps of them."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import InvalidInput
from gateway.settings import tokens


def test_a_new_token_has_its_scopes_sorted_and_a_secret_of_256_bits() -> None:
    """The record keeps the scopes once each, sorted; the secret is prefixed and long."""
    record, secret = tokens.new_token("grafana", ["runs:read", "audit:read", "runs:read"])
    assert record.name == "grafana"
    assert record.id.startswith("tok_")
    assert record.scopes == ("audit:read", "runs:read")
    assert secret.startswith(tokens.PREFIX)
    # 32 random bytes in URL-safe base64: 43 characters after the prefix.
    assert len(secret) == len(tokens.PREFIX) + 43
    assert tokens.new_token("grafana", ["runs:read"])[1] != secret


@pytest.mark.parametrize("name", ["", "Grafana", "-x", "a" * 65, "admin-api", "x y"])
def test_a_bad_name_is_refused(name: str) -> None:
    """A name must be a short lower-case word, and not the admin token's own."""
    with pytest.raises(InvalidInput) as refused:
        tokens.new_token(name, ["runs:read"])
    assert refused.value.field == "#/name"


def test_scopes_must_be_known_and_at_least_one() -> None:
    """No scope, or one that does not exist, is refused naming the list and the place."""
    with pytest.raises(InvalidInput) as none:
        tokens.check_scopes([])
    assert none.value.field == "#/scopes"
    with pytest.raises(InvalidInput) as unknown:
        tokens.check_scopes(["runs:read", "runs:write"])
    assert unknown.value.field == "#/scopes/1"
    assert "unknown scope 'runs:write'" in unknown.value.detail


@given(st.text())
def test_the_digest_is_sha256_of_the_secret(secret: str) -> None:
    """Any text, lone surrogates included, has one SHA-256 digest in hex."""
    digest = tokens.digest(secret)
    assert len(digest) == 64
    assert digest == hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()
    assert digest == tokens.digest(secret)
