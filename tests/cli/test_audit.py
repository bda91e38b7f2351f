"""Tests for gateway/cli/audit.py: ``herald audit`` shows who changed which setting
from what to what, newest first, from a real daemon's store."""

from __future__ import annotations

import json

from tests.integration.harness import Herald


def test_changes_are_shown_newest_first_for_one_setting(herald: Herald) -> None:
    """Two changes of the admin address made over the API are listed by the CLI,
    newest first, with the actor and the old and new values."""
    for address in ("first@herald.test", "second@herald.test"):
        answer = herald.admin("/v1/delivery/admin", method="PUT", body={"address": address})
        assert answer.status == 200, answer.body
    done = herald.cli("audit", "--setting", "delivery/admin", "--json")
    assert done.returncode == 0, done.stderr
    changes = [json.loads(line) for line in done.stdout.splitlines()]
    assert [c["new"] for c in changes[:2]] == [
        {"address": "second@herald.test"},
        {"address": "first@herald.test"},
    ]
    assert changes[0]["old"] == {"address": "first@herald.test"}
    assert {c["actor"] for c in changes} == {"admin-api"}

    plain = herald.cli("audit", "--setting", "delivery/admin", "--limit", "1")
    assert plain.returncode == 0, plain.stderr
    when, actor, setting = plain.stdout.splitlines()[0].split()
    assert (actor, setting) == ("admin-api", "delivery/admin")
    assert when == changes[0]["at"]
    assert plain.stdout.splitlines()[1:] == [
        '    old: {"address": "first@herald.test"}',
        '    new: {"address": "second@herald.test"}',
    ]


def test_a_setting_never_changed_says_so(herald: Herald) -> None:
    """With nothing to show the plain listing says so, and the JSON listing is empty."""
    plain = herald.cli("audit", "--setting", "no/such/setting")
    assert (plain.returncode, plain.stdout) == (0, "(no changes)\n")
    as_json = herald.cli("audit", "--setting", "no/such/setting", "--json")
    assert (as_json.returncode, as_json.stdout) == (0, "")
