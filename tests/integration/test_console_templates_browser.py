"""The Email templates and Brand workflows of the product document in a real
Chromium against the real daemon, each result checked outside the browser:
the test email parsed at the capture upstream, versions and the brand read
back from the admin API. Screenshots of each page go to docs/screenshots/."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.console import Person, add_user, browser, refused_by_policy, shot, sign_in
from tests.integration.harness import Capture, Herald

# After tests.integration.console, which skips this module where Chromium is missing.
from playwright.sync_api import Browser, Page, expect  # isort: skip

__all__ = ["browser"]  # the fixture, imported for pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CONFIG = """
[sender]
address = "notify@herald.test"
name = "Herald Test"

[brand]
name = "Acme Cloud"
support_email = "help@acme.test"
"""


@pytest.fixture(scope="module")
def herald(tmp_path_factory: pytest.TempPathFactory, capture: Capture) -> Iterator[Herald]:
    daemon = Herald(tmp_path_factory.mktemp("console-browser"), upstream=capture.url, config=CONFIG)
    daemon.start()
    yield daemon
    daemon.stop()


@pytest.fixture(scope="module")
def ada(herald: Herald) -> Person:
    return add_user(herald, "ada", "admin")


@pytest.fixture
def page(browser: Browser, herald: Herald, ada: Person) -> Iterator[Page]:
    tab = sign_in(browser, herald, ada)
    tab.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=herald.base_url)
    tab.goto("/templates")
    expect(tab.locator("h1")).to_have_text("Email templates")
    yield tab
    # Every page of the workflow ran under the console's policy, and the
    # previews under theirs, without the browser refusing anything.
    assert refused_by_policy(tab) == []
    tab.context.close()


def sample(herald: Herald, email_type: str, tag: str) -> str:
    tags = herald.admin(f"/v1/tags/{email_type}").json["tags"]
    return str(next(t["example"] for t in tags if t["name"] == tag))


def test_edit_with_a_tag_from_the_drawer_save_and_send_a_test(
    page: Page, herald: Herald, capture: Capture
) -> None:
    """Edit opens the editor; a tag found in the "Click Here" drawer goes into
    the subject with a click, the live preview shows it filled in, Cancel
    closes the drawer; after Save, Send Test Email reaches the upstream with
    the tag rendered, and the drawer says what the upstream answered."""
    p = page
    shot(p, "email-templates")
    p.get_by_role("link", name="Edit account.created").click()
    expect(p.locator("h1")).to_have_text("account.created")
    subject = p.locator("#subject")
    subject.fill("Welcome, your account id is ")
    subject.press("End")

    p.locator("#tags > summary").click()
    drawer = p.locator("#tags")
    expect(drawer).to_have_attribute("open", "")
    p.fill("#tag-search", "recipient id")
    rows = drawer.locator("li[data-tag]:visible")
    expect(rows).to_have_count(1)
    shot(p, "email-template-tags")
    rows.first.locator("button").click()
    expect(drawer.locator("[data-copied]")).to_contain_text("Inserted {{ recipient.id }}")
    assert p.evaluate("navigator.clipboard.readText()") == "{{ recipient.id }}"
    drawer.get_by_role("button", name="Cancel").click()
    expect(drawer).not_to_have_attribute("open", "")
    expect(subject).to_have_value("Welcome, your account id is {{ recipient.id }}")
    account_id = sample(herald, "account.created", "recipient.id")
    expect(p.locator("#preview-subject")).to_have_text(f"Welcome, your account id is {account_id}")

    p.get_by_role("button", name="Save", exact=True).click()
    expect(p.locator(".flash.ok")).to_contain_text("Saved account.created as version 1.")
    assert herald.admin("/v1/templates/account.created").json["subject"] == (
        "Welcome, your account id is {{ recipient.id }}"
    )

    p.locator("#send-test > summary").click()
    p.fill("#test-to", "qa@acme.test")
    p.locator("#send-test").get_by_role("button", name="Send").click()
    answer = p.locator("[data-result=send-test]")
    expect(answer).to_contain_text("Sent to qa@acme.test: the upstream accepted the message: 250")
    shot(p, "email-template-send-test")
    message = capture.wait_for(lambda c: "qa@acme.test" in c.rcpt_tos)[-1].message
    assert message["Subject"] == f"Welcome, your account id is {account_id}"
    assert message.get_body(("html",)) is not None
    assert message.get_body(("plain",)) is not None


def test_a_validation_error_shows_at_its_line(page: Page, herald: Herald) -> None:
    """A misspelt tag typed on line 2 of the HTML is reported as typed, at
    html line 2 with the did-you-mean; its link selects that line; Save is
    refused and keeps the draft."""
    p = page
    p.goto("/templates/invoice.issued")
    html = p.locator("#html")
    html.fill("<p>Hello</p>\n<p>{{ data.invoice_numbr }}</p>\n<p>Bye</p>")
    faults = p.locator("#faults")
    expect(faults).to_contain_text("html, line 2")
    expect(faults).to_contain_text("did you mean data.invoice_number?")
    expect(html).to_have_attribute("aria-invalid", "true")
    shot(p, "email-template-error")
    faults.get_by_role("link", name="html, line 2").click()
    selected = p.evaluate(
        "() => { const f = document.getElementById('html');"
        " return f.value.slice(f.selectionStart, f.selectionEnd); }"
    )
    assert selected == "<p>{{ data.invoice_numbr }}</p>"
    p.get_by_role("button", name="Save", exact=True).click()
    expect(p.locator("#faults")).to_contain_text("2 <p>{{ data.invoice_numbr }}</p>")
    expect(p.locator("#html")).to_have_value(re.compile(r"invoice_numbr"))
    assert herald.admin("/v1/templates/invoice.issued/versions").json["versions"] == []


def test_history_diff_and_rollback(page: Page, herald: Herald) -> None:
    """Two saves from the editor, the history lists them with their editor,
    the version page shows the change, and Roll back brings version 1 back."""
    p = page
    for subject in ("Up: {{ data.resource_name }}", "Ready: {{ data.resource_name }}"):
        p.goto("/templates/resource.provisioned")
        p.fill("#subject", subject)
        p.get_by_role("button", name="Save", exact=True).click()
        expect(p.locator(".flash.ok")).to_be_visible()
    p.get_by_role("link", name="History").click()
    rows = p.locator("[data-testid=history] tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("console:ada")
    rows.first.get_by_role("link", name="Changes").click()
    section = p.locator("section.diff[data-part=subject]")
    expect(section.locator("tr.diff-removed")).to_contain_text("-Up: {{ data.resource_name }}")
    expect(section.locator("tr.diff-added")).to_contain_text("+Ready: {{ data.resource_name }}")
    expect(p.locator("section.diff[data-part=html]")).to_contain_text("No change")
    shot(p, "email-template-diff")
    p.get_by_role("link", name="History").click()
    p.get_by_role("button", name="Roll back to version 1").click()
    expect(p.locator(".flash.ok")).to_contain_text("Version 1 of resource.provisioned is back")
    current = herald.admin("/v1/templates/resource.provisioned").json
    assert (current["version"], current["subject"]) == (3, "Up: {{ data.resource_name }}")


def test_a_logo_upload_shows_in_the_brand_preview(page: Page, herald: Herald) -> None:
    """Choosing a logo and a colour shows them in the sample email before
    anything is saved; Save keeps them, and the next preview wears them."""
    p = page
    p.goto("/brand")
    frame = p.frame_locator("iframe[name=brand-preview]")
    expect(frame.locator("body")).to_contain_text("Acme Cloud")
    logo = (FIXTURES / "logo.png").read_bytes()
    p.set_input_files("#logo", str(FIXTURES / "logo.png"))
    image = frame.locator("img[src^='data:image/png']")
    expect(image).to_have_count(1)
    src = image.get_attribute("src")
    assert src is not None
    assert base64.b64decode(src.partition(",")[2]) == logo
    p.fill("#primary_color", "#aa3300")
    expect(frame.locator("[style*='#aa3300']").first).to_be_attached()
    assert herald.admin("/v1/brand").json["primary_color"] != "#aa3300"
    p.select_option("#sample", "invoice.issued")
    number = sample(herald, "invoice.issued", "data.invoice_number")
    expect(frame.locator("body")).to_contain_text(number)
    expect(frame.locator("img[src^='data:image/png']")).to_have_count(1)
    shot(p, "brand")
    p.get_by_role("button", name="Save", exact=True).click()
    expect(p.locator(".flash.ok")).to_contain_text("The brand is saved")
    brand = herald.admin("/v1/brand").json
    assert (brand["primary_color"], brand["logo"]) == ("#aa3300", "cid:logo@herald")


def test_the_editor_works_with_scripts_off(
    browser: Browser, herald: Herald, ada: Person, capture: Capture
) -> None:
    """Without scripts: the tag drawer opens and its search reloads the page,
    Preview posts the draft to the sandboxed frame, Save and Send Test Email
    are plain form posts whose answers show on the page."""
    context = browser.new_context(base_url=herald.base_url, java_script_enabled=False)
    p = context.new_page()
    p.goto("/sign-in?next=/templates/billing.updated")
    p.fill("#name", ada.name)
    p.fill("#password", ada.password)
    p.click("button[type=submit]")
    expect(p.locator("h1")).to_have_text("billing.updated")

    p.locator("#tags > summary").click()
    p.fill("#tag-search", "recipient name")
    p.press("#tag-search", "Enter")
    expect(p.locator("#tags")).to_have_attribute("open", "")
    expect(p.locator("#tags li[data-tag]:visible")).to_have_count(1)
    expect(p.locator("#tags li[data-tag]:visible")).to_contain_text("{{ recipient.name }}")

    body = (
        '{% extends "_layout.html" %}{% block content %}'
        "<p>Dear {{ recipient.name }}</p>{% endblock %}"
    )
    p.fill("#html", body)
    p.get_by_role("button", name="Preview").click()
    frame = p.frame_locator("iframe[name=preview]")
    name = sample(herald, "billing.updated", "recipient.name")
    expect(frame.locator("p", has_text="Dear")).to_have_text(f"Dear {name}")
    p.get_by_role("button", name="Save", exact=True).click()
    expect(p.locator(".flash.ok")).to_contain_text("Saved billing.updated as version 1.")

    p.locator("#send-test > summary").click()
    p.fill("#test-to", "nojs@acme.test")
    p.locator("#send-test").get_by_role("button", name="Send").click()
    expect(p.locator("#send-test")).to_have_attribute("open", "")
    expect(p.locator("[data-result=send-test]")).to_contain_text("Sent to nojs@acme.test")
    message = capture.wait_for(lambda c: "nojs@acme.test" in c.rcpt_tos)[-1].message
    html = message.get_body(("html",))
    assert html is not None
    assert f"Dear {name}" in html.get_content()
    context.close()
