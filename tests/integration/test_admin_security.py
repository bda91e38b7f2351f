"""The admin API under attack: scoped tokens, revocation, rate limits, audit, secrets."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import STRANGER, Capture, Herald, multipart


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
    """Past ten wrong tokens from one address, guesses get 429 with Retry-After while the
    valid token from that same address is still served."""
    for n in range(10):
        answer = herald.admin("/v1/runs", f"guess-{n}", source=STRANGER)
        assert answer.status == 401
    # The holder of the token, behind the guesser's address, waits its turn and is served.
    assert herald.admin("/v1/runs", Herald.TOKEN, source=STRANGER).status == 200
    limited = herald.admin("/v1/runs", "guess-10", source=STRANGER)
    assert limited.status == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert limited.json["type"] == "urn:herald:problem:rate-limited"
    assert herald.admin("/v1/runs", Herald.TOKEN, source=STRANGER).status == 200
    assert herald.admin("/v1/runs").status == 200  # another address is unaffected


def test_requests_without_a_token_are_not_counted(herald: Herald) -> None:
    """A request without a token guesses nothing: twenty of them leave the address unlimited."""
    source = "127.0.0.3"
    for _ in range(20):
        assert herald.admin("/v1/runs", None, source=source).status == 401
    assert herald.admin("/v1/runs", "one-guess", source=source).status == 401
    assert herald.admin("/v1/runs", Herald.TOKEN, source=source).status == 200


def test_a_token_of_bytes_that_are_not_utf8_is_refused_as_wrong(herald: Herald) -> None:
    """An Authorization header of bytes that are not UTF-8 gets 401, never 500."""
    # http.client sends header text as Latin-1, so "\xff" leaves as the byte 0xFF.
    answer = herald.request(
        "GET", "/v1/runs", headers={"Authorization": "Bearer \xff\xfe"}, source="127.0.0.4"
    )
    assert answer.status == 401
    assert "http_handler_failed" not in herald.log()


HOSTILE_BODIES = {
    "nested 1,000 deep": (b'{"name": ' + b"[" * 1000 + b"]" * 1000 + b"}", 400, "malformed-body"),
    "a 5,000-digit number": (b'{"name": ' + b"9" * 5000 + b"}", 422, "invalid-field"),
    "NaN": (b'{"name": NaN}', 422, "invalid-field"),
    "a lone surrogate": (b'{"name": "Ada \\ud800"}', 422, "invalid-field"),
    "bytes that are not UTF-8": ('{"name": "caf\u00e9"}'.encode("latin-1"), 400, "malformed-body"),
}


def json_operations(herald: Herald) -> list[tuple[str, str]]:
    """(method, path) of every admin operation the OpenAPI document says takes JSON."""
    document = herald.request("GET", "/v1/openapi.json").json
    return [
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "application/json" in operation.get("requestBody", {}).get("content", {})
        and path != "/v1/events"
    ]


def test_hostile_bodies_get_4xx_on_every_json_admin_route(herald: Herald) -> None:
    """Every admin route that takes JSON answers nesting, huge numbers, NaN, lone surrogates,
    bytes that are not UTF-8 and text/plain with 400, 415 or 422, and saves nothing."""
    assert herald.admin("/v1/senders/hostile", method="PUT", body={"address": "h@acme.test"}).ok
    values = {"type": "invoice.issued", "key": "hostile", "name": "hostile-check"}
    operations = json_operations(herald)
    assert {("PUT", "/v1/templates/{type}"), ("POST", "/v1/delivery/dry-run")} <= set(operations)
    changes = herald.admin("/v1/audit?limit=500").json["changes"]
    for method, template in operations:
        path = re.sub(r"{(\w+)}", lambda m: values[m[1]], template)
        for name, (body, status, kind) in HOSTILE_BODIES.items():
            answer = herald.admin_send(method, path, body)
            assert answer.status == status, (method, path, name, answer.body)
            assert answer.json["type"] == f"urn:herald:problem:{kind}", (method, path, name)
            if status == 422:
                assert answer.json["errors"][0]["pointer"] == "#/name", (method, path, name)
        plain = herald.admin_send(method, path, b'{"name": "x"}', content_type="text/plain")
        assert plain.status == 415, (method, path)
    assert herald.admin("/v1/audit?limit=500").json["changes"] == changes
    assert "http_handler_failed" not in herald.log()


def test_nul_in_saved_text_is_refused_on_every_store(herald: Herald) -> None:
    """U+0000, which PostgreSQL text cannot hold, gets 422 naming its place in a template
    and a customer line, and 400 in a URL, on SQLite as on PostgreSQL."""
    template = herald.admin(
        "/v1/templates/invoice.issued",
        method="PUT",
        body={"subject": "Invoice", "html": "<p>\x00</p>", "note": "hostile"},
    )
    assert template.status == 422
    assert template.json["errors"][0]["pointer"] == "#/html"
    line = json.dumps({"id": "cus_nul", "name": "Nul\x00"}).encode() + b"\n"
    imported = herald.admin_send("POST", "/v1/customers", line, content_type="application/x-ndjson")
    assert imported.status == 422
    assert imported.json["errors"][0]["pointer"] == "line 1 #/name"
    for path in ("/v1/customers/%00", "/v1/runs?type=%00", "/v1/runs/run_%00"):
        assert herald.admin(path).status == 400, path
    assert herald.admin("/v1/customers/cus_nul").status == 404
    assert herald.admin("/v1/templates/invoice.issued").json["version"] is None


def test_customer_lines_are_read_like_any_json(herald: Herald) -> None:
    """A customer line nested 1,000 deep is refused naming the line, and lines not sent as
    JSON Lines get 415; a file with a bad line imports none of it."""
    good = json.dumps({"id": "cus_kept", "name": "Kept"}).encode()
    deep = b'{"id": "cus_deep", "fields": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    answer = herald.admin_send(
        "POST", "/v1/customers", good + b"\n" + deep + b"\n", content_type="application/jsonl"
    )
    assert answer.status == 422
    assert answer.json["errors"][0]["pointer"] == "line 2"
    assert "nest more than 64 deep" in answer.json["detail"]
    assert herald.admin("/v1/customers/cus_kept").status == 404
    plain = herald.admin_send("POST", "/v1/customers", good + b"\n", content_type="text/plain")
    assert plain.status == 415


def test_query_numbers_are_read_by_one_parser(herald: Herald) -> None:
    """Superscript digits, a 5,000-digit number and one past any store's integer get 400."""
    for path in (
        "/v1/runs?limit=%C2%B2",
        "/v1/queue?limit=" + "9" * 5000,
        "/v1/runs/run_x?items=99999999999999999999",
        "/v1/audit?limit=0",
    ):
        answer = herald.admin(path)
        assert answer.status == 400, path
        assert answer.json["type"] == "urn:herald:problem:invalid-query", path
    assert herald.admin("/v1/runs?limit=2").status == 200


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


def test_an_upload_that_is_not_multipart_gets_400(herald: Herald) -> None:
    """A definition run upload with a part that is not UTF-8, a broken part or no boundary
    gets 400 naming multipart/form-data; another type gets 415; no run starts."""
    assert herald.admin_send("PUT", "/v1/senders/uploads", {"address": "up@acme.test"}).ok
    definition = {
        "from_key": "uploads",
        "recipient_key": "invoice",
        "clusters": ["uploads"],
        "subject": "x",
        "text": "y",
    }
    assert herald.admin_send("PUT", "/v1/definitions/uploads", definition).ok
    path = "/v1/definitions/uploads/runs"
    not_utf8, form = multipart([("batch", b"2026-\xff")])
    cases = [
        (not_utf8, form),
        (b"--edge\r\nnot a header\r\n", "multipart/form-data; boundary=edge"),
        (b"--edge\r\n", "multipart/form-data"),
    ]
    for body, content_type in cases:
        answer = herald.admin_send("POST", path, body, content_type=content_type)
        assert answer.status == 400, (content_type, answer.body)
        assert answer.json["type"] == "urn:herald:problem:malformed-body"
        assert "not valid multipart/form-data" in answer.json["detail"]
    plain = herald.admin_send("POST", path, b"batch=2026-12", content_type="text/plain")
    assert plain.status == 415
    assert "multipart/form-data" in plain.json["detail"]
    assert herald.admin("/v1/runs?type=uploads").json["runs"] == []
    assert "http_handler_failed" not in herald.log()
