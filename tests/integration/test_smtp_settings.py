"""SMTP settings changed at run time: the next message uses them, and
``smtp test`` says precisely what went wrong."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.store import open_store
from tests.integration.harness import (
    Capture,
    CertificateAuthority,
    Herald,
    free_port,
    wait_until,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PASSWORD = "s3cret-" + uuid.uuid4().hex
CONFIG = """
[queue]
retry_initial = "0.3s"
retry_max = "1s"
poll_interval = "0.2s"

[sender]
address = "notify@herald.test"
"""


@pytest.fixture(scope="module")
def plain() -> Iterator[Capture]:
    server = Capture().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def starttls(test_ca: CertificateAuthority) -> Iterator[Capture]:
    server = Capture(tls=test_ca.server_context()).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def with_login(test_ca: CertificateAuthority) -> Iterator[Capture]:
    server = Capture(tls=test_ca.server_context(), logins={"herald": PASSWORD}).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, plain: Capture) -> Iterator[Herald]:
    workdir = tmp_path_factory.mktemp("herald-smtp")
    herald = Herald(workdir, upstream=plain.url, config=CONFIG).start()
    yield herald
    herald.stop()


@pytest.fixture
def password_files(tmp_path: Path) -> tuple[Path, Path]:
    right, wrong = tmp_path / "password", tmp_path / "wrong"
    right.write_text(PASSWORD + "\n")
    wrong.write_text("not-the-password\n")
    return right, wrong


def send_event(herald: Herald) -> str:
    body = json.loads((FIXTURES / "events" / "account.created.json").read_text())
    body["id"] = f"evt_{uuid.uuid4().hex}"
    answer = herald.post_event(body)
    assert answer.status == 202, answer.body
    run_id: str = answer.json["run_id"]
    return run_id


def ok(result: Any) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return str(result.stdout)


def test_upstream_changes_at_run_time_from_plain_to_starttls_and_back(
    daemon: Herald, plain: Capture, starttls: Capture, test_ca: CertificateAuthority
) -> None:
    """Saved settings apply to the next message without a restart: the CLI
    moves the daemon to a STARTTLS upstream it trusts by CA file, the API
    moves it back, and a reset returns to the configured upstream."""
    first = send_event(daemon)
    [mail] = plain.wait_for_run(first)
    assert not mail.tls

    ok(
        daemon.cli(
            "smtp", "set", "--host", "127.0.0.1", "--port", str(starttls.port),
            "--security", "starttls", "--ca-file", str(test_ca.ca_file),
        )
    )  # fmt: skip
    second = send_event(daemon)
    [mail] = starttls.wait_for_run(second)
    assert mail.tls
    assert not plain.for_run(second)

    answer = daemon.admin_send("PATCH", "/v1/smtp", {"port": plain.port, "security": "none"})
    assert answer.status == 200, answer.body
    assert answer.json["source"] == "saved"
    third = send_event(daemon)
    plain.wait_for_run(third)
    assert not starttls.for_run(third)

    assert daemon.request("DELETE", "/v1/smtp", headers=auth()).json["source"] == "configuration"
    daemon.wait_for_status(third, "sent")


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {Herald.TOKEN}"}


def test_login_over_starttls_with_a_password_that_is_never_shown(
    daemon: Herald,
    with_login: Capture,
    test_ca: CertificateAuthority,
    password_files: tuple[Path, Path],
) -> None:
    """A login and password set with the CLI are used at the next delivery;
    the password appears in no answer, no output, no log and not in clear in
    the database."""
    right, _ = password_files
    shown = ok(
        daemon.cli(
            "smtp", "set", "--host", "127.0.0.1", "--port", str(with_login.port),
            "--security", "starttls", "--ca-file", str(test_ca.ca_file),
            "--login", "herald", "--password-file", str(right),
        )
    )  # fmt: skip
    try:
        run_id = send_event(daemon)
        [mail] = with_login.wait_for_run(run_id)
        assert mail.login == "herald"
        daemon.wait_for_status(run_id, "sent")

        settings = daemon.admin("/v1/smtp").json
        assert settings["auth"] is True
        assert settings["login"] == "herald"
        assert settings["password_set"] is True
        assert "password" not in settings
        shown += ok(daemon.cli("smtp", "show")) + ok(daemon.cli("smtp", "show", "--json"))
        changes = daemon.admin("/v1/audit?setting=smtp").json["changes"]
        assert changes[0]["new"]["password"] == "******** (changed)"
        assert changes[0]["actor"].startswith("cli:")
        shown += json.dumps(changes) + ok(daemon.cli("audit"))
        assert "password set" in shown
        assert PASSWORD not in shown
        assert PASSWORD not in daemon.log()
        state = daemon.workdir / "state"
        stored = b"".join(p.read_bytes() for p in state.glob("herald.db*"))
        assert PASSWORD.encode() not in stored
        saved = asyncio.run(saved_settings(daemon.env["HERALD_STORE"]))
        assert saved["smtp"]["login"] == "herald"
        assert PASSWORD not in json.dumps(saved)
        assert (state / "settings-key").stat().st_mode & 0o777 == 0o600
    finally:
        ok(daemon.cli("smtp", "reset"))


async def saved_settings(url: str) -> dict[str, Any]:
    """What the daemon's store holds, SQLite or PostgreSQL alike."""
    store = open_store(url)
    await store.open()
    try:
        return await store.read_settings("smtp")
    finally:
        await store.close()


def diagnose(daemon: Herald, *options: str, to: str = "ada@example.com") -> tuple[int, str]:
    result = daemon.cli("smtp", "test", "--from", "notify@herald.test", "--to", to, *options)
    assert "Traceback" not in result.stderr
    return result.returncode, result.stdout


def test_smtp_test_names_each_failure_and_the_accepting_reply(
    daemon: Herald,
    plain: Capture,
    starttls: Capture,
    with_login: Capture,
    test_ca: CertificateAuthority,
    password_files: tuple[Path, Path],
) -> None:
    """`herald smtp test` with proposed settings reports a refused port, an
    untrusted certificate, a wrong password and a refused recipient each as
    its own outcome (exit 1), and the upstream's reply when accepted (exit 0)."""
    right, wrong = password_files
    here = ("--host", "127.0.0.1")
    trusted = ("--security", "starttls", "--ca-file", str(test_ca.ca_file))

    code, out = diagnose(daemon, *here, "--port", str(free_port()))
    assert code == 1
    assert out.startswith("connection-refused: 127.0.0.1 port")

    code, out = diagnose(daemon, *here, "--port", str(starttls.port), "--security", "starttls")
    assert code == 1
    assert out.startswith("certificate-untrusted:")
    assert "unable to get local issuer certificate" in out

    login = ("--login", "herald", "--password-file")
    code, out = diagnose(
        daemon, *here, "--port", str(with_login.port), *trusted, *login, str(wrong)
    )
    assert code == 1
    assert out.startswith("auth-refused: the upstream refused the login: 535")
    code, out = diagnose(
        daemon, *here, "--port", str(with_login.port), *trusted, *login, str(right)
    )
    assert code == 0, out
    assert out.startswith("accepted: the upstream accepted the message: 250 2.0.0 Ok: captured")

    plain.rcpt_replies["nobody@"] = "550 5.1.1 <nobody@example.com>: no such user"
    try:
        code, out = diagnose(daemon, to="nobody@example.com")
    finally:
        plain.rcpt_replies.clear()
    assert code == 1
    assert out.startswith("recipient-refused: the upstream refused the recipient: 550 5.1.1")
    assert daemon.admin("/v1/smtp").json["source"] == "configuration"


def test_smtp_test_over_the_api_with_proposed_settings_saves_nothing(
    daemon: Herald, plain: Capture, starttls: Capture
) -> None:
    """POST /v1/smtp/test answers the diagnosis as JSON and leaves the saved
    settings and the audit log as they were."""
    before = daemon.admin("/v1/audit").json["changes"]
    answer = daemon.admin_send(
        "POST",
        "/v1/smtp/test",
        {
            "from": "notify@herald.test",
            "to": "ada@example.com",
            "settings": {"port": starttls.port, "security": "starttls"},
        },
    )
    assert answer.status == 200, answer.body
    assert answer.json["ok"] is False
    assert answer.json["outcome"] == "certificate-untrusted"
    assert answer.json["step"] == "starttls"
    accepted = daemon.admin_send(
        "POST", "/v1/smtp/test", {"from": "notify@herald.test", "to": "ada@example.com"}
    ).json
    assert accepted["ok"] is True
    assert accepted["reply"] == "250 2.0.0 Ok: captured"
    assert accepted["upstream"] == plain.url
    bad = daemon.admin_send("POST", "/v1/smtp/test", {"from": "x", "to": "ada@example.com"})
    assert bad.status == 422
    assert bad.json["errors"][0]["pointer"] == "#/from"
    assert daemon.admin("/v1/smtp").json["source"] == "configuration"
    assert daemon.admin("/v1/audit").json["changes"] == before


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"host": "mail.example.com\r\nRCPT TO:<victim@example.org>"}, "#/host"),
        ({"host": "smtp://mail.example.com:25"}, "#/host"),
        ({"port": 0}, "#/port"),
        ({"port": "25"}, None),
        ({"security": "ssl"}, "#/security"),
        ({"auth": True, "login": None}, "#/login"),
        ({"login": "herald"}, "#/password"),
        ({"timeout": -1}, "#/timeout"),
        ({"ca_file": "/no/such/ca.pem"}, "#/ca_file"),
        ({"colour": "blue"}, "#/colour"),
    ],
)
def test_invalid_smtp_settings_are_refused_naming_the_field(
    daemon: Herald, changes: dict[str, Any], pointer: str | None
) -> None:
    """Each invalid setting gets 422 problem+json naming it, and nothing is saved."""
    before = daemon.admin("/v1/audit").json["changes"]
    answer = daemon.admin_send("PATCH", "/v1/smtp", {"port": 2525, **changes})
    if pointer is None:
        assert answer.status == 200
        daemon.request("DELETE", "/v1/smtp", headers=auth())
        return
    assert answer.status == 422, answer.body
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert answer.json["errors"][0]["pointer"] == pointer
    assert daemon.admin("/v1/smtp").json["source"] == "configuration"
    assert daemon.admin("/v1/audit").json["changes"] == before


def test_cli_refuses_a_bad_port_readably(daemon: Herald) -> None:
    """`herald smtp set --port 99999` names the field and exits 1, no traceback."""
    result = daemon.cli("smtp", "set", "--port", "99999")
    assert result.returncode == 1
    assert result.stderr.startswith("herald: port: must be a whole number from 1 to 65535")


def test_a_sender_with_its_own_upstream_is_relayed_through_it(
    daemon: Herald, plain: Capture, starttls: Capture, test_ca: CertificateAuthority
) -> None:
    """Mail from a sender's address goes to that sender's own upstream; other
    mail keeps the default one."""
    ok(daemon.cli("senders", "set", "billing", "--address", "billing@acme.test"))
    ok(
        daemon.cli(
            "smtp", "set", "--sender", "billing", "--host", "127.0.0.1",
            "--port", str(starttls.port), "--security", "starttls",
            "--ca-file", str(test_ca.ca_file),
        )
    )  # fmt: skip
    try:
        assert f"via smtp+starttls://127.0.0.1:{starttls.port}" in ok(daemon.cli("senders", "list"))
        runs = {}
        for sender in ("billing@acme.test", "other@acme.test"):
            with daemon.smtp() as client:
                client.sendmail(
                    sender,
                    ["bob@example.com"],
                    f"From: {sender}\r\nTo: bob@example.com\r\nSubject: hi\r\n\r\nhi\r\n",
                )
            runs[sender] = wait_until(
                lambda s=sender: next(  # type: ignore[misc]
                    (r["id"] for r in daemon.admin("/v1/runs?limit=5").json["runs"]
                     if r["mail_from"] == s), None,
                ),
                what=f"the run from {sender}",
            )  # fmt: skip
        assert starttls.wait_for_run(runs["billing@acme.test"])[0].tls
        plain.wait_for_run(runs["other@acme.test"])
        assert not starttls.for_run(runs["other@acme.test"])
        unknown = daemon.admin_send("PATCH", "/v1/senders/nobody/smtp", {"host": "x.test"})
        assert unknown.status == 404
    finally:
        ok(daemon.cli("smtp", "reset", "--sender", "billing"))
    assert daemon.admin("/v1/senders/billing/smtp").json["source"] == "none"


def test_an_ipv6_upstream_is_named_alike_everywhere_and_delivered_to(tmp_path: Path) -> None:
    """An upstream at an IPv6 address is named ``smtp://[::1]:PORT``, configured
    or saved, by the herald_started log line, ``herald check``, ``herald smtp
    show``, ``herald smtp set`` and ``herald smtp test``, and mail reaches it."""
    configured, saved = Capture(host="::1").start(), Capture(host="::1").start()
    herald = Herald(tmp_path, upstream=configured.url, config=CONFIG)
    try:
        herald.start()
        named = f"smtp://[::1]:{configured.port}"
        assert configured.url == named
        [started] = herald.events("herald_started")
        assert started["upstream"] == named
        check = herald.cli("check")
        assert check.returncode == 0, check.stderr
        assert f"upstream:      {named}\n" in check.stdout
        shown = herald.cli("smtp", "show")
        assert f"upstream:  {named}\n" in shown.stdout
        code, out = diagnose(herald)
        assert code == 0, out
        assert f"upstream: {named}\n" in out
        run_id = send_event(herald)
        [first] = configured.wait_for_run(run_id)
        assert first.rcpt_tos == ["ada@example.com"]

        changed = herald.cli("smtp", "set", "--host", "::1", "--port", str(saved.port))
        assert changed.returncode == 0, changed.stderr
        named = f"smtp://[::1]:{saved.port}"
        assert changed.stdout.startswith(f"saved: {named};")
        assert f"upstream:  {named}\n" in herald.cli("smtp", "show").stdout
        run_id = send_event(herald)
        [second] = saved.wait_for_run(run_id)
        assert second.rcpt_tos == ["ada@example.com"]
        assert second.message["Subject"] == first.message["Subject"]
        wait_until(
            lambda: herald.admin(f"/v1/runs/{run_id}").json["status"] == "sent",
            what="the run to be recorded as sent",
        )
    finally:
        herald.stop()
        configured.stop()
        saved.stop()
