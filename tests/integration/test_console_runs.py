"""The runs pages end to end: a real Chromium drives the real daemon through
the README's invoice example (loaded with the CLI), and every outcome is
checked outside the browser too (the admin API, the capture upstream parsed)."""

from __future__ import annotations

import re
import urllib.parse
from typing import TYPE_CHECKING

import pytest

from tests.integration.console import Person, add_user, browser, refused_by_policy, shot, sign_in
from tests.integration.harness import Capture, Herald
from tests.integration.test_definition_runs import example, start

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

__all__ = ["browser", "example"]  # the fixtures, imported for pytest

SKIPPED = "no address under recipient key invoice"
REFUSED = "rechnung@globex"


@pytest.fixture(scope="module")
def operator(herald: Herald) -> Person:
    return add_user(herald, "ops", "admin")


def item_row(page: Page, address: str) -> Locator:
    """The row of the run page's recipient at ``address``."""
    return page.locator(f"[data-testid=items] tr[data-address='{address}']")


def test_a_run_page_shows_the_skipped_customer_and_the_list_finds_the_run(
    example: Herald, operator: Person, browser: Browser
) -> None:
    """The run's page names Initech skipped for its missing invoice address,
    the subjects as sent, the sender and each zip; the list's query box finds
    the run by recipient and its totals read as the API counts them, as
    `herald runs list --query` does."""
    run_id = start(example, "2026-11-console")
    run = example.wait_for_status(run_id, "sent")
    page = sign_in(browser, example, operator)
    page.click("nav >> text=Runs")
    page.fill("#q", "to:AP@acme.example after:2000-01-01")
    page.click("button:has-text('Show')")
    page.wait_for_url(re.compile(r"/runs\?"))
    rows = page.locator("[data-testid=runs] tbody tr")
    assert rows.count() == 1
    assert run_id in rows.first.inner_text()
    totals = {
        name: int(rows.first.locator(f"[data-total={name}]").inner_text())
        for name in ("sent", "deferred", "failed", "skipped")
    }
    assert totals == {"sent": 3, "deferred": 0, "failed": 0, "skipped": 1}
    assert run["counts"] == {"sent": 3, "skipped": 1}
    listed = example.cli("runs", "list", "--query", "to:ap@acme.example definition:monthly-invoice")
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == [run_id]
    refused = example.cli("runs", "list", "--query", "after:someday")
    assert refused.returncode != 0
    assert "--query" in refused.stderr
    assert "'someday' is not a date" in refused.stderr
    page.fill("#q", "")
    page.click("button:has-text('Show')")
    shot(page, "runs")

    page.click(f"text={run_id}")
    assert page.locator("h1").inner_text() == f"Run {run_id}"
    progress = page.locator("#run-progress")
    assert progress.get_attribute("data-status") == "sent"
    assert progress.locator("[data-total=skipped]").inner_text() == "1"
    initech = page.locator("[data-testid=items] tr", has_text="cus_initech")
    assert initech.locator("[data-field=item-status]").inner_text() == "skipped"
    assert initech.locator("[data-field=reason]").inner_text() == SKIPPED
    subjects = page.locator("[data-testid=subject]").all_inner_texts()
    assert "Your invoice INV-2026-11-0001 for November 2026" in subjects
    assert "billing@acme-cloud.test" in page.inner_text("main")
    acme = item_row(page, "ap@acme.example")
    assert "invoice-INV-2026-11-0001.zip" in acme.inner_text()
    [acme_id] = [item["id"] for item in run["items"] if item["address"] == "ap@acme.example"]
    assert acme.locator("a").get_attribute("href") == f"/runs/{run_id}/items/{acme_id}"
    shot(page, "run")
    assert refused_by_policy(page) == []
    page.context.close()


def test_a_refused_recipient_is_retried_from_the_run_page_and_delivered_once(
    example: Herald, capture: Capture, operator: Person, browser: Browser
) -> None:
    """The upstream refuses Globex's address; once it accepts again, Retry on
    that item's row sends it, and the capture upstream has it exactly once."""
    # A refusal for policy: one saying the mailbox does not exist would
    # suppress the address, and the retry would skip it.
    capture.rcpt_replies[REFUSED] = "550 5.7.1 Rejected by policy"
    try:
        run_id = start(example, "2026-11-console-retry")
        example.wait_for_status(run_id, "partial")
    finally:
        capture.rcpt_replies.clear()
    page = sign_in(browser, example, operator)
    page.goto(f"/runs/{run_id}")
    globex = item_row(page, "rechnung@globex.example")
    assert globex.locator("[data-field=item-status]").inner_text() == "failed"
    assert "550 5.7.1 Rejected by policy" in globex.locator("[data-field=reason]").inner_text()
    assert page.locator("#run-progress [data-total=failed]").inner_text() == "1"
    # The upstream holds its answer to DATA, so the page loads with the run
    # not yet sent, and then follows it by itself until it is.
    capture.answering.clear()
    try:
        globex.locator("button:has-text('Retry')").click()
        page.wait_for_url(f"{example.base_url}/runs/{run_id}")
        assert "queued again" in page.inner_text("main")
        assert page.locator("#run-progress").get_attribute("data-status") != "sent"
    finally:
        capture.answering.set()
    page.wait_for_selector("#run-progress[data-status=sent]", timeout=15_000)
    run = example.wait_for_status(run_id, "sent")
    assert run["counts"] == {"sent": 3, "skipped": 1}
    assert {"event": "retried", "detail": "1 item(s) composed again, by console:ops"} in [
        {"event": entry["event"], "detail": entry["detail"]} for entry in run["history"]
    ]
    to_globex = [mail for mail in capture.for_run(run_id) if REFUSED in " ".join(mail.rcpt_tos)]
    assert len(to_globex) == 1
    message = to_globex[0].message
    assert message["To"].addresses[0].display_name == "Globex GmbH"
    assert message["Subject"] == "Your invoice INV-2026-11-0002 for November 2026"
    page.wait_for_selector(
        "[data-testid=items] tr[data-address='rechnung@globex.example'] .badge.sent"
    )
    assert refused_by_policy(page) == []
    page.context.close()


def test_a_selection_of_runs_is_retried_together_with_scripts_off(
    example: Herald, capture: Capture, operator: Person, browser: Browser
) -> None:
    """Two runs with a refused recipient, selected on the list and retried with
    one button, both end sent; a bad query is shown at the box, not a crash."""
    capture.rcpt_replies[REFUSED] = "550 5.7.1 Rejected by policy"
    try:
        made = [start(example, f"2026-11-console-bulk-{n}") for n in range(2)]
        for run_id in made:
            example.wait_for_status(run_id, "partial")
    finally:
        capture.rcpt_replies.clear()
    page = sign_in(browser, example, operator, scripts=False)
    page.goto("/runs?q=" + urllib.parse.quote("status:partial definition:monthly-invoice"))
    for run_id in made:
        page.check(f"input[name=run][value='{run_id}']")
    page.click("[data-testid=bulk] button:has-text('Retry failed')")
    page.wait_for_url(re.compile(r"/runs\?q="))
    flashes = page.inner_text("main")
    for run_id in made:
        assert f"{run_id}: 1 recipient(s) queued again" in flashes
        assert example.wait_for_status(run_id, "sent")["counts"] == {"sent": 3, "skipped": 1}
        sent = [mail for mail in capture.for_run(run_id) if REFUSED in " ".join(mail.rcpt_tos)]
        assert len(sent) == 1

    answer = page.goto("/runs?q=" + urllib.parse.quote("colour:red"))
    assert answer is not None
    assert answer.status == 400
    assert "unknown key 'colour'" in page.inner_text("#q-error")
    answer = page.goto("/runs?after=yesterday")
    assert answer is not None
    assert answer.status == 400
    assert "'yesterday' is not a date" in page.inner_text("#after-error")
    page.context.close()
