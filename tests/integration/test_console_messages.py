"""Each message of a run in a real Chromium against the real daemon: a sent
invoice opened from its run's page, its parts shown, and its ``.eml``
downloaded, parsed with the stdlib email parser and its zip opened with 7z,
checked against what the capture upstream received."""

from __future__ import annotations

import email.message
import email.policy
from collections.abc import Iterator
from email.parser import BytesParser
from pathlib import Path

import pytest

from tests.integration.console import Person, add_user, browser, shot, signed_in
from tests.integration.harness import Capture, Herald
from tests.integration.test_definition_runs import BATCH, attachments, example, start, unzip

# After tests.integration.console, which skips this module where Chromium is missing.
from playwright.sync_api import Browser, Page, expect  # isort: skip

__all__ = ["browser", "example"]  # the fixtures, imported for pytest

PASSWORD = "NL001234567B01"  # Acme's VAT id, the definition's zip password


@pytest.fixture(scope="module")
def invoice_run(example: Herald) -> str:
    """The README's invoice example, run with the CLI until sent."""
    run_id = start(example, "2026-11")
    example.wait_for_status(run_id, "sent")
    return run_id


@pytest.fixture(scope="module")
def reader(herald: Herald) -> Person:
    return add_user(herald, "rita", "read-only")


@pytest.fixture
def page(browser: Browser, herald: Herald, reader: Person) -> Iterator[Page]:
    with signed_in(browser, herald, reader) as tab:
        yield tab


def test_a_sent_invoice_opens_from_its_run_and_downloads_as_an_eml_whose_zip_opens(
    page: Page, herald: Herald, capture: Capture, invoice_run: str, tmp_path: Path
) -> None:
    """From the run's page, a recipient's link opens its message: the HTML in a
    sandboxed frame, the text part, the headers and the zip attachment; the
    downloaded .eml is the message the upstream received, and its zip opens
    with 7z and the customer's password, giving back the batch's documents."""
    p = page
    p.goto(f"/runs/{invoice_run}")
    p.get_by_role("link", name="billing@acme.example").click()
    expect(p.locator("h1")).to_have_text("Message to billing@acme.example")
    subject = "Your invoice INV-2026-11-0001 for November 2026"
    expect(p.get_by_test_id("message-subject")).to_have_text(subject)
    frame = p.frame_locator("iframe.email-frame")
    expect(frame.locator("body")).to_contain_text("Acme B.V.")
    assert p.locator("iframe.email-frame").get_attribute("sandbox") == ""
    expect(p.get_by_test_id("message-text")).to_contain_text("Dear Acme B.V.")
    expect(p.get_by_test_id("message-headers")).to_contain_text("Message-ID")
    expect(p.get_by_test_id("message-attachments")).to_contain_text("invoice-INV-2026-11-0001.zip")
    shot(p, "message")

    with p.expect_download() as started:
        p.get_by_test_id("download-eml").click()
    download = started.value
    assert download.suggested_filename.endswith(".eml")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)

    message = BytesParser(policy=email.policy.default).parsebytes(saved.read_bytes())
    assert isinstance(message, email.message.EmailMessage)
    assert message["Subject"] == subject
    # The very message the upstream received, but for the signature added on the way.
    [received] = [
        mail for mail in capture.for_run(invoice_run) if "billing@acme.example" in mail.rcpt_tos
    ]
    assert message["Message-ID"] == received.message["Message-ID"]
    [(name, (kind, data))] = attachments(message).items()
    assert (name, kind) == ("invoice-INV-2026-11-0001.zip", "application/zip")
    assert attachments(received.message)[name][1] == data
    zipped = tmp_path / name
    zipped.write_bytes(data)
    opened = unzip(zipped, PASSWORD, tmp_path / "opened")
    assert opened.returncode == 0, opened.stdout + opened.stderr
    for document in ("INV-2026-11-0001.pdf", "INV-2026-11-0001.csv"):
        original = (BATCH / "cus_acme" / document).read_bytes()
        assert (tmp_path / "opened" / document).read_bytes() == original
    # The password opens the zip; it is shown nowhere.
    assert PASSWORD not in p.content()


def test_the_message_page_needs_a_session_and_names_no_other_item(
    page: Page, herald: Herald, invoice_run: str
) -> None:
    """Without a session the message and its .eml lead to the sign-in page;
    an item id that is not the run's is a page saying there is no such item,
    and an id that is no number no page at all."""
    item = herald.run(invoice_run)["items"][0]["id"]
    # urllib follows the redirect: it ends on the sign-in page, not on the message.
    answer = herald.request("GET", f"/runs/{invoice_run}/items/{item}.eml")
    assert answer.headers["Content-Type"].startswith("text/html")
    assert b'action="/sign-in' in answer.body
    assert b"INV-2026-11" not in answer.body
    for path in (f"/runs/{invoice_run}/items/999999", f"/runs/run_nothing/items/{item}"):
        response = page.goto(path)
        assert response is not None
        assert response.status == 404
        expect(page.locator("main")).to_contain_text("has no item")
    response = page.goto(f"/runs/{invoice_run}/items/{item}x")
    assert response is not None
    assert response.status == 404
