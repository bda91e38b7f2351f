"""Tests for gateway/cli/smtp.py: ``herald smtp show|set|reset|test`` against the
store of a real daemon and a real upstream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import Capture, Herald

PASSWORD = "a-cli-password-never-shown"


@pytest.fixture
def live() -> Iterator[Capture]:
    capture = Capture().start()
    yield capture
    capture.stop()


def test_show_names_the_configured_upstream(herald: Herald, upstream: Capture) -> None:
    """With nothing saved `show` says the configuration chose the upstream, in URL form."""
    shown = herald.cli("smtp", "show")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "source:    the configuration (HERALD_UPSTREAM or [upstream])"
    assert lines[1] == f"upstream:  smtp://{upstream.host}:{upstream.port}"
    assert "auth:      off" in lines


def test_set_saves_what_show_and_the_api_then_show_and_reset_forgets_it(
    herald: Herald, tmp_path: Path
) -> None:
    """`set` says what the next message uses; the password read from a file is shown only
    as set, in `show`, `show --json` and the API alike; `reset` returns to the configuration."""
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    saved = herald.cli(
        "smtp",
        "set",
        "--host",
        "mail.acme.test",
        "--port",
        "587",
        "--security",
        "starttls",
        "--login",
        "herald",
        "--password-file",
        str(secret),
    )
    try:
        assert saved.returncode == 0, saved.stderr
        assert saved.stdout == (
            "saved: smtp+starttls://herald@mail.acme.test:587; the next message uses it\n"
        )
        shown = herald.cli("smtp", "show").stdout
        assert "auth:      on (login herald, password set)" in shown
        as_json = json.loads(herald.cli("smtp", "show", "--json").stdout)
        assert as_json == herald.admin("/v1/smtp").json
        assert PASSWORD not in shown + json.dumps(as_json)
    finally:
        reset = herald.cli("smtp", "reset")
    assert (reset.returncode, reset.stdout) == (0, "saved settings removed\n")
    assert herald.admin("/v1/smtp").json["source"] == "configuration"


def test_a_password_comes_from_standard_input(herald: Herald) -> None:
    """`--password-file -` reads the password from standard input, never from argv."""
    saved = herald.cli(
        "smtp",
        "set",
        "--sender",
        "stdin",
        "--host",
        "x.acme.test",
        "--login",
        "u",
        "--password-file",
        "-",
        input=PASSWORD + "\n",
    )
    assert saved.returncode == 1  # the sender does not exist yet
    assert saved.stderr.startswith("herald: ")
    assert herald.cli("senders", "set", "stdin", "--address", "s@acme.test").returncode == 0
    saved = herald.cli(
        "smtp",
        "set",
        "--sender",
        "stdin",
        "--host",
        "x.acme.test",
        "--login",
        "u",
        "--password-file",
        "-",
        input=PASSWORD + "\n",
    )
    assert saved.returncode == 0, saved.stderr
    shown = herald.cli("smtp", "show", "--sender", "stdin", "--json")
    assert json.loads(shown.stdout)["password_set"] is True


def test_bad_settings_are_one_line_naming_the_option(herald: Herald) -> None:
    """A bad port or a login without a password exits 1 with one line and saves nothing."""
    for args, start in [
        (("--port", "99999"), "herald: port: must be a whole number from 1 to 65535"),
        (("--host", "mail.acme.test", "--login", "u"), "herald: password: "),
    ]:
        result = herald.cli("smtp", "set", *args)
        assert result.returncode == 1, args
        assert result.stderr.startswith(start), result.stderr
        assert len(result.stderr.splitlines()) == 1
    assert herald.admin("/v1/smtp").json["source"] == "configuration"


def test_test_sends_through_proposed_settings_and_says_what_happened(
    herald: Herald, live: Capture, upstream: Capture
) -> None:
    """`smtp test` with --host/--port sends to that upstream and exits 0 naming its reply;
    through the configured upstream, which is down, it exits 1 naming the refusal."""
    sent = herald.cli(
        "smtp",
        "test",
        "--from",
        "notify@herald.test",
        "--to",
        "ops@acme.test",
        "--host",
        live.host,
        "--port",
        str(live.port),
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert sent.stdout.startswith("accepted: ")
    assert sent.stdout.splitlines()[1] == f"upstream: smtp://{live.host}:{live.port}"
    [mail] = live.wait_for(lambda c: "ops@acme.test" in c.rcpt_tos)
    assert mail.message["Subject"] == "Herald test message"
    down = herald.cli("smtp", "test", "--from", "notify@herald.test", "--to", "ops@acme.test")
    assert down.returncode == 1
    assert down.stdout.splitlines()[1] == f"upstream: smtp://{upstream.host}:{upstream.port}"
    assert herald.admin("/v1/smtp").json["source"] == "configuration"
