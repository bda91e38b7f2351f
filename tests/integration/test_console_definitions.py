"""The Message definitions pages in a real Chromium against the real daemon:
a definition made with a typo refused at its field and saved once fixed, its
preview for a customer and a test send, and a run of a batch from the spool
followed to its end; each result checked outside the browser (the admin API,
the mail parsed at the capture upstream). Screenshots go to docs/screenshots/."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import pytest

from tests.integration.console import (
    Person,
    add_user,
    browser,
    csrf_of,
    refused_by_policy,
    shot,
    sign_in,
)
from tests.integration.harness import ROOT, Capture, Herald, wait_until

# After tests.integration.console, which skips this module where Chromium is missing.
from playwright.sync_api import Browser, Page, expect  # isort: skip

__all__ = ["browser"]  # the fixture, imported for pytest

EXAMPLE = ROOT / "examples" / "invoices"
CONFIG = """
[queue]
poll_interval = "0.2s"

[sender]
address = "notify@herald.test"
name = "Herald Test"

[runs]
spool_dir = "{spool}"
"""
FINISHED = ("sent", "partial", "failed", "cancelled")
SUBJECT = "Your invoice {{ invoice.number }} for {{ invoice.period }}"
HTML = "<p>Dear {{ customer.name }},</p>\n<p>Invoice <strong>{{ invoice.number }}</strong>.</p>\n"
TYPO = "Dear {{ customer.nam }},\n\nAttached is invoice {{ invoice.number }}.\n"


@pytest.fixture(scope="module")
def herald(tmp_path_factory: pytest.TempPathFactory, capture: Capture) -> Iterator[Herald]:
    workdir = tmp_path_factory.mktemp("console-definitions")
    spool = workdir / "spool"
    shutil.copytree(EXAMPLE / "batch-2026-11", spool / "monthly-invoice" / "2026-11")
    # A batch still being written (a name starting with ".") is not offered.
    (spool / "monthly-invoice" / ".2026-12-partial").mkdir()
    daemon = Herald(workdir, upstream=capture.url, config=CONFIG.format(spool=spool))
    daemon.start()
    for args in (
        ("senders", "set", "billing", "--address", "billing@acme-cloud.test", "--name", "Billing"),
        ("customers", "import", str(EXAMPLE / "customers.jsonl")),
    ):
        result = daemon.cli(*args)
        assert result.returncode == 0, result.stderr
    yield daemon
    daemon.stop()


@pytest.fixture(scope="module")
def ada(herald: Herald) -> Person:
    return add_user(herald, "ada", "admin")


@pytest.fixture
def page(browser: Browser, herald: Herald, ada: Person) -> Iterator[Page]:
    tab = sign_in(browser, herald, ada)
    yield tab
    assert refused_by_policy(tab) == []
    tab.context.close()


def plain_definition(herald: Herald, name: str) -> None:
    """A definition without documents, applied through the admin API."""
    made = herald.admin(
        f"/v1/definitions/{name}",
        method="PUT",
        body={
            "from_key": "billing",
            "recipient_key": "invoice",
            "clusters": ["eu"],
            "subject": f"A {name} for {{{{ customer.name }}}}",
            "text": "Dear {{ customer.name }}.",
        },
    )
    assert made.status == 200, made.body


def run_status(page: Page) -> str:
    """The run page reloaded, and the status it shows: its progress
    element's (``#run-progress``, ``data-status``) where the page has one,
    else the run's badge."""
    page.reload()
    progress = page.locator("#run-progress")
    if progress.count():
        return progress.get_attribute("data-status") or ""
    return page.locator(".card .badge").first.inner_text().strip()


def test_create_fix_preview_test_send_and_run_a_batch(
    page: Page, herald: Herald, capture: Capture
) -> None:
    """A tag typo on line 1 of the text is refused at the text field with its
    line and did-you-mean, and nothing is saved; fixed, the definition is
    version 1; the preview for Acme shows its subject and zip (never the
    password); a test send reaches the upstream; run now on the spool's batch
    leads to the run's page, which reaches sent, with every item built by
    version 1 and each customer's mail at the upstream."""
    p = page
    p.get_by_role("link", name="Definitions").click()
    expect(p.locator("h1")).to_have_text("Message definitions")
    p.get_by_role("link", name="New definition").click()
    p.fill("#name", "monthly-invoice")
    p.fill("#from_key", "billing")
    p.fill("#clusters", "eu")
    p.fill("#recipient_key", "invoice")
    p.fill("#subject", SUBJECT)
    p.fill("#text", TYPO)
    p.fill("#attach", "pdf, csv")
    p.check("#zip")
    p.fill("#zip_name", "invoice-{{ invoice.number }}.zip")
    p.fill("#zip_password", "{{ customer.fields.vat_id }}")
    p.fill("#schedule_cron", "0 6 1 * *")
    p.fill("#schedule_timezone", "Europe/Amsterdam")
    p.get_by_role("button", name="Save").click()

    error = p.locator("#text-error")
    expect(error).to_contain_text("monthly-invoice/body.txt, line 1: unknown tag customer.nam")
    expect(error).to_contain_text("did you mean customer.name?")
    expect(p.locator("#text")).to_have_attribute("aria-invalid", "true")
    expect(p.locator("#subject")).to_have_value(SUBJECT)
    shot(p, "definition-refused")
    assert herald.admin("/v1/definitions/monthly-invoice").status == 404

    p.fill("#text", TYPO.replace("customer.nam ", "customer.name "))
    p.fill("#html", HTML)
    p.get_by_role("button", name="Save").click()
    expect(p.locator(".flash.ok")).to_contain_text("Saved monthly-invoice as version 1.")
    saved = herald.admin("/v1/definitions/monthly-invoice").json
    assert saved["version"] == 1
    assert saved["schedule"] == {"cron": "0 6 1 * *", "timezone": "Europe/Amsterdam"}
    assert saved["text"] == TYPO.replace("customer.nam ", "customer.name ")
    assert saved["html"] == HTML
    assert saved["zip"] is True
    assert saved["attach"] == ["pdf", "csv"]
    versions = herald.admin("/v1/definitions/monthly-invoice/versions").json["versions"]
    assert [(v["version"], v["actor"]) for v in versions] == [(1, "console:ada")]
    shot(p, "definition")

    p.get_by_role("link", name="Preview and send a test").click()
    p.fill("#customer", "cus_acme")
    p.select_option("#batch", "2026-11")
    p.get_by_role("button", name="Preview").click()
    expect(p.get_by_test_id("preview-subject")).to_have_text(
        "Your invoice INV-2026-11-0001 for November 2026"
    )
    expect(p.get_by_test_id("attachments")).to_contain_text("invoice-INV-2026-11-0001.zip (")
    expect(p.get_by_test_id("preview-text")).to_contain_text("Dear Acme B.V.,")
    assert "NL001234567B01" not in p.content()
    frame = p.frame_locator("iframe.email-frame")
    expect(frame.locator("strong")).to_have_text("INV-2026-11-0001")
    shot(p, "definition-preview")

    p.fill("#to", "qa@acme.test")
    p.get_by_role("button", name="Send test").click()
    expect(p.get_by_test_id("send-test-answer")).to_contain_text("Sent to qa@acme.test")
    test_mail = capture.wait_for(lambda c: "qa@acme.test" in c.rcpt_tos)[-1].message
    assert test_mail["Subject"] == "Your invoice INV-2026-11-0001 for November 2026"
    assert [part.get_filename() for part in test_mail.iter_attachments()] == [
        "invoice-INV-2026-11-0001.zip"
    ]

    p.goto("/definitions/monthly-invoice")
    batches = p.locator("#run_batch option")
    expect(batches).to_have_count(1)
    expect(batches).to_have_text("2026-11")
    p.get_by_role("button", name="Run now").click()
    p.wait_for_url(f"{herald.base_url}/runs/run_*")
    run_id = p.url.rsplit("/", 1)[1]
    expect(p.locator(".flash.ok")).to_contain_text("Started monthly-invoice for batch 2026-11.")
    wait_until(lambda: run_status(p) in FINISHED, 20, f"the page of run {run_id} to show an end")
    assert run_status(p) == "sent"
    shot(p, "definition-run")

    run = herald.run(run_id)
    assert run["status"] == "sent"
    assert (run["definition"], run["batch_id"]) == ("monthly-invoice", "2026-11")
    assert run["counts"] == {"sent": 3, "skipped": 1}
    assert {item["definition_version"] for item in run["items"]} == {1}
    mails = {m.message["To"].addresses[0].display_name: m for m in capture.for_run(run_id)}
    assert set(mails) == {"Acme B.V.", "Globex GmbH"}
    assert sorted(mails["Acme B.V."].rcpt_tos) == ["ap@acme.example", "billing@acme.example"]
    assert mails["Globex GmbH"].message["Subject"] == (
        "Your invoice INV-2026-11-0002 for November 2026"
    )

    p.get_by_role("link", name="Definitions").click()
    row = p.locator("tr[data-definition=monthly-invoice]")
    expect(row).to_contain_text("0 6 1 * *")
    # The next first of a month at 06:00, as the schedule's time zone says it.
    expect(row).to_contain_text(re.compile(r"next \d{4}-\d{2}-01 06:00 Europe/Amsterdam"))
    expect(row.get_by_role("link", name="batch 2026-11")).to_have_attribute(
        "href", f"/runs/{run_id}"
    )
    expect(row.locator(".badge")).to_have_text("sent")
    shot(p, "definitions")


def test_run_now_again_sends_nothing_and_a_bad_batch_is_refused(page: Page, herald: Herald) -> None:
    """Run now for a batch that already ran leads to its first run and says
    so; a batch name posted by hand that leads out of the spool is refused
    at the batch field, and no run starts."""
    plain_definition(herald, "reminder")
    spool = herald.workdir / "spool" / "reminder"
    (spool / "r-1").mkdir(parents=True)
    p = page
    p.goto("/definitions/reminder")
    p.get_by_role("button", name="Run now").click()
    p.wait_for_url(f"{herald.base_url}/runs/run_*")
    first = p.url.rsplit("/", 1)[1]
    herald.wait_for_status(first, *FINISHED)

    p.goto("/definitions/reminder")
    p.get_by_role("button", name="Run now").click()
    p.wait_for_url(f"{herald.base_url}/runs/{first}")
    expect(p.locator(".flash.ok")).to_contain_text("Batch r-1 already ran")

    p.goto("/definitions/reminder/preview?customer=cus_nobody")
    expect(p.locator("#customer-error")).to_have_text("no customer 'cus_nobody'")
    p.fill("#customer", "cus_initech")
    p.get_by_role("button", name="Preview").click()
    expect(p.locator("#customer-error")).to_contain_text("has no address under recipient key")

    p.goto("/definitions/reminder")
    p.locator("#run_batch").evaluate("select => { select.options[0].value = '../../etc'; }")
    p.get_by_role("button", name="Run now").click()
    expect(p.locator("#run_batch-error")).to_contain_text("must be 1-128 letters")
    runs = herald.admin("/v1/runs?type=reminder").json["runs"]
    assert [run["id"] for run in runs] == [first]


def test_only_roles_that_operate_the_queue_run_a_definition(
    browser: Browser, herald: Herald
) -> None:
    """A settings user edits definitions but is offered no Run now, and a run
    posted by hand is refused with 403 and starts nothing; a runs user may
    not open the definitions at all."""
    plain_definition(herald, "notice")
    (herald.workdir / "spool" / "notice" / "n-1").mkdir(parents=True)
    sam = sign_in(browser, herald, add_user(herald, "sam", "settings"))
    sam.goto("/definitions/notice")
    expect(sam.locator("#run-h + p")).to_have_text("Your role does not start runs.")
    expect(sam.locator("#run-form")).to_have_count(0)
    refused = sam.request.post(
        "/definitions/notice/runs",
        form={"csrf": csrf_of(sam), "batch": "n-1"},
        headers={"Origin": herald.base_url},
    )
    assert refused.status == 403
    assert herald.admin("/v1/runs?type=notice").json["runs"] == []
    sam.context.close()

    rita = sign_in(browser, herald, add_user(herald, "rita", "runs"))
    answer = rita.goto("/definitions")
    assert answer is not None
    assert answer.status == 403
    expect(rita.locator("main")).to_contain_text("Your role does not allow this page.")
    rita.context.close()
