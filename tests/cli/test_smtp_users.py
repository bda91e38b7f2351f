"""Tests for gateway/cli/smtp_users.py: ``herald smtp-users`` against a real store,
the same logins the admin API shows."""

from __future__ import annotations

from tests.integration.harness import Herald

PASSWORD = "correct horse battery"


def test_add_list_and_remove_a_login(herald: Herald) -> None:
    """add saves a login the admin API then lists, list shows its domains and no
    password, remove deletes it; each change is audited under the CLI's actor."""
    added = herald.cli(
        "smtp-users",
        "add",
        "shell-app",
        "--password-stdin",
        "--sender-domain",
        "Example.com",
        input=PASSWORD + "\n",
    )
    assert (added.returncode, added.stdout) == (0, "smtp user shell-app: saved\n")
    assert [u["name"] for u in herald.admin("/v1/smtp-users").json["smtp_users"]] == ["shell-app"]
    listing = herald.cli("smtp-users", "list")
    assert listing.returncode == 0, listing.stderr
    [line] = listing.stdout.splitlines()
    assert line.split() == ["shell-app", "from:", "example.com", "to:", "*"]
    assert PASSWORD not in listing.stdout

    removed = herald.cli("smtp-users", "remove", "shell-app")
    assert (removed.returncode, removed.stdout) == (0, "smtp user shell-app: removed\n")
    assert herald.cli("smtp-users", "list").stdout == "(no SMTP users)\n"
    actors = {
        change["actor"]
        for change in herald.admin("/v1/audit").json["changes"]
        if "shell-app" in str(change["setting"])
    }
    assert len(actors) == 1
    assert actors.pop().startswith("cli:")


def test_without_a_password_one_is_made_and_shown_once(herald: Herald) -> None:
    """add without --password-stdin prints a new password, long enough to be accepted."""
    added = herald.cli("smtp-users", "add", "generated")
    assert added.returncode == 0, added.stderr
    saved, shown = added.stdout.splitlines()
    assert saved == "smtp user generated: saved"
    assert shown.startswith("password: ")
    assert len(shown.removeprefix("password: ")) >= 12
    assert shown not in herald.cli("smtp-users", "list").stdout
    herald.cli("smtp-users", "remove", "generated")


def test_bad_input_gets_one_line_and_saves_nothing(herald: Herald) -> None:
    """A short password, a bad name or an unknown login exits 1 with one line on
    stderr, no traceback, and leaves the logins as they were."""
    for args, stdin, expected in [
        (("add", "short", "--password-stdin"), "too short\n", "at least"),
        (("add", "-x", "--password-stdin"), PASSWORD + "\n", None),
        (
            ("add", "ok", "--password-stdin", "--recipient-domain", "not a domain"),
            PASSWORD + "\n",
            "domain",
        ),
        (("remove", "nobody"), None, "nobody"),
    ]:
        done = herald.cli("smtp-users", *args, input=stdin)
        assert done.returncode != 0, args
        assert "Traceback" not in done.stderr
        if expected is not None:
            assert done.returncode == 1, args
            [line] = done.stderr.splitlines()
            assert line.startswith("herald: ")
            assert expected in line, (args, line)
    assert herald.cli("smtp-users", "list").stdout == "(no SMTP users)\n"
