"""Tests for gateway/cli/definitions.py: ``herald definitions apply|list|show``
against the store of a real daemon."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.harness import ROOT, Herald

EXAMPLE = ROOT / "examples" / "invoices" / "monthly-invoice.toml"


@pytest.fixture(scope="module", autouse=True)
def sender(herald: Herald) -> None:
    saved = herald.cli("senders", "set", "billing", "--address", "billing@acme.test")
    assert saved.returncode == 0, saved.stderr


def test_the_shipped_example_applies_and_is_listed_and_shown(herald: Herald) -> None:
    """`apply` saves the example file; `list` has a row for it, `show` the API's JSON."""
    applied = herald.cli("definitions", "apply", str(EXAMPLE))
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout == "definition monthly-invoice applied as version 1\n"
    header, *rows = herald.cli("definitions", "list").stdout.splitlines()
    assert header.split() == ["NAME", "FROM", "TO", "CLUSTERS", "SCHEDULE"]
    [row] = [row for row in rows if row.startswith("monthly-invoice ")]
    assert row.split()[1:4] == ["billing", "invoice", "eu"]
    shown = herald.cli("definitions", "show", "monthly-invoice")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == herald.admin("/v1/definitions/monthly-invoice").json


def test_a_schedule_is_listed_with_its_time_zone_and_none_as_a_dash(
    herald: Herald, tmp_path: Path
) -> None:
    """The example's schedule shows its cron and zone; a definition without one, a dash."""
    assert herald.cli("definitions", "apply", str(EXAMPLE)).returncode == 0
    unscheduled = tmp_path / "unscheduled.toml"
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        'name = "monthly-invoice"', 'name = "ad-hoc"'
    )
    unscheduled.write_text(text.split("[schedule]")[0], encoding="utf-8")
    assert herald.cli("definitions", "apply", str(unscheduled)).returncode == 0
    rows = {r.split()[0]: r for r in herald.cli("definitions", "list").stdout.splitlines()}
    assert rows["monthly-invoice"].endswith("0 6 1 * * (Europe/Amsterdam)")
    assert rows["ad-hoc"].endswith(" -")


def test_bad_files_are_refused_in_one_line(herald: Herald, tmp_path: Path) -> None:
    """A missing file, a file that is not TOML and a definition naming an unknown sender
    each exit 1 with one line saying what is wrong."""
    broken = tmp_path / "broken.toml"
    broken.write_text("name = \n", encoding="utf-8")
    stranger = tmp_path / "stranger.toml"
    stranger.write_text(
        EXAMPLE.read_text(encoding="utf-8")
        .replace('"billing"', '"nobody"')
        .replace('name = "monthly-invoice"', 'name = "stranger"'),
        encoding="utf-8",
    )
    for path, start in [
        (tmp_path / "none.toml", "herald: FILE: cannot read"),
        (broken, f"herald: FILE: {broken} is not valid TOML"),
        (stranger, "herald: from_key: no sender with from key 'nobody'; add it first with"),
    ]:
        result = herald.cli("definitions", "apply", str(path))
        assert result.returncode == 1, path
        assert result.stderr.startswith(start), result.stderr
        assert len(result.stderr.splitlines()) == 1
    assert herald.cli("definitions", "show", "stranger").returncode == 1
