"""Tests for gateway/cli/tokens.py: ``herald tokens create|list|revoke`` against
the store of a real daemon, which then honours or refuses the token."""

from __future__ import annotations

import re

from gateway.settings import tokens
from tests.integration.harness import Herald


def created(herald: Herald, name: str, *scopes: str) -> tuple[str, str]:
    """The first line `tokens create` prints, and the secret it shows once."""
    args = [arg for scope in scopes for arg in ("--scope", scope)]
    result = herald.cli("tokens", "create", name, *args)
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    match = re.fullmatch(r"secret \(shown once\): (hrld_\S+)", second)
    assert match is not None, second
    return first, match[1]


def test_create_prints_the_secret_once_and_list_never_shows_it(herald: Herald) -> None:
    """The secret works against the daemon at once; `list` names the token, its scopes
    and its use, and never the secret."""
    first, secret = created(herald, "grafana", "runs:read")
    assert re.fullmatch(r"token grafana \(tok_\S+\): runs:read", first)
    assert herald.admin("/v1/runs", secret).status == 200
    listed = herald.cli("tokens", "list")
    assert listed.returncode == 0, listed.stderr
    [row] = [line for line in listed.stdout.splitlines() if " grafana " in line]
    assert " live " in row
    assert row.endswith("runs:read")
    assert "never used" not in row  # the request above used it
    assert secret not in listed.stdout


def test_all_grants_every_scope(herald: Herald) -> None:
    """`--scope all` makes a token with every scope there is."""
    first, secret = created(herald, "ops", "all")
    assert sorted(first.split(": ", 1)[1].split()) == sorted(tokens.SCOPES)
    assert herald.admin("/v1/audit", secret).status == 200


def test_revoke_by_name_ends_the_token_and_a_second_revoke_is_one_line(herald: Herald) -> None:
    """After `revoke` the daemon refuses the token; revoking it again exits 1 in one line."""
    _, secret = created(herald, "temporary", "runs:read")
    revoked = herald.cli("tokens", "revoke", "temporary")
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.startswith("token temporary (tok_")
    assert revoked.stdout.endswith("): revoked\n")
    assert herald.admin("/v1/runs", secret).status == 401
    again = herald.cli("tokens", "revoke", "temporary")
    assert again.returncode == 1
    assert again.stderr.startswith("herald: no live admin token")
    assert len(again.stderr.splitlines()) == 1


def test_an_unknown_scope_is_a_usage_error_and_makes_no_token(herald: Herald) -> None:
    """A scope that does not exist is refused by the parser, naming the choices."""
    result = herald.cli("tokens", "create", "typo", "--scope", "runs:write")
    assert result.returncode == 2
    assert "invalid choice: 'runs:write'" in result.stderr
    assert " typo " not in herald.cli("tokens", "list").stdout
