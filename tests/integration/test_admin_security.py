"""The admin API under attack: scoped tokens, revocation, rate limits, audit, secrets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import STRANGER, Capture, Herald


@pytest.fixture(scope="module")
def herald(tmp_path_factory: pytest.TempPathFactory, capture: Capture) -> Iterator[Herald]:
    daemon = Herald(tmp_path_factory.mktemp("herald-admin"), upstream=capture.url).start()
    yield daemon
    daemon.stop()


def create_token(herald: Herald, name: str, *scopes: str) -> str:
    args = [arg for scope in scopes for arg in ("--scope", scope)]
    result = herald.cli("tokens", "create", name, *args)
    assert result.returncode == 0, result.stderr
    match = re.search(r"secret \(shown once\): (\S+)", result.stdout)
    assert match is not None, result.stdout
    return match[1]


def test_a_token_does_only_what_its_scopes_allow(herald: Herald) -> None:
    """A runs:read token reads runs and is refused settings with 403 naming the scope."""
    reader = create_token(herald, "reader", "runs:read")
    assert herald.admin("/v1/runs", reader).status == 200
    refused = herald.admin("/v1/senders", reader)
    assert refused.status == 403
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    assert "settings:manage" in refused.json["detail"]
    put = herald.admin("/v1/senders/x", reader, method="PUT", body={"address": "x@acme.test"})
    assert put.status == 403
    assert not any(s["key"] == "x" for s in herald.admin("/v1/senders").json["senders"])


def test_changes_are_audited_with_the_token_name(herald: Herald) -> None:
    """A change through the API and one through the CLI both land in the audit log."""
    ops = create_token(herald, "ops", "settings:manage", "audit:read")
    answer = herald.admin(
        "/v1/senders/billing", ops, method="PUT", body={"address": "billing@acme.test"}
    )
    assert answer.status == 200
    changes = herald.admin("/v1/audit", ops).json["changes"]
    assert {
        "actor": "token:ops",
        "setting": "senders/billing",
        "old": None,
        "new": {"key": "billing", "address": "billing@acme.test", "name": ""},
    }.items() <= changes[0].items()
    created = [c for c in changes if c["setting"] == "tokens/ops"]
    assert created[0]["new"] == {"scopes": ["audit:read", "settings:manage"]}
    assert created[0]["actor"].startswith("cli:")
    assert "tokens/ops" in herald.cli("audit").stdout


def test_a_revoked_token_is_refused(herald: Herald) -> None:
    """After `herald tokens revoke`, the token gets 401 and the list shows it revoked."""
    temp = create_token(herald, "temp", "runs:read")
    assert herald.admin("/v1/runs", temp).status == 200
    assert herald.cli("tokens", "revoke", "temp").returncode == 0
    assert herald.admin("/v1/runs", temp).status == 401
    assert re.search(r"temp\s+revoked", herald.cli("tokens", "list").stdout)
    again = herald.cli("tokens", "revoke", "temp")
    assert again.returncode == 1
    assert again.stderr.startswith("herald: no live admin token")


def test_token_secrets_are_never_stored_or_shown(herald: Herald) -> None:
    """The store, `tokens list` and the API hold only a digest, never the secret."""
    secret = create_token(herald, "hidden", "runs:read", "audit:read")
    assert herald.admin("/v1/runs", secret).status == 200
    state = Path(herald.env["HERALD_STATE_DIR"])
    for file in state.glob("herald.db*"):
        assert secret.encode() not in file.read_bytes()
    assert secret not in herald.cli("tokens", "list").stdout
    assert secret not in herald.admin("/v1/audit", secret).body.decode()
    assert secret not in herald.log()


def test_failed_attempts_are_rate_limited_per_address(herald: Herald) -> None:
    """Ten wrong tokens from one address, then 429 with Retry-After even for a good one."""
    for n in range(10):
        answer = herald.admin("/v1/runs", f"guess-{n}", source=STRANGER)
        assert answer.status == 401
    limited = herald.admin("/v1/runs", Herald.TOKEN, source=STRANGER)
    assert limited.status == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert limited.json["type"] == "urn:herald:problem:rate-limited"
    assert herald.admin("/v1/runs").status == 200  # another address is unaffected


def test_smtp_users_over_the_api_never_return_a_password(herald: Herald) -> None:
    """PUT stores a login, GET lists it without password or hash, DELETE removes it."""
    password = "a long enough password"
    put = herald.admin(
        "/v1/smtp-users/app1",
        method="PUT",
        body={"password": password, "sender_domains": ["Acme.test"]},
    )
    assert put.status == 200
    assert put.json == {"name": "app1", "sender_domains": ["acme.test"], "recipient_domains": []}
    listed = herald.admin("/v1/smtp-users")
    assert password not in listed.body.decode()
    assert "scrypt" not in listed.body.decode()
    assert "app1" in herald.cli("smtp-users", "list").stdout
    short = herald.admin("/v1/smtp-users/app2", method="PUT", body={"password": "short"})
    assert short.status == 422
    assert short.json["errors"][0]["pointer"] == "#/password"
    assert password not in herald.log()
    [change] = herald.admin("/v1/audit?setting=smtp-users/app1").json["changes"]
    assert change["new"]["password"] == "******** (changed)"
    assert herald.admin("/v1/smtp-users/app1", method="DELETE").status == 204
    assert herald.admin("/v1/smtp-users/app1", method="DELETE").status == 404


def test_the_generated_admin_token_has_every_scope(tmp_path: Path, capture: Capture) -> None:
    """Without HERALD_ADMIN_TOKEN, the token file made on first start (0600) opens every route."""
    daemon = Herald(tmp_path, upstream=capture.url, env={"HERALD_ADMIN_TOKEN": None}).start()
    try:
        token_file = tmp_path / "state" / "admin-token"
        assert token_file.stat().st_mode & 0o777 == 0o600
        token = token_file.read_text().strip()
        for path in ("/v1/runs", "/v1/senders", "/v1/smtp-users", "/v1/audit"):
            assert daemon.admin(path, token).status == 200, path
        assert daemon.admin("/v1/runs", Herald.TOKEN).status == 401
    finally:
        daemon.stop()
