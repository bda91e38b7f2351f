"""The customers pages in a real Chromium against the real daemon: search,
pages by id, a customer's page with its runs, the import of a JSON Lines
file (all or nothing, with and without script) and the confirmed delete,
each result checked outside the browser through the admin API and the CLI.
Screenshots of each page go to docs/screenshots/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

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
from tests.integration.harness import ROOT, Capture, Herald

# After tests.integration.console, which skips this module where Chromium is missing.
from playwright.sync_api import Browser, FilePayload, Page, expect  # isort: skip

__all__ = ["browser"]  # the fixture, imported for pytest

EXAMPLE = ROOT / "examples" / "invoices"


@pytest.fixture(scope="module")
def ada(herald: Herald) -> Person:
    return add_user(herald, "ada", "admin")


@pytest.fixture
def page(browser: Browser, herald: Herald, ada: Person) -> Iterator[Page]:
    tab = sign_in(browser, herald, ada)
    yield tab
    assert refused_by_policy(tab) == []
    tab.context.close()


@pytest.fixture
def plain(browser: Browser, herald: Herald, ada: Person) -> Iterator[Page]:
    """A browser with scripts off: every form must work as plain HTML."""
    tab = sign_in(browser, herald, ada, scripts=False)
    yield tab
    tab.context.close()


def jsonl(*customers: dict[str, Any] | str) -> bytes:
    """A customers file: each customer a line (a str is a line as it stands)."""
    lines = [c if isinstance(c, str) else json.dumps(c) for c in customers]
    return "\n".join(lines).encode() + b"\n"


def customer(ident: str, address: str, **more: Any) -> dict[str, Any]:
    return {"id": ident, "name": f"Name of {ident}", "addresses": {"invoice": [address]}, **more}


def choose(page: Page, name: str, content: bytes) -> None:
    chosen: FilePayload = {"name": name, "mimeType": "application/jsonl", "buffer": content}
    page.set_input_files("#file", files=[chosen])


def test_an_import_with_a_bad_line_imports_nothing_and_names_it_then_the_fixed_file_imports(
    page: Page, herald: Herald, ada: Person
) -> None:
    """With scripts on the file goes up in the background: a file with one bad
    line imports nothing and the report names that line and field in place;
    the same file fixed imports every customer, as the API and the CLI show."""
    p = page
    p.click("nav >> text=Customers")
    p.click("#import-link")
    expect(p.locator("h1")).to_have_text("Import customers")
    # Set on this page: it is gone if the form posted the classic way.
    p.evaluate("window.stayed = true")
    good = [customer(f"imp_{n}", f"imp{n}@acme.test", clusters=["eu"]) for n in range(1, 4)]
    bad = customer("imp_2", "not an address", clusters=["eu"])
    choose(p, "customers.jsonl", jsonl(good[0], bad, good[2]))
    p.click("#import-form button[type=submit]")
    refused = p.locator("[data-testid=import-refused]")
    expect(refused).to_contain_text("1 bad line(s); nothing was imported")
    assert p.evaluate("window.stayed") is True
    rows = p.locator("[data-testid=import-bad-lines] tbody tr")
    expect(rows).to_have_count(1)
    assert rows.locator("td").all_inner_texts()[:2] == ["2", "addresses/invoice/0"]
    shot(p, "customers-import")
    for n in (1, 2, 3):
        assert herald.admin(f"/v1/customers/imp_{n}").status == 404

    choose(p, "customers.jsonl", jsonl(*good))
    p.click("#import-form button[type=submit]")
    expect(p.locator("[data-testid=import-done]")).to_have_text(
        "Imported 3 customer(s) from customers.jsonl."
    )
    assert p.evaluate("window.stayed") is True
    shown = herald.admin("/v1/customers/imp_2")
    assert shown.status == 200
    assert shown.json["addresses"] == {"invoice": ["imp2@acme.test"]}
    listed = herald.cli("customers", "list", "imp_", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [
        "imp_1",
        "imp_2",
        "imp_3",
    ]
    [entry, *_] = herald.admin("/v1/audit?setting=customers").json["changes"]
    assert (entry["actor"], entry["new"]) == (f"console:{ada.name}", {"imported": 3})


def test_without_script_the_import_answers_with_its_report(plain: Page, herald: Herald) -> None:
    """The import form posts as plain HTML: the answer page holds the report,
    a line that is no JSON refuses the file, and a missing file is named at the field."""
    p = plain
    p.goto("/customers/import")
    p.click("#import-form button[type=submit]")
    expect(p.locator("#file-error")).to_have_text("choose a JSON Lines file")
    choose(p, "plain.jsonl", jsonl(customer("plain_1", "p1@acme.test"), "{not json"))
    p.click("#import-form button[type=submit]")
    expect(p.locator("[data-testid=import-refused]")).to_contain_text("nothing was imported")
    assert p.locator("[data-testid=bad-line]").all_inner_texts() == ["2"]
    assert "is not valid JSON" in p.locator("[data-testid=import-bad-lines]").inner_text()
    assert herald.admin("/v1/customers/plain_1").status == 404
    choose(p, "plain.jsonl", jsonl(customer("plain_1", "p1@acme.test")))
    p.click("#import-form button[type=submit]")
    expect(p.locator("[data-testid=import-done]")).to_contain_text("Imported 1 customer(s)")
    assert herald.admin("/v1/customers/plain_1").status == 200


def test_search_and_pages_by_id(page: Page, herald: Herald) -> None:
    """The search finds customers by part of an address or a field value; the
    listing goes a page of 50 at a time by id, the next page after the last shown."""
    lines = jsonl(
        *(customer(f"page_{n:03}", f"page{n}@acme.test") for n in range(60)),
        customer("find_me", "unusual-box@findable.test", fields={"vat_id": "NL-SEARCH-77"}),
    )
    assert (
        herald.admin_send("POST", "/v1/customers", lines, content_type="application/jsonl").status
        == 200
    )
    p = page
    p.goto("/customers?q=findable")
    ids = p.locator("[data-testid=customers] tbody tr td:first-child")
    expect(ids).to_have_text(["find_me"])
    p.fill("#q", "search-77")
    p.click("form[role=search] button")
    expect(ids).to_have_text(["find_me"])
    shot(p, "customers-search")
    p.fill("#q", "page_")
    p.click("form[role=search] button")
    expect(ids).to_have_count(50)
    first = ids.all_inner_texts()
    p.click("a[rel=next]")
    expect(ids).to_have_count(10)
    second = ids.all_inner_texts()
    assert first + second == [f"page_{n:03}" for n in range(60)]
    assert p.locator("a[rel=next]").count() == 0


def test_a_customers_page_shows_its_clusters_addresses_fields_and_runs(
    page: Page, herald: Herald, capture: Capture
) -> None:
    """After a definition run, the customer's page shows its clusters, its
    addresses under each recipient key, its fields, and that run with the
    message the customer was sent, as the admin API records them."""
    for args in (
        ("senders", "set", "billing", "--address", "billing@acme-cloud.test", "--name", "Billing"),
        ("customers", "import", str(EXAMPLE / "customers.jsonl")),
        ("definitions", "apply", str(EXAMPLE / "monthly-invoice.toml")),
    ):
        result = herald.cli(*args)
        assert result.returncode == 0, result.stderr
    started = herald.cli(
        "runs", "start", "monthly-invoice", "--batch", "console-b1",
        "--invoices", str(EXAMPLE / "batch-2026-11"),
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.split()[1]
    run = herald.wait_for_status(run_id, "sent", "partial")
    sent = sorted(i["address"] for i in run["items"] if i["customer_id"] == "cus_acme")
    assert sent == ["ap@acme.example", "billing@acme.example"]
    p = page
    p.goto("/customers?q=acme")
    p.click("text=cus_acme")
    expect(p.locator("h1")).to_have_text("Acme B.V.")
    expect(p.locator("[data-testid=customer-clusters]")).to_have_text("eu, pro")
    addresses = p.locator("[data-testid=customer-addresses] tbody tr")
    expect(addresses).to_have_count(2)
    assert addresses.nth(0).inner_text().split() == [
        "invoice",
        "billing@acme.example",
        "ap@acme.example",
    ]
    assert "NL001234567B01" in p.locator("[data-testid=customer-fields]").inner_text()
    runs = p.locator("[data-testid=customer-runs] tbody tr")
    expect(runs).to_have_count(1)
    row = runs.first.inner_text()
    assert run_id in row
    assert "monthly-invoice" in row
    assert "billing@acme.example sent" in row
    assert "it@initech.example" not in row
    shot(p, "customer")
    runs.first.locator("a").click()
    expect(p).to_have_url(f"{herald.base_url}/runs/{run_id}")


def test_a_customer_is_deleted_only_once_confirmed(
    plain: Page, herald: Herald, ada: Person
) -> None:
    """Delete asks first: without the box ticked nothing is deleted and the
    field says why; ticked, the customer is gone, audited under the user."""
    lines = jsonl(customer("doomed_1", "doomed@acme.test"))
    assert (
        herald.admin_send("POST", "/v1/customers", lines, content_type="application/jsonl").status
        == 200
    )
    p = plain
    p.goto("/customers/doomed_1")
    p.click("#delete-customer")
    expect(p.locator("h1")).to_have_text("Delete customer doomed_1?")
    p.click("#delete-confirmed")
    expect(p.locator("#confirm-error")).to_contain_text("tick the box")
    assert herald.admin("/v1/customers/doomed_1").status == 200
    p.check("#confirm")
    p.click("#delete-confirmed")
    expect(p).to_have_url(f"{herald.base_url}/customers")
    expect(p.locator(".flash.ok")).to_have_text("Customer doomed_1 is deleted.")
    assert herald.admin("/v1/customers/doomed_1").status == 404
    [entry, *_] = herald.admin("/v1/audit?setting=customers/doomed_1").json["changes"]
    assert (entry["actor"], entry["new"]) == (f"console:{ada.name}", None)


def test_a_file_past_the_limit_is_refused_with_the_way_to_import_it(
    page: Page, herald: Herald
) -> None:
    """A file larger than the console takes is refused at the field, naming the
    CLI and the API that stream; past the listener's own limit the answer is
    still a page saying so, never a traceback. Nothing is imported."""
    p = page
    p.goto("/customers/import")
    line = json.dumps(customer("big_1", "big@acme.test")).encode() + b"\n"
    for size, status, says in ((9, 413, "herald customers import"), (11, 413, "too large")):
        content = line * (size * 1024 * 1024 // len(line) + 1)
        answer = p.request.post(
            "/customers/import",
            multipart={
                "csrf": csrf_of(p),
                "file": {"name": "big.jsonl", "mimeType": "application/jsonl", "buffer": content},
            },
            headers={"Origin": herald.base_url},
        )
        assert answer.status == status, (size, answer.status)
        assert says in answer.text()
        assert "Traceback" not in answer.text()
    assert herald.admin("/v1/customers/big_1").status == 404
