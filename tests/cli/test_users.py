"""Tests for gateway/cli/users.py: ``herald users`` against a real store, the
users the console signs in, and one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

from tests.integration.harness import Herald


def _cli(tmp_path: Path) -> Herald:
    # The CLI opens the daemon's store by itself; no daemon needs to run.
    return Herald(tmp_path, upstream=None)


def test_add_list_change_and_disable_a_user(tmp_path: Path) -> None:
    """The documented ``users add`` form makes a user; list, set-role, disable,
    enable and reset-password change them, and the password never shows."""
    herald = _cli(tmp_path)
    password = tmp_path / "pw"
    password.write_text("a long passphrase of ours\n", encoding="utf-8")
    added = herald.cli(
        "users", "add", "ada", "--email", "ada@example.com", "--role", "admin",
        "--password-file", str(password),
    )  # fmt: skip
    assert (added.returncode, added.stdout) == (0, "user ada <ada@example.com>: admin\n")
    again = herald.cli(
        "users", "add", "ada", "--email", "ada@example.com", "--role", "admin",
        "--password-file", str(password),
    )  # fmt: skip
    assert (again.returncode, again.stderr) == (1, "herald: name: a user named 'ada' exists\n")

    assert herald.cli("users", "set-role", "ada", "read-only").returncode == 0
    assert herald.cli("users", "disable", "ada").stdout == "user ada: disabled\n"
    [line] = herald.cli("users", "list").stdout.splitlines()
    assert line.split()[:3] == ["ada", "read-only", "disabled"]
    assert "passphrase" not in line
    assert herald.cli("users", "enable", "ada").stdout == "user ada: enabled\n"
    reset = herald.cli("users", "reset-password", "ada", "--password-file", "-", input="x" * 20)
    assert reset.returncode == 0, reset.stderr
    assert herald.cli("users", "list").stdout.split()[2] == "active"


def test_bad_input_is_one_line_naming_the_field(tmp_path: Path) -> None:
    """A bad address, a short password, an unknown role or a missing file is a
    one-line error, never a traceback, and makes no user."""
    herald = _cli(tmp_path)
    short = tmp_path / "short"
    short.write_text("short\n", encoding="utf-8")
    good = tmp_path / "good"
    good.write_text("a long passphrase of ours\n", encoding="utf-8")
    for args, message in (
        (("--email", "not-an-address", "--password-file", str(good)), "herald: email: "),
        (("--email", "a@example.com", "--password-file", str(short)), "herald: password: "),
        (
            ("--email", "a@example.com", "--password-file", str(tmp_path / "none")),
            "herald: --password-file: cannot read",
        ),
    ):
        done = herald.cli("users", "add", "bob", "--role", "templates", *args)
        assert done.returncode != 0
        assert done.stderr.startswith(message), done.stderr
        assert len(done.stderr.splitlines()) == 1
    role = herald.cli(
        "users", "add", "bob", "--role", "root", "--email", "a@example.com",
        "--password-file", str(good),
    )  # fmt: skip
    assert role.returncode == 2
    assert "invalid choice: 'root'" in role.stderr
    assert "Traceback" not in role.stderr
    assert herald.cli("users", "list").stdout.startswith("(no users;")
