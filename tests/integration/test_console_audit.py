"""The audit log page in a real Chromium against the real daemon: changes
made with the CLI show who made them, when, before and after, filtered by
who and by what; a saved SMTP password, a token and a console user's
password never show."""

from __future__ import annotations

import re

from tests.integration.console import add_user, browser, shot, signed_in
from tests.integration.harness import Capture, Herald

# After tests.integration.console, which skips this module where Chromium is missing.
from playwright.sync_api import Browser, expect  # isort: skip

__all__ = ["browser"]  # the fixture, imported for pytest

PASSWORD = "upstream-Pa55word-never-shown"


def test_the_audit_log_shows_before_and_after_by_who_and_what_and_never_a_secret(
    browser: Browser, herald: Herald, capture: Capture
) -> None:
    """An SMTP login saved twice shows its host and login before and after with
    the password masked (and marked changed); the filters keep one actor's or
    one setting's entries; no password or token is anywhere on the page."""
    for password in (PASSWORD, PASSWORD + "-2"):
        saved = herald.cli(
            "smtp", "set", "--host", "127.0.0.1", "--port", str(capture.port),
            "--security", "none", "--login", "herald", "--password-file", "-",
            input=password + "\n",
        )  # fmt: skip
        assert saved.returncode == 0, saved.stderr
    created = herald.cli("tokens", "create", "reporting", "--scope", "runs:read")
    token = re.search(r"shown once\): (\S+)", created.stdout)
    assert token is not None, created.stdout
    auditor = add_user(herald, "audrey", "read-only")
    with signed_in(browser, herald, auditor) as page:
        page.goto("/audit")
        entries = page.get_by_test_id("audit")
        expect(entries).to_contain_text("tokens/reporting")
        expect(entries).to_contain_text("users/audrey")

        page.fill("#what", "smtp")
        page.get_by_role("button", name="Show").click()
        rows = entries.locator("tbody tr")
        expect(rows).to_have_count(2)
        newest = rows.first
        expect(newest.locator("td").nth(2)).to_have_text("smtp")
        before, after = newest.locator("td").nth(3), newest.locator("td").nth(4)
        expect(before).to_contain_text('login: "herald"')
        # Only the password changed: it alone is marked, and shows only that it did.
        expect(after.locator("li.changed")).to_have_text(['password: "******** (changed)"'])
        expect(after).to_contain_text(f"port: {capture.port}")
        expect(rows.nth(1).locator("td").nth(3)).to_have_text("(none: made by this change)")
        shot(page, "audit-changes")

        cli_actor = newest.locator("td").nth(1).inner_text()
        assert cli_actor.startswith("cli:")
        page.goto("/audit")
        page.get_by_role("link", name="users/audrey").click()
        expect(rows).to_have_count(1)
        page.goto("/audit?what=" + "x" * 300)  # too long to be any setting: ignored
        expect(entries).to_contain_text("tokens/reporting")

        # The admin API says the same changes happened.
        changes = herald.admin("/v1/audit?setting=smtp").json["changes"]
        assert [c["setting"] for c in changes] == ["smtp", "smtp"]
        assert changes[0]["actor"] == cli_actor

        page.goto("/audit")
        shown = page.content()
        for secret in (PASSWORD, token[1], auditor.password, Herald.TOKEN):
            assert secret not in shown
