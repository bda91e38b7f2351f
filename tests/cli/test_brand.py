"""Tests for gateway/cli/brand.py: ``herald brand show|set|logo|unset`` against
the store of a real daemon, which then serves the same brand."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.harness import Herald

LOGO = Path(__file__).resolve().parents[1] / "fixtures" / "logo.png"


def test_set_saves_a_value_the_daemon_serves_and_unset_forgets_it(herald: Herald) -> None:
    """`brand set` prints the brand with the change, the API serves it; `unset` puts back
    the configured value."""
    saved = herald.cli("brand", "set", "footer", "Acme Ltd, Springfield")
    assert saved.returncode == 0, saved.stderr
    assert "footer            Acme Ltd, Springfield" in saved.stdout.splitlines()
    assert herald.admin("/v1/brand").json["footer"] == "Acme Ltd, Springfield"
    unset = herald.cli("brand", "unset", "footer")
    assert unset.returncode == 0, unset.stderr
    assert herald.admin("/v1/brand").json["footer"] == ""


def test_show_json_is_the_apis_brand(herald: Herald) -> None:
    """`brand show --json` prints the same object as GET /v1/brand."""
    assert herald.cli("brand", "set", "name", "Acme Cloud").returncode == 0
    shown = herald.cli("brand", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == herald.admin("/v1/brand").json
    assert json.loads(shown.stdout)["name"] == "Acme Cloud"


def test_links_take_a_json_list(herald: Herald) -> None:
    """`brand set links` reads its value as JSON; text that is not JSON is one error line."""
    links = [{"label": "Docs", "url": "https://docs.acme.test"}]
    assert herald.cli("brand", "set", "links", json.dumps(links)).returncode == 0
    assert herald.admin("/v1/brand").json["links"] == links
    broken = herald.cli("brand", "set", "links", "[{")
    assert broken.returncode == 1
    assert broken.stderr.startswith("herald: links: expected a JSON list")
    assert len(broken.stderr.splitlines()) == 1


def test_a_logo_file_becomes_the_inline_logo_until_unset(herald: Herald, tmp_path: Path) -> None:
    """`brand logo FILE` saves the image; a file that is no image or cannot be read is
    refused in one line; `unset logo` forgets it."""
    saved = herald.cli("brand", "logo", str(LOGO))
    assert saved.returncode == 0, saved.stderr
    assert herald.admin("/v1/brand").json["logo"] == "cid:logo@herald"
    text = tmp_path / "logo.txt"
    text.write_text("not an image", encoding="utf-8")
    refused = herald.cli("brand", "logo", str(text))
    assert refused.returncode == 1
    assert refused.stderr.startswith("herald: logo: ")
    missing = herald.cli("brand", "logo", str(tmp_path / "none.png"))
    assert (missing.returncode, missing.stderr.startswith("herald: FILE: cannot read")) == (1, True)
    assert herald.cli("brand", "unset", "logo").returncode == 0
    assert herald.admin("/v1/brand").json["logo"] == ""


def test_a_bad_value_is_one_line_naming_the_key_and_saves_nothing(herald: Herald) -> None:
    """An invalid colour exits 1 with the key and the reason, no traceback."""
    before = herald.admin("/v1/brand").json
    result = herald.cli("brand", "set", "primary_color", "red")
    assert result.returncode == 1
    assert result.stderr == "herald: primary_color: must be a hex colour such as #2563eb\n"
    assert herald.admin("/v1/brand").json == before
